"""The face-aligned view of a clip: each frame warped by a similarity that puts the face on a fixed template,
smoothed over time so the crop does not jitter, encoded once with the clip's audio; the per-frame matrices beside it.

Template (:func:`template_points`): the two eye centres and the nose tip of the ArcFace / insightface 112x112
five-point template (``arcface_dst``: eyes (38.2946, 51.6963) and (73.5318, 51.5014), nose tip (56.0252, 71.7366);
the mouth corners are not used), as fractions of the side, zoomed out by :data:`TEMPLATE_ZOOM` about the centre of
the square so the whole face and some hair show (ArcFace's crop cuts the forehead and chin): at 256 px the eyes sit
at (97.6, 120.6) and (158.1, 120.3), 60 px apart, the nose tip at (128.0, 155.0). Only rigid points are fitted:
the 68-point eye centres (36-41, 42-47) and nose tip (30), because mouth and jaw points move with every syllable and
would make the crop pump with the speech (LatentSync, ``latentsync/utils/affine_transform.py``, likewise fits
brow and nose centres, not the mouth).

Smoothing: each frame's similarity is written as (image point shown at the crop's centre x, y; log scale; angle)
and each of the four is smoothed over time by a centred Gaussian-weighted local linear fit (``sigma`` frames,
default :data:`DEFAULT_SIGMA`, window cut at 3 sigma; a Savitzky-Golay-style filter of order 1): on a full window it
is the Gaussian average, and at the clip's ends and next to frames without a face it does not drag a moving head
towards the side that remains. A centred filter adds no lag, and it needs only ``3 sigma`` frames of lookahead, so
the streaming form holds that many decoded frames, never the clip. (LatentSync instead blends a translation bias
with the previous frame's, 0.2/0.8: a causal filter that lags a moving head and leaves rotation and scale
unsmoothed.)

Frames: a frame without landmarks takes the smoothed transform of the faces within its window; with none there,
the last one used, or before any face the frame's centre square. Pixels outside the source frame are black.
``matrices`` (T, 2, 3) float32 map source pixels to aligned pixels (``cv2.warpAffine(frame, m, (size, size))``);
:func:`paste_back` puts a generated face back with them.

Residual jitter (``jitter_px``): how unsteadily the crop moves, in output pixels: the RMS, over frames, of the
change between consecutive frames of the displacement a fixed source point at the template's eyes undergoes from
one frame to the next. A still or steadily moving crop scores 0; a crop following noisy landmarks scores their
noise. ``eye_offset_px`` (RMS) and ``max_eye_offset_px`` say how far the tracked eye centres land from the
template's in the aligned view (lag, landmark noise and head turns that a similarity cannot undo).

A/V sync in the right order: SyncNet can measure on the aligned view with the fixed :func:`syncnet_box` (no
detection), and a correction decided before the view is written is applied by ``keep`` (the frames
:func:`hdtf.sync_check.shift_plan` keeps) with the corrected clip as ``audio_from``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdtf import atomic
from hdtf.face.align import similarity_transform

# insightface's ArcFace template (112 x 112): eye centres (image left, right), nose tip, mouth corners.
ARCFACE_112 = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041))
TEMPLATE_ZOOM = 0.75  # the ArcFace layout shrunk to 75% about the square's centre: forehead and chin in view
ALIGNED_SIZES = (256, 512)
DEFAULT_SIGMA = 2.0  # frames: removes landmark noise (~2.7x less at 25 fps) yet follows head motion within ~1 px
FEATHER = 0.06  # paste_back blends over the aligned face's outer 6% of its side
# dlib's face box in the aligned view (fractions of the side; left, top, right, bottom): the mean of its detections
# on aligned renders of two real faces at 256 and 512, made symmetric. SyncNet's crop is taken around it.
SYNCNET_BOX = (0.235, 0.32, 0.765, 0.85)


def template_points(size: int, zoom: float = TEMPLATE_ZOOM) -> np.ndarray:
    """(3, 2) float64 aligned-view pixels of the eye centres (image left, image right) and nose tip."""
    unit = np.asarray(ARCFACE_112[:3], dtype=np.float64) / 112.0
    return ((unit - 0.5) * zoom + 0.5) * size


def syncnet_box(size: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) pixels of the face box SyncNet's crop is taken around in an aligned view of
    ``size`` (the face is there on every frame: ``hdtf.sync_check.measure(..., box=...)`` runs no detection)."""
    left, top, right, bottom = (v * size for v in SYNCNET_BOX)
    return left, top, right, bottom


def rigid_anchors(points68: np.ndarray) -> np.ndarray:
    """(3, 2): the image-left eye centre (points 36-41), image-right eye centre (42-47) and nose tip (30)."""
    p = np.asarray(points68, dtype=np.float64)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30]])


