"""CPBD: known-answer edges, and agreement with the reference software on real images.

The reference values were computed with the ``cpbd`` 1.0.7 package (``cpbd.compute`` on the same uint8 grey image).
That package cannot be imported with scipy >= 1.2 (it imports the removed ``scipy.ndimage.imread``), so its numbers
are recorded here instead of being recomputed.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data

from hdtf.metrics.sharpness import cpbd


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    sigmas = (sigma, sigma, 0)[: image.ndim]
    return np.clip(np.rint(gaussian_filter(image.astype(float), sigmas)), 0, 255).astype(np.uint8)


def _edge_image() -> np.ndarray:
    """A vertical edge 0 -> 100 -> 200 (one intermediate pixel): width 2 px, well under the 3 px JNB width."""
    image = np.zeros((128, 128), np.uint8)
    image[:, 40] = 100
    image[:, 41:] = 200
    return image


def test_sharp_edges_score_one_and_blurred_edges_zero():
    edge = _edge_image()
    assert cpbd(edge) == 1.0
    assert cpbd(np.fliplr(edge)) == 1.0  # falling edges are measured too
    assert cpbd(_blur(edge, 4.0)) == 0.0
    assert cpbd(np.full((128, 128), 90, np.uint8)) == 0.0  # no edge block at all


@pytest.mark.parametrize(
    ("name", "sigma", "reference"),
    [
        ("astronaut", 0, 0.38368206916594016),
        ("astronaut", 1.5, 0.03505082369435682),
        ("camera", 0, 0.7481657466284677),
        ("camera", 1.5, 0.11),
    ],
)
def test_agrees_with_reference_software(name, sigma, reference):
    image = getattr(data, name)()
    if sigma:
        image = _blur(image, sigma)
    assert cpbd(image) == pytest.approx(reference, abs=1e-3)


def test_real_face_photo_matches_reference_and_drops_with_blur(face_photo):
    photo = np.asarray(Image.open(face_photo).convert("RGB"))
    assert cpbd(photo) == pytest.approx(0.8448376493717936, abs=1e-3)
    assert cpbd(_blur(photo, 1.5)) == pytest.approx(0.2757542124911714, abs=1e-3)
    scores = [cpbd(_blur(photo, s)) for s in (0.5, 1.0, 2.0)]
    assert scores == sorted(scores, reverse=True)
    assert cpbd(photo / 255.0) == cpbd(photo)
