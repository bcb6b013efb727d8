"""Per-clip measures for the quality, pose and size filters, one pass over the decoded frames.

Every value is kept for every clip (summaries with :func:`hdtf.curate.base.summarise`: count, mean, min, max, p10,
p50, p90), so a user can re-filter with other thresholds without measuring again. Definitions:

- ``face_share``: the larger side of the 68-landmark box (ear to ear, brows to chin) divided by the frame's shorter
  side. Hallo asks for a face "making up 50%-70% of the image" (fudan-generative-vision/hallo README, "Prepare Data
  for Training") without code behind it; hdtf reads it as this linear share (a share of area is its square). HDTF's
  own crops put a still face at about 0.48 of the window (:data:`hdtf.face.window.FACE_SHARE`).
- ``face_px``: the width of the 68-landmark box in frame pixels. MuseTalk skips clips whose face box is narrower
  than ``min_face_size`` (TMElyralab/MuseTalk ``musetalk/data/dataset.py`` compares ``face_shapes[0][0]``, the
  width; ``configs/training/stage2.yaml``: 200, ``stage1.yaml``: 150).
- ``yaw``, ``pitch``, ``roll``, ``head_away``: head pose in degrees (:mod:`hdtf.curate.pose`).
- ``sharpness``: variance of the Laplacian (``cv2.Laplacian``, 3x3, float64) of the grey face, the landmark box made
  square and resized to :data:`FACE_SIDE` px (so clips with small and large faces compare); ``frame_sharpness``:
  the same on the whole grey frame. ``cpbd`` (optional, every ``cpbd_every``-th frame): the face crop's CPBD
  (:func:`hdtf.metrics.sharpness.cpbd`, the metric papers report).
- ``brightness``: mean luma (ITU-R 601 grey, 0-255) of the frame; ``face_brightness``: of the face crop.
- ``motion``: mean absolute difference of consecutive grey frames (0-255) at :data:`MOTION_SIDE` px (camera and
  scene motion); ``landmark_motion``: mean displacement of the 68 points between consecutive frames that both have a
  face, in inter-ocular distances (head and mouth motion, independent of the face's size).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hdtf.curate.base import json_safe, summarise
from hdtf.curate.pose import head_pose

FACE_SIDE = 256  # px the face crop is resized to before sharpness is measured
MOTION_SIDE = 128  # px (square) the grey frame is reduced to for the frame difference
SERIES = ("face_share", "face_px", "yaw", "pitch", "roll", "head_away", "sharpness", "frame_sharpness", "cpbd",
          "brightness", "face_brightness", "motion", "landmark_motion")


def landmark_box(points68: np.ndarray) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the 68 points."""
    p = np.asarray(points68, dtype=np.float64)
    return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())


def face_crop(gray: np.ndarray, points68: np.ndarray, side: int = FACE_SIDE) -> np.ndarray | None:
    """The grey face as a ``side`` x ``side`` image: the landmark box made square around its centre, clipped to the
    frame, resized (area averaging when shrinking); None when nothing of it lies in the frame."""
    import cv2

    left, top, right, bottom = landmark_box(points68)
    half = max(right - left, bottom - top) / 2
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0, y0 = max(int(round(cx - half)), 0), max(int(round(cy - half)), 0)
    x1, y1 = min(int(round(cx + half)), gray.shape[1]), min(int(round(cy + half)), gray.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop = gray[y0:y1, x0:x1]
    shrink = crop.shape[0] > side or crop.shape[1] > side
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 3x3 Laplacian of a grey image: high for crisp edges, low for blur."""
    import cv2

    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def inter_ocular(points68: np.ndarray) -> float:
    """Distance between the two eye centres (means of points 36-41 and 42-47)."""
    p = np.asarray(points68, dtype=np.float64)
    return float(np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0)))


class ClipMeasures:
    """The filter measures of one clip (module docstring), as a frame accumulator named ``measures``.

    ``end()`` returns ``{"frames", "frames_with_face", <series>: summary, ...}`` for every name in :data:`SERIES`
    (``cpbd`` only with ``cpbd_every`` > 0), and ``"per_frame": {<series>: [value or None per frame]}`` with
    ``keep_frames``.
    """

    name = "measures"

    def __init__(self, *, cpbd_every: int = 0, keep_frames: bool = False) -> None:
        if cpbd_every < 0:
            raise ValueError(f"cpbd_every must be >= 0, got {cpbd_every}")
        self.cpbd_every = cpbd_every
        self.keep_frames = keep_frames

    def begin(self, fps: float, size: tuple[int, int], num_frames: int | None = None) -> None:
        self.size = size
        self.frames = 0
        self.values: dict[str, list[float]] = {name: [] for name in SERIES}
        self.per_frame: dict[str, list[float | None]] = {name: [] for name in SERIES}
        self._previous_small: np.ndarray | None = None
        self._previous_points: np.ndarray | None = None

    def frame(self, index: int, rgb: np.ndarray, landmarks: np.ndarray | None) -> None:
        import cv2

        gray = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY)
        small = cv2.resize(gray, (MOTION_SIDE, MOTION_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
        found: dict[str, float | None] = dict.fromkeys(SERIES)
        found["brightness"] = float(gray.mean())
        found["frame_sharpness"] = laplacian_variance(gray)
        if self._previous_small is not None:
            found["motion"] = float(np.abs(small - self._previous_small).mean())
        self._previous_small = small
        if landmarks is not None:
            found |= self._face(index, gray, landmarks)
        self._previous_points = None if landmarks is None else np.asarray(landmarks, dtype=np.float64)
        self.frames += 1
        for key, value in found.items():
            self.per_frame[key].append(value)
            if value is not None:
                self.values[key].append(value)

    def _face(self, index: int, gray: np.ndarray, points: np.ndarray) -> dict[str, float | None]:
        left, top, right, bottom = landmark_box(points)
        width, height = self.size
        out: dict[str, float | None] = {
            "face_share": max(right - left, bottom - top) / min(width, height),
            "face_px": right - left,
        }
        pose = head_pose(points, self.size)
        if pose is not None:
            out |= dict(zip(("yaw", "pitch", "roll", "head_away"), pose, strict=True))
        crop = face_crop(gray, points)
        if crop is not None:
            out["sharpness"] = laplacian_variance(crop)
            out["face_brightness"] = float(crop.mean())
            if self.cpbd_every and index % self.cpbd_every == 0:
                from hdtf.metrics.sharpness import cpbd

                out["cpbd"] = cpbd(crop)
        previous = self._previous_points
        iod = inter_ocular(points)
        if previous is not None and iod > 0:
            out["landmark_motion"] = float(np.linalg.norm(points - previous, axis=1).mean() / iod)
        return out

    def end(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frames": self.frames, "frames_with_face": len(self.values["face_px"])}
        for name in SERIES:
            if name == "cpbd" and not self.cpbd_every:
                continue
            out[name] = summarise(self.values[name])
        if self.keep_frames:
            out["per_frame"] = {name: values for name, values in self.per_frame.items()
                                if name != "cpbd" or self.cpbd_every}
        return json_safe(out)