@dataclass(frozen=True)
class AlignedClip:
    """What :class:`AlignedWriter` made: the ``video`` and ``matrices`` files; ``num_frames`` frames of ``size``
    px; ``faceless_frames`` had no landmarks of their own; the jitter and eye-offset measures (module docstring)."""

    video: Path
    matrices: Path
    num_frames: int
    size: int
    faceless_frames: int
    jitter_px: float
    eye_offset_px: float
    max_eye_offset_px: float


class AlignedWriter:
    """The accumulator form (:mod:`hdtf.curate`): ``begin``, ``frame`` per frame, ``end() -> AlignedClip``.

    Writes the aligned ``video`` (its extension names the container, see :mod:`hdtf.video_io`) with the first audio
    track of ``audio_from`` copied (None: silent), and the ``matrices`` file (.npz: ``matrices`` (T, 2, 3) float32,
    ``face`` (T,) bool, ``template`` (3, 2) float32, ``size``). Landmarks come per frame
    (``frame(index, rgb, points68)``: (68, 2) pixels, NaN or None for no face) or, known ahead, as ``landmarks``
    (T, 68, 2) indexed by frame (frames past its end have no face). ``sigma`` 0 turns smoothing off.

    ``keep`` (first, stop): only these source frames are written (all frames still steer the smoothing, so the kept
    ones look as they would in the whole view). An A/V offset correction made before the view is written keeps the
    frames :func:`hdtf.sync_check.shift_plan` keeps, with ``audio_from`` the corrected clip: the view then matches
    the corrected clip frame for frame.
    """

    def __init__(
        self,
        video: str | Path,
        matrices: str | Path,
        size: int = 256,
        *,
        audio_from: str | Path | None = None,
        landmarks: np.ndarray | None = None,
        sigma: float = DEFAULT_SIGMA,
        zoom: float = TEMPLATE_ZOOM,
        crf: int = 18,
        keep: tuple[int, int] | None = None,
    ) -> None:
        if keep is not None and not 0 <= keep[0] < keep[1]:
            raise ValueError(f"frames to keep must be a range first < stop from 0, not {keep}")
        if size not in ALIGNED_SIZES:
            raise ValueError(f"aligned size must be one of {', '.join(map(str, ALIGNED_SIZES))}, not {size}")
        if sigma < 0:
            raise ValueError(f"smoothing sigma must not be negative, not {sigma}")
        self.video, self.matrices_path = Path(video), Path(matrices)
        self.size, self.sigma, self.crf = size, float(sigma), crf
        self.audio_from = audio_from
        self.landmarks = None if landmarks is None else np.asarray(landmarks, dtype=np.float64)
        self.template = template_points(size, zoom)
        self.keep = (0, math.inf) if keep is None else keep
        self._writer = None
        self._smoother: _Smoother | None = None
        self._frames: deque[np.ndarray] = deque()
        self._raw: list[np.ndarray] = []  # per frame: the 3 anchors in source pixels (NaN: no face)
        self._kept: list[int] = []  # the frames written
        self._matrices: list[np.ndarray] = []
        self._fallback = np.zeros(4)
        self._held: np.ndarray | None = None

    def begin(self, fps: float, size: tuple[int, int]) -> None:
        from hdtf.video_io import VideoWriter

        width, height = size
        # Before any face: the frame's centre square fills the view.
        self._fallback = np.array([width / 2, height / 2, math.log(self.size / min(width, height)), 0.0])
        self._smoother = _Smoother(self.sigma)
        self._writer = VideoWriter(self.video, fps, audio_from=self.audio_from, crf=self.crf)
        self._frames.clear()
        self._raw, self._kept, self._matrices, self._held = [], [], [], None

    def frame(self, index: int, rgb: np.ndarray, points68: np.ndarray | None = None) -> None:
        if index != len(self._raw):
            raise ValueError(f"frames must come in order: got {index}, expected {len(self._raw)}")
        if points68 is None and self.landmarks is not None and index < len(self.landmarks):
            points68 = self.landmarks[index]
        anchors = np.full((3, 2), np.nan) if points68 is None else rigid_anchors(points68)
        self._raw.append(anchors)
        params = self._parameters(anchors) if np.isfinite(anchors).all() else np.full(4, np.nan)
        self._frames.append(np.array(rgb, dtype=np.uint8, copy=True))
        for smoothed in self._smoother.push(params):
            self._emit(smoothed)

    def end(self) -> AlignedClip:
        for smoothed in self._smoother.finish():
            self._emit(smoothed)
        self._writer.close()
        matrices = np.asarray(self._matrices, dtype=np.float32).reshape(-1, 2, 3)
        anchors = np.asarray([self._raw[k] for k in self._kept]).reshape(-1, 3, 2)
        face = np.isfinite(anchors).all(axis=(1, 2))
        with atomic.replacing(self.matrices_path) as tmp, open(tmp, "wb") as out:
            np.savez(out, matrices=matrices, face=face, template=self.template.astype(np.float32),
                     size=np.int32(self.size))
        offsets = _eye_offsets(anchors, matrices, self.template)
        return AlignedClip(self.video, self.matrices_path, len(matrices), self.size, int((~face).sum()),
                           residual_jitter(matrices, self.template[:2]),
                           float(np.sqrt(np.mean(offsets**2))) if offsets.size else 0.0,
                           float(offsets.max()) if offsets.size else 0.0)

    def abort(self) -> None:
        """Stop: the aligned video is not put in place and no matrices are written."""
        if self._writer is not None:
            self._writer.abort()
        self._frames.clear()

    def _parameters(self, anchors: np.ndarray) -> np.ndarray:
        """(centre x, centre y, log scale, angle) of the similarity taking ``anchors`` onto the template."""
        matrix = similarity_transform(anchors, self.template)
        a, b = matrix[0, 0], matrix[1, 0]
        centre = np.linalg.solve(matrix[:, :2], np.full(2, self.size / 2) - matrix[:, 2])
        return np.array([centre[0], centre[1], math.log(math.hypot(a, b)), math.atan2(b, a)])

    def _emit(self, params: np.ndarray | None) -> None:
        """Warp and encode the oldest buffered frame with these smoothed parameters (None: none in its window)."""
        import cv2

        if params is None:
            params = self._fallback if self._held is None else self._held
        self._held = params
        index = len(self._raw) - len(self._frames)
        image = self._frames.popleft()
        if not self.keep[0] <= index < self.keep[1]:
            return
        matrix = _matrix(params, self.size)
        self._kept.append(index)
        self._matrices.append(matrix)
        self._writer.write(cv2.warpAffine(image, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)))


