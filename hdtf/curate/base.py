"""The streaming shape every per-frame curation core has, so one decode of a clip feeds all of them.

An accumulator sees a clip once, frame by frame: ``begin(fps, size, num_frames)``, then ``frame(index, rgb,
landmarks)`` for every decoded frame in order, then ``end()``, which returns what it measured as a JSON-safe dict
(plain floats, ints, bools, strings, lists and dicts; never NaN: a value that could not be measured is ``None``).
Accumulators that make arrays for files (masks, embeddings) also hold them in ``artifacts`` after ``end()``; where
those files live is the stage's and the layout's business, not the accumulator's.

``rgb`` is the decoded (H, W, 3) uint8 frame; ``landmarks`` the tracked (68, 2) iBUG points in its pixels, or None on
a frame without a face. ``num_frames`` is the clip's frame count when the caller knows it (an accumulator that needs
it, such as the first/middle/last-frame IQA score, copes without it at some memory cost).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

PERCENTILES = (10, 50, 90)


class FrameAccumulator(Protocol):
    """One per-frame computation over a clip (see the module docstring for the contract)."""

    name: str

    def begin(self, fps: float, size: tuple[int, int], num_frames: int | None = None) -> None: ...

    def frame(self, index: int, rgb: np.ndarray, landmarks: np.ndarray | None) -> None: ...

    def end(self) -> dict[str, Any]: ...


def summarise(values: Sequence[float] | np.ndarray) -> dict[str, float | int | None]:
    """``count``, ``mean``, ``min``, ``max`` and the 10th/50th/90th percentiles of the finite values (None when
    there are none): what a filter compares with a threshold and what ``hdtf status`` shows as a range."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    out: dict[str, float | int | None] = {"count": int(array.size)}
    if not array.size:
        return out | {"mean": None, "min": None, "max": None, **{f"p{p}": None for p in PERCENTILES}}
    out |= {"mean": float(array.mean()), "min": float(array.min()), "max": float(array.max())}
    out |= {f"p{p}": float(np.percentile(array, p)) for p in PERCENTILES}
    return out


def run_accumulators(
    accumulators: Sequence[FrameAccumulator],
    frames: Iterable[np.ndarray],
    landmarks: Sequence[np.ndarray | None] | np.ndarray | None,
    fps: float,
    found: Sequence[bool] | np.ndarray | None = None,
    num_frames: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Feed one pass over ``frames`` to every accumulator; ``{accumulator.name: its end()}``.

    ``landmarks``: per frame (68, 2) points or None, or a (T, 68, 2) array whose NaN rows (or ``found`` False
    entries) mean no face; None: no landmarks at all. The size is taken from the first frame.
    """
    started = False
    for index, rgb in enumerate(frames):
        if not started:
            for acc in accumulators:
                acc.begin(fps, (int(rgb.shape[1]), int(rgb.shape[0])), num_frames)
            started = True
        points = _points_at(landmarks, found, index)
        for acc in accumulators:
            acc.frame(index, rgb, points)
    if not started:
        for acc in accumulators:
            acc.begin(fps, (0, 0), 0)
    return {acc.name: acc.end() for acc in accumulators}


def _points_at(landmarks: Any, found: Any, index: int) -> np.ndarray | None:
    if landmarks is None or index >= len(landmarks):
        return None
    if found is not None and not bool(found[index]):
        return None
    points = landmarks[index]
    if points is None:
        return None
    points = np.asarray(points, dtype=np.float64)
    return points if np.isfinite(points).all() else None


def json_safe(value: Any) -> Any:
    """Plain Python of numpy scalars/arrays, NaN/inf as None: what ``end()`` may return."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    return value
