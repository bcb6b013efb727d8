"""What the curation stages share (hdtf.curate's cores as stages): the clip's tracked landmarks, a core fed from the
one shared decode, and the files they write through the layout.

The cores need each frame's final landmarks, which exist only once the landmarks stage has tracked the whole clip
(one identity chosen, smoothed): so these stages read ``landmarks_path`` (declared in ``reads``) and, on a clip cut
in the same run, their shared decode follows the tracking's. On a finished run their decode is the only one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from hdtf import atomic
from hdtf.errors import HDTFError
from hdtf.stages.base import ClipInput, Frame, Outcome
from hdtf.stages.landmarks import SUFFIX as LANDMARKS

LANDMARKS_FIELD = "landmarks_path"


def check_landmarks(options: Any, flag: str) -> None:
    """HDTFError when the run tracks no landmarks: ``flag`` needs them."""
    if not options.landmarks:
        raise HDTFError(f"{flag} needs the clips' landmarks: add --landmarks (or --crop-method landmarks)")


def clip_landmarks(clip: ClipInput) -> tuple[np.ndarray, np.ndarray]:
    """(points (T, 68, 2) float64, found (T,) bool) of the clip's landmarks file (a local copy on a store)."""
    if not clip.record.get(LANDMARKS_FIELD):
        raise HDTFError("the clip has no landmarks file (the landmarks stage did not run)")
    layout = clip.options.layout
    path = layout.at_hand(layout.clip_file(clip.id, LANDMARKS))
    try:
        with np.load(path) as npz:
            return np.asarray(npz["points"], dtype=np.float64), np.asarray(npz["found"], dtype=bool)
    except (OSError, KeyError, ValueError) as exc:
        raise HDTFError(f"cannot read the landmarks file {clip.record[LANDMARKS_FIELD]} ({exc})") from None


def points_at(points: np.ndarray, found: np.ndarray, index: int) -> np.ndarray | None:
    """The 68 points of frame ``index``, or None where no face was found (or the file is shorter)."""
    if index >= len(points) or not found[index] or not np.isfinite(points[index]).all():
        return None
    return points[index]


class CorePass:
    """One hdtf.curate accumulator fed the frames of the shared decode (and, ``landmarks``, each frame's points);
    ``finish`` turns what it measured into the stage's :class:`Outcome`."""

    def __init__(self, clip: ClipInput, core: Any, finish: Callable[[dict[str, Any]], Outcome],
                 landmarks: bool = True) -> None:
        self.clip, self.core, self.finish = clip, core, finish
        self.points, self.found = clip_landmarks(clip) if landmarks else (np.zeros((0, 68, 2)), np.zeros(0, bool))
        self.started = False

    def _begin(self, size: tuple[int, int]) -> None:
        record = self.clip.record
        self.core.begin(float(record.get("fps") or 25.0), size, record.get("num_frames"))
        self.started = True

    def frame(self, frame: Frame) -> None:
        rgb = frame.rgb
        if not self.started:
            self._begin((int(rgb.shape[1]), int(rgb.shape[0])))
        self.core.frame(frame.index, rgb, points_at(self.points, self.found, frame.index))

    def end(self) -> Outcome:
        if not self.started:
            self._begin((0, 0))
        return self.finish(self.core.end())


def from_landmarks(clip: ClipInput, core: Any) -> dict[str, Any]:
    """What a core that reads only landmarks (masks, face JSON) makes of the clip's landmarks file: no decode."""
    points, found = clip_landmarks(clip)
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