class _Smoother:
    """Centred Gaussian over a stream of parameter vectors (NaN: missing); each smoothed value is released as soon
    as the last frame of its window has arrived, ``radius`` frames later. Angles are unwrapped as they come."""

    def __init__(self, sigma: float) -> None:
        self.radius = int(math.ceil(3 * sigma)) if sigma > 0 else 0
        offsets = np.arange(-self.radius, self.radius + 1)
        self.weights = np.exp(-0.5 * (offsets / sigma) ** 2) if sigma > 0 else np.ones(1)
        self.values: list[np.ndarray] = []  # 4 floats a frame: small next to one decoded frame
        self.next = 0  # index of the next frame to release
        self.turns = 0.0  # multiples of 2 pi added to the angles so far
        self.last_angle: float | None = None

    def push(self, params: np.ndarray) -> list[np.ndarray | None]:
        params = np.array(params, dtype=np.float64)
        if np.isfinite(params).all():
            if self.last_angle is not None:
                self.turns -= 2 * math.pi * round((params[3] + self.turns - self.last_angle) / (2 * math.pi))
            params[3] += self.turns
            self.last_angle = params[3]
        self.values.append(params)
        return [self._release() for _ in range(self.next, len(self.values) - self.radius)]

    def finish(self) -> list[np.ndarray | None]:
        return [self._release() for _ in range(self.next, len(self.values))]

    def _release(self) -> np.ndarray | None:
        index, self.next = self.next, self.next + 1
        lo, hi = max(0, index - self.radius), min(len(self.values), index + self.radius + 1)
        picked = np.asarray(self.values[lo:hi])
        valid = np.isfinite(picked).all(axis=1)
        if not valid.any():
            return None
        return local_linear(np.arange(lo, hi)[valid] - index, picked[valid],
                            self.weights[lo - index + self.radius: hi - index + self.radius][valid])


