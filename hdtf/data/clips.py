"""The training view of a prepared directory: done clips with their landmark tracks loaded once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdtf.errors import HDTFError


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


def load_prepared_clips(root: str | Path, *, min_found_frames: int = 2) -> list[PreparedClip]:
    """Done clips of ``root`` (an ``hdtf prepare`` output) that have landmark tracks, sorted by id.

    Training needs landmarks: a prepared dir made without them (crop method ``fixed`` and no ``--landmarks``) is an
    error naming the fix rather than an empty dataset.
    """
    from hdtf.manifest import done_clips

    root = Path(root)
    rows = done_clips(root)
    if not rows:
        raise HDTFError(f"{root}: no done clips (is it an 'hdtf prepare' output? see 'hdtf status {root}')")
    clips, without = [], 0
    for row in sorted(rows, key=lambda r: r["id"]):
        if not row.get("landmarks_path"):
            without += 1
            continue
        with np.load(root / row["landmarks_path"]) as track:
            points = track["points"].astype(np.float32)
            found = track["found"].astype(bool)
        if found.sum() < min_found_frames:
            continue
        clips.append(
            PreparedClip(
                id=row["id"],
                video_path=root / row["path"],
                audio_path=root / row["audio_path"] if row.get("audio_path") else None,
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
