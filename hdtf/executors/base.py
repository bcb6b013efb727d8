"""The one interface every executor backend implements: run per-video jobs, yield their results as they finish.

A backend knows nothing of clips: it runs :func:`hdtf.executors.deadline.run_job` (``hdtf.job.process_video``, under
the run's per-video wall-clock limit when one is set) somewhere, turns a job that raised or a worker that died into
:func:`hdtf.job.crashed` (the video failed, the run goes on) and adds facts about where the job ran to
``VideoResult.worker`` (the run records them in the manifest). Progress is the result stream: the run advances its
bar by one video per result.

A backend's settings beyond ``workers`` and ``video_timeout`` are keyword arguments of its constructor (the Ray
backend's ``address``, ``max_in_flight``, ``max_retries``); :func:`hdtf.executors.get_executor` refuses a setting
the chosen backend does not take.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from hdtf.job import VideoResult
from hdtf.options import PrepareOptions
from hdtf.records import VideoSpec


class Executor(abc.ABC):
    """Runs per-video jobs, ``workers`` at a time, each stopped after ``video_timeout`` seconds (None or 0: no limit)."""

    name: ClassVar[str]

    def __init__(self, workers: int = 1, video_timeout: float | None = None) -> None:
        self.workers = workers
        self.video_timeout = video_timeout or None  # 0: no limit

    @abc.abstractmethod
    def run(self, videos: Sequence[VideoSpec], options: PrepareOptions) -> Iterator[VideoResult]:
        """Submit one job per video and yield each :class:`VideoResult` as its job finishes (any order), exactly one
        per video; stopping the iteration early cancels the jobs not yet started."""

    def facts(self) -> dict[str, Any]:
        """How this run's jobs were run, for the manifest (a backend adds what it knows once ``run`` has started)."""
        return {"executor": self.name, "workers": self.workers, "video_timeout": self.video_timeout}
