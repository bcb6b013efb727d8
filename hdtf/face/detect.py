"""Face boxes and 68-point landmarks on single images (dlib HOG detector + shape predictor).

Coordinates are pixels of the image given, x right, y down, landmarks in the iBUG 300-W 68-point order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdtf.errors import HDTFError
from hdtf.face.models import face_detector, shape_predictor


class NoFaceError(HDTFError):
    """No face was found where one was required (a photo, a clip)."""


class MultipleFacesWarning(UserWarning):
    """More than one face was seen: a photo used the largest, most central one; a video followed one person."""


@dataclass(frozen=True)
class FaceBox:
    """A detected face: corners in pixels (right/bottom exclusive) and the detector's confidence."""

    left: float
    top: float
    right: float
    bottom: float
    score: float = 0.0

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    @property
    def size(self) -> float:
        """Geometric mean of width and height: one number for 'how big is the face'."""
        return float(np.sqrt(max(self.width, 0.0) * max(self.height, 0.0)))

    def scaled(self, factor: float) -> FaceBox:
        return FaceBox(self.left * factor, self.top * factor, self.right * factor, self.bottom * factor, self.score)

    def as_xywh(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.width, self.height)


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale view of an RGB/gray image: dlib's detector and predictor are faster on one channel."""
    if image.ndim == 2:
        return np.ascontiguousarray(image, dtype=np.uint8)
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def detect_faces(image: np.ndarray, *, upsample: int = 0, scale: float = 1.0) -> list[FaceBox]:
    """All frontal faces in an RGB (or gray) image, in its own pixel coordinates.

    ``scale`` < 1 runs the detector on a downscaled copy (cost falls with the pixel count; faces must stay above
    ~80 px there), ``scale`` > 1 on an enlarged one (faces under ~80 px are found at the cost of the larger image);
    ``upsample`` > 0 (dlib's own pyramid step up) finds smaller faces at 3-4x the cost per level. The box's
    ``score`` is dlib's detection confidence (0 at its threshold).
    """
    gray = to_gray(image)
    if scale != 1.0:
        import cv2

        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        # Area averaging to shrink; enlarging needs interpolation (INTER_AREA would repeat pixels into blocks).
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR)
    rects, scores, _ = face_detector().run(gray, upsample, 0.0)
    return [
        FaceBox(r.left() / scale, r.top() / scale, (r.right() + 1) / scale, (r.bottom() + 1) / scale, float(s))
        for r, s in zip(rects, scores, strict=True)
    ]


def landmarks(image: np.ndarray, box: FaceBox) -> np.ndarray:
    """The 68 landmarks (float32, (68, 2)) of the face in ``box``; the box only needs to be roughly right."""
    import dlib

    left, top, right, bottom = (int(round(v)) for v in (box.left, box.top, box.right, box.bottom))
    rect = dlib.rectangle(left, top, right - 1, bottom - 1)
    shape = shape_predictor()(to_gray(image), rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def centred_area(box: FaceBox, width: int, height: int) -> float:
    """The box's share of a ``width`` x ``height`` frame, weighted down by its distance from the centre."""
    cx, cy = box.center
    off = np.hypot((cx - width / 2) / width, (cy - height / 2) / height)  # 0 at centre, ~0.7 at a corner
    return box.width * box.height / (width * height) * (1.0 - 0.7 * off)


def prominence(box: FaceBox, width: int, height: int) -> float:
    """How much a detection looks like the face a clip is about: :func:`centred_area` times the detector's
    confidence (dlib's score: ~0 at its threshold, 1-2.5 for clear frontal faces; counts from half to full)."""
    return centred_area(box, width, height) * (0.5 + 0.5 * min(max(box.score, 0.0), 1.0))


def primary_face(boxes: list[FaceBox], width: int, height: int) -> FaceBox:
    """The face a photo is about: large and near the centre (area weighted down by off-centre distance)."""
    return max(boxes, key=lambda box: centred_area(box, width, height))


def landmarks_for_image(image: np.ndarray | str | Path) -> np.ndarray:
    """68 landmarks of the main face of a photo (array or image file); NoFaceError naming the file when none."""
    name = "image"
    if isinstance(image, (str, Path)):
        name = str(image)
        image = read_image(image)
    boxes = detect_faces(image) or detect_faces(image, upsample=1)
    if not boxes:
        raise NoFaceError(f"{name}: no face found")
    box = primary_face(boxes, image.shape[1], image.shape[0])
    if len(boxes) > 1:
        message = f"{name}: {len(boxes)} faces found; using the largest, most central one"
        warnings.warn(message, MultipleFacesWarning, stacklevel=2)
    return landmarks(image, box)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); HDTFError naming the file when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise HDTFError(f"{path}: cannot read image ({exc})") from exc
