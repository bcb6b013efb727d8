"""Run the per-video job over many videos: in this process, or in a pool of spawned worker processes.

Spawned (not forked) workers: the parent may hold threads (tqdm, a loopback server) and forking a threaded process
is unsafe; ``process_video`` and its arguments are plain picklable values, so spawn costs only the start-up.
A worker that dies or raises becomes a "failed" result for its video; the other videos go on.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from hdtf.pipeline import PrepareOptions, VideoResult, process_video
from hdtf.records import VideoSpec


def _crashed(video: VideoSpec, exc: BaseException) -> VideoResult:
    reason = f"worker error: {type(exc).__name__}: {exc}".splitlines()[0]
    clips = [{**clip.to_row(), "status": "failed", "reason": reason} for clip in video.clips]
    return VideoResult(video.key, "failed", reason, clips)


def run_videos(videos: Sequence[VideoSpec], options: PrepareOptions, workers: int = 1) -> Iterator[VideoResult]:
    """Yield one :class:`VideoResult` per video as each finishes (completion order when ``workers`` > 1)."""
    if workers <= 1 or len(videos) <= 1:
        for video in videos:
            try:
                yield process_video(video, options)
            except Exception as exc:  # a bug in one video's job must not end the run
                yield _crashed(video, exc)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(videos)), mp_context=context) as pool:
        pending: dict[Future, VideoSpec] = {pool.submit(process_video, v, options): v for v in videos}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    video = pending.pop(future)
                    try:
                        yield future.result()
                    except Exception as exc:
                        yield _crashed(video, exc)
        finally:
            for future in pending:
                future.cancel()
