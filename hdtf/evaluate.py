"""The two evaluation protocols of one-shot talking-face models, run over a prepared (a folder, or a run on a store)
or exported dataset.

- ``audio`` (HDTF paper): each test clip is generated from its first frame and its own audio, then compared with the
  real clip frame by frame.
- ``reconstruction`` (TalkingHead-1KH / face-vid2vid): each clip is generated from its first frame with the clip
  itself as the driving video, then compared with the real clip.

The generator works on a square crop around the face of the first frame (``HDTFGenerator``'s reference crop); the
same window is recovered from the reference landmarks it returns and applied to every real frame, so generated and
real frames are pixel-aligned. Real frames are streamed; the generated clip is what the generator returns.

Outputs in the report folder (each written to a temporary name and renamed): ``report.md`` (the table),
``metrics.json`` (summary + per-clip rows), ``per_clip.csv``, and ``comparisons/`` with a side-by-side video
(source | generated | real | Fapp warp) for the first clips and ``grid.png`` (their middle frames), because people
look before they read. Metrics needing weights the user did not give are reported as "n/a (...)", never estimated.

Every report states the evaluation protocol's version (:data:`PROTOCOL_VERSION`), the split (``--split``: the
standard HDTF split of :mod:`hdtf.splits`, with how many of its listed test clips the data holds), where a prepared
run's metadata came from (the pinned release, or a folder: edited metadata is named as such, never "HDTF test split
v1" unqualified), the clips and
frames used, the resolution, and each metric's implementation with the SHA-256 of every weight file it read; it warns
when the model's recorded training data (:mod:`hdtf.training_data`) overlaps the evaluated clips.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hdtf import atomic, splits
from hdtf.card import edited_metadata, metadata_words
from hdtf.errors import HDTFError
from hdtf.metrics import registry
from hdtf.metrics.video import MetricSet, iter_frames, score_clip
from hdtf.records import safe_name
from hdtf.redact import redact_text
from hdtf.storage import is_url
from hdtf.training_data import overlap, read_training_data, test_clips_line

if TYPE_CHECKING:
    from hdtf.layout import Layout

PROTOCOLS = ("audio", "reconstruction")
# Version of what this module does to produce a number: protocols, frame pairing, alignment, clip selection. Bumped
# whenever a change could move a reported value; metric implementations carry their own versions.
PROTOCOL_VERSION = "1"
SPLIT_CHOICES = (*splits.SPLITS, "all")
SAMPLE_RATE = 16000
PANELS = ("source", "generated", "real", "Fapp warp")
# Generation returns every frame at once (the real frames are streamed): a clip whose generated frames would take
# more than this is refused with the --max-seconds that fits (5 minutes at 512x512 would be 5.9 GB).
MAX_GENERATED_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class EvalClip:
    id: str
    video: Path
    audio: Path  # the .wav beside the mp4, or the mp4 itself
    subset: str | None = None  # HDTF metadata, when the data records it (else read from the id)
    video_name: str | None = None

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        """(id, subset, video name): what :mod:`hdtf.splits` and :mod:`hdtf.training_data` look at."""
        return self.id, self.subset, self.video_name


def in_split(key: tuple[str, str | None, str | None], split: str) -> bool:
    """Whether a clip ``(id, subset, video_name)`` belongs to ``split`` of the current HDTF split (``all``: any)."""
    return split == "all" or splits.split_of_clip(*key) == split


@dataclass
class EvaluationOptions:
    protocol: str = "audio"
    metrics: tuple[str, ...] = field(default_factory=registry.names)  # report order follows the registry
    limit: int | None = None
    weights: dict[str, Path] = field(default_factory=dict)  # hdtf.metrics.registry.WEIGHTS key -> the user's file
    device: str = "cpu"
    seed: int = 0
    compare: int = 2  # clips that get a side-by-side video
    batch_size: int = 8
    face_every: int = 1  # observe faces (LMD, CSIM) on every n-th frame
    max_seconds: float | None = None  # evaluate only the start of each clip (generation holds its frames in memory)
    split: str = "all"  # "test"/"train": only that split of hdtf.splits; "all": every clip of the data


def _clip_files(data: Path) -> list[Path]:
    """Every mp4 of a folder of clips (``clips/*.mp4`` or ``*.mp4``), or the one mp4 ``data`` is, sorted by name."""
    if data.is_file() and data.suffix.lower() == ".mp4":
        return [data]
    if data.is_dir():
        from hdtf.layout import Layout

        paths = Layout(data).clip_paths("video") or sorted(data.glob("*.mp4"))
        if not paths:
            raise HDTFError(f"{data}: no manifest.json, no data/*.parquet and no .mp4 clips to evaluate")
        return paths
    raise HDTFError(f"{data}: not a prepared dataset, an exported dataset folder or an .mp4 file")


def _prepared_run(data: str | Path) -> Layout | None:
    """The layout of the prepared run at ``data``: a URL (``hdtf prepare --output URL``) or a folder with a manifest
    or status files; None for anything else."""
    from hdtf.layout import Layout

    if is_url(data):
        return Layout.for_output(str(data))
    layout = Layout.for_output(Path(data))
    return layout if layout.holds_run() else None


def _prepared_clips(layout: Layout, limit: int | None,
                    split: str) -> tuple[list[tuple[str, str | None, str | None]], Iterator[EvalClip]]:
    """(id, subset, video name) of a prepared run's done clips (``hdtf.manifest``, records read once), and those of
    ``split`` as EvalClips. Each clip's files are asked of the layout only when the clip is evaluated: on a store
    they are fetched into the run's scratch folder then, and kept there while the objects are unchanged."""
    from hdtf.manifest import done_clips

    records = done_clips(layout)
    if not records:
        raise HDTFError(f"{layout.where}: prepared dataset has no finished clips")
    held = [(Path(r["path"]).stem, r.get("subset"), r.get("video_name")) for r in records]
    chosen = [r for r, key in zip(records, held, strict=True) if in_split(key, split)][: limit or None]

    def clips() -> Iterator[EvalClip]:
        for record in chosen:
            video = layout.file(record["path"])
            audio = layout.file(record["audio_path"]) if record.get("audio_path") else video
            yield EvalClip(video.stem, video, audio, record.get("subset"), record.get("video_name"))

    return held, clips()


def find_clips(data: str | Path, limit: int | None = None, split: str = "all") -> list[EvalClip]:
    """Clip files to evaluate, sorted by id: the done clips of a prepared run (a folder or URL), the mp4 files of a
    folder (``clips/*.mp4`` or ``*.mp4``), or one mp4 file; only those of ``split`` (see :func:`in_split`)."""
    layout = _prepared_run(data)
    if layout is not None:
        return list(_prepared_clips(layout, limit, split)[1])
    return _chosen(_clip_files(Path(data)), limit, split)


def _chosen(files: list[Path], limit: int | None, split: str) -> list[EvalClip]:
    """The :func:`_clip_files` of ``split`` as EvalClips (the wav beside each mp4 when there is one)."""
    clips = []
    for path in files:
        wav = path.with_suffix(".wav")
        clip = EvalClip(path.stem, path, wav if wav.is_file() else path)
        if in_split(clip.key, split):
            clips.append(clip)
    return clips[:limit] if limit else clips


def _shards(data: Path) -> list[Path]:
    """The parquet shards of an exported dataset folder (none for a prepared dataset or other data)."""
    from hdtf.layout import Layout

    shards = sorted((data / "data").glob("*.parquet")) if data.is_dir() else []
    return [] if Layout(data).manifest_file.is_file() else shards


def iter_clips(data: str | Path, limit: int | None = None, split: str = "all") -> Iterable[EvalClip]:
    """Like :func:`find_clips`, and also the ``clips`` rows of an exported dataset folder (``data/*.parquet``, as
    ``hdtf export`` writes it): those rows are streamed, each written to a temporary mp4 + wav while it is evaluated.
    Folders and files are checked at once; an export is read as the clips are consumed."""
    shards = [] if is_url(data) else _shards(Path(data))
    if not shards:
        return find_clips(data, limit, split)
    return _exported_clips(Path(data), shards, limit, split)


def _survey(data: str | Path, limit: int | None,
            split: str) -> tuple[list[tuple[str, str | None, str | None]], Iterable[EvalClip]]:
    """(id, subset, video name) of every clip ``data`` holds, whatever the split (what split availability is counted
    on; an export is read for those columns only), and the clips to evaluate (:func:`iter_clips`): the records of a
    prepared run are read once for both."""
    layout = _prepared_run(data)
    if layout is not None:
        return _prepared_clips(layout, limit, split)
    data = Path(data)
    shards = _shards(data)
    if shards:
        return _exported_inventory(shards), _exported_clips(data, shards, limit, split)
    chosen = _chosen(files := _clip_files(data), limit, split)
    return [(path.stem, None, None) for path in files], chosen


def _metadata_of(data: str | Path) -> dict[str, Any] | None:
    """Where a prepared run's metadata came from (its manifest's ``metadata``); None for other data or none
    recorded."""
    layout = _prepared_run(data)
    return None if layout is None else (layout.manifest() or {}).get("metadata")


def _exported_inventory(shards: list[Path]) -> list[tuple[str, str | None, str | None]]:
    import pyarrow.parquet as pq

    found = []
    for shard in shards:
        columns = [c for c in ("id", "subset", "video_name") if c in pq.read_schema(shard).names]
        table = pq.read_table(shard, columns=columns).to_pylist()
        found += [(str(r.get("id")), r.get("subset"), r.get("video_name")) for r in table]
    return found


def _exported_clips(data: Path, shards: list[Path], limit: int | None, split: str) -> Iterator[EvalClip]:
    import soundfile
    from datasets import load_dataset

    from hdtf.rows import video_bytes

    rows = load_dataset("parquet", data_files=[str(p) for p in shards], split="train", streaming=True)
    taken = 0
    with tempfile.TemporaryDirectory(prefix="hdtf-eval-") as tmp:
        for index, row in enumerate(rows):
            if limit and taken >= limit:
                break
            mp4 = video_bytes(row.get("video"))
            if mp4 is None or row.get("audio") is None:
                raise HDTFError(f"{data}: rows have no 'video' bytes and 'audio' samples (not an hdtf clips export)")
            name = safe_name(str(row.get("id") or f"row{index:06d}"))
            if not in_split((name, row.get("subset"), row.get("video_name")), split):
                continue
            taken += 1
            video, audio = Path(tmp) / f"{name}.mp4", Path(tmp) / f"{name}.wav"
            video.write_bytes(mp4)
            soundfile.write(audio, np.asarray(row["audio"], dtype=np.float32), int(row["sample_rate"]))
            yield EvalClip(name, video, audio, row.get("subset"), row.get("video_name"))
            video.unlink()
            audio.unlink()


def reference_window(frame: np.ndarray, reference_points: np.ndarray, image_size: int) -> tuple[int, int, int]:
    """The square (x, y, side) of ``frame`` the generator cropped its reference from, recovered by fitting a scale
    and shift between the face's landmarks on ``frame`` and the reference landmarks it returned."""
    from hdtf.face.detect import landmarks_for_image

    points = landmarks_for_image(frame).astype(np.float64)
    ref = np.asarray(reference_points, np.float64)
    pc, rc = points - points.mean(0), ref - ref.mean(0)
    scale = float((pc * rc).sum() / (pc * pc).sum())
    if not scale > 0:
        raise HDTFError("cannot align the generated frames with the real clip (degenerate reference landmarks)")
    x0, y0 = points.mean(0) - ref.mean(0) / scale
    return int(round(x0)), int(round(y0)), int(round(image_size / scale))


def _first_frame(path: Path) -> np.ndarray:
    for frame in iter_frames(path):
        return frame
    raise HDTFError(f"{path}: video has no frames")


def evaluate(
    model: str | Path, data: str | Path, output: str | Path, options: EvaluationOptions | None = None
) -> dict[str, Any]:
    """Run a protocol over the clips of ``data`` and write the report into ``output``; returns the summary dict."""
    options = options or EvaluationOptions()
    if options.protocol not in PROTOCOLS:
        raise HDTFError(f"unknown protocol {options.protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if options.split not in SPLIT_CHOICES:
        raise HDTFError(f"unknown split {options.split!r}; choose from {', '.join(SPLIT_CHOICES)}")
    held, clips = _survey(data, options.limit, options.split)
    available = splits.availability(held, options.split)
    if not any(in_split(key, options.split) for key in held):
        raise HDTFError(f"{data}: none of its {len(held)} clip(s) is in the HDTF {options.split} split "
                        f"{available.version} ({available.line()})")
    metrics = MetricSet(options.metrics, face_every=options.face_every, weights=options.weights, device=options.device)
    from hdtf.modeling.generator import HDTFGenerator

    generator = HDTFGenerator.from_pretrained(model, device=options.device)
    fps = float(generator.feature_extractor.fps)
    output = Path(output)
    rows: list[dict[str, Any]] = []
    keys: list[tuple[str, str | None, str | None]] = []
    stills: list[np.ndarray] = []
    for index, clip in enumerate(clips):
        keys.append(clip.key)
        row: dict[str, Any] = {"id": clip.id, "status": "ok", "reason": ""}
        try:
            scores, still = _evaluate_clip(generator, clip, fps, metrics, options, output, index < options.compare)
            row.update(scores)
            if still is not None:
                stills.append(still)
        except (HDTFError, ValueError) as exc:  # the report is shared: the clip's file by name (hdtf.redact)
            row.update(status="failed", reason=redact_text(str(exc).splitlines()[0], clip.video.parent))
        rows.append(row)
        print(f"{clip.id}: {row['status']}{' (' + row['reason'] + ')' if row['reason'] else ''}", flush=True)
    summary = _summary(model, data, options, rows, metrics)
    summary.update(_protocol(model, options, generator, available, keys, metrics, _metadata_of(data)))
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    _write_report(output, summary, rows, metrics)
    if stills:
        _write_grid(output / "comparisons" / "grid.png", stills)
    return summary


def _evaluate_clip(generator, clip: EvalClip, fps: float, metrics: MetricSet, options: EvaluationOptions,
                   output: Path, compare: bool) -> tuple[dict[str, Any], np.ndarray | None]:
    """Per-clip scores, and the middle side-by-side frame when a comparison video was written."""
    from hdtf.media import probe
    from hdtf.video_io import read_audio

    info = probe(clip.video)
    if abs(info.fps - fps) > 1e-3:
        raise HDTFError(f"{clip.video}: {info.fps:g} fps, but the model works at {fps:g} fps")
    _check_memory(clip.video, min(info.duration, options.max_seconds or info.duration), fps, generator.image_size,
                  2 if compare else 1)
    first = _first_frame(clip.video)
    speech = read_audio(clip.audio, SAMPLE_RATE)
    if options.max_seconds:
        speech = speech[: int(round(options.max_seconds * SAMPLE_RATE))]
    common = dict(fps=fps, seed=options.seed, batch_size=options.batch_size, return_intermediates=compare)
    if options.protocol == "audio":
        out = generator(first, audio=speech, sampling_rate=SAMPLE_RATE, **common)
    elif options.max_seconds:
        with tempfile.TemporaryDirectory(prefix="hdtf-eval-") as tmp:
            driving = _head_of(clip.video, options.max_seconds, Path(tmp) / "driving.mp4")
            out = generator(first, driving_video=driving, **common)
    else:
        out = generator(first, driving_video=clip.video, **common)
    size = generator.image_size
    window = reference_window(first, out.reference_landmarks, size)
    real = iter_frames(clip.video, window, size)
    row = score_clip(iter(out.frames), real, metrics, source=out.reference_image, audio=speech, sample_rate=SAMPLE_RATE)
    still = None
    if compare:
        path = output / "comparisons" / f"{safe_name(clip.id)}.mp4"
        still = _write_comparison(path, out, iter_frames(clip.video, window, size), speech)
    return row, still


def _check_memory(video: Path, seconds: float, fps: float, size: int, copies: int) -> None:
    """Generation holds every frame it makes (``copies`` per frame: the warp too for a comparison): refuse, in one
    line naming the way forward, a clip whose frames would take more than :data:`MAX_GENERATED_BYTES`."""
    need = math.ceil(seconds * fps) * size * size * 3 * copies
    if need > MAX_GENERATED_BYTES:
        longest = MAX_GENERATED_BYTES / (fps * size * size * 3 * copies)
        raise HDTFError(f"{video}: {seconds:.1f} s at {fps:g} fps and {size}x{size} would hold {need / 2**30:.1f} GiB "
                        f"of generated frames (more than {MAX_GENERATED_BYTES / 2**30:.1f} GiB); pass --max-seconds "
                        f"{math.floor(longest * 10) / 10:g} or less to evaluate the start of each clip")


def _head_of(video: Path, seconds: float, target: Path) -> Path:
    """The first ``seconds`` of a clip, cut without re-encoding (the cut starts at 0, a keyframe, so it is exact)."""
    import shutil
    import subprocess

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise HDTFError("ffmpeg not found on PATH (needed to cut the driving video for --max-seconds)")
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video), "-t", f"{seconds:.3f}",
           "-map", "0", "-c", "copy", str(target)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HDTFError(f"{video}: cannot cut its first {seconds:g} s ({done.stderr.strip().splitlines()[-1:]})")
    return target


def _write_comparison(path: Path, out, real, speech: np.ndarray) -> np.ndarray:
    """source | generated | real | Fapp warp, side by side, with the driving speech; returns the middle frame."""
    from hdtf.video_io import write_video

    warped = out.warped if out.warped is not None else out.frames
    middle = len(out.frames) // 2
    kept: list[np.ndarray] = []

    def panels():
        for k, (gen, ref, warp) in enumerate(zip(out.frames, real, warped)):
            panel = np.concatenate([out.reference_image, gen, ref, warp], axis=1)
            if k == middle or not kept:
                kept[:] = [panel]
            yield panel

    write_video(path, panels(), out.fps, audio=speech, sampling_rate=SAMPLE_RATE)
    return kept[0]


def _write_grid(path: Path, stills: list[np.ndarray]) -> None:
    """Middle frames of the compared clips stacked, under a header naming the panels."""
    from PIL import Image, ImageDraw

    width = max(s.shape[1] for s in stills)
    header = Image.new("RGB", (width, 24), "white")
    draw = ImageDraw.Draw(header)
    panel = stills[0].shape[1] // len(PANELS)
    for k, name in enumerate(PANELS):
        draw.text((k * panel + 6, 6), name, fill="black")
    rows = [np.asarray(header)] + [np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0))) for s in stills]
    with atomic.replacing(path) as tmp:
        Image.fromarray(np.concatenate(rows)).save(tmp)


def _summary(model, data, options: EvaluationOptions, rows: list[dict[str, Any]], metrics: MetricSet) -> dict[str, Any]:
    from hdtf.redact import shareable_name

    scored = [r for r in rows if r["status"] == "ok"]
    return {
        "protocol": options.protocol,
        "model": shareable_name(model),  # a report is shared: names, not this machine's paths (hdtf.redact)
        "data": shareable_name(data),
        "clips": len(rows),
        "scored": len(scored),
        "failed": [{"id": r["id"], "reason": r["reason"]} for r in rows if r["status"] != "ok"],
        "frames": int(sum(r.get("frames", 0) for r in scored)),
        "metrics": metrics.summarise(scored),
    }


def _protocol(model, options: EvaluationOptions, generator, available: splits.Availability,
              keys: list[tuple[str, str | None, str | None]], metrics: MetricSet,
              metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The report's record of how its numbers were made: protocol version, split and its availability, where the
    metadata came from, clips, the resolution, the settings that change numbers, metric implementations and weights,
    and training-data overlap."""
    warnings = []
    if edited_metadata(metadata):
        warnings.append(f"the data was prepared from edited metadata ({metadata['differ']} clip(s) differ from the "
                        f"pinned release): its split {available.version} is the rule applied to those lists, not "
                        f"HDTF's split {available.version} as released")
    if options.split == "test" and available.available < available.listed:
        warnings.append(available.line() + (" (edited metadata)" if edited_metadata(metadata) else ""))
    training = read_training_data(model)
    seen = None
    if training is not None:
        found = overlap(training, keys)
        seen = {"recorded_clips": len(training["clips"]), "overlapping_clips": list(found.clips),
                "overlapping_persons": list(found.persons),
                "split": (training.get("split") or {}).get("name"),
                "test_clips": ((training.get("splits") or {}).get(available.version) or {}).get("test")}
        if (line := found.warning(len(keys))) is not None:
            warnings.append(line)
        scored_test = any(in_split(key, "test") for key in keys)
        if scored_test and (line := test_clips_line(training, available.version)) is not None:
            warnings.append(line)
    return {
        "protocol_version": PROTOCOL_VERSION,
        "split": {**available.to_json(), "evaluated": len(keys)},
        "metadata": metadata,
        "clip_ids": [key[0] for key in keys],
        "resolution": {"size": int(generator.image_size), "fps": float(generator.feature_extractor.fps)},
        "settings": {"max_seconds": options.max_seconds, "face_every": options.face_every, "seed": options.seed,
                     "limit": options.limit},
        "implementations": metrics.implementations(),
        "training_data": seen,
        "warnings": warnings,
    }


def _protocol_lines(summary: dict[str, Any]) -> list[str]:
    """The report's "Protocol" and "Metric implementations" sections."""
    split, size = summary["split"], summary["resolution"]
    edited = edited_metadata(summary["metadata"])
    chosen = "all clips of the data" if split["name"] == "all" else split["name"]
    settings = ", ".join(f"{k} {v}" for k, v in summary["settings"].items() if v is not None)
    training = summary["training_data"]
    if training is None:
        seen = "not recorded (no training_data.json in the model directory)"
    else:
        seen = (f"{training['recorded_clips']} clips recorded"
                + (f" (split {training['split']}, {training['test_clips'] or 0} of them test clips)"
                   if training.get("split") else "")
                + f"; {len(training['overlapping_clips'])} evaluated clip(s) "
                f"and {len(training['overlapping_persons'])} person(s) overlap")
    lines = ["", "## Protocol", "", "| | |", "|---|---|",
             f"| protocol | {summary['protocol']}, hdtf evaluation protocol v{summary['protocol_version']} |",
             f"| split | {chosen}; {split['available']} of the {split['listed']} listed test clips of HDTF split "
             f"{split['version']} available in the data"
             f"{' (prepared from EDITED metadata: not the split as released)' if edited else ''} |",
             f"| metadata | {metadata_words(summary['metadata'])} |",
             f"| clips, frames | {split['evaluated']} clips evaluated ({summary['scored']} scored), "
             f"{summary['frames']} frames |",
             f"| resolution | {size['size']}x{size['size']} at {size['fps']:g} fps |",
             f"| settings | {settings} |",
             f"| training data | {seen} |",
             "", "## Metric implementations", "",
             "| metric | version | backend | packages | weights (SHA-256) |", "|---|---|---|---|---|"]
    for item in summary["implementations"]:
        weights = "; ".join(f"`{w['file']}` {w['sha256']}" for w in item["weights"])
        weights = item.get("unavailable") or weights or "none"
        lines.append(f"| {item['name']} | {item['version']} | {item['backend']} | {', '.join(item['packages'])} "
                     f"| {weights} |")
    if summary["warnings"]:
        lines += ["", "## Warnings", "", *(f"- {w}" for w in summary["warnings"])]
    return lines


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "inf" if math.isinf(value) else f"{value:.4f}"


def _write_report(output: Path, summary: dict[str, Any], rows: list[dict[str, Any]], metrics: MetricSet) -> None:
    columns, notes = metrics.columns(), metrics.notes()
    how = "Per-clip means, averaged over clips" + (f" ({'; '.join(notes)})" if notes else "")
    lines = [
        f"# Evaluation: {summary['protocol']} protocol",
        "",
        f"Model `{summary['model']}` on `{summary['data']}`: {summary['scored']} of {summary['clips']} clips scored, "
        f"{summary['frames']} frames. {how}.",
        "",
        "| metric | value | better |",
        "|---|---|---|",
    ]
    for key, value in summary["metrics"].items():
        lines.append(f"| {columns[key].label} | {_format(value)} | {columns[key].better} |")
    if summary["failed"]:
        lines += ["", "Clips not scored:", ""] + [f"- `{f['id']}`: {f['reason']}" for f in summary["failed"]]
    lines += _protocol_lines(summary)
    atomic.write_text(output / "report.md", "\n".join(lines) + "\n")
    document = _plain({**summary, "per_clip": rows})
    atomic.write_text(output / "metrics.json", json.dumps(document, indent=2, allow_nan=False) + "\n")
    fields = ["id", "status", "reason"] + sorted({k for r in rows for k in r} - {"id", "status", "reason"})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(output / "per_clip.csv", buffer.getvalue())


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars as Python numbers, NaN as null (not measured), infinities as "inf"."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
