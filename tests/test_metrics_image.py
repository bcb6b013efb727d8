"""PSNR and SSIM: known answers, agreement with scikit-image, numpy/torch/float/uint8 consistency."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import data
from skimage.metrics import structural_similarity

from hdtf.metrics.image import psnr, ssim


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    clean = data.astronaut()[::2, ::2].copy()  # 256x256x3
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    return clean, noisy


def test_identical_frames_give_inf_psnr_and_unit_ssim(pair):
    clean, _ = pair
    assert psnr(clean, clean) == math.inf
    assert ssim(clean, clean) == pytest.approx(1.0, abs=1e-12)


def test_psnr_of_known_gaussian_noise():
    # Noise of sigma 10 on a mid-grey image never clips, so MSE ~ 100 and PSNR ~ 10*log10(255^2/100) = 28.13 dB.
    rng = np.random.default_rng(1)
    grey = np.full((256, 256, 3), 128.0)
    noisy = np.rint(grey + rng.normal(0, 10, grey.shape))
    expected = 10 * math.log10(255**2 / 100.0)
    assert psnr(grey / 255.0, noisy / 255.0) == pytest.approx(expected, abs=0.1)
    assert psnr(grey.astype(np.uint8), noisy.astype(np.uint8)) == pytest.approx(psnr(grey / 255, noisy / 255))


def test_ssim_agrees_with_scikit_image(pair):
    clean, noisy = pair
    reference = structural_similarity(
        clean, noisy, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert 0.2 < reference < 0.95
    assert ssim(clean, noisy) == pytest.approx(reference, abs=1e-3)
    grey = structural_similarity(
        clean[..., 1], noisy[..., 1], gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert ssim(clean[..., 1], noisy[..., 1]) == pytest.approx(grey, abs=1e-3)


def test_batches_float_and_torch_give_the_same_numbers(pair):
    torch = pytest.importorskip("torch")
    clean, noisy = pair
    batch_a, batch_b = np.stack([clean, clean]), np.stack([clean, noisy])
    per_frame = ssim(batch_a, batch_b)
    assert per_frame.shape == (2,) and per_frame[0] == pytest.approx(1.0)
    assert per_frame[1] == pytest.approx(ssim(clean, noisy))
    assert ssim(clean / 255.0, noisy / 255.0) == pytest.approx(ssim(clean, noisy), abs=1e-9)
    assert ssim(torch.from_numpy(batch_a), torch.from_numpy(batch_b)) == pytest.approx(per_frame, abs=1e-9)
    assert psnr(torch.from_numpy(batch_a), torch.from_numpy(batch_b)) == pytest.approx(psnr(batch_a, batch_b))
    assert psnr(torch.from_numpy(clean), torch.from_numpy(noisy)) == pytest.approx(psnr(clean, noisy))
    assert ssim(torch.from_numpy(clean), torch.from_numpy(noisy)) == pytest.approx(ssim(clean, noisy), abs=1e-9)


def test_mismatched_shapes_are_refused(pair):
    clean, _ = pair
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(clean, clean[:100])
