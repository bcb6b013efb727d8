"""The per-video job: raw video -> clips (mp4 + wav) -> ``status/{key}.json``.

``process_video`` is the one unit of work every executor runs (``hdtf.executors``; the ``datasets`` builders run it
through them too). It is a plain top-level function of picklable arguments, safe to run again at any time:

- one run at a time per video: the job holds the video's lock (``Layout.lock``) while it reads, downloads, cuts and
  records; a second run on the same folder waits for it (saying so in one line) or, past ``--lock-wait``, leaves the
  video to the first (result "locked", nothing touched);
- the status file is the source of truth: a clip counts as done only when its status says so, its files exist and
  nothing it was made from has changed (``Layout.clip_is_settled``: annotation, source identity, cut options); it is
  rewritten atomically after every clip, so a run killed at any moment loses at most one clip;
- what is still valid is kept: the stages after the cut (``hdtf.stages``: A/V sync, landmarks, ...) are keyed by
  their version and options, so a stage added or changed runs on finished clips without a download or a re-cut;
  a raw video kept by ``--keep-raw`` stays kept and is used again;
- nothing made is lost: a finished clip that is made again (other settings, an edited annotation, another raw file)
  is first kept aside (``Layout.keep_aside``: its files under ``kept/``, named by the new record's ``kept``) and
  removed only once its replacement is recorded as done; a re-make that fails leaves it there. Sub-clips (made by
  the stages: shots at scene cuts) follow the same rule, and one its clip no longer makes stays kept, its record
  ``superseded``. Stage outputs that cannot be made now (a store that does not answer) leave a done clip done, to be
  completed by a later run;
- clip files are written by ``media.cut_clip`` under temporary names, verified against the request (frames, audio,
  size, window) and renamed when right; a clip whose source ends early fails with where it ends, or is kept short
  and says so with ``--allow-short``;
- a clip failure is recorded and the other clips go on; nothing but a programming error escapes (and an executor
  turns that into the video's failed result with :func:`crashed`).

Where the faces stage plugs in: :func:`choose_window` (the single place a clip's crop window is decided) and
:mod:`hdtf.stages` (everything done to a clip after its cut: the job runs the stages the options select, in their
declared order).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hdtf.clip_record import KEPT, SUPERSEDED, clip_record, file_fingerprint
from hdtf.errors import HDTFError
from hdtf.layout import Layout
from hdtf.lock import LockBusy, LockLost
from hdtf.options import PrepareOptions
from hdtf.records import ClipSpec, CropBox, ResolvedClip, VideoSpec
from hdtf.redact import redact_url
from hdtf.stages import selected
from hdtf.stages.pipeline import StageFailed, bring_up, derived, file_suffixes, run_fresh, up_to_date

log = logging.getLogger(__name__)


@dataclass
class VideoResult:
    """What one ``process_video`` call did (the same facts are in ``status/{key}.json``)."""

    key: str
    status: str  # "done" | "partial" | "failed" | "unavailable" | "skipped" | "locked" (left to another run)
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
    video's end): the next run does not try again, so it needs no new download for it. ``short``: the source ends
    before the clip does (settled until short clips are allowed).
    """

    def __init__(self, reason: str, retry: bool = True, short: bool = False):
        super().__init__(reason)
        self.retry, self.short = retry, short


# ----------------------------------------------------------------------------------------------------- clips


_PENDING = "not made yet (the run was interrupted or is still going)"
_NO_WINDOW = "no crop window in the metadata; use --crop-method landmarks|auto to find the face"


def cannot_crop(clip: ClipSpec, options: PrepareOptions) -> str | None:
    """Why ``clip`` can get no window at all with these options (checked before anything is downloaded): with
    ``fixed``, a clip needs a window in its metadata (``crop``, a normalised ``box``), a face position to track from
    (``face_at``) or a source that makes the window when the clip is resolved (its ``WINDOW_AT_CUT``: VoxCeleb2's
    face boxes, read in the job)."""
    from hdtf.sources import get_source

    if options.crop_method != "fixed" or clip.crop is not None or clip.box is not None or clip.face_at is not None:
        return None
    return None if getattr(get_source(clip.source), "WINDOW_AT_CUT", False) else _NO_WINDOW


