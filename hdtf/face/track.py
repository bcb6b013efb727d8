"""68-point landmark tracks over a video: detect on key frames, follow the face in a small window in between.

Why this shape: dlib's HOG detector costs ~20 ms on a 512x512 frame but ~2 ms on a ~150 px window around the face,
and the 68-point regressor ~1.5 ms. So a full-frame detection runs only every ``detect_every`` frames (and whenever
the face is lost); in between, the box from the previous frame's landmarks says where to look, the detector
confirms the face in that small window (so ``found`` is never a guess), and the landmarks are fitted to the box it
returns. If the window search fails or the landmarks jump, the frame gets a full detection. Gaps are filled by
linear interpolation between found frames (still ``found=False``); the ends stay NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdtf.errors import HDTFError
from hdtf.face.detect import FaceBox, MultipleFacesWarning, detect_faces, landmarks, primary_face, to_gray

_DETECT_PX = 100.0  # detector windows are 80 px: scale searches so the expected face is ~100 px
_ROI_MARGIN = 0.35  # the window searched around the previous face, per side, in face sizes
_MAX_JUMP = 0.35  # landmark centre moving more than this (in face sizes) in one frame -> re-detect


@dataclass
class LandmarkTrack:
    """Per-frame landmarks of the main face of a video, in pixels of frames ``width`` x ``height``.

    ``points`` (T, 68, 2) float32: detected (found) or interpolated between found frames, NaN before the first and
    after the last found frame. ``found`` (T,) bool: the detector confirmed a face on that frame. ``boxes`` (T, 4)
    float32 x, y, w, h of the detector box on found frames (NaN elsewhere). ``notes``: what a user should know
    (several faces seen, frames without a face).
    """

    points: np.ndarray
    found: np.ndarray
    boxes: np.ndarray
    width: int
    height: int
    fps: float | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.found)

    @property
    def found_ratio(self) -> float:
        return float(self.found.mean()) if len(self.found) else 0.0


def read_video_gray(
    path: Path, *, start: float | None = None, end: float | None = None, fps: float | None = None,
    width: int | None = None,
) -> tuple[Iterator[np.ndarray], tuple[int, int], float]:
    """Decode ``path`` as grayscale frames (PyAV), optionally only ``[start, end)`` seconds, resampled to ``fps``
    (nearest frame in time) and scaled to ``width`` pixels wide. Returns (frames, source (w, h), frame rate).
    """
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise HDTFError(f"{path}: cannot open video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise HDTFError(f"{path}: no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    size = (stream.codec_context.width, stream.codec_context.height)
    source_rate = float(stream.average_rate or stream.guessed_rate or 25)
    out_w = size[0] if width is None or width >= size[0] else int(width)
    out_h = size[1] if out_w == size[0] else max(2, int(round(size[1] * out_w / size[0] / 2)) * 2)

    def convert(frame) -> np.ndarray:
        if (out_w, out_h) == size:
            return frame.to_ndarray(format="gray")
        return frame.reformat(width=out_w, height=out_h, format="gray", interpolation="AREA").to_ndarray()

    def frames() -> Iterator[np.ndarray]:
        begin = start or 0.0
        half = 0.5 / source_rate
        try:
            if begin > 0:
                container.seek(int(begin / stream.time_base), stream=stream, backward=True)
            previous = None  # (time, frame) of the last decoded frame not yet passed
            k = 0
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else 0.0
                if end is not None and t >= end - half and fps is None:
                    return
                if fps is None:
                    if t >= begin - half:
                        yield convert(frame)
                    continue
                # Resample: output k at begin + k/fps takes the decoded frame nearest in time.
                while previous is not None:
                    target = begin + k / fps
                    if end is not None and target >= end - 1e-6:
                        return
                    if target >= (previous[0] + t) / 2:
                        break
                    yield convert(previous[1])
                    k += 1
                previous = (t, frame)
            while previous is not None:
                target = begin + k / fps
                if target >= (end if end is not None else previous[0] + 1.0 / source_rate) - 1e-6:
                    return
                yield convert(previous[1])
                k += 1
        except av.error.FFmpegError as exc:
            raise HDTFError(f"{path}: cannot decode video ({exc})") from exc
        finally:
            container.close()

    return frames(), size, (fps or source_rate)


class _Tracker:
    """Frame-by-frame state: the current face's landmarks and when the last full detection ran."""

    def __init__(self, detect_every: int, min_face: float) -> None:
        self.detect_every = detect_every
        self.min_face = min_face
        self.previous: np.ndarray | None = None  # landmarks on the last found frame
        self.since_detect = 0
        self.since_lost = 0
        self.multi_frames = 0
        self.max_faces = 1

    def step(self, gray: np.ndarray) -> tuple[np.ndarray, FaceBox] | None:
        if self.previous is None:
            # No face: look again only every few frames, so a faceless stretch costs little.
            self.since_lost += 1
            if self.since_lost > 1 and (self.since_lost - 1) % max(1, self.detect_every // 5):
                return None
            result = self._detect(gray)
        else:
            result = self._follow(gray) if self.since_detect < self.detect_every else None
            if result is None:
                result = self._detect(gray)
        self.previous = None if result is None else result[0]
        self.since_lost = 0 if result is not None else max(self.since_lost, 1)
        self.since_detect += 1
        return result

    def _detect(self, gray: np.ndarray) -> tuple[np.ndarray, FaceBox] | None:
        """Full-frame detection, rescaled so the smallest face of interest is ~100 px (the detector needs 80)."""
        self.since_detect = 0
        height, width = gray.shape
        # While a face is tracked, key frames look for faces at least 70% of its size (smaller ones would not win).
        smallest = self.min_face * min(height, width) if self.previous is None else 0.7 * _size(self.previous)
        boxes = detect_faces(gray, scale=min(2.0, _DETECT_PX / max(smallest, 1.0)))
        if not boxes:
            return None
        if len(boxes) > 1:
            self.multi_frames += 1
            self.max_faces = max(self.max_faces, len(boxes))
        box = primary_face(boxes, width, height)
        return landmarks(gray, box), box

    def _follow(self, gray: np.ndarray) -> tuple[np.ndarray, FaceBox] | None:
        """Detect in a small window around the previous landmarks; None when the face is not confirmed there."""
        import cv2

        prev = self.previous
        size = _size(prev)
        lo, hi = prev.min(0), prev.max(0)
        centre = (lo + hi) / 2
        half = size * (0.6 + _ROI_MARGIN)  # the detector box can be ~20% larger than the landmark box
        height, width = gray.shape
        x0, y0 = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
        x1, y1 = int(min(width, centre[0] + half)), int(min(height, centre[1] + half))
        if x1 - x0 < 20 or y1 - y0 < 20:
            return None
        scale = min(1.0, _DETECT_PX / size)
        roi = gray[y0:y1, x0:x1]
        if scale < 1.0:
            roi = cv2.resize(roi, (max(1, round(roi.shape[1] * scale)), max(1, round(roi.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA)
        boxes = detect_faces(roi)
        if not boxes:
            return None
        box = max(boxes, key=lambda b: b.width * b.height).scaled(1.0 / scale)
        box = FaceBox(box.left + x0, box.top + y0, box.right + x0, box.bottom + y0, box.score)
        points = landmarks(gray, box)
        moved = np.linalg.norm(_centre(points) - _centre(prev)) / size
        if moved > _MAX_JUMP or not 0.7 < _size(points) / size < 1.4:
            return None
        return points, box


def _size(points: np.ndarray) -> float:
    """Face size of a landmark set: the larger side of its bounding box."""
    return float(np.max(points.max(0) - points.min(0)))


def _centre(points: np.ndarray) -> np.ndarray:
    return (points.min(0) + points.max(0)) / 2


def track_video(
    frames: Iterable[np.ndarray] | Path | str,
    *,
    detect_every: int = 25,
    smooth: float = 0.7,
    min_face: float = 0.15,
    start: float | None = None,
    end: float | None = None,
    fps: float | None = None,
    decode_width: int | None = None,
) -> LandmarkTrack:
    """Track the main face's 68 landmarks over a video (frames as RGB/gray arrays, or a video file).

    ``detect_every``: frames between full-frame detections. ``smooth``: sigma in frames of the centred Gaussian
    applied to each run of found frames (0: none). ``min_face``: smallest face searched for, as a fraction of the
    shorter frame side. For a file: ``start``/``end`` seconds, ``fps`` resampling and ``decode_width`` (decode
    smaller for speed) apply; coordinates are always returned in the file's own pixels.
    """
    if detect_every < 1:
        raise ValueError("detect_every must be at least 1")
    rate = fps
    if isinstance(frames, (str, Path)):
        iterator, (width, height), rate = read_video_gray(
            Path(frames), start=start, end=end, fps=fps, width=decode_width
        )
    else:
        iterator, width, height = iter(frames), 0, 0
    tracker = _Tracker(detect_every, min_face)
    points: list[np.ndarray] = []
    boxes: list[tuple[float, float, float, float]] = []
    found: list[bool] = []
    nan_points = np.full((68, 2), np.nan, np.float32)
    scale_back = np.ones(2, np.float32)  # decoded pixels -> the file's own pixels (x, y)
    for frame in iterator:
        gray = to_gray(frame)
        if not found:
            if not width:
                height, width = gray.shape
            scale_back = np.array([width / gray.shape[1], height / gray.shape[0]], np.float32)
        result = tracker.step(gray)
        if result is None:
            points.append(nan_points)
            boxes.append((np.nan,) * 4)
            found.append(False)
        else:
            pts, box = result
            points.append(pts * scale_back)
            x, y, w, h = box.as_xywh()
            boxes.append((x * scale_back[0], y * scale_back[1], w * scale_back[0], h * scale_back[1]))
            found.append(True)
    track = LandmarkTrack(
        points=np.array(points, np.float32).reshape(-1, 68, 2),
        found=np.array(found, bool),
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        width=int(width), height=int(height), fps=rate,
    )
    if tracker.multi_frames:
        message = (f"{tracker.max_faces} faces seen on {tracker.multi_frames} detection frame(s); "
                   "tracked the largest, most central one")
        warnings.warn(message, MultipleFacesWarning, stacklevel=2)
        track.notes.append(message)
    missing = int((~track.found).sum())
    if missing and len(track):
        track.notes.append(f"no face on {missing} of {len(track)} frames")
    if smooth > 0:
        _smooth_runs(track.points, track.found, smooth)
    _fill_gaps(track.points, track.found)
    return track


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True values."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2], strict=True))


def _smooth_runs(points: np.ndarray, found: np.ndarray, sigma: float) -> None:
    """Centred Gaussian smoothing in time, within each run of found frames (never across a gap)."""
    from scipy.ndimage import gaussian_filter1d

    for a, b in _runs(found):
        if b - a > 1:
            points[a:b] = gaussian_filter1d(points[a:b], sigma, axis=0, mode="nearest", truncate=2.5)


def _fill_gaps(points: np.ndarray, found: np.ndarray) -> None:
    """Linear interpolation over frames without a face that lie between found frames; the ends stay NaN."""
    index = np.flatnonzero(found)
    if len(index) < 2:
        return
    gaps = np.arange(index[0], index[-1] + 1)
    gaps = gaps[~found[gaps]]
    if not len(gaps):
        return
    flat = points.reshape(len(points), -1)
    for j in range(flat.shape[1]):
        flat[gaps, j] = np.interp(gaps, index, flat[index, j])
