"""One face observation per frame (box + 68 landmarks), shared by LMD, CSIM and the SyncNet crop.

Faces are found the way the rest of hdtf finds them (:mod:`hdtf.face.detect`: dlib HOG, the largest most central
face, upsampling once when none is found), so LMD compares like with like. Detecting once per frame and handing the
result to every metric keeps evaluation at one dlib pass per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceObservation:
    box: np.ndarray  # (4,) float: left, top, right, bottom (right/bottom exclusive)
    points: np.ndarray  # (68, 2) float32 pixel coordinates (x, y), iBUG 300-W order


def observe_face(image: np.ndarray) -> FaceObservation | None:
    """The main face of an (H,W,3) uint8 RGB frame, or None when there is none."""
    from hdtf.face.detect import detect_faces, landmarks, primary_face

    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"face metrics need (H,W,3) uint8 RGB frames, got shape {image.shape}")
    boxes = detect_faces(image) or detect_faces(image, upsample=1)
    if not boxes:
        return None
    box = primary_face(boxes, image.shape[1], image.shape[0])
    box_array = np.array([box.left, box.top, box.right, box.bottom], dtype=np.float64)
    return FaceObservation(box=box_array, points=landmarks(image, box))
