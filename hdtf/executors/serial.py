"""Jobs one after another in this process: no start-up cost, the default for one worker."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from hdtf.executors.base import Executor
from hdtf.executors.deadline import run_job
from hdtf.job import VideoResult, crashed
from hdtf.options import PrepareOptions
from hdtf.records import VideoSpec


class SerialExecutor(Executor):
    name = "serial"

    def run(self, videos: Sequence[VideoSpec], options: PrepareOptions) -> Iterator[VideoResult]:
        for video in videos:
            try:
                result = run_job(video, options, self.video_timeout)
            except Exception as exc:  # a bug in one video's job (or its killed process) must not end the run
                result = crashed(video, options, exc)
            result.worker = {"executor": self.name, "pid": os.getpid(), "attempts": 1}
            yield result