def choose_window(
    clip: ClipSpec, resolved: ResolvedClip, source: Path, offset: float, media: Any, options: PrepareOptions
) -> tuple[CropBox | None, list[str]]:
    """The crop window (pixels of ``source``) a clip is cut with, and notes on how it was chosen.

    The one place that decides it: ``fixed`` takes the metadata window, ``auto`` the metadata window when there is
    one. Face-tracked windows (``landmarks``, ``auto`` without a window) are the faces stage's to add here. A source
    that gives a face position instead of a window (``clip.face_at``: AVSpeech) has its window tracked from the face
    nearest that point, whatever the method: that is the source's own window rule.
    ``resolved`` times are on the source video's timeline; ``source`` (a whole video or a downloaded section, probed
    as ``media``) starts at ``offset`` seconds of it.
    """
    if options.crop_method == "fixed" and clip.face_at is None:
        if resolved.crop is None:
            raise ClipSkipped(_NO_WINDOW)
        return resolved.crop, []
    if options.crop_method == "auto" and resolved.crop is not None:
        return resolved.crop, []
    from hdtf.face.detect import NoFaceError

    try:
        return _face_window(clip, resolved.start - offset, resolved.end - offset, source, media, options)
    except NoFaceError as exc:
        raise ClipFailed(str(exc), retry=False) from None
    except HDTFError as exc:
        raise ClipFailed(str(exc)) from None


def _face_window(clip: ClipSpec, start: float, end: float, source: Path, media: Any,
                 options: PrepareOptions) -> tuple[CropBox, list[str]]:
    """The tracked face window in ``source``'s displayed pixels. The tracker's decoder (PyAV) shows frames as
    stored, so a source with a display rotation is tracked on an upright copy of the clip's span (ffmpeg turns it),
    and the window scaled back to the displayed frame."""
    from hdtf import media as media_mod
    from hdtf.face.clips import TRACK_WIDTH, clip_window

    if not media.rotation:
        return clip_window(source, start, end, (media.width, media.height), clip.crop_ratio, options.fps,
                           near=clip.face_at)
    with tempfile.TemporaryDirectory(prefix="hdtf-upright-") as tmp:
        upright = media_mod.upright_copy(source, Path(tmp) / "upright.mp4", start=start, end=end,
                                         width=min(TRACK_WIDTH, media.width))
        box, notes = clip_window(Path(tmp) / "upright.mp4", 0.0, end - start, (upright.width, upright.height),
                                 clip.crop_ratio, options.fps, near=clip.face_at)
    box, _ = box.scaled(media.width / upright.width).fit_into(media.width, media.height)
    return box, [*notes, f"landmark window tracked on an upright copy (display rotation {media.rotation} degrees)"]


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
    offset: float = 0.0  # source time of ``source``'s time 0 (a section's start)
    asked_end: float | None = None  # in ``source``'s time, when the source ends before the annotated end
    track: tuple[tuple[int, float, float, float, float, float], ...] | None = None  # ResolvedClip.track


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

    from hdtf.media import Shortfall

    if not media.has_audio:
        raise ClipSkipped("the source video has no audio track; talking-face clips need speech")
    try:
        resolved = get_source(clip.source).resolve_clip(clip, media, keyframes)
    except ValueError as exc:
        raise ClipFailed(str(exc), retry=False) from None
    if resolved.asked_end is not None and not options.allow_short:
        short = Shortfall(resolved.start, resolved.asked_end, resolved.end, None)
        raise ClipFailed(f"{short.reason()} (--allow-short keeps what there is)", retry=False, short=True)
    crop, notes = choose_window(clip, resolved, source, offset, media, options)
    rotated = (f"source shown rotated by {media.rotation} degrees (display matrix): windows and sizes are in the "
               f"displayed {media.width}x{media.height} frame",) if media.rotation else ()
    asked_end = None if resolved.asked_end is None else resolved.asked_end - offset
    return _ClipPlan(clip, source, media, resolved.start - offset, resolved.end - offset, crop,
                     (*rotated, *resolved.notes, *notes), offset, asked_end, resolved.track)


