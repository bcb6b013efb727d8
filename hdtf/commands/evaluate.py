"""``hdtf evaluate``: score a generator on prepared clips with the audio-driven or the reconstruction protocol."""

from __future__ import annotations

import argparse
from pathlib import Path

from hdtf.metrics import registry  # names only: the metric classes load when evaluation starts
from hdtf.splits import SPLITS

HELP = f"evaluate a generator on prepared clips ({', '.join(n.upper() for n in registry.names())}) and write a report"


def _metric_list(text: str) -> tuple[str, ...]:
    known = registry.names()
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown metric(s) {unknown or text!r}; choose from {','.join(known)}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="generator directory (hdtf init-model / save_pretrained) or Hub id")
    parser.add_argument("--data", required=True,
                        help="prepared dataset folder (manifest.json + clips/) or URL (s3://..., as given to hdtf "
                             "prepare --output), an exported dataset folder (data/*.parquet from hdtf export), a "
                             "folder of .mp4 clips, or one .mp4")
    parser.add_argument("--protocol", choices=("audio", "reconstruction"), default="audio",
                        help="audio: first frame + the clip's audio (HDTF); reconstruction: first frame + the clip "
                             "as driving video (TalkingHead-1KH). Default: audio")
    parser.add_argument("--metrics", type=_metric_list, default=registry.names(),
                        help=f"comma-separated subset of {','.join(registry.names())} (default: all)")
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="all",
                        help="evaluate only the clips of this split of the standard HDTF split (hdtf.splits, "
                             "versioned, by person; the report records how many listed test clips the data holds). "
                             "Default all: every clip of --data")
    parser.add_argument("--limit", type=int, help="evaluate only the first N clips (sorted by id)")
    parser.add_argument("--output", required=True, type=Path, help="report folder (report.md, metrics.json, "
                        "per_clip.csv, comparisons/)")
    for key, text in registry.WEIGHTS.items():
        parser.add_argument(registry.weights_option(key), type=Path, help=text)
    parser.add_argument("--device", default="cpu", help="torch device for the generator, FID and SyncNet (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (audio protocol head motion; default 0)")
    parser.add_argument("--compare", type=int, default=2,
                        help="write side-by-side comparison videos for the first N clips (default 2; 0 = none)")
    parser.add_argument("--batch-size", type=int, default=8, help="frames rendered per generator batch (default 8)")
    parser.add_argument("--max-seconds", type=float,
                        help="evaluate only the first S seconds of each clip (HDTF clips run for minutes and the "
                             "generated clip is held in memory; default: whole clips)")
    parser.add_argument("--face-every", type=int, default=1,
                        help="run the face detector and recogniser (LMD, CSIM) on every N-th frame only: dlib's "
                             "recogniser costs ~0.1-0.4 s a frame on CPU (default 1 = every frame)")


def run(args: argparse.Namespace) -> int:
    from hdtf.errors import HDTFError
    from hdtf.evaluate import EvaluationOptions, evaluate

    if args.limit is not None and args.limit < 1:
        raise HDTFError(f"--limit must be at least 1, got {args.limit}")
    if args.max_seconds is not None and args.max_seconds <= 0:
        raise HDTFError(f"--max-seconds must be positive, got {args.max_seconds}")
    if args.face_every < 1:
        raise HDTFError(f"--face-every must be at least 1, got {args.face_every}")
    options = EvaluationOptions(
        protocol=args.protocol,
        metrics=tuple(args.metrics),
        limit=args.limit,
        weights={key: path for key in registry.WEIGHTS if (path := getattr(args, f"{key}_weights")) is not None},
        device=args.device,
        seed=args.seed,
        compare=max(0, args.compare),
        batch_size=args.batch_size,
        face_every=args.face_every,
        max_seconds=args.max_seconds,
        split=args.split,
    )
    summary = evaluate(args.model, args.data, args.output, options)
    print((args.output / "report.md").read_text(encoding="utf-8"), end="")
    return 0 if summary["scored"] else 1
