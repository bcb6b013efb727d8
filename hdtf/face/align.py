"""Similarity alignment of a face from its eye and mouth centres (the DAVS/FOMM-style normalised face crop).

Three anchors (left-eye centre, right-eye centre, mouth centre) are mapped by the least-squares similarity
(rotation, uniform scale, translation; Umeyama's closed form) onto fixed positions in an ``output_size`` square.
A similarity keeps the face's shape, so landmark-driven stages see a canonical pose without distortion.
"""

from __future__ import annotations

import numpy as np

# Anchor positions as fractions of the output side: eyes level at 40% height, 26% of the side apart; mouth at 72%.
DEFAULT_TEMPLATE = ((0.37, 0.40), (0.63, 0.40), (0.50, 0.72))


def anchors(points68: np.ndarray) -> np.ndarray:
    """(3, 2): centre of the subject's right eye (image left), left eye (image right), and mouth (outer lip)."""
    p = np.asarray(points68, dtype=np.float64)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[48:60].mean(0)])


def alignment_transform(
    points68: np.ndarray, output_size: int | tuple[int, int], template=DEFAULT_TEMPLATE
) -> np.ndarray:
    """2x3 float64 matrix mapping image pixels to the aligned ``output_size`` crop (use with cv2.warpAffine).

    ``template``: the three anchors' target positions as fractions of the output width and height.
    """
    width, height = (output_size, output_size) if isinstance(output_size, int) else output_size
    src = anchors(points68)
    if not np.isfinite(src).all():
        raise ValueError("landmarks contain NaN: no face on this frame")
    return similarity_transform(src, np.asarray(template, dtype=np.float64) * [width, height])


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 float64 least-squares similarity (Umeyama's closed form) taking the (N, 2) points ``src`` onto ``dst``.

    Rotation, uniform scale and translation only, never a reflection: the crop is never a mirror image of the face.
    """
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    a, b = src - src_mean, dst - dst_mean
    cov = b.T @ a / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / a.var(axis=0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix
