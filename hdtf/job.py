"""The per-video job: raw video -> clips (mp4 + wav) -> ``status/{key}.json``.

``process_video`` is the one unit of work every executor runs (``hdtf.executors``; the ``datasets`` builders run it
through them too). It is a plain top-level function of picklable arguments, safe to run again at any time:

- the status file is the source of truth: a clip counts as done only when its status says so AND its files exist
  (``Layout.clip_is_done``); it is rewritten atomically after every clip, so a run killed at any moment loses at most
  one clip;
- clip files are written by ``media.cut_clip`` under temporary names and renamed when complete;
- a clip failure is recorded and the other clips go on; nothing but a programming error escapes (and an executor
  turns that into the video's failed result with :func:`crashed`).

Where the faces stage plugs in: :func:`choose_window` (the single place a clip's crop window is decided) and
:func:`extra_outputs` (the single place per-clip extra files such as landmarks are made).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError
from hdtf.layout import clip_record
from hdtf.options import PrepareOptions
from hdtf.records import ClipSpec, CropBox, ResolvedClip, VideoSpec


@dataclass
class VideoResult:
    """What one ``process_video`` call did (the same facts are in ``status/{key}.json``)."""

    key: str
    status: str  # "done" | "partial" | "failed" | "unavailable" | "skipped"
    reason: str | None
    clips: list[dict[str, Any]] = field(default_factory=list)
    downloaded: bool = False
    elapsed: float = 0.0
    # Facts the executor adds about where the job ran ({"executor": ..., "pid": ..., "attempts": ...}); the run
    # records them in the manifest's video entry.
    worker: dict[str, Any] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for clip in self.clips if clip["status"] == status)


class ClipSkipped(Exception):
    """The clip cannot be made with these options; the message says which option would make it."""


class ClipFailed(Exception):
    """The clip could not be made; the message is the reason recorded in its status.

    ``retry`` False marks a failure that the same raw video and options will always give (a clip starting past the
    video's end): the next run does not try again, so it needs no new download for it.
    """

    def __init__(self, reason: str, retry: bool = True):
        super().__init__(reason)
        self.retry = retry


# ----------------------------------------------------------------------------------------------------- clips


_PENDING = "not made yet (the run was interrupted or is still going)"
_NO_WINDOW = "no crop window in the metadata; use --crop-method landmarks|auto to find the face"


def cannot_crop(clip: ClipSpec, options: PrepareOptions) -> str | None:
    """Why ``clip`` can get no window at all with these options (checked before anything is downloaded)."""
    if options.crop_method == "fixed" and clip.crop is None:
        return _NO_WINDOW
    return None


def choose_window(
    clip: ClipSpec, resolved: ResolvedClip, source: Path, offset: float, media: Any, options: PrepareOptions
) -> tuple[CropBox | None, list[str]]:
    """The crop window (pixels of ``source``) a clip is cut with, and notes on how it was chosen.

    The one place that decides it: ``fixed`` takes the metadata window, ``auto`` the metadata window when there is
    one. Face-tracked windows (``landmarks``, ``auto`` without a window) are the faces stage's to add here.
    ``resolved`` times are on the source video's timeline; ``source`` (a whole video or a downloaded section, probed
    as ``media``) starts at ``offset`` seconds of it.
    """
    if options.crop_method == "fixed":
        if resolved.crop is None:
            raise ClipSkipped(_NO_WINDOW)
        return resolved.crop, []
    if options.crop_method == "auto" and resolved.crop is not None:
        return resolved.crop, []
    from hdtf.face.clips import clip_window
    from hdtf.face.detect import NoFaceError

    try:
        return clip_window(source, resolved.start - offset, resolved.end - offset, (media.width, media.height),
                           clip.crop_ratio, options.fps)
    except NoFaceError as exc:
        raise ClipFailed(str(exc), retry=False) from None
    except HDTFError as exc:
        raise ClipFailed(str(exc)) from None


def extra_outputs(clip: ClipSpec, options: PrepareOptions) -> tuple[dict[str, Any], list[str]]:
    """Per-clip files made from the finished clip: (clip-record fields to set, notes).

    The faces stage adds landmarks here (``{"landmarks_path": <name in the layout>}``); every file a record
    names must exist for the clip to count as done on the next run.
    """
    if not options.landmarks:
        return {}, []
    from hdtf.face.clips import write_clip_landmarks

    files = options.layout.clip_files(clip.id)
    try:
        path, notes = write_clip_landmarks(files.video, files.landmarks)
    except HDTFError as exc:
        raise ClipFailed(f"landmarks: {exc}") from None
    return {"landmarks_path": options.layout.relative(path)}, notes


@dataclass(frozen=True)
class _ClipPlan:
    """A clip resolved against its source and given a window: everything its ffmpeg pass needs."""

    clip: ClipSpec
    source: Path
    media: Any
    start: float  # in ``source``'s time
    end: float
    crop: CropBox | None
    notes: tuple[str, ...]


def _plan_clip(
    clip: ClipSpec,
    source: Path,
    media: Any,
    offset: float,
    options: PrepareOptions,
    keyframes: Callable[[], list[float]],
) -> _ClipPlan:
    """Resolve the clip and choose its window (may track faces). ``offset``: source time of ``source``'s time 0."""
    from hdtf.sources import get_source

    if not media.has_audio:
        raise ClipSkipped("the source video has no audio track; talking-face clips need speech")
    try:
        resolved = get_source(clip.source).resolve_clip(clip, media, keyframes)
    except ValueError as exc:
        raise ClipFailed(str(exc), retry=False) from None
    crop, notes = choose_window(clip, resolved, source, offset, media, options)
    return _ClipPlan(clip, source, media, resolved.start - offset, resolved.end - offset, crop,
                     (*resolved.notes, *notes))


