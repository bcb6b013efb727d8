"""CPBD: the no-reference sharpness metric of Narvekar & Karam (IEEE TIP 2011), vectorised with numpy.

The metric is the fraction of edge pixels whose blur is *not* noticed: for each edge pixel the edge width ``w`` is
measured along the image row (Marziliano et al. 2002: walk outwards from the edge until the intensity stops
rising/falling), compared with the "just noticeable blur" width of its 64x64 block (5 px for block contrast <= 50,
else 3 px), and turned into a probability of detecting blur ``P = 1 - exp(-|w / w_JNB|**3.6)``. CPBD is the share of
edge pixels with ``P <= 0.63`` (the probability histogram is binned at 0.01 and summed over its first 64 bins).
Only 64x64 blocks with more than 0.2% Canny edge pixels count. The choices that pin the number down follow the
reference software that most talking-face papers ran (the ``cpbd`` package), so values are comparable with theirs:

- luma: uint8 grey (PIL's ITU-R 601 ``L`` conversion for RGB input), processed as float64 in [0, 255];
- block-selection edges: ``skimage.feature.canny`` with its defaults (sigma 1) on that float image;
- width-measurement edges: the horizontal-gradient Sobel response (kernel normalised to sum |k| = 1), squared,
  kept where it exceeds ``2*sqrt(mean)`` of the squared response and thinned to strict local maxima along the row
  or the column;
- edge direction: ``atan2(dy, dx)`` of ``np.gradient``, quantised to 45 degrees; only edges quantised to 0 (rising)
  or +-180 (falling) degrees are measured, the others are not horizontal enough for a row walk; ``dx == 0`` counts as
  0 degrees; a walk stops after 100 steps; widths count both sides plus one pixel each;
- only whole 64x64 blocks are used; an image without any edge block scores 0.

One deliberate difference: the package skips width measurement for an image whose gradient directions are all
exactly 0 degrees (a synthetic rising step, say) and scores it 0; here such edges are measured like any other.
"""

from __future__ import annotations

import numpy as np

from hdtf.metrics.base import Column, Frame, FrameMean

BLOCK = 64
EDGE_BLOCK_FRACTION = 0.002
BETA = 3.6
MAX_WALK = 100
BLUR_NOTICED = 63  # histogram bins 0..63 (P <= 0.63 after rounding) count as "sharp"


