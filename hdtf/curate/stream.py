"""One decode of a video file feeding any number of accumulators (the :mod:`hdtf.curate` protocol).

The stages of ``hdtf prepare`` feed their own shared decode (``hdtf.stages.base.decode``); both open the clip with
:func:`hdtf.video_io.open_video`, so that a core run on a file and a core fed by a stage see the same frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hdtf.errors import HDTFError
from hdtf.video_io import open_video


class Accumulator(Protocol):
    """What a per-frame core offers: it is told the clip's rate and size (width, height), sees each frame once, in
    order, then hands back its result; ``abort()`` when the decode fails part way leaves nothing it made behind."""

    def begin(self, fps: float, size: tuple[int, int]) -> None: ...

    def frame(self, index: int, rgb: np.ndarray) -> None: ...

    def end(self) -> Any: ...

    def abort(self) -> None: ...


def run_on_file(path: str | Path, accumulators: Sequence[Accumulator]) -> list[Any]:
    """Decode ``path``'s first video stream once (PyAV, RGB) and feed every frame to each accumulator; their
    results, in order. HDTFError naming the file when it cannot be read or has no video."""
    import av

    path = Path(path)
    with open_video(path) as (container, stream):
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        size = (stream.codec_context.width, stream.codec_context.height)
        try:
            for accumulator in accumulators:
                accumulator.begin(fps, size)
            for index, frame in enumerate(container.decode(stream)):
                rgb = frame.to_ndarray(format="rgb24")
                for accumulator in accumulators:
                    accumulator.frame(index, rgb)
            return [accumulator.end() for accumulator in accumulators]
        except av.error.FFmpegError as exc:
            _abort(accumulators)
            raise HDTFError(f"{path}: cannot decode video ({exc})") from exc
        except BaseException:
            _abort(accumulators)
            raise


def _abort(accumulators: Sequence[Accumulator]) -> None:
    for accumulator in accumulators:
        accumulator.abort()
