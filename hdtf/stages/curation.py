"""What the curation stages share (hdtf.curate's cores as stages): the clip's tracked landmarks, a core fed from the
one shared decode, and the files they write through the layout.

The measures and the face embedding need each frame's final landmarks, which exist only once the landmarks stage has
tracked the whole clip (one identity chosen, smoothed): so they read ``landmarks_path`` (declared in ``reads``) and,
when the landmarks stage runs on the clip in the same decode, get each frame a few frames late with the points the
final track will hold there, or, when those were not the track's, a decode of their own after the tracking's
(hdtf.stages.pipeline). On clips whose landmarks an earlier run made, the points come from the file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from hdtf import atomic
from hdtf.errors import HDTFError
from hdtf.stages.base import LANDMARKS_FILE, ClipInput, Frame, Outcome, points_at

LANDMARKS_FIELD = LANDMARKS_FILE


def check_landmarks(options: Any, flag: str) -> None:
    """HDTFError when the run tracks no landmarks: ``flag`` needs them."""
    if not options.landmarks:
        raise HDTFError(f"{flag} needs the clips' landmarks: add --landmarks (or --crop-method landmarks)")


class CorePass:
    """One hdtf.curate accumulator fed the frames of the shared decode, each with its points (``Frame.landmarks``,
    set when a stage of the decode reads landmarks); ``finish`` turns what it measured into the stage's
    :class:`Outcome`."""

    def __init__(self, clip: ClipInput, core: Any, finish: Callable[[dict[str, Any]], Outcome]) -> None:
        self.clip, self.core, self.finish = clip, core, finish
        self.started = False

    def _begin(self, size: tuple[int, int]) -> None:
        record = self.clip.record
        self.core.begin(float(record.get("fps") or 25.0), size, record.get("num_frames"))
        self.started = True

    def frame(self, frame: Frame) -> None:
        rgb = frame.rgb
        if not self.started:
            self._begin((int(rgb.shape[1]), int(rgb.shape[0])))
        self.core.frame(frame.index, rgb, frame.landmarks)

    def end(self) -> Outcome:
        if not self.started:
            self._begin((0, 0))
        return self.finish(self.core.end())


def from_landmarks(clip: ClipInput, core: Any) -> dict[str, Any]:
    """What a core that reads only landmarks (masks, face JSON) makes of the clip's landmarks file: no decode."""
    points, found = clip.track()
    record = clip.record
    core.begin(float(record.get("fps") or 25.0), (int(record["width"]), int(record["height"])), len(points))
    for index in range(len(points)):
        core.frame(index, None, points_at(points, found, index))
    return core.end()


def write_file(clip: ClipInput, suffix: str, data: bytes) -> str:
    """Write a stage's file for the clip atomically where the layout puts it (uploaded with the status on a store);
    its name relative to the run."""
    layout = clip.options.layout
    path = clip.file(suffix)
    atomic.write_bytes(path, data)
    layout.wrote(path)
    return layout.relative(path)


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` as the bytes of a ``.npy`` file (``numpy.load`` reads it back with its dtype and shape)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 grey image as PNG bytes."""
    import cv2

    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image, dtype=np.uint8))
    if not ok:
        raise HDTFError("cannot encode a mask as PNG")
    return encoded.tobytes()


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")
