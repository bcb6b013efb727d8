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

__all__ = ["HDTFFaceProcessor", "prepare_reference"]

FACE_FRACTION = 0.5  # landmark-box size / crop side: the framing of the prepared HDTF clips


class HDTFFaceProcessor(BaseImageProcessor):
    """A photo (path, array or PIL image) → (square RGB uint8 (size, size, 3), landmarks (68, 2) in its pixels).

    Landmarks are found on the full-resolution photo; the crop is a square around the face, as large as the photo
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

    def __call__(self, image: Any) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        from hdtf.face.detect import NoFaceError, landmarks_for_image, read_image

        name = "image"
        if isinstance(image, (str, os.PathLike)):
            name = str(image)
            if not Path(image).is_file():
                raise HDTFError(f"{name}: image file not found")
            image = read_image(image)
        elif not isinstance(image, np.ndarray):
            image = np.asarray(image.convert("RGB"))
        rgb = image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, -1)
        image = np.ascontiguousarray(rgb, np.uint8)
        try:
            points = landmarks_for_image(image).astype(np.float64)
        except NoFaceError:
            raise NoFaceError(f"{name}: no face found in the image") from None
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