def local_linear(offsets: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Value at offset 0 of the weighted least-squares line through (``offsets``, ``values`` (N, D)).

    With a full symmetric window this is the weighted mean; where the window is cut (the clip's ends, frames without
    a face) the line keeps a steadily moving head where it is instead of dragging it towards the side that remains.
    Offset 0 outside the points' range (a faceless frame past the last face) takes the line's value at the nearest
    point: held, never extrapolated.
    """
    total = weights.sum()
    mean_t = (weights * offsets).sum() / total
    mean_v = (weights[:, None] * values).sum(0) / total
    spread = (weights * (offsets - mean_t) ** 2).sum() / total
    if spread <= 0:
        return mean_v
    slope = (weights[:, None] * (offsets - mean_t)[:, None] * (values - mean_v)).sum(0) / total / spread
    return mean_v + slope * (np.clip(0, offsets.min(), offsets.max()) - mean_t)


def _matrix(params: np.ndarray, size: int) -> np.ndarray:
    """2x3 source-to-aligned matrix of (centre x, centre y, log scale, angle): the centre lands mid-square."""
    scale = math.exp(params[2])
    cos, sin = scale * math.cos(params[3]), scale * math.sin(params[3])
    linear = np.array([[cos, -sin], [sin, cos]])
    shift = np.full(2, size / 2) - linear @ params[:2]
    return np.concatenate([linear, shift[:, None]], axis=1)


def _apply(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(T, N, 2) points mapped by (T, 2, 3) matrices."""
    return np.einsum("tij,tnj->tni", matrices[:, :, :2], points) + matrices[:, None, :, 2]


def _inverse(matrices: np.ndarray) -> np.ndarray:
    """(T, 2, 3) inverses of (T, 2, 3) affine matrices."""
    linear = np.linalg.inv(matrices[:, :, :2].astype(np.float64))
    shift = -np.einsum("tij,tj->ti", linear, matrices[:, :, 2])
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def residual_jitter(matrices: np.ndarray, points: np.ndarray) -> float:
    """RMS change, between consecutive frame pairs, of how far a source point at ``points`` (aligned pixels, (N, 2))
    moves in the aligned view from one frame to the next: the crop's unsteadiness in output pixels (0: still or
    moving steadily)."""
    matrices = np.asarray(matrices, dtype=np.float64)
    if len(matrices) < 3:
        return 0.0
    points = np.asarray(points, dtype=np.float64)
    here = np.broadcast_to(points, (len(matrices) - 1, *points.shape))
    source = _apply(_inverse(matrices[:-1]), here)  # the source points under ``points`` on frame t - 1
    moved = _apply(matrices[1:], source) - here  # where frame t shows them, relative to ``points``
    change = np.diff(moved, axis=0)
    return float(np.sqrt(np.mean(np.sum(change**2, axis=-1))))


def _eye_offsets(anchors: np.ndarray, matrices: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Distances (aligned px) of the tracked eye centres from the template's, on frames with landmarks."""
    has = np.isfinite(anchors).all(axis=(1, 2))
    if not has.any():
        return np.zeros(0)
    eyes = _apply(matrices[has].astype(np.float64), anchors[has, :2])
    return np.linalg.norm(eyes - template[None, :2], axis=-1).ravel()


def align_video(
    clip: str | Path,
    landmarks: np.ndarray,
    video: str | Path,
    matrices: str | Path,
    size: int = 256,
    *,
    sigma: float = DEFAULT_SIGMA,
    zoom: float = TEMPLATE_ZOOM,
    crf: int = 18,
    keep: tuple[int, int] | None = None,
    audio_from: str | Path | None = None,
) -> AlignedClip:
    """The aligned view of the video file ``clip`` (one decode) from its (T, 68, 2) ``landmarks`` (NaN: no face),
    with the audio of ``audio_from`` (None: ``clip``'s own); see :class:`AlignedWriter`."""
    from hdtf.curate.stream import run_on_file

    writer = AlignedWriter(video, matrices, size, audio_from=clip if audio_from is None else audio_from,
                           landmarks=landmarks, sigma=sigma, zoom=zoom, crf=crf, keep=keep)
    (result,) = run_on_file(clip, [writer])
    return result


def load_matrices(path: str | Path) -> np.ndarray:
    """The (T, 2, 3) float32 source-to-aligned matrices saved beside an aligned video."""
    with np.load(Path(path)) as data:
        return data["matrices"]


def paste_back(frame: np.ndarray, face: np.ndarray, matrix: np.ndarray, feather: float = FEATHER) -> np.ndarray:
    """``frame`` (H, W, 3 uint8) with the aligned ``face`` (size x size, e.g. a generated one) put back where
    ``matrix`` (that frame's source-to-aligned 2x3) took it from, its outer ``feather`` share blended in.

    Pixels the face does not cover are ``frame``'s, unchanged.
    """
    import cv2

    height, width = frame.shape[:2]
    side = face.shape[0]
    matrix = np.asarray(matrix, dtype=np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    back = cv2.warpAffine(np.ascontiguousarray(face), matrix, (width, height), flags=flags,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    alpha = cv2.warpAffine(_feathered(side, feather), matrix, (width, height), flags=flags,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
    blended = frame.astype(np.float32) * (1.0 - alpha) + back.astype(np.float32) * alpha
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _feathered(side: int, feather: float) -> np.ndarray:
    """(side, side) float32 weight: 1 inside, falling linearly to 0 across the outer ``feather`` of the side."""
    ramp = max(1.0, feather * side)
    edge = np.minimum(np.arange(side) + 0.5, side - np.arange(side) - 0.5)
    weight = np.clip(edge / ramp, 0.0, 1.0).astype(np.float32)
    return np.minimum.outer(weight, weight)