def _cut(plan: _ClipPlan, options: PrepareOptions) -> Any:
    """The clip's one ffmpeg pass (runs in a worker thread: it only waits on its ffmpeg process)."""
    from hdtf import media as media_mod

    files = options.layout.clip_files(plan.clip.id)
    try:
        return media_mod.cut_clip(
            plan.source, files.video, start=plan.start, end=plan.end, crop=plan.crop, size=options.size,
            fps=options.fps, sample_rate=options.sample_rate, dst_wav=files.audio, deinterlace=plan.media.interlaced,
            info=plan.media, allow_short=options.allow_short,
        )
    except media_mod.ShortCutError as exc:
        raise ClipFailed(f"{exc.shortfall.reason(plan.offset)} (--allow-short keeps what there is)",
                         retry=False, short=True) from None
    except HDTFError as exc:
        raise ClipFailed(str(exc)) from None


def _short_note(plan: _ClipPlan, facts: Any) -> str | None:
    """How a clip kept with ``allow_short`` differs from its annotation (None: it does not)."""
    from hdtf.media import Shortfall

    if facts.shortfall is None and plan.asked_end is None:
        return None
    asked_end = plan.end if plan.asked_end is None else plan.asked_end
    short = facts.shortfall or Shortfall(plan.start, asked_end, plan.end, None)
    short = replace(short, end=asked_end)
    return (f"short: {facts.num_frames / facts.fps:.2f} s kept of the {asked_end - plan.start:.2f} s annotated; "
            f"{short.reason(plan.offset)}")


def _finish_clip(plan: _ClipPlan, cut: Future, options: PrepareOptions, source: dict[str, Any]) -> dict[str, Any]:
    """The clip's done record with the run's stages done on it, once its cut has finished (its error re-raised
    here)."""
    facts = cut.result()
    layout, media = options.layout, plan.media
    files = layout.clip_files(plan.clip.id)
    layout.wrote(files.video, files.audio)  # what this job cut, and only that, goes up with the status
    short = _short_note(plan, facts)
    crop = facts.applied_crop
    track = _write_track(plan, facts, files.track) if plan.track and crop is not None else None
    if track is not None:
        layout.wrote(track)
    record = clip_record(
        plan.clip, "done", None, options.clip_settings(), path=layout.relative(files.video),
        audio_path=layout.relative(files.audio) if files.audio.is_file() else None, fps=facts.fps,
        num_frames=facts.num_frames,
        width=facts.width, height=facts.height, duration=facts.duration, sample_rate=facts.sample_rate,
        source_width=media.width, source_height=media.height, rotation=media.rotation, short=short is not None,
        source_file=source, applied_crop=None if crop is None else list(crop.as_tuple()),
        adjustments=[*plan.notes, *([short] if short else [])],
        **({"face_track_path": layout.relative(track)} if track else {}),
    )
    try:  # the stages may restate facts: an A/V-corrected clip is shorter
        return run_fresh(record, options, list(selected(options)))
    except StageFailed as exc:
        raise ClipFailed(str(exc)) from None


