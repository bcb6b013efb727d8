"""68-point landmark tracks of one person over a video: detect on key frames, follow the face in a small window in
between, and keep to the same person throughout.

Why this shape: dlib's HOG detector costs ~20 ms on a 512x512 frame but ~2 ms on a ~150 px window around the face,
and the 68-point regressor ~1.5 ms. So a full-frame detection runs only every ``detect_every`` frames (and whenever
the face is lost); in between, the box from the previous frame's landmarks says where to look, the detector
confirms the face in that small window (so ``found`` is never a guess), and the landmarks are fitted to the box it
returns. That window search runs on every fifth frame: on the four after it the landmarks are refitted in the
previous frame's box and kept only when they continue the face, are plausible and look like it (the window search
decides otherwise), which saves the search's ~2 ms at the same accuracy (docs/faces.md). If the window search fails
or the landmarks jump, the frame gets a full detection. Other faces seen on
detection frames (a second person, a poster, a face-like emblem) are told apart by :mod:`hdtf.face.identity` and
never take the track over while the followed face is there. Gaps are filled by linear interpolation between found
frames (still ``found=False``); the ends stay NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdtf.errors import HDTFError
from hdtf.face.detect import FaceBox, MultipleFacesWarning, detect_faces, landmarks, to_gray
from hdtf.face.identity import (
    SAME_LOOK, Face, Identities, Identity, continues, describe, face_centre, face_size, plausible,
)

_DETECT_PX = 100.0  # detector windows are 80 px: scale searches so the expected face is ~100 px
_MAX_UPSCALE = 2.5  # ... enlarging the frame at most this much (a 40 px face in the decoded frame is still found)
_ROI_MARGIN = 0.35  # the window searched around the previous face, per side, in face sizes
_MAX_FACES = 6  # landmarks are fitted to at most this many detections per frame (largest first): crowds stay cheap
_TRUNCATE = 2.5  # the smoothing kernel's reach, in sigmas
_REFITS = 4  # between window detections, at most this many frames in a row are confirmed by a refit alone


@dataclass
class LandmarkTrack:
    """Per-frame landmarks of the main face of a video, in pixels of frames ``width`` x ``height``.

    ``points`` (T, 68, 2) float32: detected (found) or interpolated between found frames, NaN before the first and
    after the last found frame. ``found`` (T,) bool: the detector confirmed a face on that frame (or a refit did,
    at most four frames after a detection: the module docstring). ``boxes`` (T, 4) float32 x, y, w, h of the
    detector box on found frames (on refitted frames the last one moved and scaled with the landmarks; NaN
    elsewhere). ``notes``: what a user should know (several faces seen, frames without a face, re-acquisitions and
    switches). ``reacquired``: times the followed face was lost and found again; ``switched``: times another face had
    to be followed (frames that followed another face than the one kept are not ``found``).
    """

    points: np.ndarray
    found: np.ndarray
    boxes: np.ndarray
    width: int
    height: int
    fps: float | None = None
    notes: list[str] = field(default_factory=list)
    reacquired: int = 0
    switched: int = 0

    def __len__(self) -> int:
        return len(self.found)


def read_video_gray(
    path: Path, *, start: float | None = None, end: float | None = None, fps: float | None = None,
    width: int | None = None,
) -> tuple[Iterator[np.ndarray], tuple[int, int], float]:
    """Decode ``path`` as grayscale frames (PyAV), optionally only ``[start, end)`` seconds, resampled to ``fps``
    (nearest frame in time) and scaled to ``width`` pixels wide. Returns (frames, source (w, h), frame rate).
    """
    import av

    from hdtf.video_io import gray_frame

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
            return gray_frame(frame)
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
    """Frame-by-frame state: the identities seen so far, the one followed, and whether it was confirmed last frame.

    Rules (the reasons are in docs/faces.md):
    - choosing: for ``detect_every`` frames from the first face on, full detections run every ``detect_every // 5``
      frames and the face with the most evidence so far is followed (prominence: size x centrality x detector
      confidence, times the frames it was seen over), so the choice rests on several detection frames, not frame 0;
    - keeping: afterwards the followed face keeps the track while it is confirmed, in its window between key
      frames and on key frames by continuity (place, size) and look; any other face, however large or central, is
      only counted;
    - a followed face that is not confirmed is lost; found again (same identity) it is *re-acquired*. Only after
      it has been missing for ``detect_every`` frames may another face be followed (*switched*: the one with the
      most evidence); a face that had to be left takes the track back when it returns with more evidence.
    """

    def __init__(self, detect_every: int, min_face: float, near: tuple[float, float] | None = None) -> None:
        self.detect_every = detect_every
        self.near = near  # a point (normalised x, y) the face to follow is nearest to on the first frames
        self.lost_every = max(1, detect_every // 5)
        self.min_face = min_face
        self.faces = Identities()
        self.current: Identity | None = None  # the followed face
        self.left: list[Identity] = []  # faces followed after the choice and left because they were lost
        self.tracking = False  # the followed face was confirmed on the previous frame
        self.refits = 0  # frames in a row confirmed by a refit since the last detection (window or full)
        self.frame = -1
        self.first: int | None = None  # frame of the first face
        self.last_detect: int | None = None  # frame of the last full detection
        self.reacquired = self.switched = 0
        self.multi_frames = 0
        self.max_faces = 1
        self.sightings: dict[int, dict[int, tuple[np.ndarray, FaceBox]]] = {}  # frame -> identity key -> face

    def step(self, gray: np.ndarray) -> tuple[np.ndarray, FaceBox, int] | None:
        """Landmarks, detector box and identity key of the followed face on the next frame, or None."""
        self.frame += 1
        since = None if self.last_detect is None else self.frame - self.last_detect
        if self.tracking:
            if since < (self.lost_every if self._choosing() else self.detect_every):
                result = self._refit(gray) if self.refits < _REFITS else None
                self.refits = 0 if result is None else self.refits + 1
                result = result or self._follow(gray)
                if result is not None:
                    return result
        elif since is not None and since < self.lost_every:
            return None  # no face: look again only every few frames, so a faceless stretch costs little
        return self._detect(gray)

    def _choosing(self) -> bool:
        """Still making the first choice: less than ``detect_every`` frames since the first face was seen."""
        return self.first is not None and self.frame - self.first < self.detect_every

    def _detect(self, gray: np.ndarray) -> tuple[np.ndarray, FaceBox, int] | None:
        """Full-frame detection, rescaled so the smallest face of interest is ~100 px (the detector needs 80)."""
        height, width = gray.shape
        previous, self.last_detect = self.last_detect, self.frame
        self.refits = 0
        smallest = self.min_face * min(height, width)
        if self.current is not None:
            # Faces much smaller than the followed one could not take its place: not looked for while it is tracked.
            reach = 0.7 * self.current.size
            smallest = reach if self.tracking else min(smallest, reach)
        boxes = detect_faces(gray, scale=min(_MAX_UPSCALE, _DETECT_PX / max(smallest, 1.0)))
        faces = []
        for box in sorted(boxes, key=lambda b: -b.width * b.height)[:_MAX_FACES]:
            points = landmarks(gray, box)
            if plausible(points, box):
                faces.append(describe(gray, box, points))
        seen = self.faces.sight(faces, self.frame, previous, width, height)
        if len(seen) > 1:
            self.multi_frames += 1
            self.max_faces = max(self.max_faces, len(seen))
        if seen:
            self.first = self.frame if self.first is None else self.first
            self.sightings[self.frame] = {i.key: (f.points, f.box) for i, f in zip(seen, faces, strict=True)}
        chosen = self._choose(seen, width, height)
        self.tracking = chosen is not None
        return None if chosen is None else (chosen.face.points, chosen.face.box, chosen.key)

    def _distance(self, identity: Identity, width: int, height: int) -> float:
        """How far the face of ``identity`` is from the point to follow (in pixels of a ``width`` x ``height``
        frame)."""
        point = np.array(self.near, np.float64) * (width, height)
        return float(np.linalg.norm(face_centre(identity.face.points) - point))

    def _choose(self, seen: list[Identity], width: int, height: int) -> Identity | None:
        """Which of the faces seen on this detection frame to follow (None: the followed face is not here). With a
        point to follow, the first choice is the face nearest it (AVSpeech's face position), not the most prominent."""
        current, choosing = self.current, self._choosing()
        best = max(seen, key=lambda i: i.evidence, default=None)
        if self.near is not None and (current is None or choosing) and seen:
            best = min(seen, key=lambda i: self._distance(i, width, height))
        if current is None or (choosing and best is not None and (current in seen or best.evidence > current.evidence)):
            chosen = best  # the first choice, still being made: not a switch
        elif current in seen:
            back = [i for i in seen if i in self.left and i.evidence > current.evidence]
            chosen = max(back, key=lambda i: i.evidence) if back else current
        elif best is not None and not choosing and self.frame - current.frame >= self.detect_every:
            chosen = best
        else:
            return None
        if chosen is None:
            return None
        if chosen is current and not self.tracking:
            self.reacquired += 1
        elif current is not None and chosen is not current and not choosing:
            self.switched += 1
            self.left.append(current)
        self.current = chosen
        return chosen

    def _refit(self, gray: np.ndarray) -> tuple[np.ndarray, FaceBox, int] | None:
        """The landmarks fitted in the previous frame's box, kept when they continue the face, are plausible and
        look like the followed face; None: the window detection decides. The box kept is the previous one moved
        and scaled with the landmarks, so it keeps the detector box's place on the face."""
        current = self.current
        prev, box = current.face.points, current.face.box
        points = landmarks(gray, box)
        if not continues(prev, points) or not plausible(points, box):
            return None
        scale = face_size(points) / face_size(prev)
        shift = face_centre(points) - face_centre(prev) * scale
        moved = FaceBox(box.left * scale + shift[0], box.top * scale + shift[1], box.right * scale + shift[0],
                        box.bottom * scale + shift[1], box.score)
        if float(current.look @ describe(gray, moved, points).look) < SAME_LOOK:
            return None  # something else under the points (the face covered or gone): not confirmed
        current.face = Face(moved, points, current.face.look)
        current.frame = self.frame
        return points, moved, current.key

    def _follow(self, gray: np.ndarray) -> tuple[np.ndarray, FaceBox, int] | None:
        """Detect in a small window around the followed face; None when it is not confirmed there."""
        import cv2

        current = self.current
        prev = current.face.points
        size = face_size(prev)
        centre = face_centre(prev)
        half = size * (0.6 + _ROI_MARGIN)  # the detector box can be ~20% larger than the landmark box
        height, width = gray.shape
        x0, y0 = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
        x1, y1 = int(min(width, centre[0] + half)), int(min(height, centre[1] + half))
        if x1 - x0 < 20 or y1 - y0 < 20:
            return None
        # Scale the window so the face is ~100 px: down for large faces (speed), up for small ones (the detector
        # misses faces under ~80 px).
        scale = min(_MAX_UPSCALE, _DETECT_PX / size)
        roi = gray[y0:y1, x0:x1]
        if scale != 1.0:
            roi = cv2.resize(roi, (max(1, round(roi.shape[1] * scale)), max(1, round(roi.shape[0] * scale))),
                             interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR)
        boxes = detect_faces(roi)
        if not boxes:
            return None
        # The detection nearest to where the face was (another face may reach into the window).
        box = min(boxes, key=lambda b: np.hypot(*(np.array(b.center) / scale + [x0, y0] - centre))).scaled(1 / scale)
        box = FaceBox(box.left + x0, box.top + y0, box.right + x0, box.bottom + y0, box.score)
        points = landmarks(gray, box)
        if not continues(prev, points) or not plausible(points, box):
            return None  # jumped, or changed size: a full detection decides
        current.face = Face(box, points, current.face.look)
        current.frame = self.frame
        return points, box, current.key


def track_video(
    frames: Iterable[np.ndarray] | Path | str,
    *,
    detect_every: int = 25,
    smooth: float = 0.7,
    min_face: float = 0.1,
    start: float | None = None,
    end: float | None = None,
    fps: float | None = None,
    decode_width: int | None = None,
    near: tuple[float, float] | None = None,
) -> LandmarkTrack:
    """Track one person's 68 landmarks over a video (frames as RGB/gray arrays, or a video file).

    ``detect_every``: frames between full-frame detections. ``smooth``: sigma in frames of the centred Gaussian
    applied to each run of found frames (0: none). ``min_face``: smallest face searched for, as a fraction of the
    shorter frame side (0.1: 72 px in a 1280x720 frame). For a file: ``start``/``end`` seconds, ``fps`` resampling
    and ``decode_width`` (decode smaller for speed) apply; coordinates are always returned in the file's own pixels.
    Other faces never take the track over while the followed one is confirmed; the notes say how often it was
    re-acquired and switched. ``near``: a point (x, y normalised to the frame) the face to follow is nearest to on
    the first frames (default: the most prominent face).
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
    feed = TrackFeed(detect_every=detect_every, smooth=smooth, min_face=min_face, size=(width, height), rate=rate,
                     near=near)
    for frame in iterator:
        feed.add(frame)
    return feed.finish()


class TrackFeed:
    """:func:`track_video` fed one frame at a time (``add``), the track made at the end (``finish``): for a caller
    that decodes a clip once for several uses (``hdtf.stages``). ``size``: the frames' own (width, height) in the
    file when they are decoded smaller ((0, 0): the frames' size); ``rate``: their frame rate, when known."""

    def __init__(self, *, detect_every: int = 25, smooth: float = 0.7, min_face: float = 0.1,
                 size: tuple[int, int] = (0, 0), rate: float | None = None,
                 near: tuple[float, float] | None = None) -> None:
        if detect_every < 1:
            raise ValueError("detect_every must be at least 1")
        self.smooth, self.rate = smooth, rate
        self.width, self.height = size
        self.tracker = _Tracker(detect_every, min_face, near)
        self.results: list[tuple[np.ndarray, FaceBox, int] | None] = []
        self.scale_back = np.ones(2, np.float32)  # decoded pixels -> the file's own pixels (x, y)

    def add(self, frame: np.ndarray) -> None:
        """Track one more frame (RGB or gray)."""
        gray = to_gray(frame)
        if not self.results:
            if not self.width:
                self.height, self.width = gray.shape
            self.scale_back = np.array([self.width / gray.shape[1], self.height / gray.shape[0]], np.float32)
        self.results.append(self.tracker.step(gray))

    def latest(self) -> np.ndarray | None:
        """The 68 points found on the frame added last, in the file's pixels (None: no face): what a reader of the
        same decode can use at once. The track :meth:`finish` makes keeps one identity and smooths its runs."""
        result = self.results[-1] if self.results else None
        return None if result is None else result[0] * self.scale_back

    def finish(self) -> LandmarkTrack:
        """The track of the frames added (one identity, smoothed, gaps filled), with its notes."""
        tracker = self.tracker
        track = _one_identity(tracker, self.results, self.scale_back, int(self.width), int(self.height), self.rate)
        if tracker.multi_frames:
            message = (f"{tracker.max_faces} faces seen on {tracker.multi_frames} detection frame(s); "
                       "followed one (the largest, most central, most often seen)")
            warnings.warn(message, MultipleFacesWarning, stacklevel=2)
            track.notes.insert(0, message)
        missing = int((~track.found).sum())
        if missing and len(track):
            track.notes.append(f"no face on {missing} of {len(track)} frames")
        if self.smooth > 0:
            _smooth_runs(track.points, track.found, self.smooth)
        _fill_gaps(track.points, track.found)
        return track


class ProvisionalTrack:
    """Each frame's points in the track :meth:`TrackFeed.finish` will make, known a few frames after the frame is
    added: for readers of the final track that share the tracking's decode (hdtf.stages.pipeline), so that they
    need no decode of their own.

    Why they can be known early: for a given identity, a frame's points and whether it is found are fixed when the
    frame is added (the followed face's points, or those the identity was seen with on that detection frame); the
    smoothing of a run of found frames reads :func:`smooth_radius` frames each way; and a frame without the face
    reads as none (``found`` False) whatever gap filling writes there. So frame k is settled once frame k + radius
    is added, given the identity :func:`_one_identity` would keep of the frames so far. That holds unless the kept
    identity changes after frames were handed out (another face takes over): :attr:`broken` then says so, and
    :meth:`close` compares what was handed out with the final track (found flags exactly, points within
    ``TOLERANCE_PX``), so a caller can always tell whether its readers saw the final track.
    """

    TOLERANCE_PX = 1e-3

    def __init__(self, feed: TrackFeed) -> None:
        self.feed = feed
        self.radius = smooth_radius(feed.smooth)
        self.counts: dict[int, int] = {}  # identity key -> frames it is on, over the frames counted
        self.counted = 0
        self.main: int | None = None  # the identity the points handed out are of
        self.handed: list[np.ndarray | None] = []  # per frame handed out: its points (float64), None: no face
        self.final: LandmarkTrack | None = None
        self.broken: str | None = None  # why the points handed out may not be the final track's

    def ready(self) -> list[tuple[int, np.ndarray | None]]:
        """The frames newly settled by the frames added so far, in order: (index, points in the file's pixels as
        float64, or None: no face)."""
        self._count()
        leading = _leading(self.counts)
        if self.broken is None and leading != self.main:
            if self.main is not None and self.handed:
                self.broken = f"the face kept changed on frame {self.counted - 1} (another face leads)"
            else:
                self.main = leading
        if self.broken is not None:
            return []
        settled = range(len(self.handed), max(len(self.handed), self.counted - self.radius))
        return self._hand([(k, self._points(k)) for k in settled])

    def close(self, track: LandmarkTrack) -> None:
        """The final track is made: :attr:`broken` says why, when the points handed out are not its points."""
        self.final = track
        if self.broken is None:
            self.broken = self._differs(track)

    def rest(self) -> list[tuple[int, np.ndarray | None]]:
        """After :meth:`close`: the frames not handed out yet, with the final track's points."""
        if self.final is None:
            raise RuntimeError("the track is not made yet")
        return self._hand([(k, _final_at(self.final, k)) for k in range(len(self.handed), len(self.final))])

    def _hand(self, frames: list[tuple[int, np.ndarray | None]]) -> list[tuple[int, np.ndarray | None]]:
        self.handed.extend(points for _, points in frames)
        return frames

    def _count(self) -> None:
        """Count the frames added since the last call for each identity on them (as :func:`_one_identity` counts)."""
        tracker, results = self.feed.tracker, self.feed.results
        for k in range(self.counted, len(results)):
            keys = set(tracker.sightings.get(k, ()))
            if results[k] is not None:
                keys.add(results[k][2])
            for key in keys:
                self.counts[key] = self.counts.get(key, 0) + 1
        self.counted = len(results)

    def _raw(self, k: int) -> np.ndarray | None:
        """Frame ``k``'s points of the kept identity before smoothing (float32, the file's pixels), or None."""
        if self.main is None:
            return None
        seen = _seen_as(self.feed.tracker, self.feed.results[k], k, self.main)
        return None if seen is None else np.asarray(seen[0] * self.feed.scale_back, np.float32)

    def _points(self, k: int) -> np.ndarray | None:
        """Frame ``k``'s final points: its run smoothed as :func:`_smooth_runs` smooths it (the run read only as far
        as the kernel reaches, which gives the same values), as float64 like the file's readers get them."""
        raw = self._raw(k)
        if raw is None:
            return None
        window = {k: raw}
        for step in (-1, 1):
            j = k + step
            while abs(j - k) <= self.radius and 0 <= j < self.counted and (near := self._raw(j)) is not None:
                window[j] = near
                j += step
        if len(window) == 1 or self.feed.smooth <= 0:
            return raw.astype(np.float64)
        first = min(window)
        run = np.stack([window[j] for j in sorted(window)])
        return _smoothed(run, self.feed.smooth)[k - first].astype(np.float64)

    def _differs(self, track: LandmarkTrack) -> str | None:
        """Why the points handed out are not ``track``'s (None: they are, within ``TOLERANCE_PX``)."""
        for k, handed in enumerate(self.handed):
            final = _final_at(track, k) if k < len(track) else None
            if (handed is None) != (final is None):
                return f"frame {k}: {'no face' if handed is None else 'a face'} handed out, the track " \
                       f"{'has one' if handed is None else 'has none'}"
            if handed is not None and not np.allclose(handed, final, rtol=0.0, atol=self.TOLERANCE_PX):
                return f"frame {k}: points differ from the track's by {np.abs(handed - final).max():.3g} px"
        return None


def _final_at(track: LandmarkTrack, k: int) -> np.ndarray | None:
    """Frame ``k``'s points as a reader of the track's file gets them: float64 on a found frame, else None."""
    points = track.points[k]
    return points.astype(np.float64) if track.found[k] and np.isfinite(points).all() else None


def _one_identity(
    tracker: _Tracker, results: list[tuple[np.ndarray, FaceBox, int] | None], scale_back: np.ndarray, width: int,
    height: int, rate: float | None,
) -> LandmarkTrack:
    """The track of the one identity followed on the most frames (its followed frames plus the detection frames it
    was seen on); frames that followed another face after a switch are dropped and noted."""
    count = len(results)
    points = np.full((count, 68, 2), np.nan, np.float32)
    boxes = np.full((count, 4), np.nan, np.float32)
    found = np.zeros(count, bool)
    frames_of: dict[int, set[int]] = {}
    for k, result in enumerate(results):
        if result is not None:
            frames_of.setdefault(result[2], set()).add(k)
    for k, faces in tracker.sightings.items():
        for key in faces:
            if key in frames_of:
                frames_of[key].add(k)
    main = _leading({key: len(frames) for key, frames in frames_of.items()})
    for k in sorted(frames_of.get(main, ())):
        pts, box = _seen_as(tracker, results[k], k, main)
        points[k] = pts * scale_back
        x, y, w, h = box.as_xywh()
        boxes[k] = (x * scale_back[0], y * scale_back[1], w * scale_back[0], h * scale_back[1])
        found[k] = True
    track = LandmarkTrack(points, found, boxes, width, height, rate, reacquired=tracker.reacquired,
                          switched=tracker.switched)
    if main is not None:
        track.notes.append(f"face re-acquired {tracker.reacquired}×; switched {tracker.switched}×")
        dropped = sum(1 for k, r in enumerate(results) if r is not None and not found[k])
        if dropped:
            track.notes.append(f"{dropped} frame(s) followed another face and were dropped; kept the face seen on "
                               f"{int(found.sum())} frames")
    return track


def _leading(counts: dict[int, int]) -> int | None:
    """The identity the track keeps: the one on the most frames (the first seen of those tied)."""
    return max(counts, key=lambda key: (counts[key], -key), default=None)


def _seen_as(tracker: _Tracker, result: tuple[np.ndarray, FaceBox, int] | None, k: int,
             key: int) -> tuple[np.ndarray, FaceBox] | None:
    """Identity ``key``'s points and box on frame ``k`` (``result``: what the tracker followed there): the followed
    face's when it is that identity, else those it was seen with on that detection frame; None: not on the frame."""
    if result is not None and result[2] == key:
        return result[0], result[1]
    return tracker.sightings.get(k, {}).get(key)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True values."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2], strict=True))


def _smooth_runs(points: np.ndarray, found: np.ndarray, sigma: float) -> None:
    """Centred Gaussian smoothing in time, within each run of found frames (never across a gap)."""
    for a, b in _runs(found):
        if b - a > 1:
            points[a:b] = _smoothed(points[a:b], sigma)


def _smoothed(run: np.ndarray, sigma: float) -> np.ndarray:
    """One run of found frames smoothed: a centred Gaussian of ``sigma`` frames, cut at ``_TRUNCATE`` sigmas (each
    frame's value reads :func:`smooth_radius` frames each way), the run's end frames repeated past its ends."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(run, sigma, axis=0, mode="nearest", truncate=_TRUNCATE)


def smooth_radius(sigma: float) -> int:
    """How many frames each way a smoothed frame's points depend on (scipy's kernel radius; 2 for sigma 0.7)."""
    return int(_TRUNCATE * sigma + 0.5) if sigma > 0 else 0


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
