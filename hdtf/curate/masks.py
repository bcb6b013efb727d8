"""The face and lip masks Hallo trains with, made from the 68 landmarks of a clip.

What Hallo makes (fudan-generative-vision/hallo ``scripts/data_preprocess.py`` step 1, ``hallo/datasets/
image_processor.py`` ``ImageProcessorForDataProcessing.preprocess``, ``hallo/utils/util.py``), one PNG each per clip:

- ``face_mask``: frame-sized, 0/255. Per frame, the box of the face outline (mediapipe's face-oval points) is filled;
  the union over the frames is then filled out to its own bounding box (``get_union_mask``): one rectangle holding
  every frame's face;
- the lip union the same way from the outer lip contour (not saved by Hallo; kept here as ``lip_mask``);
- ``blur_mask``: each union resized to 64x64 (bilinear), Gaussian-blurred (kernel 51x51 for the face, 31x31 for the
  lips, sigma from the kernel) and stretched to 0-255 (min-max);
- ``sep_lip_mask`` = the blurred lips; ``sep_face_mask`` = blurred face minus blurred lips (saturating at 0);
  ``sep_pose_mask`` = 255 minus the blurred face. Hallo's trainer resizes these 64x64 masks to its attention sizes.

hdtf's landmarks are dlib's 68 points, not mediapipe's 478: the lips are points 48-59 (the outer contour, as
Hallo's lip ids are), and the face box is the 68-point box raised at the top by :data:`FOREHEAD` of its height,
because mediapipe's face oval reaches the hairline while the 68 points stop at the brows. Per-frame masks are not
stored by Hallo; with ``per_frame`` the per-frame face and lip boxes are returned so that
:func:`box_mask` can draw any frame's masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LIPS = slice(48, 60)
FOREHEAD = 0.25  # share of the 68-point box's height added above it to reach mediapipe's face-oval top
BLUR_SIDE = 64
FACE_KERNEL = 51
LIP_KERNEL = 31


def face_box(points68: np.ndarray) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the face as Hallo boxes it: the 68-point box with the forehead added."""
    p = np.asarray(points68, dtype=np.float64)
    left, top, right, bottom = p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()
    return float(left), float(top - FOREHEAD * (bottom - top)), float(right), float(bottom)


def lip_box(points68: np.ndarray) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the outer lip contour (points 48-59)."""
    p = np.asarray(points68, dtype=np.float64)[LIPS]
    return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())


def box_mask(box: tuple[float, float, float, float] | None, size: tuple[int, int]) -> np.ndarray:
    """A (height, width) uint8 mask, 255 inside ``box`` (rounded, clipped to the frame), 0 elsewhere."""
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    if box is not None:
        left, top, right, bottom = (int(round(v)) for v in box)
        mask[max(top, 0):max(min(bottom, height), 0), max(left, 0):max(min(right, width), 0)] = 255
    return mask


def blur_mask(mask: np.ndarray, kernel: int, side: int = BLUR_SIDE) -> np.ndarray:
    """Hallo's soft mask: resized to ``side`` x ``side``, blurred with a ``kernel`` square Gaussian, min-max 0-255."""
    import cv2

    small = cv2.resize(mask, (side, side), interpolation=cv2.INTER_LINEAR)
    blurred = cv2.GaussianBlur(small, (kernel, kernel), 0)
    return cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX)


class HalloMasks:
    """The clip's Hallo masks as a frame accumulator named ``masks``.

    After ``end()``, ``artifacts`` holds uint8 arrays ready for PNG: ``face_mask`` and ``lip_mask`` (frame-sized,
    0/255) and ``sep_face_mask``, ``sep_lip_mask``, ``sep_pose_mask`` (64x64). ``end()`` returns ``frames``,
    ``frames_with_face``, ``face_box`` and ``lip_box`` (the union rectangles, ``[left, top, right, bottom]`` pixels,
    None without a face) and, with ``per_frame``, ``frame_face_boxes`` / ``frame_lip_boxes`` (None on faceless
    frames).
    """

    name = "masks"

    def __init__(self, *, per_frame: bool = False) -> None:
        self.per_frame = per_frame
        self.artifacts: dict[str, np.ndarray] = {}

    def begin(self, fps: float, size: tuple[int, int], num_frames: int | None = None) -> None:
        self.size = size
        self.frames = 0
        self.with_face = 0
        self.union: dict[str, list[float] | None] = {"face": None, "lip": None}
        self.boxes: dict[str, list[list[float] | None]] = {"face": [], "lip": []}
        self.artifacts = {}

    def frame(self, index: int, rgb: np.ndarray, landmarks: np.ndarray | None) -> None:
        self.frames += 1
        self.with_face += landmarks is not None
        for part, boxer in (("face", face_box), ("lip", lip_box)):
            box = None if landmarks is None else self._clipped(boxer(landmarks))
            if self.per_frame:
                self.boxes[part].append(box)
            if box is not None:
                u = self.union[part]
                self.union[part] = box if u is None else [min(u[0], box[0]), min(u[1], box[1]),
                                                          max(u[2], box[2]), max(u[3], box[3])]

    def _clipped(self, box: tuple[float, float, float, float]) -> list[float]:
        width, height = self.size
        return [min(max(box[0], 0.0), width), min(max(box[1], 0.0), height),
                min(max(box[2], 0.0), width), min(max(box[3], 0.0), height)]

    def end(self) -> dict[str, Any]:
        import cv2

        face = box_mask(self.union["face"], self.size)
        lip = box_mask(self.union["lip"], self.size)
        blurred_face, blurred_lip = blur_mask(face, FACE_KERNEL), blur_mask(lip, LIP_KERNEL)
        self.artifacts = {
            "face_mask": face,
            "lip_mask": lip,
            "sep_lip_mask": blurred_lip,
            "sep_face_mask": cv2.subtract(blurred_face, blurred_lip),
            "sep_pose_mask": (255 - blurred_face).astype(np.uint8),
        }
        out: dict[str, Any] = {
            "frames": self.frames,
            "frames_with_face": self.with_face,
            "face_box": self.union["face"],
            "lip_box": self.union["lip"],
        }
        if self.per_frame:
            out |= {"frame_face_boxes": self.boxes["face"], "frame_lip_boxes": self.boxes["lip"]}
        return out
