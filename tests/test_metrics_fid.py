"""FID: Fréchet distance against scipy's sqrtm, streaming statistics, and the user-weights extractor."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pytest
import scipy.linalg

from hdtf.errors import HDTFError
from hdtf.metrics.fid import FeatureStats, InceptionFeatures, fid_from_stats, frechet_distance


def _direct(mu1, s1, mu2, s2) -> float:
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root))


@pytest.mark.parametrize("dim", [3, 64])
def test_matches_direct_scipy_computation(dim):
    rng = np.random.default_rng(dim)
    a = rng.normal(size=(400, dim))
    b = rng.normal(size=(300, dim)) @ rng.normal(size=(dim, dim)) * 0.3 + 0.5
    args = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance(*args) == pytest.approx(_direct(*args), rel=1e-6)
    assert frechet_distance(*args[:2], *args[:2]) == pytest.approx(0.0, abs=1e-8)


def test_known_answer_for_diagonal_gaussians():
    # 1-D: (m1-m2)^2 + s1 + s2 - 2 sqrt(s1 s2) = (m1-m2)^2 + (sqrt s1 - sqrt s2)^2
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9.0 + 1.0)


def test_streaming_stats_equal_numpy_cov():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(50, 8))
    stats = FeatureStats()
    for chunk in np.array_split(feats, 4):
        stats.update(chunk)
    mu, cov = stats.mean_cov()
    np.testing.assert_allclose(mu, feats.mean(0), atol=1e-12)
    np.testing.assert_allclose(cov, np.cov(feats, rowvar=False), atol=1e-12)
    other = FeatureStats()
    other.update(feats)
    assert fid_from_stats(stats, other) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load is deprecated; TorchScript files remain
def test_missing_or_bad_weights_are_named(tmp_path):
    with pytest.raises(HDTFError, match="weights not provided: --fid-weights"):
        InceptionFeatures(None)
    with pytest.raises(HDTFError, match="file not found"):
        InceptionFeatures(tmp_path / "inception.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not torchscript")
    with pytest.raises(HDTFError, match="not a TorchScript file"):
        InceptionFeatures(bad)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch 2.13 deprecates jit.script; the format stays
def test_user_torchscript_extractor_is_called_with_return_features(tmp_path, caplog):
    torch = pytest.importorskip("torch")

    class Tiny(torch.nn.Module):
        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            pooled = x.mean(dim=(2, 3))
            return pooled if return_features else pooled.sum(dim=1, keepdim=True)

    path = tmp_path / "tiny.pt"
    torch.jit.script(Tiny()).save(str(path))
    with caplog.at_level(logging.WARNING, logger="hdtf.metrics.fid"):
        extractor = InceptionFeatures(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    said = [r.getMessage() for r in caplog.records if r.name == "hdtf.metrics.fid"]
    assert said == [f"FID weights tiny.pt (SHA-256 {digest}) are TorchScript: loading them runs the code inside the "
                    "file; use only a file from a source you trust"]
    frames = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    feats = extractor(frames)
    assert feats.shape == (4, 3)
    np.testing.assert_allclose(feats, frames.mean(axis=(1, 2)), rtol=1e-5)