def _write_track(plan: _ClipPlan, facts: Any, path: Path) -> Path:
    """The source's face boxes in the clip's pixels (``frames``: the source's frame numbers; ``times``: seconds from
    the clip's start; ``boxes``: x, y, w, h through the applied window and the resize), beside the clip's mp4."""
    import numpy as np

    from hdtf import atomic

    x0, y0, w0, h0 = facts.applied_crop.as_tuple()
    sx, sy = facts.width / w0, facts.height / h0
    rows = np.asarray([row[1:] for row in plan.track], dtype=np.float64).reshape(-1, 5)
    boxes = np.stack([(rows[:, 1] - x0) * sx, (rows[:, 2] - y0) * sy, rows[:, 3] * sx, rows[:, 4] * sy], axis=1)
    with atomic.replacing(path) as temp, open(temp, "wb") as f:
        np.savez(f, frames=np.asarray([row[0] for row in plan.track], dtype=np.int32),
                 times=rows[:, 0].astype(np.float32), boxes=boxes.astype(np.float32))
    return path


def _outcome(clip: ClipSpec, settings: dict[str, Any], source: dict[str, Any] | None, step: Callable[..., Any],
             *args: Any) -> Any:
    """``step(*args)``, or the clip's skipped/failed record when it raises: one clip never stops the others.
    ``source`` (the raw file's fingerprint) is recorded with a final outcome, which holds only while it is the same."""
    try:
        return step(*args)
    except ClipSkipped as exc:  # the source and options decide it: settled until either changes
        return clip_record(clip, "skipped", str(exc), settings, retry=False, source_file=source)
    except ClipFailed as exc:
        return clip_record(clip, "failed", str(exc), settings, retry=exc.retry, short=exc.short, source_file=source)
    except Exception as exc:  # an unexpected error in one clip (disk full, a bug) must not stop the others
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return clip_record(clip, "failed", reason, settings, retry=True)


# ----------------------------------------------------------------------------------------------- raw videos


@dataclass
class _Raw:
    """Where a video's pixels come from: a whole file, or one file per time section (offset = section start)."""

    whole: Path | None = None
    sections: tuple[Any, ...] = ()
    users: bool = False  # the user's --raw-dir file: never deleted
    kept: bool = False  # in the layout and kept (--keep-raw, now or by an earlier run): not deleted after its clips
    downloaded: bool = False
    format: str | None = None
    notes: tuple[str, ...] = ()  # how the download differs from what was asked (sections fetched whole)


def _merged_sections(clips: Sequence[ClipSpec]) -> list[tuple[float, float]]:
    spans: list[list[float]] = []
    for clip in sorted(clips, key=lambda c: c.start):
        if spans and clip.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], clip.end)
        else:
            spans.append([clip.start, clip.end])
    return [(s, e) for s, e in spans]


def _local_raw(video: VideoSpec, options: PrepareOptions) -> tuple[Path | None, bool]:
    """The whole raw video already at hand: (path, the user's own file); (None, False) when it must be fetched."""
    from hdtf.download import find_raw, raw_name

    if options.raw_dir is not None:
        found = find_raw(options.raw_dir, video)
        if found is not None:
            return found, True
    ours = options.layout.raw_dir / raw_name(video)
    return (ours, False) if ours.is_file() else (None, False)


def _obtain_raw(video: VideoSpec, todo: Sequence[ClipSpec], options: PrepareOptions, local: Path | None,
                users: bool, kept: bool) -> tuple[_Raw | None, str, str]:
    """The raw video for ``todo`` clips: (raw, status, reason); raw is None when it cannot be had. ``local``, ``users``:
    the whole raw video already at hand (:func:`_local_raw`); ``kept``: a raw video in the layout was kept by an
    earlier run (--keep-raw) and stays."""
    from hdtf.download import FetchOptions, download_video

    if local is not None:
        return _Raw(whole=local, users=users, kept=not users and (kept or options.keep_raw),
                    format="raw-dir" if users else "already downloaded"), "done", ""
    result = download_video(video, options.layout.raw_dir, FetchOptions.of(options),
                            sections=_merged_sections(todo) if options.sections else None)
    if result.status != "done":
        return None, result.status, result.reason or "download failed"
    fresh = result.format != "already downloaded"
    return _Raw(whole=result.path, sections=result.sections, kept=options.keep_raw,
                downloaded=fresh, format=result.format, notes=result.notes), "done", ""


