"""Crop method 2 (``landmarks``): one fixed square window per clip from the tracked face, framed like HDTF's.

Rule (calibration and reasoning in docs/faces.md): each found frame's face region is a square of side
``REGION_SIDE`` x s centred ``REGION_LIFT`` x s above the centre of the landmark box, where s is the landmark box's
larger side (brows to chin, ear to ear). The window is the union of those squares over the clip, made square around
its centre, scaled by the clip's ``crop_ratio`` (HDTF metadata; :data:`DEFAULT_CROP_RATIO` when absent), and shifted
into the frame. With the default ratio a still face's landmark box fills ~48% of the window's height and its centre
sits at ~58% of it, as in HDTF's fixed windows.
"""

from __future__ import annotations

import numpy as np

from hdtf.face.detect import NoFaceError
from hdtf.face.track import LandmarkTrack
from hdtf.records import CropBox

DEFAULT_CROP_RATIO = 1.2  # HDTF's crop_ratio metadata: 342 of 421 annotated clips say 1.2
FACE_SHARE = 0.48  # landmark-box larger side / window side for a still face at the default ratio
FACE_CENTRE = 0.58  # landmark-box centre / window side, from the window's top
REGION_SIDE = 1.0 / (FACE_SHARE * DEFAULT_CROP_RATIO)  # ~1.74
REGION_LIFT = (FACE_CENTRE - 0.5) / FACE_SHARE  # ~0.17: the window centre sits above the face centre (hair)


def face_regions(points: np.ndarray) -> np.ndarray:
    """(N, 4) left, top, right, bottom of the base face region of each landmark set in ``points`` (N, 68, 2)."""
    lo, hi = points.min(axis=1), points.max(axis=1)
    side = (hi - lo).max(axis=1)
    cx = (lo[:, 0] + hi[:, 0]) / 2
    cy = (lo[:, 1] + hi[:, 1]) / 2 - REGION_LIFT * side
    half = REGION_SIDE * side / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def landmark_crop_window(
    track: LandmarkTrack, frame_width: int, frame_height: int, crop_ratio: float | None = None
) -> tuple[CropBox, list[str]]:
    """The square crop window (``frame_width`` x ``frame_height`` pixels) for a clip's landmark track, and notes.

    ``track`` coordinates must be in the same pixels as the frame size given. NoFaceError when no frame has a face.
    """
    if not track.found.any():
        raise NoFaceError("no face")
    notes: list[str] = []
    ratio = crop_ratio
    if ratio is None or not ratio > 0:
        ratio = DEFAULT_CROP_RATIO
        notes.append(f"no crop ratio in the metadata; used {DEFAULT_CROP_RATIO}")
    regions = face_regions(track.points[track.found])
    left, top = regions[:, 0].min(), regions[:, 1].min()
    right, bottom = regions[:, 2].max(), regions[:, 3].max()
    side = max(right - left, bottom - top) * ratio
    limit = min(frame_width, frame_height)
    if side > limit:
        notes.append(f"landmark window {side:.0f} px is larger than the frame; shrunk to {limit} px")
        side = limit
    side = int(round(side))
    x = int(round((left + right) / 2 - side / 2))
    y = int(round((top + bottom) / 2 - side / 2))
    box, moved = CropBox(x, y, side, side).fit_into(frame_width, frame_height)
    if moved:
        notes.append(moved)
    missing = int((~track.found).sum())
    if missing:
        notes.append(f"landmark window from {int(track.found.sum())} of {len(track)} frames (no face on the rest)")
    return box, notes