def to_gray_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 grey from uint8 grey/RGB (PIL's 'L' weights) or float RGB/grey in [0, 1]."""
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.floating):
        image = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    if image.dtype != np.uint8:
        raise ValueError(f"CPBD needs uint8 or [0,1] float images, got dtype {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        from PIL import Image

        return np.asarray(Image.fromarray(image, "RGB").convert("L"))
    raise ValueError(f"CPBD needs an (H,W) or (H,W,3) image, got shape {image.shape}")


def _sobel_row_edges(gray: np.ndarray) -> np.ndarray:
    """Thinned strong horizontal-gradient edges (the edges whose widths are measured)."""
    from scipy.ndimage import convolve

    kernel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0
    strength = np.square(convolve(gray, kernel, mode="reflect"))
    strength[strength <= 2.0 * np.sqrt(strength.mean())] = 0.0
    padded = np.pad(strength, 1)
    centre = padded[1:-1, 1:-1]
    along_row = (centre > padded[1:-1, :-2]) & (centre > padded[1:-1, 2:])
    along_col = (centre > padded[:-2, 1:-1]) & (centre > padded[2:, 1:-1])
    return along_row | along_col


def _run_leftwards(cond: np.ndarray) -> np.ndarray:
    """For each pixel, how many consecutive True values end there, counting leftwards along its row."""
    idx = np.arange(cond.shape[1])
    last_false = np.maximum.accumulate(np.where(cond, -1, idx), axis=1)
    return idx - last_false


def _run_rightwards(cond: np.ndarray) -> np.ndarray:
    return _run_leftwards(cond[:, ::-1])[:, ::-1]


def edge_widths(gray: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Marziliano edge widths (pixels) at ``edges``, 0 elsewhere; ``gray`` is float64."""
    dy, dx = np.gradient(gray)
    angle = np.where(dx != 0, np.degrees(np.arctan2(dy, dx)), 0.0)
    quantised = 45.0 * np.round(angle / 45.0)
    rising, falling = quantised == 0, np.abs(quantised) == 180

    # brighter[r, j]: pixel j-1 is brighter than j; darker[r, j]: pixel j-1 is darker than j (False at j = 0).
    step = np.zeros_like(gray, dtype=np.int8)
    step[:, 1:] = np.sign(gray[:, :-1] - gray[:, 1:])
    left_brighter, left_darker = step > 0, step < 0
    # Walk from the edge pixel c: leftwards starting at c-1, rightwards starting at c+1.
    def walk_left(cond):
        run = np.zeros(gray.shape, dtype=np.int64)
        run[:, 1:] = _run_leftwards(cond)[:, :-1]
        return np.minimum(run, MAX_WALK) + 1

    def walk_right(cond):
        # cond for the rightward walk at j compares j with j+1, i.e. the left-step flags of j+1.
        shifted = np.zeros_like(cond)
        shifted[:, :-1] = cond[:, 1:]
        run = np.zeros(gray.shape, dtype=np.int64)
        run[:, :-1] = _run_rightwards(shifted)[:, 1:]
        return np.minimum(run, MAX_WALK) + 1

    widths = np.zeros(gray.shape, dtype=np.float64)
    inner = np.zeros(gray.shape, dtype=bool)
    inner[1:-1, 1:-1] = True
    measured = edges & inner
    # Falling edge (dark to the right): the left side keeps getting brighter, the right side darker.
    fall = measured & falling
    widths[fall] = (walk_left(left_brighter) + walk_right(left_brighter))[fall]
    rise = measured & rising
    widths[rise] = (walk_left(left_darker) + walk_right(left_darker))[rise]
    return widths


def cpbd(image: np.ndarray) -> float:
    """CPBD sharpness in [0, 1] (higher is sharper) of one image: uint8 RGB/grey, or float in [0, 1]."""
    from skimage.feature import canny

    gray = to_gray_uint8(image).astype(np.float64)
    widths = edge_widths(gray, _sobel_row_edges(gray))
    detected = canny(gray)

    nby, nbx = gray.shape[0] // BLOCK, gray.shape[1] // BLOCK
    if nby == 0 or nbx == 0:
        raise ValueError(f"CPBD needs images of at least {BLOCK}x{BLOCK} pixels, got {gray.shape}")

    def blocks(a: np.ndarray) -> np.ndarray:
        a = a[: nby * BLOCK, : nbx * BLOCK]
        return a.reshape(nby, BLOCK, nbx, BLOCK).swapaxes(1, 2).reshape(nby * nbx, BLOCK * BLOCK)

    g, w, e = blocks(gray), blocks(widths), blocks(detected)
    edge_block = e.sum(axis=1) > BLOCK * BLOCK * EDGE_BLOCK_FRACTION
    contrast = (g.max(axis=1) - g.min(axis=1)).astype(np.int64)
    jnb = np.where(contrast <= 50, 5.0, 3.0)
    w, jnb = w[edge_block], np.broadcast_to(jnb[edge_block, None], w[edge_block].shape)
    has_width = w != 0
    if not has_width.any():
        return 0.0
    probability = 1.0 - np.exp(-np.abs(w[has_width] / jnb[has_width]) ** BETA)
    bins = np.round(probability * 100.0)
    return float(np.count_nonzero(bins <= BLUR_NOTICED) / bins.size)


class CPBD(FrameMean):
    """CPBD of the generated frames, and of the real ones as the reference point of the data."""

    columns = (Column("cpbd", "CPBD (generated)", "higher"), Column("cpbd_real", "CPBD (real, reference)", "higher"))
    backend = "numpy/scipy re-implementation of CPBD (Narvekar & Karam 2011; equal to cpbd 1.0.7)"
    packages = ("numpy", "scipy", "scikit-image", "pillow")

    def measure(self, frame: Frame) -> dict[str, float]:
        return {"cpbd": cpbd(frame.generated), "cpbd_real": cpbd(frame.real)}
