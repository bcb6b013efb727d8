"""Face preparation of the input photo: the reference face in the framing the animation-to-video network was trained
on (the prepared HDTF clips), with its 68 landmarks.

``HDTFFaceProcessor`` saves its settings like a transformers image processor (``preprocessor_config.json``); in a
generator directory it lives in ``animation2video/``, beside the network it frames photos for, as a transformers
image-model repo keeps ``config.json``, ``model.safetensors`` and ``preprocessor_config.json`` together.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from transformers.image_processing_utils import BaseImageProcessor

from hdtf.errors import HDTFError
from hdtf.face.detect import NoFaceError

__all__ = ["FaceTooSmallError", "HDTFFaceProcessor", "MIN_FACE_SIZE", "prepare_reference"]

FACE_FRACTION = 0.5  # landmark-box size / crop side: the framing of the prepared HDTF clips
# dlib's HOG detector scans an ~80 px window: without up-sampling the smallest face box it returns is ~73 px, with
# one up-sampling (the processor's second try) ~37 px (measured on the Mona Lisa and skimage's astronaut scaled
# down step by step; faces of 25 px and less were missed). Smaller faces are sought once more at two up-samplings,
# only to say "too small" instead of "no face", on photos of up to DIAGNOSE_MAX_PIXELS (that pass costs 16x).
MIN_FACE_SIZE = 36
DIAGNOSE_MAX_PIXELS = 2_000_000


class FaceTooSmallError(NoFaceError):
    """The photo's face is smaller than the detector can use (its size and the minimum are in the message)."""


def open_photo(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3), turned upright by its EXIF orientation (as phones store portraits)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise HDTFError(f"{path}: cannot read image ({exc})") from None


def find_face(image: np.ndarray, name: str = "image") -> np.ndarray:
    """68 landmarks of the main face; NoFaceError, or FaceTooSmallError with the face's size and the minimum."""
    import warnings

    from hdtf.face.detect import MultipleFacesWarning, detect_faces, landmarks, primary_face

    h, w = image.shape[:2]
    boxes = detect_faces(image) or detect_faces(image, upsample=1)
    if not boxes and h * w <= DIAGNOSE_MAX_PIXELS:
        boxes = detect_faces(image, upsample=2)
    if not boxes:
        raise NoFaceError(f"{name}: no face found in the image (faces need at least {MIN_FACE_SIZE} px)")
    box = primary_face(boxes, w, h)
    if box.size < MIN_FACE_SIZE:
        raise FaceTooSmallError(f"{name}: face too small ({box.size:.0f} px; at least {MIN_FACE_SIZE} needed)")
    if len(boxes) > 1:
        message = f"{name}: {len(boxes)} faces found; using the largest, most central one"
        warnings.warn(message, MultipleFacesWarning, stacklevel=3)
    return landmarks(image, box)


class HDTFFaceProcessor(BaseImageProcessor):
    """A photo (path, array or PIL image) → (square RGB uint8 (size, size, 3), landmarks (68, 2) in its pixels).

    Files and PIL images are turned upright by their EXIF orientation first. Landmarks are found on the
    full-resolution photo (a face needs ``MIN_FACE_SIZE`` px; a smaller one is reported with its size); the crop is a square around the face, as large as the photo
    allows up to ``1 / face_fraction`` times the landmark box, resized to ``size`` (Lanczos).

    Args:
        size: side of the prepared image, the animation-to-video network's ``image_size``.
        face_fraction: landmark-box size / crop side of the training clips (0.5: the face fills half the frame).
    """

    model_input_names = ["reference_image", "reference_landmarks"]

    def __init__(self, size: int = 512, face_fraction: float = FACE_FRACTION, **kwargs):
        super().__init__(**kwargs)
        if not 0 < face_fraction <= 1:
            raise ValueError(f"face_fraction must be in (0, 1], got {face_fraction}")
        self.size = int(size)
        self.face_fraction = float(face_fraction)

    @classmethod
    def for_generator(cls, options: dict[str, Any], image_size: int, parts: dict[str, Any]) -> HDTFFaceProcessor:
        """A generator's face processor: photos framed at the network's image size (also what a directory written
        before the processor was saved gets; ``hdtf.modeling.components``)."""
        return cls(size=image_size, **options)

    def __call__(self, image: Any) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image, ImageOps

        name = "image"
        if isinstance(image, (str, os.PathLike)):
            name = str(image)
            if not Path(image).is_file():
                raise HDTFError(f"{name}: image file not found")
            image = open_photo(image)
        elif isinstance(image, Image.Image):
            image = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        rgb = image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, -1)
        image = np.ascontiguousarray(rgb, np.uint8)
        points = find_face(image, name).astype(np.float64)
        h, w = image.shape[:2]
        lo, hi = points.min(0), points.max(0)
        side = round(min(h, w, max(hi - lo) / self.face_fraction))
        cx, cy = (lo + hi) / 2
        x0 = round(min(max(cx - side / 2, 0), w - side))
        y0 = round(min(max(cy - side / 2, 0), h - side))
        crop = Image.fromarray(image[y0 : y0 + side, x0 : x0 + side]).resize((self.size, self.size), Image.LANCZOS)
        scale = self.size / side
        return np.asarray(crop), ((points - (x0, y0)) * scale).astype(np.float32)


def prepare_reference(image: Any, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``HDTFFaceProcessor(size=image_size)(image)``: the reference face at the HDTF framing, and its landmarks."""
    return HDTFFaceProcessor(size=image_size)(image)
