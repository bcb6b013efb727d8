"""CSIM with dlib's face-recognition ResNet: the same photo jittered stays close, a different face does not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

pytest.importorskip("dlib")

from hdtf.metrics.identity import csim, face_descriptor  # noqa: E402


def _jitter(image: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    shifted = np.roll(image, (7, -5), axis=(0, 1)).astype(float) * 1.1 + rng.normal(0, 4, image.shape)
    return np.clip(shifted, 0, 255).astype(np.uint8)


def test_same_face_scores_above_threshold_and_different_face_below(face_photo):
    photo = np.asarray(Image.open(face_photo).convert("RGB"))
    same = csim(photo, _jitter(photo))
    different = csim(photo, data.astronaut())
    # Measured: same ~0.9998, different ~0.876 (dlib embeddings have a high cosine floor between faces).
    assert same > 0.97 > different
    assert csim(photo, photo) == pytest.approx(1.0)


def test_no_face_is_reported():
    blank = np.full((200, 200, 3), 127, np.uint8)
    assert face_descriptor(blank) is None
    with pytest.raises(ValueError, match="no face found in the second image"):
        csim(data.astronaut(), blank)