def _cut(plan: _ClipPlan, options: PrepareOptions) -> Any:
    """The clip's one ffmpeg pass (runs in a worker thread: it only waits on its ffmpeg process)."""
    from hdtf import media as media_mod

    files = options.layout.clip_files(plan.clip.id)
    try:
        return media_mod.cut_clip(
            plan.source, files.video, start=plan.start, end=plan.end, crop=plan.crop, size=options.size,
            fps=options.fps, sample_rate=options.sample_rate, dst_wav=files.audio, deinterlace=plan.media.interlaced,
            info=plan.media,
        )
    except HDTFError as exc:
        raise ClipFailed(str(exc)) from None


def _finish_clip(plan: _ClipPlan, cut: Future, options: PrepareOptions) -> dict[str, Any]:
    """Extra per-clip files and the clip's done record, once its cut has finished (its error re-raised here)."""
    facts = cut.result()
    layout, media = options.layout, plan.media
    files = layout.clip_files(plan.clip.id)
    extra, extra_notes = extra_outputs(plan.clip, options)
    return clip_record(
        plan.clip, "done", None, options.clip_settings(), path=layout.relative(files.video),
        audio_path=layout.relative(files.audio) if files.audio.is_file() else None, fps=facts.fps,
        num_frames=facts.num_frames,
        width=facts.width, height=facts.height, duration=facts.duration, sample_rate=facts.sample_rate,
        source_width=media.width, source_height=media.height,
        applied_crop=None if plan.crop is None else list(plan.crop.as_tuple()),
        adjustments=[*plan.notes, *extra_notes], **extra,
    )


def _outcome(clip: ClipSpec, settings: dict[str, Any], step: Callable[..., Any], *args: Any) -> Any:
    """``step(*args)``, or the clip's skipped/failed record when it raises: one clip never stops the others."""
    try:
        return step(*args)
    except ClipSkipped as exc:
        return clip_record(clip, "skipped", str(exc), settings)
    except ClipFailed as exc:
        return clip_record(clip, "failed", str(exc), settings, retry=exc.retry)
    except Exception as exc:  # an unexpected error in one clip (disk full, a bug) must not stop the others
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return clip_record(clip, "failed", reason, settings, retry=True)


# ----------------------------------------------------------------------------------------------- raw videos


@dataclass
class _Raw:
    """Where a video's pixels come from: a whole file, or one file per time section (offset = section start)."""

    whole: Path | None = None
    sections: tuple[Any, ...] = ()
    owned: bool = True  # downloaded by us (deleted after its clips unless keep_raw), not the user's --raw-dir file
    downloaded: bool = False
    format: str | None = None


def _merged_sections(clips: Sequence[ClipSpec]) -> list[tuple[float, float]]:
    spans: list[list[float]] = []
    for clip in sorted(clips, key=lambda c: c.start):
        if spans and clip.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], clip.end)
        else:
            spans.append([clip.start, clip.end])
    return [(s, e) for s, e in spans]


