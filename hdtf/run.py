"""A prepare run: the chosen videos through an executor, then the manifest rewritten.

Imports flow one way: this module -> ``hdtf.executors`` -> ``hdtf.job`` (one video) -> ``hdtf.layout`` (its files).
``hdtf prepare`` and the builders call :func:`prepare` / :func:`run_jobs` with options declared in
:mod:`hdtf.options` and :class:`RunOptions`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hdtf.errors import HDTFError
from hdtf.executors import EXECUTORS, default_executor, get_executor
from hdtf.job import VideoResult
from hdtf.options import PrepareOptions, names, option
from hdtf.records import ParseReport, VideoSpec


@dataclass(frozen=True)
class RunOptions:
    """Which videos a run takes and how its jobs are run (none of these changes a clip)."""

    videos: list[str] | None = option(None, parser=names, builder=True, canonical="set",
                                      help="comma-separated video names (Name or SUBSET_Name) to do")
    workers: int = option(1, parser=int, builder=True, cache_key=False, help="videos processed in parallel (default 1)")
    executor: str | None = option(None, choices=tuple(EXECUTORS), builder=True, cache_key=False,
                                  help="where the per-video jobs run: serial (this process) or process (a pool of "
                                       "--workers processes); default serial for one worker, else process")
    progress: bool = option(True, flag="--no-progress", action="store_false", help="no progress bar")

    def validate(self) -> None:
        """Raise HDTFError for an unknown executor or fewer than one worker, before any work starts."""
        get_executor(self.executor or default_executor(self.workers, 1), self.workers)


def select_videos(videos: Sequence[VideoSpec], wanted: Sequence[str] | None) -> list[VideoSpec]:
    """The videos named in ``wanted`` (names or ``SUBSET_NAME`` keys), in list order; all when None."""
    if not wanted:
        return list(videos)
    wanted = set(wanted)
    chosen = [v for v in videos if v.name in wanted or v.key in wanted]
    unknown = sorted(set(wanted) - {v.name for v in chosen} - {v.key for v in chosen})
    if unknown:
        raise HDTFError(f"unknown video name(s) {', '.join(unknown)} in the metadata of the chosen lists "
                        "(use names or SUBSET_NAME keys)")
    return chosen


def run_jobs(videos: Sequence[VideoSpec], options: PrepareOptions, executor: str | None = None,
             workers: int = 1) -> Iterator[VideoResult]:
    """Every video's job through the executor named ``executor`` (default: :func:`default_executor`), one result
    per video as each finishes."""
    name = executor or default_executor(workers, len(videos))
    return get_executor(name, workers).run(videos, options)


@dataclass
class RunSummary:
    """Counts of one ``prepare`` run (this run's videos) and where the manifest is."""

    videos: Counter = field(default_factory=Counter)
    clips: Counter = field(default_factory=Counter)
    downloaded: int = 0
    elapsed: float = 0.0
    manifest: Path | None = None

    def add(self, result: VideoResult) -> None:
        self.videos[result.status] += 1
        for clip in result.clips:
            self.clips[clip["status"]] += 1
        self.downloaded += int(result.downloaded)

    def text(self) -> str:
        def fmt(counter: Counter) -> str:
            return ", ".join(f"{n} {k}" for k, n in sorted(counter.items())) or "none"

        return (f"videos: {fmt(self.videos)}\nclips: {fmt(self.clips)}\n"
                f"downloaded {self.downloaded} video(s) in {self.elapsed:.1f}s; manifest: {self.manifest}")


def prepare(
    videos: Sequence[VideoSpec],
    options: PrepareOptions,
    workers: int = 1,
    progress: bool = True,
    report: ParseReport | None = None,
    executor: str | None = None,
) -> RunSummary:
    """Run the per-video job over ``videos`` (``executor``, ``workers`` jobs at once) and rewrite ``manifest.json``."""
    from hdtf.manifest import write_manifest

    options.validate()
    results = run_jobs(videos, options, executor, workers)
    began = time.monotonic()
    summary = RunSummary()
    ran: dict[str, dict] = {}
    options.layout.make_dirs()
    bar = _progress_bar(len(videos), progress)
    try:
        for result in results:
            summary.add(result)
            ran[result.key] = result.worker
            bar.set_postfix_str(f"clips {summary.clips['done']} done, {summary.clips['failed']} failed, "
                                f"{summary.clips['unavailable']} unavailable", refresh=False)
            bar.update(1)
    finally:
        bar.close()
        summary.manifest = write_manifest(options.output_dir, report=report, options=options.to_json(), workers=ran)
    summary.elapsed = time.monotonic() - began
    return summary


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="video", desc="prepare", disable=not enabled, dynamic_ncols=True)
