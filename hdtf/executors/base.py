"""The one interface every executor backend implements: run per-video jobs, yield their results as they finish.

A backend knows nothing of clips: it runs ``hdtf.job.process_video(video, options)`` somewhere, turns a job that
raised or a worker that died into :func:`hdtf.job.crashed` (the video failed, the run goes on) and may add facts about
where the job ran to ``VideoResult.worker`` (the run records them in the manifest). Progress is the result stream:
the run advances its bar by one video per result.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import ClassVar

from hdtf.job import VideoResult
from hdtf.options import PrepareOptions
from hdtf.records import VideoSpec


class Executor(abc.ABC):
    """Runs per-video jobs, ``workers`` at a time."""

    name: ClassVar[str]

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    @abc.abstractmethod
    def run(self, videos: Sequence[VideoSpec], options: PrepareOptions) -> Iterator[VideoResult]:
        """Submit one job per video and yield each :class:`VideoResult` as its job finishes (any order), exactly one
        per video; stopping the iteration early cancels the jobs not yet started."""