def _release_raw(raw: _Raw) -> None:
    """Delete a downloaded raw video once its clips are made, unless it is the user's or kept."""
    if raw.users or raw.kept:
        return
    for path in [raw.whole, *(s.path for s in raw.sections)]:
        if path is not None:
            Path(path).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- earlier clips


@dataclass
class _Earlier:
    """The earlier clips of one video that are being made again, kept under ``kept/`` (``Layout.keep_aside``) until
    a status records their replacement as done. Every status the job writes goes through :meth:`commit`, so that each
    kept clip is named by its new record at every moment."""

    layout: Layout
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)  # clip id -> the earlier record, files in kept/
    fresh: set[str] = field(default_factory=set)  # copied aside by this job: their clips/ files are not named yet

    def hold(self, clip_id: str, record: Any) -> None:
        """Keep the earlier clip behind ``record`` (the record being replaced): the one it already carries (a re-make
        that failed before), else its own files when it is a finished clip."""
        if not isinstance(record, dict):
            return
        if isinstance(record.get(KEPT), dict):
            if clip_id in self.kept:  # put back by restore() but made again after all: its clips/ copies go
                self.fresh.add(clip_id)
            self.kept[clip_id] = record[KEPT]
        elif self.layout.finished(record):
            self.kept[clip_id] = self.layout.keep_aside(record)
            self.fresh.add(clip_id)

    def restore(self, clip_id: str, record: dict[str, Any], settled: Callable[[dict[str, Any]], bool]
                ) -> dict[str, Any] | None:
        """The earlier clip that ``record`` keeps, back in its place, when it is ``settled`` for the clip as asked now
        (the run went back to the settings it was made with): no download, no cut. None when there is none."""
        kept = record.get(KEPT)
        if not isinstance(kept, dict) or not settled(kept):
            return None
        self.kept[clip_id] = kept  # dropped once a status names the clip as done again
        return self.layout.restore_kept(kept)

    def name(self, records: dict[str, dict[str, Any]]) -> None:
        """Name each kept clip in its new record while that is not done."""
        for clip_id, kept in self.kept.items():
            if records[clip_id]["status"] != "done":
                records[clip_id][KEPT] = kept

    def commit(self, video: VideoSpec, state: str, reason: str | None, records: dict[str, dict[str, Any]],
               failed_cuts: Iterable[str] = (), **extra: Any) -> None:
        """Write the video's status naming the kept clips, then: drop the copies of clips whose replacement it
        records as done, and remove the clips/ files that no record names any more (an earlier cut just copied aside,
        a re-made clip in ``failed_cuts`` that did not succeed)."""
        self.name(records)
        self.layout.write_status(video, state, reason, records.values(), **extra)
        failed_cuts = set(failed_cuts)
        for clip_id in list(self.kept):
            if records[clip_id]["status"] == "done":
                self.layout.drop_kept(self.kept.pop(clip_id))
            elif clip_id in self.fresh or clip_id in failed_cuts:
                self.layout.discard_clip(clip_id, file_suffixes())
            self.fresh.discard(clip_id)


