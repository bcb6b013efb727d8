"""The faces stage of the per-video job: a clip's landmark crop window, and its landmarks file.

Two separate tracks, on purpose:
- the window is decided before the clip exists, so it comes from the raw video's clip interval, decoded small
  (``TRACK_WIDTH`` pixels wide) at the output frame rate;
- ``clips/{id}.landmarks.npz`` comes from tracking the finished clip itself, so it has exactly one entry per output
  frame in output pixels by construction, whatever ffmpeg's seeking and frame-rate conversion did. A 512x512 clip
  tracks at well over 100 frames/s (benchmarks/bench_face.py), a small cost next to the cut.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hdtf import atomic
from hdtf.face.detect import MultipleFacesWarning, NoFaceError
from hdtf.face.track import LandmarkTrack, ProvisionalTrack, TrackFeed, read_video_gray, track_video
from hdtf.face.window import landmark_crop_window
from hdtf.records import CropBox

TRACK_WIDTH = 640  # decode width for window tracking; smaller faces are enlarged for the detector (track.py)
OUTPUT_MIN_FACE = 0.15  # a finished clip is framed around its face (~45% of the side): no need to look for tiny ones


def _track(path: Path, **kwargs) -> LandmarkTrack:
    """track_video with the several-faces warning kept as a note only (pipeline workers report through notes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleFacesWarning)
        return track_video(path, **kwargs)


def clip_window(
    source: Path, start: float, end: float, frame_size: tuple[int, int], crop_ratio: float | None,
    fps: float | None = None, near: tuple[float, float] | None = None,
) -> tuple[CropBox, list[str]]:
    """The landmark crop window (source pixels) for ``[start, end)`` seconds of ``source``; NoFaceError('no face').
    ``near``: the face to follow is the one nearest this point (normalised x, y) on the first frames."""
    width, height = frame_size
    track = _track(Path(source), start=start, end=end, fps=fps, decode_width=min(TRACK_WIDTH, width), near=near)
    if not track.found.any():
        raise NoFaceError("no face")
    box, notes = landmark_crop_window(track, width, height, crop_ratio)
    return box, [f"landmark window: {note}" for note in (*track.notes, *notes)]


def landmarks_path(mp4: Path) -> Path:
    """``clips/{id}.landmarks.npz`` beside ``clips/{id}.mp4``."""
    return Path(mp4).with_suffix(".landmarks.npz")


def write_clip_landmarks(mp4: Path, dst: Path | None = None) -> tuple[Path, list[str]]:
    """Track the finished clip and write its landmarks file (``dst``, default beside it) atomically; returns
    (path, notes) (:class:`ClipLandmarks` over the clip's frames)."""
    frames, size, rate = read_video_gray(Path(mp4))
    marks = ClipLandmarks(landmarks_path(mp4) if dst is None else Path(dst), size, rate)
    for frame in frames:
        marks.add(frame)
    return marks.finish()


class ClipLandmarks:
    """A finished clip's landmarks file, made from its frames fed one at a time (``add``; the clip decoded once for
    every stage that reads its frames) and written atomically by ``finish``, which returns (path, notes).

    ``points`` (T, 68, 2) float32 in the clip's pixels (NaN where unknown), ``found`` (T,) bool. A clip without any
    face still gets its file (all not found) and a note: the clip itself may be fine (e.g. a fixed window).
    ``final_points``: each frame's points in the file, a few frames after it is added (see ProvisionalTrack; checked
    against the track when ``finish`` makes it).
    """

    def __init__(self, dst: Path, size: tuple[int, int] = (0, 0), rate: float | None = None) -> None:
        self.dst = Path(dst)
        self.feed = TrackFeed(min_face=OUTPUT_MIN_FACE, size=size, rate=rate)
        self.final_points = ProvisionalTrack(self.feed)

    def add(self, frame: np.ndarray) -> None:
        """Track one more frame of the clip (gray or RGB)."""
        self.feed.add(frame)

    def latest(self) -> np.ndarray | None:
        """The points found on the frame added last (clip pixels; None: no face), see :meth:`TrackFeed.latest`."""
        return self.feed.latest()

    def finish(self) -> tuple[Path, list[str]]:
        with warnings.catch_warnings():  # the several-faces warning is kept as a note only (workers report in notes)
            warnings.simplefilter("ignore", MultipleFacesWarning)
            track = self.feed.finish()
        self.final_points.close(track)
        with atomic.replacing(self.dst) as tmp:
            np.savez(tmp, points=track.points.astype(np.float32), found=track.found.astype(bool))
        if not track.found.any():
            return self.dst, ["landmarks: no face found in the clip"]
        return self.dst, [f"landmarks: {note}" for note in track.notes]