def _obtain_raw(video: VideoSpec, todo: Sequence[ClipSpec], options: PrepareOptions) -> tuple[_Raw | None, str, str]:
    """The raw video for ``todo`` clips: (raw, status, reason); raw is None when it cannot be had."""
    from hdtf.download import download_video, find_raw, raw_name

    if options.raw_dir is not None:
        found = find_raw(options.raw_dir, video)
        if found is not None:
            return _Raw(whole=found, owned=False, format="raw-dir"), "done", ""
    raw_dir = options.layout.raw_dir
    already = (raw_dir / raw_name(video)).is_file()
    result = download_video(
        video, raw_dir, url_template=options.url_template, cookies=options.cookies, proxy=options.proxy,
        rate_limit=options.rate_limit, sections=_merged_sections(todo) if options.sections else None,
    )
    if result.status != "done":
        return None, result.status, result.reason or "download failed"
    fresh = result.format != "already downloaded" and not already
    return _Raw(whole=result.path, sections=result.sections, downloaded=fresh, format=result.format), "done", ""


def _release_raw(raw: _Raw, options: PrepareOptions) -> None:
    if not raw.owned or options.keep_raw:
        return
    for path in [raw.whole, *(s.path for s in raw.sections)]:
        if path is not None:
            Path(path).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------- the job


def _video_status(records: Sequence[dict[str, Any]]) -> str:
    counts = Counter(r["status"] for r in records)
    if counts["done"] == len(records):
        return "done"
    if counts["done"]:
        return "partial"
    if counts["skipped"] == len(records):
        return "skipped"
    if counts["unavailable"]:
        return "unavailable"
    return "failed"


def process_video(video: VideoSpec, options: PrepareOptions) -> VideoResult:
    """Make every clip of ``video`` that is not done yet; record the outcome in ``status/{key}.json``.

    Never raises for a bad video or clip (the status says what happened), so any executor can map it over a list.
    """
    from hdtf import media as media_mod

    began = time.monotonic()
    layout = options.layout
    settings = options.clip_settings()
    previous = layout.read_status(video.key) or {}
    old = {r.get("id"): r for r in previous.get("clips", []) if isinstance(r, dict)}
    records: dict[str, dict] = {}
    todo: list[ClipSpec] = []
    for clip in video.clips:
        if clip.id in old and layout.clip_is_done(old[clip.id], settings):
            records[clip.id] = old[clip.id]
        elif (why := cannot_crop(clip, options)) is not None:
            records[clip.id] = clip_record(clip, "skipped", why, settings)
        else:
            records[clip.id] = clip_record(clip, "pending", _PENDING, settings)
            todo.append(clip)

    def finish(reason: str | None = None, downloaded: bool = False, **extra: Any) -> VideoResult:
        state = _video_status(list(records.values()))
        layout.write_status(video, state, reason, records.values(), **extra)
        return VideoResult(video.key, state, reason, list(records.values()), downloaded, time.monotonic() - began)

    if not todo:
        if previous.get("clips") == list(records.values()) and previous.get("status") == _video_status(old.values()):
            return VideoResult(video.key, previous["status"], previous.get("reason"), list(records.values()))
        return finish(previous.get("reason"), download=previous.get("download"),
                      source_media=previous.get("source_media"))

    from hdtf.download import video_url

    try:
        url = video_url(video, options.url_template)
    except HDTFError as exc:
        return _give_up(todo, records, "failed", str(exc), settings, finish, None)
    tried = previous.get("download") or {}
    if (previous.get("status") == "unavailable" and not options.retry_unavailable and tried.get("url") == url
            and url is not None):
        reason = f"{tried.get('reason')} (recorded earlier; --retry-unavailable to try again)"
        return _give_up(todo, records, "unavailable", reason, settings, finish, tried)

    try:
        raw, state, reason = _obtain_raw(video, todo, options)
    except HDTFError as exc:  # options no download can succeed with (cookies file gone, bad rate)
        raw, state, reason = None, "failed", str(exc)
    download = {"status": state, "reason": reason or None, "url": url, "format": raw.format if raw else None}
    if raw is None:
        return _give_up(todo, records, state, reason, settings, finish, download)

    layout.write_status(video, "running", None, records.values(), download=download)
    source_media: dict[str, Any] | None = None
    try:
        units = _units(raw, todo)
    except HDTFError as exc:  # an unreadable download is deleted so that the next run fetches it again
        _release_raw(raw, replace(options, keep_raw=False))
        return _give_up(todo, records, "failed", str(exc), settings, finish, download, downloaded=raw.downloaded)

    def record(clip: ClipSpec, result: dict[str, Any]) -> None:
        records[clip.id] = result
        layout.write_status(video, "running", None, records.values(), download=download, source_media=source_media)

    # Windows and landmark files are made here, one clip at a time (face tracking is not thread-safe); only the
    # ffmpeg passes overlap, up to options.clip_workers of them.
    with ThreadPoolExecutor(max_workers=options.clip_workers) as pool:
        cutting: dict[Future, _ClipPlan] = {}

        def settle(futures: Iterable[Future]) -> None:
            for future in futures:
                plan = cutting.pop(future)
                record(plan.clip, _outcome(plan.clip, settings, _finish_clip, plan, future, options))

        for source, offset, info, clips in units:
            source_media = source_media or asdict(info)
            keyframes = _lazy_keyframes(source, offset, media_mod)
            for clip in clips:
                plan = _outcome(clip, settings, _plan_clip, clip, source, info, offset, options, keyframes)
                if not isinstance(plan, _ClipPlan):
                    record(clip, plan)
                    continue
                if len(cutting) >= options.clip_workers:
                    settle(wait(cutting, return_when=FIRST_COMPLETED).done)
                cutting[pool.submit(_cut, plan, options)] = plan
        settle(list(cutting))
    if not any(records[c.id]["status"] == "failed" and records[c.id].get("retry") for c in todo):
        _release_raw(raw, options)
        shutil.rmtree(layout.raw_dir / f".{video.key}.partial", ignore_errors=True)
    return finish(None, downloaded=raw.downloaded, download=download, source_media=source_media)


