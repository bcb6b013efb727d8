"""Per-frame face boxes and landmarks in the fields MuseTalk's preprocessing writes (one JSON per clip).

TMElyralab/MuseTalk ``scripts/preprocess.py`` (``analyze_video``) writes ``mp4_path``, ``wav_path``, ``video_size``
([height, width]), ``face_size`` ([height, width] of the first frame's box), ``frames`` (the video's frame count),
``face_list`` (per frame ``[x1, y1, x2, y2]``), ``landmark_list`` (per frame 68 ``[x, y]`` integer points, dwpose's
face keypoints in the iBUG order) and ``isvalid``; at the first frame without a face it sets ``isvalid`` false and
stops, so both lists end there. Its trainer (``musetalk/data/dataset.py``) then requires ``len(landmark_list) ==
frames`` and the shape ``(frames, 68, 2)``, so an invalid clip is not trained on.

hdtf fills the same fields from the tracked 68 landmarks: the box is the landmark box (MuseTalk's comes from its own
face detector and is unioned with the landmarks by its trainer), coordinates are rounded to integers, and the lists
end at the first frame without a face exactly as MuseTalk's do; ``first_invalid_frame`` says where (None when
valid). The paths are the exporter's to fill in: they depend on where the export is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MuseTalkFaceJSON:
    """MuseTalk's per-clip face JSON as a frame accumulator named ``face_json``; ``end()`` returns ``video_size``,
    ``face_size``, ``frames``, ``face_list``, ``landmark_list``, ``isvalid`` and ``first_invalid_frame``."""

    name = "face_json"

    def begin(self, fps: float, size: tuple[int, int], num_frames: int | None = None) -> None:
        self.size = size
        self.frames = 0
        self.boxes: list[list[int]] = []
        self.points: list[list[list[int]]] = []
        self.first_invalid: int | None = None

    def frame(self, index: int, rgb: np.ndarray, landmarks: np.ndarray | None) -> None:
        self.frames += 1
        if self.first_invalid is not None:
            return
        if landmarks is None:
            self.first_invalid = index
            return
        p = np.rint(np.asarray(landmarks, dtype=np.float64)).astype(np.int64)
        self.boxes.append([int(p[:, 0].min()), int(p[:, 1].min()), int(p[:, 0].max()), int(p[:, 1].max())])
        self.points.append(p.tolist())

    def end(self) -> dict[str, Any]:
        width, height = self.size
        face_size = [] if not self.boxes else [self.boxes[0][3] - self.boxes[0][1], self.boxes[0][2] - self.boxes[0][0]]
        return {
            "video_size": [int(height), int(width)],
            "face_size": face_size,
            "frames": self.frames,
            "face_list": self.boxes,
            "landmark_list": self.points,
            "isvalid": self.first_invalid is None and self.frames > 0,
            "first_invalid_frame": self.first_invalid,
        }
