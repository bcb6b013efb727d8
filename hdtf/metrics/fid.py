"""FID: Fréchet distance between Inception features of generated and real frames.

The distance (Heusel et al. 2017) between Gaussians N(mu1, S1) and N(mu2, S2) is
``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``. The matrix square root is taken from the eigenvalues of
``sqrt(S1) S2 sqrt(S1)``, which is symmetric positive semi-definite and has the same trace of square root as
``S1 S2``, so no complex round-off has to be discarded.

The feature extractor is the user's: Inception weights cannot be downloaded here and are not redistributed. Expected
format: a TorchScript file loadable with ``torch.jit.load`` - NVIDIA's ``inception-2015-12-05.pt`` (the port of the
TensorFlow FID network used by StyleGAN2-ADA and clean-fid), which takes uint8-range float ``(N,3,H,W)`` RGB and
returns 2048-d pool features when called with ``return_features=True``. Any TorchScript module whose ``forward``
maps such a batch to ``(N, D)`` features also works (its forward signature is inspected, nothing is guessed).

A TorchScript file is a program, not data: loading and calling it runs the code it holds, and ``weights_only``
protects nothing here. Loading one says so in a warning that names the file's SHA-256 (compare it with the one its
publisher gives); use only a file from a source you trust.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from hdtf.errors import HDTFError
from hdtf.metrics.base import Clip, Column, Frame, Metric, sha256_file
from hdtf.metrics.registry import missing_weights

MISSING = missing_weights("fid")
log = logging.getLogger(__name__)
BATCH = 16  # frames per Inception call


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between two Gaussians given by means ``(D,)`` and covariances ``(D,D)``."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"FID: inconsistent shapes {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    e1, v1 = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v1 * np.sqrt(np.clip(e1, 0, None))) @ v1.T
    middle = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


class FeatureStats:
    """Running mean and covariance of feature vectors (streams: never holds all features)."""

    def __init__(self) -> None:
        self.n = 0
        self.total: np.ndarray | None = None
        self.outer: np.ndarray | None = None

    def update(self, features: np.ndarray) -> None:
        f = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
        if self.total is None:
            self.total, self.outer = np.zeros(f.shape[1]), np.zeros((f.shape[1], f.shape[1]))
        self.n += len(f)
        self.total += f.sum(axis=0)
        self.outer += f.T @ f

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and unbiased covariance (as ``np.cov``); needs at least two vectors."""
        if self.n < 2:
            raise ValueError(f"FID needs at least 2 frames per side, got {self.n}")
        mu = self.total / self.n
        cov = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return mu, cov


def fid_from_stats(generated: FeatureStats, real: FeatureStats) -> float:
    return frechet_distance(*generated.mean_cov(), *real.mean_cov())


class InceptionFeatures:
    """A user-provided TorchScript feature extractor; call it on (N,H,W,3) uint8 frames to get (N,D) numpy."""

    def __init__(self, weights: str | Path | None, device: str = "cpu") -> None:
        if weights is None:
            raise HDTFError(f"FID: {MISSING}")
        path = Path(weights)
        if not path.is_file():
            raise HDTFError(
                f"FID weights {path}: file not found (expected a TorchScript Inception, see docs/evaluation.md)"
            )
        import torch

        log.warning("FID weights %s (SHA-256 %s) are TorchScript: loading them runs the code inside the file; use only "
                    "a file from a source you trust", path.name, sha256_file(path))
        try:
            self.model = torch.jit.load(str(path), map_location=device).eval()
        except RuntimeError as exc:
            reason = str(exc).splitlines()[0]
            raise HDTFError(f"FID weights {path}: not a TorchScript file torch.jit.load can read ({reason})") from exc
        self.device = device
        names = [a.name for a in self.model.forward.schema.arguments]
        self.kwargs = {"return_features": True} if "return_features" in names else {}

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).to(torch.float32)
        with torch.no_grad():
            out: Any = self.model(x, **self.kwargs)
        if out.ndim != 2:
            raise HDTFError(f"FID feature extractor returned shape {tuple(out.shape)}, expected (N, D)")
        return out.double().cpu().numpy()


class FID(Metric):
    """FID over every frame of every scored clip: feature statistics are pooled across clips, not averaged."""

    columns = (Column("fid", "FID (frames, generated vs real)", "lower"),)
    weights = "fid"
    note = "FID pools all frames"
    backend = "torch: the user's TorchScript Inception features, Frechet distance with scipy"
    packages = ("torch", "scipy")

    def __init__(self, weights: Path | None = None, device: str = "cpu") -> None:
        self.inception = InceptionFeatures(weights, device)
        self.generated, self.real = FeatureStats(), FeatureStats()
        self._batch: list[tuple[np.ndarray, np.ndarray]] = []

    def start(self, clip: Clip) -> None:
        self._batch.clear()

    def update(self, frame: Frame) -> None:
        self._batch.append((frame.generated, frame.real))
        if len(self._batch) == BATCH:
            self._flush()

    def finish(self) -> dict[str, Any]:
        if self._batch:
            self._flush()
        return {}

    def _flush(self) -> None:
        for stats, side in ((self.generated, 0), (self.real, 1)):
            stats.update(self.inception(np.stack([pair[side] for pair in self._batch])))
        self._batch.clear()

    def summarise(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if self.generated.n < 2:
            return {"fid": "n/a (fewer than 2 frames scored)"}
        return {"fid": fid_from_stats(self.generated, self.real)}