@dataclass
class _SubClipKeeper:
    """The job's :class:`hdtf.stages.pipeline.Keeper`: a finished sub-clip made again or no longer made is kept like
    the job's own clips (:class:`_Earlier`), its copy named in a status written at once, before anything replaces its
    files (``write``: a "running" status of the records so far, the earlier records of the rest)."""

    earlier: _Earlier
    records: dict[str, dict[str, Any]]
    write: Callable[[], None]

    def set_aside(self, clip_id: str, record: Any, standing: dict[str, Any]) -> bool:
        self.earlier.hold(clip_id, record)
        if clip_id not in self.earlier.kept:
            return False
        if clip_id in self.earlier.fresh:  # copied just now: named in a status before its files can go
            self.records[clip_id] = standing
            self.write()
        return True

    def put_back(self, clip_id: str, record: dict[str, Any],
                 usable: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return self.earlier.restore(clip_id, record, usable)


# ------------------------------------------------------------------------------------------------- the job


def _video_status(records: Sequence[dict[str, Any]]) -> str:
    """The video's state from its clips' (a superseded sub-clip, kept from an earlier split, counts for none)."""
    records = [r for r in records if r["status"] != SUPERSEDED]
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


def settled_check(options: PrepareOptions) -> Callable[[VideoSpec, dict[str, Any] | None], VideoResult | None]:
    """The run's check of a video's ``status`` (read by the run, without the video's lock): ``check(video, status)``
    is the video's result when the status already settles it (the same clips in the same order, each settled for
    these options with its stages up to date and its files whole, and the video's state what they say: the job
    would change nothing, so it need not run), None otherwise (the job decides, under the lock). A raw video at hand
    is fingerprinted as the job would. What the options decide (the cut settings, the stages asked for) is worked
    out once for the run, not once per video."""
    layout, cut_settings, stages = options.layout, options.cut_settings(), list(selected(options))

    def check(video: VideoSpec, status: dict[str, Any] | None) -> VideoResult | None:
        if not status or status.get("status") == "running" or len(status.get("clips") or []) != len(video.clips):
            return None
        records = status["clips"]
        if [r.get("id") for r in records] != [c.id for c in video.clips] or any(KEPT in r for r in records):
            return None
        local, _ = _local_raw(video, options)
        source = None if local is None else file_fingerprint(local)
        for clip, record in zip(video.clips, records):
            if not (layout.clip_is_settled(record, clip, source, cut_settings, options.allow_short)
                    and up_to_date(record, options, stages)):
                return None
        if status.get("status") != _video_status(records):
            return None
        return VideoResult(video.key, status["status"], status.get("reason"), list(records))

    return check


def process_video(video: VideoSpec, options: PrepareOptions) -> VideoResult:
    """Make every clip of ``video`` that is not done yet; record the outcome in ``status/{key}.json``.

    Holds the video's lock throughout (waiting for another run that holds it, up to ``options.lock_wait``). Never
    raises for a bad video or clip (the status says what happened), so any executor can map it over a list.
    """
    began = time.monotonic()
    lock = options.layout.lock(video.key)
    try:
        lock.acquire(options.lock_wait, on_wait=log.warning)
    except LockBusy as exc:
        log.warning("%s", exc)
        return VideoResult(video.key, "locked", str(exc), elapsed=time.monotonic() - began)
    try:
        result = _process_video(video, options, lock.check)
    except LockLost as exc:  # another run took the video over while this one was stopped: it writes nothing more
        log.warning("%s", exc)
        result = VideoResult(video.key, "locked", str(exc))
    finally:
        lock.release()
    result.elapsed = time.monotonic() - began
    return result


def _process_video(video: VideoSpec, options: PrepareOptions, still_held: Callable[[], None]) -> VideoResult:
    """:func:`process_video` under the video's lock; ``still_held()`` (LockLost when another run took the lock over)
    comes before every status write and every cut."""
    from hdtf import media as media_mod
    from hdtf.download import video_url

    layout = options.layout
    settings, cut_settings = options.clip_settings(), options.cut_settings()
    previous = layout.read_status(video.key) or {}
    tried = previous.get("download") or {}
    old = {r.get("id"): r for r in previous.get("clips", []) if isinstance(r, dict)}
    try:
        url, url_error = video_url(video, options.url_template), None
    except HDTFError as exc:
        url, url_error = None, str(exc)
    local, users = _local_raw(video, options)
    source = None if local is None else file_fingerprint(local)
    records: dict[str, dict] = {}
    todo: list[ClipSpec] = []
    earlier = _Earlier(layout)
    stages = list(selected(options))
    progress = {"download": previous.get("download"), "source_media": previous.get("source_media")}

    def settled(record: dict[str, Any], clip: ClipSpec) -> bool:
        return layout.clip_is_settled(record, clip, source, cut_settings, options.allow_short)

    def write_running() -> None:
        """A "running" status of the records so far and the earlier records of the clips still to come."""
        still_held()
        rest = {i: r for i, r in old.items() if isinstance(i, str) and i not in records}
        earlier.commit(video, "running", None, {**records, **rest}, **progress)

    keeper = _SubClipKeeper(earlier, records, write_running)

    def put(record: dict[str, Any], fresh: bool) -> None:
        """A clip's record, followed by those of the clips the stages made of it (sub-clips at scene cuts)."""
        records[record["id"]] = record
        records.update((r["id"], r) for r in derived(record, old, options, stages, fresh, keeper))

    for clip in video.clips:
        record = old.get(clip.id)
        if record is not None and not settled(record, clip):
            record = earlier.restore(clip.id, record, lambda kept, clip=clip: settled(kept, clip))
        if record is not None:  # a done clip gets the run's stages as asked (None: it must be made again)
            record = bring_up(dict(record), options, stages)
        if record is not None:
            put(record, fresh=False)
            continue
        earlier.hold(clip.id, old.get(clip.id))  # kept until a replacement is recorded as done
        if (why := cannot_crop(clip, options)) is not None:
            put(clip_record(clip, "skipped", why, settings), fresh=False)
        else:
            put(clip_record(clip, "pending", _PENDING, settings), fresh=False)
            todo.append(clip)
    earlier.name(records)
    kept = bool(tried.get("kept")) and local is not None and not users
    cut: set[str] = set()  # clips whose ffmpeg pass started: files of a failed one are removed at the end

    def finish(reason: str | None = None, downloaded: bool = False, **extra: Any) -> VideoResult:
        still_held()
        state = _video_status(list(records.values()))
        earlier.commit(video, state, reason, records, failed_cuts=cut, **extra)
        return VideoResult(video.key, state, reason, list(records.values()), downloaded)

    if not todo:
        if previous.get("clips") == list(records.values()) and previous.get("status") == _video_status(old.values()):
            return VideoResult(video.key, previous["status"], previous.get("reason"), list(records.values()))
        return finish(previous.get("reason"), download=previous.get("download"),
                      source_media=previous.get("source_media"))

    if url_error is not None and local is None:
        return _give_up(todo, records, "failed", url_error, settings, finish, None)
    # the status records the URL without credentials (hdtf.redact)
    if (previous.get("status") == "unavailable" and not options.retry_unavailable and url is not None
            and tried.get("url") == redact_url(url) and local is None):
        reason = f"{tried.get('reason')} (recorded earlier; --retry-unavailable to try again)"
        return _give_up(todo, records, "unavailable", reason, settings, finish, tried)

    try:
        raw, state, reason = _obtain_raw(video, todo, options, local, users, kept)
    except HDTFError as exc:  # options no download can succeed with (cookies file gone, bad rate)
        raw, state, reason = None, "failed", str(exc)
    download = {"status": state, "reason": reason or None, "url": url, "format": raw.format if raw else None,
                "kept": bool(raw and raw.kept and raw.whole),
                "notes": list(raw.notes) if raw else []}
    if raw is None:
        return _give_up(todo, records, state, reason, settings, finish, download)
    if raw.whole is not None:
        source = file_fingerprint(raw.whole) if raw.whole != local else source
    download["raw"] = source

    still_held()
    progress.update(download=download, source_media=None)
    earlier.commit(video, "running", None, records, **progress)
    source_media: dict[str, Any] | None = None
    try:
        units = _units(raw, todo)
    except HDTFError as exc:  # an unreadable download is deleted so that the next run fetches it again
        _release_raw(replace(raw, kept=False))
        return _give_up(todo, records, "failed", str(exc), settings, finish, download, downloaded=raw.downloaded)

    def record(clip: ClipSpec, result: dict[str, Any]) -> None:
        if result["status"] == "done" and raw.notes:
            result["adjustments"] = [*raw.notes, *result["adjustments"]]
        progress.update(source_media=source_media)
        put(result, fresh=result["status"] == "done")
        still_held()
        earlier.commit(video, "running", None, records, **progress)

    # Windows and landmark files are made here, one clip at a time (face tracking is not thread-safe); only the
    # ffmpeg passes overlap, up to options.clip_workers of them.
    with ThreadPoolExecutor(max_workers=options.clip_workers) as pool:
        cutting: dict[Future, _ClipPlan] = {}

        def settle(futures: Iterable[Future]) -> None:
            for future in futures:
                plan = cutting.pop(future)
                record(plan.clip, _outcome(plan.clip, settings, source, _finish_clip, plan, future, options, source))

        for unit_source, offset, info, clips in units:
            source_media = source_media or asdict(info)
            keyframes = _lazy_keyframes(unit_source, offset, media_mod)
            for clip in clips:
                plan = _outcome(clip, settings, source, _plan_clip, clip, unit_source, info, offset, options,
                                keyframes)
                if not isinstance(plan, _ClipPlan):
                    record(clip, plan)
                    continue
                if len(cutting) >= options.clip_workers:
                    settle(wait(cutting, return_when=FIRST_COMPLETED).done)
                cut.add(clip.id)
                still_held()
                cutting[pool.submit(_cut, plan, options)] = plan
        settle(list(cutting))
    if not any(records[c.id]["status"] == "failed" and records[c.id].get("retry") for c in todo):
        _release_raw(raw)
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


def interrupted(video: VideoSpec, options: PrepareOptions, reason: str, wait: float = 0.0) -> VideoResult:
    """The result of a job stopped from outside (a wall-clock limit, a dead worker), written to its status: clips it
    settled stay, the others failed with ``reason`` (the next run tries them again). Written under the video's lock,
    taken over from the stopped job once its process is gone, which may take up to ``wait`` seconds (a dead Ray
    worker's job process follows it a moment later); when another run holds it, that run's status is left alone."""
    lock = options.layout.lock(video.key)
    try:
        lock.acquire(wait)
    except LockBusy as exc:  # not the stopped job but another run, which now has the video
        return VideoResult(video.key, "locked", f"{reason}; {exc}")
    try:
        return _interrupted(video, options, reason)
    finally:
        lock.release()


def _interrupted(video: VideoSpec, options: PrepareOptions, reason: str) -> VideoResult:
    """:func:`interrupted` under the video's lock."""
    layout = options.layout
    settings, cut_settings = options.clip_settings(), options.cut_settings()
    previous = layout.read_status(video.key) or {}
    old = {r.get("id"): r for r in previous.get("clips", []) if isinstance(r, dict)}
    records: dict[str, dict] = {}
    earlier = _Earlier(layout)
    for clip in video.clips:
        record = old.get(clip.id)
        if record is not None and layout.clip_is_settled(record, clip, None, cut_settings, options.allow_short):
            records[clip.id] = record
        else:
            earlier.hold(clip.id, record)  # a finished clip the stopped job was making again stays, kept aside
            why = cannot_crop(clip, options)
            records[clip.id] = (clip_record(clip, "skipped", why, settings) if why is not None
                                else clip_record(clip, "failed", reason, settings, retry=True))
        # its sub-clips, whole clips of their own (or kept from an earlier split), as the stopped job recorded them
        records.update((r["id"], r) for r in old.values() if r.get("parent") == clip.id)
    state = _video_status(list(records.values()))
    # the stopped job's unrecorded files never go up
    layout.drop_unrecorded((clip.id for clip in video.clips), file_suffixes())
    earlier.commit(video, state, reason, records, download=previous.get("download"),
                   source_media=previous.get("source_media"))
    return VideoResult(video.key, state, reason, list(records.values()))