def _give_up(todo, records, state, reason, settings, finish, download, downloaded=False) -> VideoResult:
    for clip in todo:
        records[clip.id] = clip_record(clip, state, reason, settings)
    return finish(reason, downloaded=downloaded, download=download)


def _units(raw: _Raw, todo: Sequence[ClipSpec]) -> list[tuple[Path, float, Any, list[ClipSpec]]]:
    """(file, its source time offset, probed info with the full-video duration, clips cut from it)."""
    from hdtf import media as media_mod

    if raw.whole is not None:
        return [(raw.whole, 0.0, media_mod.probe(raw.whole), list(todo))]
    units = []
    for section in raw.sections:
        info = media_mod.probe(section.path)
        # Times and truncation are judged on the source timeline; the section's end is as far as we can see.
        if info.duration > section.end - section.start - 0.5:  # the source goes on past the section
            info = replace(info, duration=max(section.end, section.start + info.duration))
        else:  # the source ended inside the section
            info = replace(info, duration=section.start + info.duration)
        clips = [c for c in todo if section.start <= c.start < section.end]
        units.append((section.path, section.start, info, clips))
    return units


def _lazy_keyframes(source: Path, offset: float, media_mod: Any) -> Callable[[], list[float]]:
    cache: list[list[float]] = []

    def keyframes() -> list[float]:
        if not cache:
            cache.append([t + offset for t in media_mod.keyframe_times(source)])
        return cache[0]

    return keyframes


def crashed(video: VideoSpec, options: PrepareOptions, exc: BaseException) -> VideoResult:
    """The failed result of a job that raised or whose worker died: every clip failed with the error, to retry."""
    reason = f"worker error: {type(exc).__name__}: {exc}".splitlines()[0]
    settings = options.clip_settings()
    clips = [clip_record(clip, "failed", reason, settings, retry=True) for clip in video.clips]
    return VideoResult(video.key, "failed", reason, clips)


def interrupted(video: VideoSpec, options: PrepareOptions, reason: str) -> VideoResult:
    """The result of a job stopped from outside (a wall-clock limit), written to its status: clips it settled stay,
    the others failed with ``reason`` (the next run tries them again)."""
    layout = options.layout
    settings = options.clip_settings()
    previous = layout.read_status(video.key) or {}
    old = {r.get("id"): r for r in previous.get("clips", []) if isinstance(r, dict)}
    records = []
    for clip in video.clips:
        record = old.get(clip.id)
        if record is not None and layout.clip_is_done(record, settings):
            records.append(record)
        elif (why := cannot_crop(clip, options)) is not None:
            records.append(clip_record(clip, "skipped", why, settings))
        else:
            records.append(clip_record(clip, "failed", reason, settings, retry=True))
    state = _video_status(records)
    layout.write_status(video, state, reason, records, download=previous.get("download"),
                        source_media=previous.get("source_media"))
    return VideoResult(video.key, state, reason, records)
