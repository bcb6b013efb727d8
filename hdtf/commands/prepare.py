"""``hdtf prepare``: metadata -> downloads -> 512x512 clips with audio, resumable.

Exit status: 0 when at least one selected clip is finished after the run (including clips finished by earlier
runs) or the selection has no clips; 1 when nothing could be done at all (every selected clip failed, was skipped
or its video is unavailable); 2 for bad input (options, metadata folder, an unknown video name).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "download HDTF videos and cut them into training-ready clips (mp4 + wav), resumably"


def _fps(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fps must be a number or 'none', not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"fps must be positive, not {text!r}")
    return value


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, required=True, help="dataset folder (clips/, status/, manifest.json)")
    parser.add_argument("--source", choices=("hdtf", "talkinghead-1kh"), default="hdtf",
                        help="dataset whose metadata to use (default hdtf)")
    parser.add_argument("--data-list", type=Path,
                        help="talkinghead-1kh: the extracted data_list folder or data_list.zip of "
                        "tcwang0509/TalkingHead-1KH")
    parser.add_argument("--split", choices=("small", "train", "val"), default="small",
                        help="talkinghead-1kh: which list to prepare (default small)")
    parser.add_argument("--metadata-dir", type=Path, help="HDTF metadata files (default: fetched into OUTPUT/metadata)")
    parser.add_argument("--subsets", type=_names, help="comma-separated subsets (default: RD,WDA,WRA)")
    parser.add_argument("--videos", type=_names, help="comma-separated video names (Name or SUBSET_Name) to do")
    parser.add_argument("--url-template",
                        help="URL to fetch instead of the metadata's, with {name} {subset} {youtube_id}")
    parser.add_argument("--raw-dir", type=Path,
                        help="folder of raw videos you already have ({subset}_{name}.mp4 or {name}.mp4)")
    parser.add_argument("--workers", type=int, default=1, help="videos processed in parallel (default 1)")
    parser.add_argument("--clip-workers", type=int, default=2,
                        help="ffmpeg cuts of one video running at once (default 2)")
    parser.add_argument("--crop-method", choices=("fixed", "landmarks", "auto"), default="fixed",
                        help="fixed: the metadata crop window; landmarks: track the face; auto: metadata, else face")
    parser.add_argument("--landmarks", action=argparse.BooleanOptionalAction, default=None,
                        help="store 68-point landmark tracks per clip (default: on with --crop-method landmarks)")
    parser.add_argument("--size", type=int, default=512, help="output side in pixels (default 512)")
    parser.add_argument("--fps", type=_fps, default=25.0, help="output frame rate, or 'none' to keep the source's")
    parser.add_argument("--sample-rate", type=int, default=16000, help="audio sample rate (default 16000, mono)")
    parser.add_argument("--keep-raw", action="store_true", help="keep downloaded raw videos in OUTPUT/raw")
    parser.add_argument("--sections", action="store_true", help="download only the clips' time ranges")
    parser.add_argument("--cookies", type=Path, help="Netscape cookies file for yt-dlp")
    parser.add_argument("--proxy", help="proxy URL for yt-dlp")
    parser.add_argument("--rate-limit", help="download rate limit such as 2M (bytes per second)")
    parser.add_argument("--retry-unavailable", action="store_true", help="try videos recorded as unavailable again")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _select(videos, names: list[str] | None):
    from hdtf.errors import HDTFError

    if not names:
        return videos
    wanted = set(names)
    chosen = [v for v in videos if v.name in wanted or v.key in wanted]
    known = {v.name for v in videos} | {v.key for v in videos}
    unknown = sorted(wanted - known)
    if unknown:
        raise HDTFError(f"unknown video name(s) {', '.join(unknown)} in the metadata of the chosen subsets")
    return chosen


def run(args: argparse.Namespace) -> int:
    from hdtf.errors import HDTFError
    from hdtf.manifest import done_clips
    from hdtf.pipeline import PrepareOptions, prepare
    from hdtf.sources.hdtf import fetch_metadata, parse_metadata

    if args.workers < 1:
        raise HDTFError(f"--workers must be at least 1, not {args.workers}")
    options = PrepareOptions(
        output_dir=args.output, crop_method=args.crop_method, size=args.size, fps=args.fps,
        sample_rate=args.sample_rate, landmarks=args.landmarks, keep_raw=args.keep_raw,
        url_template=args.url_template, raw_dir=args.raw_dir, cookies=args.cookies, proxy=args.proxy,
        rate_limit=args.rate_limit, sections=args.sections, retry_unavailable=args.retry_unavailable,
        clip_workers=args.clip_workers,
    )
    options.validate()
    if args.source == "talkinghead-1kh":
        from hdtf.sources.talkinghead_1kh import parse_data_list

        if args.data_list is None:
            raise HDTFError("--source talkinghead-1kh needs --data-list (data_list folder or data_list.zip)")
        videos, report = parse_data_list(args.data_list, args.split)
    else:
        metadata_dir = args.metadata_dir or fetch_metadata(args.output / "metadata")
        videos, report = parse_metadata(metadata_dir, args.subsets)
    print(report.summary())
    videos = _select(videos, args.videos)
    total = sum(len(v.clips) for v in videos)
    print(f"{len(videos)} video(s), {total} clip(s) selected")
    summary = prepare(videos, options, workers=args.workers, progress=not args.no_progress, report=report)
    print(summary.text())
    wanted = {c.id for v in videos for c in v.clips}
    finished = sum(1 for clip in done_clips(args.output) if clip["id"] in wanted)
    if total and not finished:
        print("hdtf prepare: no clip could be made; see `hdtf status` for the reasons", file=sys.stderr)
        return 1
    return 0
