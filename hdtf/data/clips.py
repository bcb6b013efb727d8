"""The training view of a prepared directory: done clips with their landmark tracks loaded once.

Training takes one part of HDTF's standard split (:mod:`hdtf.splits`, by person): ``split="train"`` by default in
``examples/train.py``, so that test clips never reach a model by accident. Clips of sources without that split
(TalkingHead-1KH: its own lists are its splits, chosen when preparing) are taken whatever the split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdtf import atomic, splits
from hdtf.errors import HDTFError

SPLIT_CHOICES = (*splits.SPLITS, "all")


@dataclass(frozen=True)
class PreparedClip:
    """One done clip: absolute paths plus the facts training needs (landmarks in output pixel coordinates)."""

    id: str
    video_path: Path
    audio_path: Path | None
    fps: float
    num_frames: int
    size: int
    sample_rate: int | None
    points: np.ndarray  # (T, 68, 2) float32
    found: np.ndarray  # (T,) bool

    @property
    def found_indices(self) -> np.ndarray:
        return np.flatnonzero(self.found)


def in_split(record: dict, split: str) -> bool:
    """Whether a clip record or row (``id``, ``source``, ``subset``, ``video_name``) belongs to ``split`` of HDTF's
    standard split (``all``: any); a clip of another source belongs to every split."""
    if split not in SPLIT_CHOICES:
        raise HDTFError(f"split {split!r} is not one of {', '.join(SPLIT_CHOICES)}")
    if split == "all" or record.get("source", "hdtf") != "hdtf":
        return True
    return splits.split_of_clip(record["id"], record.get("subset"), record.get("video_name")) == split


def _none_in_split(where: str, total: int, split: str) -> HDTFError:
    return HDTFError(f"{where}: none of its {total} clip(s) is in the {split} split of HDTF's standard split "
                     f"{splits.CURRENT} (hdtf.splits); choose another with --split (train, test or all)")


def load_prepared_clips(root: str | Path, *, min_found_frames: int = 2, split: str = "all") -> list[PreparedClip]:
    """Done clips of ``root`` (an ``hdtf prepare`` output: a folder, or a storage URL whose clips are copied into its
    local scratch folder, since decord needs files) in ``split`` (:func:`in_split`) that have landmark tracks, sorted
    by id.

    Training needs landmarks: a prepared dir made without them (crop method ``fixed`` and no ``--landmarks``) is an
    error naming the fix rather than an empty dataset.
    """
    from hdtf.layout import Layout
    from hdtf.manifest import done_clips

    layout = Layout.for_output(root)
    root = layout.where
    rows = done_clips(layout)
    if not rows:
        raise HDTFError(f"{root}: no done clips (is it an 'hdtf prepare' output? see 'hdtf status {root}')")
    total, rows = len(rows), [r for r in rows if in_split(r, split)]
    if not rows:
        raise _none_in_split(str(root), total, split)
    clips, without = [], 0
    for row in sorted(rows, key=lambda r: r["id"]):
        if not row.get("landmarks_path"):
            without += 1
            continue
        with np.load(layout.file(row["landmarks_path"])) as track:
            points = track["points"].astype(np.float32)
            found = track["found"].astype(bool)
        if found.sum() < min_found_frames:
            continue
        clips.append(
            PreparedClip(
                id=row["id"],
                video_path=layout.file(row["path"]),
                audio_path=layout.file(row["audio_path"]) if row.get("audio_path") else None,
                fps=float(row["fps"]),
                num_frames=min(int(row["num_frames"]), len(found)),
                size=int(row["width"]),
                sample_rate=row.get("sample_rate"),
                points=points,
                found=found,
            )
        )
    if not clips:
        hint = " (prepare with --landmarks or --crop-method landmarks)" if without else ""
        raise HDTFError(f"{root}: no clip has a usable landmark track{hint}")
    return clips


def clips_from_rows(rows, cache_dir: str | Path, *, min_found_frames: int = 2,
                    split: str = "all") -> list[PreparedClip]:
    """PreparedClip records for ``datasets`` rows of the ``clips`` schema (``hdtf.rows.clip_features``) in ``split``
    (:func:`in_split`, from the rows' ``id``, ``source``, ``subset`` and ``video_name`` columns).

    decord needs a file to seek in, so each row's mp4 bytes and waveform are written once into
    ``cache_dir/clips/`` (temporary name, then rename; an existing file of the right size is reused); landmarks stay
    in memory. Rows without landmarks are skipped, as in :func:`load_prepared_clips`.
    """
    import soundfile

    from hdtf.records import safe_name
    from hdtf.rows import video_bytes

    folder = Path(cache_dir) / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    clips, without, total, taken = [], 0, 0, 0
    for row in rows:
        total += 1
        if not in_split(row, split):
            continue
        taken += 1
        if row.get("landmarks") is None or row.get("landmarks_found") is None:
            without += 1
            continue
        found = np.asarray(row["landmarks_found"], dtype=bool)
        if found.sum() < min_found_frames:
            continue
        name = safe_name(row["id"])
        video, data = folder / f"{name}.mp4", video_bytes(row["video"])
        if not video.is_file() or video.stat().st_size != len(data):
            atomic.write_bytes(video, data)
        audio_path = None
        if row.get("audio") is not None and len(row["audio"]):
            audio_path = folder / f"{name}.wav"
            if not audio_path.is_file():
                with atomic.replacing(audio_path) as tmp:
                    soundfile.write(str(tmp), np.asarray(row["audio"], dtype=np.float32), int(row["sample_rate"]),
                                    subtype="PCM_16")
        clips.append(
            PreparedClip(
                id=row["id"],
                video_path=video,
                audio_path=audio_path,
                fps=float(row["fps"]),
                num_frames=min(int(row["num_frames"]), len(found)),
                size=int(row["width"]),
                sample_rate=row.get("sample_rate"),
                points=np.asarray(row["landmarks"], dtype=np.float32),
                found=found,
            )
        )
    if total and not taken:
        raise _none_in_split("the dataset's rows", total, split)
    if not clips:
        hint = " (the rows have no landmarks: prepare with landmarks=True or crop_method='landmarks')" if without else ""
        raise HDTFError(f"{cache_dir}: no dataset row has a usable landmark track{hint}")
    return sorted(clips, key=lambda c: c.id)
