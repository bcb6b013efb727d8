"""A prepare run, the one orchestration behind ``hdtf prepare`` and the ``datasets`` builders alike: list a source's
videos (:func:`list_videos`) -> check every option before any work (:func:`validate`: each feature module checks its
own, e.g. the download options in ``hdtf.download``) -> the chosen videos through an executor (:class:`JobRun`) ->
the manifest rewritten with the parse report, the options, how the jobs ran and where each ran.

Imports flow one way: this module -> ``hdtf.executors`` -> ``hdtf.job`` (one video) -> ``hdtf.layout`` (its files).
The shells only read their options (flags, builder fields: :mod:`hdtf.options`, :class:`RunOptions`, the source's)
and present the results (a progress bar and a summary, or rows).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.download import FetchOptions

from hdtf.errors import HDTFError
from hdtf.executors import EXECUTORS, default_executor, get_executor
from hdtf.options import PrepareOptions, names, option, option_fields, spelled
from hdtf.recipes import RECIPES, recipe_record
from hdtf.records import ParseReport, VideoSpec
from hdtf.stages import stage_classes

if TYPE_CHECKING:
    from hdtf.executors.base import Executor
    from hdtf.job import VideoResult
    from hdtf.sources import Source


# The RunOptions that are settings of an executor backend (hdtf.executors.get_executor refuses one a backend lacks).
EXECUTOR_SETTINGS = ("video_timeout", "address", "max_in_flight", "max_retries")


@dataclass(frozen=True)
class RunOptions:
    """Which videos a run takes and how its jobs are run (none of these changes a clip)."""

    videos: list[str] | None = option(None, parser=names, builder=True, canonical="set",
                                      help="comma-separated video names (Name or SUBSET_Name) to do")
    workers: int = option(1, parser=int, builder=True, cache_key=False,
                          help="videos processed in parallel (default 1); with --executor ray and no cluster, the "
                               "CPUs of the local Ray instance")
    executor: str | None = option(None, choices=tuple(EXECUTORS), builder=True, cache_key=False,
                                  help="where the per-video jobs run: serial (this process), process (a pool of "
                                       "--workers processes) or ray (tasks on a Ray cluster, docs/cluster.md); "
                                       "default serial for one worker, else process")
    video_timeout: float | None = option(None, parser=float, builder=True, cache_key=False, metavar="SECONDS",
                                         help="wall-clock limit per video: a video still running after it is "
                                              "stopped (ffmpeg included) and recorded as failed: timed out "
                                              "(default: no limit, but 4 hours under --executor ray, where a hung "
                                              "task would hold a cluster CPU for good; 0: no limit)")
    address: str | None = option(None, builder=True, cache_key=False, metavar="ADDRESS",
                                 help="--executor ray: the cluster, auto | HOST:PORT | ray://HOST:10001 (default "
                                      "RAY_ADDRESS; without it a local Ray instance)")
    max_in_flight: int | None = option(None, parser=int, builder=True, cache_key=False, metavar="N",
                                       help="--executor ray: tasks submitted at once (default: the cluster's CPUs "
                                            "x 2)")
    max_retries: int | None = option(None, parser=int, builder=True, cache_key=False, metavar="N",
                                     help="--executor ray: new attempts for a video whose worker process or node "
                                          "died (default 3); a video that fails inside its job is not retried")
    num_shards: int = option(1, parser=int, metavar="N",
                             help="split the run into N disjoint slices by a hash of each video's key (with "
                                  "--shard-index; e.g. one per Slurm array task); all write to one --output")
    shard_index: int = option(0, parser=int, metavar="K", help="the slice this run does, 0 to N-1 (default 0)")
    progress: bool = option(True, flag="--no-progress", action="store_false", help="no progress bar")
    resettle: bool = option(False, action="store_true", builder=True, cache_key=False,
                            help="make the clips of an OUTPUT prepared with other clip settings (--size, --fps, "
                                 "--sample-rate, --crop-method) again with these; each earlier clip is kept (under "
                                 "OUTPUT/kept) until its replacement is verified. Without it such a run stops before "
                                 "any work")
    recipe: str | None = option(None, choices=tuple(RECIPES), cache_key=False,
                                help="the stages and thresholds a trainer's own preprocessing uses (latentsync, hallo, "
                                     "musetalk; docs/recipes.md): your own flags override its values; recorded in the "
                                     "manifest and the card")
    include_filtered: bool = option(False, cli=False, builder=True,
                                    help="the builders' rows include clips a stage filtered out (marked in `filtered`); "
                                         "default: left out (they stay on disk, done)")

    def validate(self) -> None:
        """Raise HDTFError for an unknown executor, fewer than one worker, a setting the executor lacks or a shard
        outside the slices, before any work starts."""
        if self.video_timeout is not None and not self.video_timeout >= 0:
            raise HDTFError(f"video timeout must be 0 (no limit) or positive seconds, not {self.video_timeout}")
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise HDTFError(f"shard index {self.shard_index} is not one of 0..{self.num_shards - 1} "
                            f"(--num-shards {self.num_shards})")
        self.make_executor(1)

    def executor_settings(self) -> dict[str, Any]:
        """The options handed to the executor backend (None: the backend's default)."""
        return {name: getattr(self, name) for name in EXECUTOR_SETTINGS}

    def make_executor(self, videos: int) -> Executor:
        """The executor for a run of ``videos`` videos."""
        return get_executor(self.executor or default_executor(self.workers, videos), self.workers,
                            **self.executor_settings())

    def choose(self, videos: Sequence[VideoSpec]) -> list[VideoSpec]:
        """The videos this run does: the named ones (all when none are), then this run's shard of them."""
        return shard(select_videos(videos, self.videos), self.num_shards, self.shard_index)


def shard_of(key: str, num_shards: int) -> int:
    """The slice (0..num_shards-1) a video key belongs to: a hash of the key alone, so the same on every machine,
    Python version and list order, and slices are disjoint and together complete."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def shard(videos: Sequence[VideoSpec], num_shards: int, index: int) -> list[VideoSpec]:
    """The videos of slice ``index`` of ``num_shards``, in list order."""
    if num_shards == 1:
        return list(videos)
    return [video for video in videos if shard_of(video.key, num_shards) == index]


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


def list_videos(source: Source, lists: Any, splits: Sequence[str], *, fetch_dir: Path,
                offline: bool = False) -> tuple[dict[str, list[VideoSpec]], ParseReport]:
    """Each of ``splits``' videos in ``source``'s lists (its ``Options`` value ``lists``), and one parse report for
    them all: splits drawn from one list (HDTF's) repeat its issues, each kept once."""
    report = ParseReport()
    by_split = {}
    for split in splits:
        videos, part = source.list_videos(lists, split, fetch_dir=fetch_dir, offline=offline)
        known = set(report.issues)
        report.issues += [issue for issue in part.issues if issue not in known]
        report.provenance = part.provenance
        by_split[split] = videos
    return by_split, report


def validate(options: PrepareOptions, run: RunOptions, *, builder: bool = False,
             known: dict[str, Any] | None = None) -> None:
    """HDTFError, one line and before any work, for options no video could succeed with: the run's, the job's, the
    download options (checked by ``hdtf.download``, which knows yt-dlp), and clip settings other than the output's
    (:func:`check_settings`; ``builder`` spells the way out as a builder's field; ``known``: the run's memo of
    status files read, ``Layout.statuses``)."""
    run.validate()
    options.validate()
    FetchOptions.of(options).validate(sections=options.sections)
    for cls in stage_classes():  # each stage's own checks, selected or not (SyncNet weights load with their code)
        cls(options).check()
    check_settings(options, run.resettle, builder=builder, known=known)


def check_settings(options: PrepareOptions, resettle: bool = False, builder: bool = False,
                   known: dict[str, Any] | None = None) -> None:
    """HDTFError, one line and before any work, when the output holds clips made with other clip settings than
    ``options`` ask for (a folder has one set of clip settings), unless ``resettle``. The line names the differing
    options and the two ways forward, spelled for the command line or (``builder``) a builder's fields."""
    if resettle or not options.layout.present():
        return
    wanted = {f.name: f for f in option_fields(PrepareOptions, clip=True, extra=False)}
    asked = options.cut_settings()
    found: Counter = Counter()
    for status in options.layout.statuses(known):
        for clip in status.get("clips") or []:
            if isinstance(clip, dict) and clip.get("status") == "done":
                made = clip.get("settings") if isinstance(clip.get("settings"), dict) else {}
                differ = tuple((name, made.get(name)) for name in wanted if made.get(name) != asked[name])
                if differ:
                    found[differ] += 1
    if not found:
        return
    common = found.most_common()
    made = "; ".join(f"{' '.join(spelled(wanted[k], v, builder) for k, v in differ)} ({n} clip{'s' * (n > 1)})"
                     for differ, n in common)
    differing = {name for differ, _ in common for name, _ in differ}
    ask = " ".join(spelled(f, asked[name], builder) for name, f in wanted.items() if name in differing)
    own = " ".join(spelled(wanted[k], v, builder) for k, v in common[0][0])
    again = "resettle=True" if builder else "--resettle"
    raise HDTFError(f"{options.layout.where} holds clips made with {made}, not {ask}: run with the folder's own "
                    f"settings ({own}), or add {again} to make them again with these (each earlier clip is kept "
                    f"until its replacement is verified)")


class JobRun:
    """The jobs of ``videos`` through the executor ``run`` names: iterating gives each video's result as it
    finishes; when the iteration ends (all done, or stopped early: an interrupt, a consumer that closes it) the
    manifest is rewritten with the parse ``report``, the options, how the jobs ran (``run``: the executor's facts and
    the shard) and where each video ran (``videos[].worker``). Afterwards ``statuses`` holds every status document
    of the output (read once, under the manifest lock) and ``manifest`` where the manifest is."""

    def __init__(self, videos: Sequence[VideoSpec], options: PrepareOptions, run: RunOptions,
                 report: ParseReport | None = None, known: dict[str, Any] | None = None) -> None:
        self.videos, self.options, self.run, self.report = list(videos), options, run, report
        self.known = {} if known is None else known  # the run's memo of status files read (Layout.statuses)
        self.statuses: list[dict[str, Any]] = []
        self.manifest: Path | str | None = None

    def __iter__(self) -> Iterator[VideoResult]:
        from hdtf.job import settled_check
        from hdtf.manifest import write_manifest

        layout = self.options.layout
        layout.make_dirs()
        # Videos whose status already settles every clip for these options are answered here, from the status read
        # once, without a job: no executor task, no lock, no second read (a resumed run over a finished output).
        by_key = {(s.get("video") or {}).get("key"): s for s in layout.statuses(self.known)}
        todo, ran = [], {}
        backend = self.run.make_executor(len(self.videos))
        settled = settled_check(self.options)
        try:
            for video in self.videos:
                result = settled(video, by_key.get(video.key))
                if result is None:
                    todo.append(video)
                else:
                    yield result
            for result in backend.run(todo, self.options) if todo else ():
                ran[result.key] = result.worker
                yield result
        finally:
            facts = backend.facts()
            if self.run.num_shards > 1:
                facts["shard"] = {"index": self.run.shard_index, "count": self.run.num_shards}
            with layout.manifest_lock():
                self.statuses = layout.statuses(self.known)
                recipe = recipe_record(self.run.recipe) if self.run.recipe else None
                self.manifest = write_manifest(layout, report=self.report, options=self.options.to_json(),
                                               workers=ran, run=facts, statuses=self.statuses, recipe=recipe)


def run_jobs(videos: Sequence[VideoSpec], options: PrepareOptions, executor: str | None = None,
             workers: int = 1, **settings: Any) -> Iterator[VideoResult]:
    """Every video's job through the executor named ``executor`` (default: :func:`default_executor`) with its
    ``settings`` (:data:`EXECUTOR_SETTINGS`), one result per video as each finishes."""
    name = executor or default_executor(workers, len(videos))
    return get_executor(name, workers, **settings).run(videos, options)


@dataclass
class RunSummary:
    """Counts of one ``prepare`` run (this run's videos), where the manifest is and the status documents it was made
    from (every video of the output, read once after the run)."""

    videos: Counter = field(default_factory=Counter)
    clips: Counter = field(default_factory=Counter)
    downloaded: int = 0
    elapsed: float = 0.0
    manifest: Path | None = None
    statuses: list[dict[str, Any]] = field(default_factory=list)

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
    run: RunOptions | None = None,
    known: dict[str, Any] | None = None,
) -> RunSummary:
    """Check the options (:func:`validate`), run the per-video job over ``videos`` (``executor``, ``workers`` jobs at
    once) and rewrite ``manifest.json``.

    ``run`` (a command's :class:`RunOptions`, with executor settings and the shard) replaces ``workers``,
    ``progress`` and ``executor``. The manifest records how the jobs ran (``run``) and, per video, where. ``known``:
    the memo of status files a caller's own :func:`validate` read (each status is read once per run).
    """
    run = run or RunOptions(workers=workers, executor=executor, progress=progress)
    known = {} if known is None else known
    validate(options, run, known=known)
    began = time.monotonic()
    summary = RunSummary()
    jobs = JobRun(videos, options, run, report, known)
    results = iter(jobs)
    bar = _progress_bar(len(videos), run.progress)
    try:
        for result in results:
            summary.add(result)
            bar.set_postfix_str(f"clips {summary.clips['done']} done, {summary.clips['failed']} failed, "
                                f"{summary.clips['unavailable']} unavailable", refresh=False)
            bar.update(1)
    finally:
        bar.close()
        results.close()  # the manifest is written now, also when the run stops early
    summary.statuses, summary.manifest = jobs.statuses, jobs.manifest
    summary.elapsed = time.monotonic() - began
    return summary


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="video", desc="prepare", disable=not enabled, dynamic_ncols=True)
