"""Jobs in a pool of spawned worker processes on this machine.

Spawned (not forked) workers: the parent may hold threads (tqdm, a loopback server) and forking a threaded process
is unsafe; ``process_video`` and its arguments are plain picklable values, so spawn costs only the start-up.
A worker that dies or raises becomes a "failed" result for its video; the other videos go on.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from hdtf.executors.base import Executor
from hdtf.executors.deadline import run_job
from hdtf.job import VideoResult, crashed
from hdtf.options import PrepareOptions
from hdtf.records import VideoSpec


def _job(video: VideoSpec, options: PrepareOptions, timeout: float | None) -> VideoResult:
    """The job in a worker (under the wall-clock limit), saying which process ran it."""
    result = run_job(video, options, timeout)
    result.worker = {"executor": ProcessExecutor.name, "pid": os.getpid(), "attempts": 1}
    return result


class ProcessExecutor(Executor):
    name = "process"

    def run(self, videos: Sequence[VideoSpec], options: PrepareOptions) -> Iterator[VideoResult]:
        if not videos:
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(videos)), mp_context=context) as pool:
            pending: dict[Future, VideoSpec] = {pool.submit(_job, v, options, self.video_timeout): v for v in videos}
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        video = pending.pop(future)
                        try:
                            yield future.result()
                        except Exception as exc:
                            result = crashed(video, options, exc)
                            result.worker = {"executor": self.name, "pid": None, "attempts": 1}
                            yield result
            finally:
                for future in pending:
                    future.cancel()
