"""Full-reference frame metrics: PSNR and SSIM, on single images or batches, in numpy or torch.

Conventions shared by every metric here:

- Images are RGB, channels last: ``(H, W, 3)`` or a batch ``(N, H, W, 3)``. Grayscale ``(H, W)`` also works.
- ``uint8`` images have a data range of 255. Floating-point images are taken to be in ``[0, 1]`` (data range 1)
  unless ``data_range`` says otherwise, so the same frame gives the same value in either representation.
- torch tensors (same layout) are computed with torch on their own device; numpy arrays with numpy/scipy.

SSIM follows Wang et al. (2004) as scikit-image computes it with ``gaussian_weights=True, sigma=1.5,
use_sample_covariance=False``: an 11-tap Gaussian window (truncate 3.5), K1=0.01, K2=0.03, per-channel maps averaged
after cropping the 5-pixel border the window cannot fully cover. Because that border is cropped, only windows lying
wholly inside the image count, so a 'valid' convolution gives the same number as scikit-image's reflect-padded one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hdtf.metrics.base import Column, Frame, FrameMean

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def is_torch(x: Any) -> bool:
    """True for a torch tensor, without importing torch."""
    return type(x).__module__.startswith("torch")


def default_data_range(x: Any) -> float:
    """255 for integer images, 1 for floating-point images (the documented convention)."""
    dtype = x.dtype
    if is_torch(x):
        return 1.0 if dtype.is_floating_point else 255.0
    return 1.0 if np.issubdtype(dtype, np.floating) else 255.0


def _check_pair(a: Any, b: Any) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if len(a.shape) not in (2, 3, 4):
        raise ValueError(f"expected (H,W), (H,W,C) or (N,H,W,C) images, got shape {tuple(a.shape)}")


def _as_nhwc(x: np.ndarray) -> np.ndarray:
    """(H,W) -> (1,H,W,1); (H,W,C) -> (1,H,W,C); (N,H,W,C) unchanged."""
    if x.ndim == 2:
        return x[None, :, :, None]
    if x.ndim == 3:
        return x[None]
    return x


def psnr(a: Any, b: Any, data_range: float | None = None) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB between two images (or per image of two batches).

    Identical images give ``inf``. A batch ``(N,H,W,C)`` gives an array of N values (one per frame), since the
    per-frame mean is what talking-face papers average over a video.
    """
    _check_pair(a, b)
    peak = float(data_range if data_range is not None else default_data_range(a))
    if is_torch(a):
        import torch

        diff = a.to(torch.float64) - b.to(torch.float64)
        dims = tuple(range(1, diff.ndim)) if diff.ndim == 4 else tuple(range(diff.ndim))
        mse = np.atleast_1d(diff.square().mean(dim=dims).cpu().numpy())
    else:
        diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
        mse = np.square(_as_nhwc(diff)).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(peak**2 / mse)
    return values if len(a.shape) == 4 else float(values[0])


def gaussian_window(sigma: float = SSIM_SIGMA, truncate: float = SSIM_TRUNCATE) -> np.ndarray:
    """The normalised 1-D Gaussian SSIM uses (radius ``int(truncate*sigma+0.5)``, as scipy.ndimage sizes it)."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _valid_filter_np(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable Gaussian of (N,H,W,C) along H and W, keeping only the 'valid' part (border of len(w)//2 cropped)."""
    from scipy.ndimage import correlate1d

    r = len(w) // 2
    return correlate1d(correlate1d(x, w, axis=1), w, axis=2)[:, r:-r, r:-r]


def ssim(a: Any, b: Any, data_range: float | None = None) -> float | np.ndarray:
    """Structural similarity (mean SSIM over pixels and channels); a batch gives one value per image.

    Matches ``skimage.metrics.structural_similarity(a, b, data_range=..., channel_axis=-1, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)``.
    """
    _check_pair(a, b)
    peak = float(data_range if data_range is not None else default_data_range(a))
    w = gaussian_window()
    if min(a.shape[-3:-1] if len(a.shape) >= 3 else a.shape) < len(w):
        raise ValueError(f"SSIM needs images of at least {len(w)}x{len(w)} pixels, got shape {tuple(a.shape)}")
    if is_torch(a):
        values = _ssim_torch(a, b, w, peak)
    else:
        values = _ssim_np(np.asarray(a), np.asarray(b), w, peak)
    return values if len(a.shape) == 4 else float(values[0])


def _ssim_map(ux, uy, uxx, uyy, uxy, peak: float):
    c1, c2 = (SSIM_K1 * peak) ** 2, (SSIM_K2 * peak) ** 2
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def _ssim_np(a: np.ndarray, b: np.ndarray, w: np.ndarray, peak: float) -> np.ndarray:
    x = _as_nhwc(a).astype(np.float64)
    y = _as_nhwc(b).astype(np.float64)
    f = lambda z: _valid_filter_np(z, w)  # noqa: E731 - five uses of one filter
    s = _ssim_map(f(x), f(y), f(x * x), f(y * y), f(x * y), peak)
    return s.mean(axis=(1, 2, 3))


def _ssim_torch(a: Any, b: Any, w: np.ndarray, peak: float) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    def nchw(t):
        t = t.to(torch.float64)
        if t.ndim == 2:
            t = t[None, :, :, None]
        elif t.ndim == 3:
            t = t[None]
        return t.permute(0, 3, 1, 2)

    x, y = nchw(a), nchw(b)
    channels = x.shape[1]
    k = torch.as_tensor(w, dtype=torch.float64, device=x.device)
    kh = k.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    kw = k.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)

    def f(z):
        return F.conv2d(F.conv2d(z, kh, groups=channels), kw, groups=channels)

    s = _ssim_map(f(x), f(y), f(x * x), f(y * y), f(x * y), peak)
    return s.mean(dim=(1, 2, 3)).cpu().numpy()


class PSNR(FrameMean):
    columns = (Column("psnr", "PSNR (dB)", "higher"),)

    def measure(self, frame: Frame) -> dict[str, float]:
        return {"psnr": psnr(frame.generated, frame.real)}


class SSIM(FrameMean):
    columns = (Column("ssim", "SSIM", "higher"),)
    backend = "numpy/scipy: Gaussian-window SSIM (Wang et al. 2004), per channel"
    packages = ("numpy", "scipy")

    def measure(self, frame: Frame) -> dict[str, float]:
        return {"ssim": ssim(frame.generated, frame.real)}
