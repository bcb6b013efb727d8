"""Scene cuts (shot boundaries) in a clip: PySceneDetect's detectors, fed frame by frame from a shared decode.

Why these settings: LatentSync's preprocessing (bytedance/LatentSync ``preprocess/detect_shot.py``) splits each
video with ``scenedetect -i VIDEO detect-adaptive --threshold 2 split-video``, i.e. PySceneDetect's
``AdaptiveDetector`` with ``adaptive_threshold=2`` (the CLI's own default is 3), its default 2-frame window and
``min_content_val=15``, and the CLI's global ``min-scene-len`` of 0.6 s. That is the default here, so a clip hdtf
keeps is one LatentSync's chain would keep. The adaptive detector scores each frame by the mean absolute change of
hue, saturation and value from the previous frame (``ContentDetector``'s ``content_val``) and reports a cut where
that score is ``threshold`` times the mean score of the 2 frames on either side (and at least 15): a camera pan
changes every frame a little, a cut one frame a lot. ``detector="content"`` is the plain fixed threshold on the same
score (``detect-content``, default 27). Frames are scored at the size the CLI scores them (scaled with linear
interpolation so the longer side is 256 px) so the numbers mean what they mean there.

A cut is reported as the first frame of the new shot: ``frame`` ``k`` at ``k / fps`` seconds from the clip's start.
:func:`split_spans` turns cut times into the sub-clips ``--split-at-cuts`` makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DETECTORS = ("adaptive", "content")
DEFAULT_THRESHOLD = {"adaptive": 2.0, "content": 27.0}  # LatentSync's --threshold 2; detect-content's default
MIN_SCENE_SECONDS = 0.6  # the scenedetect CLI's global min-scene-len: no two cuts closer than this
SCORE_SIDE = 256  # frames are scored with their longer side scaled to this, as the scenedetect CLI does


@dataclass(frozen=True)
class SceneCuts:
    """Where a clip's shots change. ``cuts``: seconds from the clip's start of each new shot's first frame, at
    ``frames`` (indices); ``num_frames`` frames were scored at ``fps``; ``detector`` and ``threshold`` say how."""

    cuts: tuple[float, ...]
    frames: tuple[int, ...]
    fps: float
    num_frames: int
    detector: str
    threshold: float

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps if self.fps else 0.0

    def spans(self, min_length: float, trim: float = 0.0) -> list[tuple[float, float]]:
        """The sub-clips between the cuts (see :func:`split_spans`)."""
        return split_spans(self.cuts, self.duration, min_length, trim)


class SceneCutDetector:
    """The accumulator form (:mod:`hdtf.curate`): ``begin``, ``frame`` per frame, ``end() -> SceneCuts``.

    ``detector``: ``"adaptive"`` (default) or ``"content"``; ``threshold`` None takes :data:`DEFAULT_THRESHOLD`;
    ``min_scene_seconds``: the shortest shot a cut may end (no two cuts closer).
    """

    def __init__(self, detector: str = "adaptive", threshold: float | None = None,
                 min_scene_seconds: float = MIN_SCENE_SECONDS) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"scene detector must be one of {', '.join(DETECTORS)}, not {detector!r}")
        if threshold is not None and not threshold > 0:
            raise ValueError(f"scene-cut threshold must be positive, not {threshold}")
        self.detector = detector
        self.threshold = DEFAULT_THRESHOLD[detector] if threshold is None else float(threshold)
        self.min_scene_seconds = min_scene_seconds
        self._scenedetect = None
        self._fps = 0.0
        self._scaled: tuple[int, int] | None = None
        self._cuts: list[int] = []
        self._last = -1

    def begin(self, fps: float, size: tuple[int, int]) -> None:
        from scenedetect import AdaptiveDetector, ContentDetector
        from scenedetect.scene_manager import compute_downscale_factor

        self._fps = float(fps)
        min_len = max(0, int(round(self.min_scene_seconds * self._fps)))
        if self.detector == "adaptive":
            self._scenedetect = AdaptiveDetector(adaptive_threshold=self.threshold, min_scene_len=min_len)
        else:
            self._scenedetect = ContentDetector(threshold=self.threshold, min_scene_len=min_len)
        factor = compute_downscale_factor(max(size))
        width, height = size
        self._scaled = None if factor <= 1 else (max(1, round(width / factor)), max(1, round(height / factor)))
        self._cuts, self._last = [], -1

    def frame(self, index: int, rgb: np.ndarray) -> None:
        import cv2
        from scenedetect import FrameTimecode

        if self._scaled is not None:
            rgb = cv2.resize(rgb, self._scaled, interpolation=cv2.INTER_LINEAR)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        found = self._scenedetect.process_frame(FrameTimecode(index, fps=self._fps), bgr)
        self._cuts += [cut.frame_num for cut in found]
        self._last = index

    def end(self) -> SceneCuts:
        from scenedetect import FrameTimecode

        if self._last >= 0:
            found = self._scenedetect.post_process(FrameTimecode(self._last, fps=self._fps))
            self._cuts += [cut.frame_num for cut in found]
        frames = tuple(sorted({k for k in self._cuts if 0 < k <= self._last}))
        return SceneCuts(tuple(k / self._fps for k in frames), frames, self._fps, self._last + 1, self.detector,
                         self.threshold)

    def abort(self) -> None:
        """Nothing to clean up: the detector writes no files."""


def detect_cuts(path: str | Path, detector: str = "adaptive", threshold: float | None = None,
                min_scene_seconds: float = MIN_SCENE_SECONDS) -> SceneCuts:
    """Scene cuts of the video file ``path`` (one decode); see :class:`SceneCutDetector` for the options."""
    from hdtf.curate.stream import run_on_file

    (cuts,) = run_on_file(path, [SceneCutDetector(detector, threshold, min_scene_seconds)])
    return cuts


def split_spans(cuts: Sequence[float], duration: float, min_length: float,
                trim: float = 0.0) -> list[tuple[float, float]]:
    """``[start, end)`` seconds of the shots between ``cuts`` in a clip of ``duration`` seconds: the sub-clips that
    ``--split-at-cuts`` makes, each of one shot.

    ``trim`` seconds are left out on each side of every cut (not at the clip's own ends), so a frame blended across
    the cut by the encoder stays out of both neighbours. A span shorter than ``min_length`` after trimming is
    dropped, never merged with a neighbour: that would put the cut back inside a clip.
    """
    if min_length < 0 or trim < 0:
        raise ValueError("min_length and trim must not be negative")
    inside = sorted(c for c in cuts if 0.0 < c < duration)
    edges = [0.0, *inside, duration]
    spans = []
    for k, (start, end) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        start += trim if k > 0 else 0.0
        end -= trim if k < len(edges) - 2 else 0.0
        if end - start >= min_length and end > start:
            spans.append((start, end))
    return spans
