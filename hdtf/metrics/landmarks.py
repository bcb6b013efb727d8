"""LMD: landmark distance between generated and ground-truth frames (68-point iBUG layout).

Two normalisations, because papers report both and they are not comparable:

- ``"pixels"``: mean Euclidean distance in pixels after scaling the coordinates to a ``reference_size`` frame
  (default 512, the prepared-clip size), so a 256-pixel evaluation reports in 512-pixel units;
- ``"interocular"``: each frame's distances divided by the ground truth's outer-eye-corner distance (points 36 and
  45), which removes face size entirely (the NME convention of face alignment).

Regions: ``"mouth"`` (points 48-67, the lip-sync variant, M-LMD) and ``"face"`` (all 68, F-LMD).
"""

from __future__ import annotations

import math

import numpy as np

from hdtf.metrics.base import NO_FACE, Clip, Column, Frame, Metric

REGIONS = {"mouth": slice(48, 68), "face": slice(0, 68)}
NORMALISATIONS = ("pixels", "interocular")
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45


def lmd_per_frame(
    generated: np.ndarray,
    real: np.ndarray,
    region: str = "mouth",
    normalise: str = "pixels",
    frame_size: int | tuple[int, int] = 512,
    reference_size: int = 512,
) -> np.ndarray:
    """Per-frame mean landmark distance of ``(T,68,2)`` (or ``(68,2)``) point sets; returns ``(T,)``.

    ``frame_size`` is the (height, width) or side of the frames the points were measured in; with
    ``normalise="pixels"`` distances are rescaled to a ``reference_size`` square frame.
    """
    gen = np.asarray(generated, dtype=np.float64)
    ref = np.asarray(real, dtype=np.float64)
    if gen.shape != ref.shape or gen.shape[-2:] != (68, 2):
        raise ValueError(f"LMD needs two (T,68,2) landmark arrays of equal shape, got {gen.shape} and {ref.shape}")
    if region not in REGIONS:
        raise ValueError(f"LMD region must be one of {sorted(REGIONS)}, got {region!r}")
    gen, ref = gen.reshape(-1, 68, 2), ref.reshape(-1, 68, 2)
    if normalise == "pixels":
        h, w = (frame_size, frame_size) if isinstance(frame_size, int) else frame_size
        scale = np.array([reference_size / w, reference_size / h])
        gen, ref = gen * scale, ref * scale
        norm = np.ones(len(ref))
    elif normalise == "interocular":
        norm = np.linalg.norm(ref[:, RIGHT_EYE_OUTER] - ref[:, LEFT_EYE_OUTER], axis=1)
        if np.any(norm <= 0):
            raise ValueError("LMD: ground-truth eye corners coincide; cannot normalise by inter-ocular distance")
    else:
        raise ValueError(f"LMD normalise must be one of {NORMALISATIONS}, got {normalise!r}")
    part = REGIONS[region]
    distances = np.linalg.norm(gen[:, part] - ref[:, part], axis=2).mean(axis=1)
    return distances / norm


def lmd(generated: np.ndarray, real: np.ndarray, region: str = "mouth", normalise: str = "pixels", **kwargs) -> float:
    """Mean landmark distance over frames (see :func:`lmd_per_frame` for the options)."""
    return float(lmd_per_frame(generated, real, region=region, normalise=normalise, **kwargs).mean())


class LMD(Metric):
    """M-LMD and F-LMD between the generated and the real frames' landmarks, in both normalisations. Frames where
    either face is missing are skipped (the evaluation counts them)."""

    columns = (
        Column("m_lmd", "M-LMD (px @512)", "lower"),
        Column("f_lmd", "F-LMD (px @512)", "lower"),
        Column("m_lmd_iod", "M-LMD (/ inter-ocular)", "lower"),
        Column("f_lmd_iod", "F-LMD (/ inter-ocular)", "lower"),
    )
    faces = "both"
    no_value = NO_FACE
    backend = "numpy on dlib 68-point landmarks of the generated and the real frames"

    def start(self, clip: Clip) -> None:
        self._pairs: list[tuple[np.ndarray, np.ndarray]] = []
        self._frame_size: tuple[int, int] = (0, 0)

    def update(self, frame: Frame) -> None:
        self._frame_size = frame.generated.shape[:2]
        if frame.face is not None and frame.real_face is not None:
            self._pairs.append((frame.face.points, frame.real_face.points))

    def finish(self) -> dict[str, float]:
        generated, real = (np.stack(side) for side in zip(*self._pairs)) if self._pairs else (None, None)
        return {
            prefix + suffix: float(lmd_per_frame(generated, real, region, normalise, self._frame_size).mean())
            if self._pairs else math.nan
            for region, prefix in (("mouth", "m_lmd"), ("face", "f_lmd"))
            for normalise, suffix in (("pixels", ""), ("interocular", "_iod"))
        }
