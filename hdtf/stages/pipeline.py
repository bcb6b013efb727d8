"""Running a run's stages on one clip: after its cut (:func:`run_fresh`), or on a clip an earlier run finished
(:func:`bring_up`), keyed by content like the cut.

Each stage that ran is recorded in the clip's ``stages`` (version, options hash, fields). On a finished clip the
first stage whose entry differs from the run's (new, other version or options, or a file of it gone) runs again, and
every stage after it (they read what it wrote); stages the run no longer asks for are dropped from the record (their
files stay on disk until a re-cut of the clip replaces them), except an ``additive`` stage's whole files (landmark
tracks: ``--landmarks`` only adds files to finished clips).

Consecutive per-frame stages share one decode of the clip (:func:`_passes`), each frame handed to each stage in
their order. Landmarks ride on the frames (``Frame.landmarks``): the landmarks stage sets each frame's points as the
tracker finds them for the stages after it in its decode (the aligned view reads those); in a decode without it, the
pipeline sets them from the clip's landmarks file, fetched through the layout.

A stage that reads the *final* track (``reads`` names ``landmarks_path``: the measures, the face embedding) shares
the landmarks stage's decode too, though the track is final (one identity, smoothed) only once the tracker has seen
the whole clip: such stages get each frame a few frames late (:class:`_Ahead`), with the points the final track
will hold there given the face kept so far (``hdtf.face.track.ProvisionalTrack``: a frame's smoothed points read
two frames each way, so three frames are held; ``MAX_HELD`` bounds it). When those were not the final track's
points after all (another face came to lead, the track made at the end differs, or a stage of the decode rewrote
the clip's files: an A/V correction), their results are discarded and they get one more decode, after the
landmarks stage's, with the points of the file it wrote, as on a finished clip. So a clip decodes once in the
common case, and the stages reading the final track always get exactly the file's points.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from hdtf.clip_record import FILTERED, STAGES, SUPERSEDED, rewritten
from hdtf.errors import HDTFError
from hdtf.stages import stage_classes
from hdtf.stages.base import (FRAME_LANDMARKS, LANDMARKS_FILE, ClipInput, FinalPoints, Frame, FramePass, FrameStage,
                               Later, Outcome, Remake, Stage, decode, points_at)

log = logging.getLogger(__name__)
# What a sub-clip's record that names no file takes from its clip's: the video's fields and the clip settings.
_STANDING = ("source", "subset", "video_name", "clip_index", "youtube_id", "url", "resolution", "settings")

# Frames a decode holds for the readers of the final track (module docstring): a frame waits for the two after it
# (the smoothing's reach), so far fewer are ever held; a ~150 MB bound on 512 px frames all the same.
MAX_HELD = 100


class StageFailed(HDTFError):
    """A stage could not be done on a clip just cut: the message (prefixed with the stage's label) is the clip's
    failure reason."""


def file_suffixes() -> list[str]:
    """The suffixes of every file a registered stage may make for a clip (what a discarded clip loses)."""
    return [suffix for cls in stage_classes() for suffix in cls.files.values()]


def run_fresh(record: dict[str, Any], options: Any, stages: Sequence[Stage]) -> dict[str, Any]:
    """``record`` (a clip just cut, done) with ``stages`` run on it; StageFailed when one cannot be done. Files of
    stages not run that an earlier cut left are removed: they do not describe this clip."""
    record = _run(record, options, stages, fresh=True)
    for cls in stage_classes():
        for key, suffix in cls.files.items():
            if not record.get(key):
                options.layout.clip_file(record["id"], suffix).unlink(missing_ok=True)
    return record


def bring_up(record: dict[str, Any], options: Any, stages: Sequence[Stage]) -> dict[str, Any] | None:
    """A settled done clip's record with the run's ``stages`` as asked (see the module docstring); None when the clip
    must be made again (``Remake``). A stage that cannot be done now leaves the clip done, as it was, for a later
    run: a transient error never costs a finished clip."""
    if record.get("status") != "done":
        return record
    before = record
    record = _without_unasked(dict(record), options, {s.name for s in stages})
    first = next((i for i, stage in enumerate(stages) if not _settled(stage, record)), len(stages))
    if first == len(stages) and record == before:
        return before  # nothing to do: the status is not rewritten
    if first < len(stages):
        try:
            record = _run(record, options, stages[first:], fresh=False)
        except Remake:
            return None
        except Exception as exc:  # whatever failed (a store read, the tracker, a bug), the finished clip stays
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0] if not isinstance(exc, HDTFError) else str(exc)
            log.warning("%s: %s; the clip stays done, a later run adds what is missing", record.get("id"), reason)
            return _as_it_was(record, options, stages[first:])
    record["settings"] = options.clip_settings()
    return record


def up_to_date(record: dict[str, Any], options: Any, stages: Sequence[Stage]) -> bool:
    """Whether :func:`bring_up` would leave ``record`` as it is (no stage to run, nothing to drop): read-only, so a
    run can tell a settled video without taking its lock."""
    if record.get("status") != "done":
        return True
    checked = _without_unasked(dict(record), options, {s.name for s in stages})
    return checked == record and all(_settled(stage, checked) for stage in stages) and checked == record


def _without_unasked(record: dict[str, Any], options: Any, wanted: set[str]) -> dict[str, Any]:
    """``record`` without the outputs of stages the run does not ask for, and naming no file of theirs that is gone."""
    entries = dict(record.get(STAGES) or {})
    for cls in stage_classes():
        if cls.name in wanted:
            continue
        gone = options.layout.missing_files(record, cls.files)
        if cls.name in entries and (gone or not cls.additive):
            record = cls(options).drop(record)
            del entries[cls.name]
        for key in gone:
            record[key] = None
    filtered = [r for r in record.get(FILTERED) or [] if r.get("stage") in wanted]
    for key, value in ((STAGES, entries), (FILTERED, filtered)):
        if value or record.get(key) is not None:
            record[key] = value or None
    return record


def _settled(stage: Stage, record: dict[str, Any]) -> bool:
    """Whether ``record`` holds ``stage``'s outputs for the run's options, its files whole. A record made before
    stages were keyed has its outputs adopted when the stage recognises them."""
    entries = record.get(STAGES) or {}
    if stage.options.layout.missing_files(record, stage.files):
        return False
    entry = entries.get(stage.name)
    key = stage.key()
    if entry is None:
        if not stage.adopt(record):
            return False
        record[STAGES] = {**entries, stage.name: key}
        return True
    return entry.get("version") == key["version"] and entry.get("options") == key["options"]


def _as_it_was(record: dict[str, Any], options: Any, stages: Sequence[Stage]) -> dict[str, Any]:
    """``record`` for a clip whose ``stages`` could not be brought up now: their files that are gone named no more
    and their entries dropped, so that a later run does them."""
    entries = dict(record.get(STAGES) or {})
    for stage in stages:
        missing = options.layout.missing_files(record, stage.files)
        record = {**record, **dict.fromkeys(missing)}
        if missing or entries.get(stage.name) != stage.key():
            entries.pop(stage.name, None)
    return {**record, STAGES: entries or None}


def _run(record: dict[str, Any], options: Any, stages: Sequence[Stage], fresh: bool) -> dict[str, Any]:
    """Run ``stages`` in order on the clip of ``record``; consecutive per-frame stages over shared decodes."""
    i = 0
    while i < len(stages):
        end = i + 1
        if isinstance(stages[i], FrameStage):
            while end < len(stages) and isinstance(stages[end], FrameStage):
                end += 1
            groups = _passes(stages[i:end])
        else:
            groups = [[stages[i]]]
        for group in groups:
            record = _group(record, options, group, fresh)
        i = end
    return record


def _passes(stages: Sequence[Stage]) -> list[list[Stage]]:
    """The decodes of consecutive per-frame ``stages``: one for all, except that a stage reading a field another of
    them writes waits for the decode after that stage's (a file is there only once its writer's pass has ended). The
    final landmark track is the exception: its readers share the tracking's decode (module docstring)."""
    passes: list[list[Stage]] = []
    written: dict[str, int] = {}  # field -> the pass whose stage writes it
    for stage in stages:
        k = max((written[key] + (key != LANDMARKS_FILE) for key in stage.reads if key in written), default=0)
        passes.extend([] for _ in range(k + 1 - len(passes)))
        passes[k].append(stage)
        written.update(dict.fromkeys(stage.fields, k))
    return passes


def _group(record: dict[str, Any], options: Any, group: Sequence[Stage], fresh: bool) -> dict[str, Any]:
    """``record`` with ``group`` (one stage, or per-frame stages over one decode) run on its clip; readers of the
    final track that could not share the tracking's decode get one of their own after it."""
    clip = _input(record, options, fresh)
    later: list[FrameStage] = []
    try:
        if isinstance(group[0], FrameStage):
            outcomes, later = _frames(group, clip)
        else:
            outcomes = [(group[0], group[0].run(clip))]
    except (Later, Remake, StageFailed):
        raise
    except HDTFError as exc:  # the clip's decode (shared by the group), or the one stage's run
        label = group[0].label or group[0].name
        raise StageFailed(f"{label}: {exc}") from None
    for stage, outcome in outcomes:
        record = _apply(record, stage, outcome)
    return _group(record, options, later, fresh) if later else record


def _input(record: dict[str, Any], options: Any, fresh: bool) -> ClipInput:
    layout = options.layout
    files = layout.clip_files(record["id"])
    if fresh:
        return ClipInput(record, files.video, files.audio, options, fresh)
    audio = layout.at_hand(files.audio) if record.get("audio_path") else files.audio
    return ClipInput(record, layout.at_hand(files.video), audio, options, fresh)


def _frames(stages: Sequence[FrameStage], clip: ClipInput) -> tuple[list[tuple[Stage, Outcome]], list[FrameStage]]:
    """Every per-frame stage of ``stages`` over one decode of the clip, each frame with its landmarks when a stage
    reads them (the tracker's when one of ``stages`` tracks them, else the landmarks file's; the final track's for
    its readers, :class:`_Ahead`). Returns the outcomes in the stages' order, and the readers of the final track
    left for a decode of their own (their points were not the track's)."""
    tracker = next((s for s in stages if LANDMARKS_FILE in s.fields), None)
    ahead = [s for s in stages if tracker is not None and LANDMARKS_FILE in s.reads]
    now = [s for s in stages if s not in ahead]
    readers = [s for s in now if {FRAME_LANDMARKS, LANDMARKS_FILE} & set(s.reads)]
    track = _as_stage(readers[0], clip.track) if readers and tracker is None else None
    by_stage = {stage: _as_stage(stage, stage.begin, clip) for stage in stages}
    held = _Ahead([(s, by_stage[s]) for s in ahead], by_stage[tracker].final_points) if ahead else None
    for frame in decode(clip.video):
        if track is not None:
            frame.landmarks = points_at(*track, frame.index)
        for stage in now:
            _as_stage(stage, by_stage[stage].frame, frame)
        if held is not None:
            held.frame(frame)
    outcomes = {stage: _as_stage(stage, by_stage[stage].end) for stage in now}
    if held is not None:
        rewrote = [stage.name for stage, outcome in outcomes.items() if outcome.rewrote]
        ended = held.end(f"{', '.join(rewrote)} rewrote the clip's files" if rewrote else None)
        if ended is None:
            log.debug("%s: %s get a decode of their own: %s", clip.id, ", ".join(s.name for s in ahead), held.why)
            return [(s, outcomes[s]) for s in stages if s in outcomes], ahead
        outcomes.update(zip(ahead, ended))
    return [(stage, outcomes[stage]) for stage in stages], []


def _as_stage(stage: Stage, call: Any, *args: Any) -> Any:
    """``call(*args)``, one stage's part of a shared decode; its HDTFError as StageFailed labelled with that stage
    (not the decode's first), so that the clip's reason names the stage that failed."""
    try:
        return call(*args)
    except (Later, Remake):
        raise
    except HDTFError as exc:
        raise StageFailed(f"{stage.label or stage.name}: {exc}") from None


class _Ahead:
    """The passes of the stages reading the final landmark track, in the decode that makes it: each frame held until
    the tracking has settled its final points (``final_points``, a few frames later), then handed to them with those
    points. Given up (``why``) when they could not be the track's: the stages then get a decode of their own."""

    def __init__(self, passes: list[tuple[Stage, FramePass]], points: FinalPoints) -> None:
        self.passes, self.points = passes, points
        self.held: dict[int, Frame] = {}
        self.why: str | None = None

    def frame(self, frame: Frame) -> None:
        """Hold ``frame`` (the tracker has seen it) and hand on those now settled."""
        if self.why is not None:
            return
        self.held[frame.index] = frame
        self._hand(self.points.ready())
        if len(self.held) > MAX_HELD:
            self._give_up(f"more than {MAX_HELD} frames would be held")

    def end(self, rewritten: str | None) -> list[Outcome] | None:
        """After the tracking's pass ended (the track made and checked): the passes' outcomes, the last frames
        handed on first; None when given up (``rewritten``: why the clip's frames are no longer those decoded)."""
        if self.why is None and rewritten is not None:
            self._give_up(rewritten)
        if self.why is None:
            self._hand(self.points.rest())
        return None if self.why is not None else [_as_stage(stage, one.end) for stage, one in self.passes]

    def _hand(self, settled: list[tuple[int, Any]]) -> None:
        if self.points.broken is not None:
            self._give_up(self.points.broken)
            return
        for index, points in settled:
            frame = self.held.pop(index)
            frame.landmarks = points  # the stages before have used the tracker's points already
            for stage, one in self.passes:
                _as_stage(stage, one.frame, frame)

    def _give_up(self, why: str) -> None:
        self.why, self.held = why, {}

def _apply(record: dict[str, Any], stage: Stage, outcome: Outcome) -> dict[str, Any]:
    """``record`` with ``stage``'s outcome: its fields, its notes in place of its earlier ones, its rejection (or
    none), its entry in ``stages``; stamps of files it (re)wrote are taken again at the next commit."""
    record = rewritten(record, *outcome.rewrote, *stage.files)
    notes = [n for n in record.get("adjustments") or [] if not stage.owns(n)]
    filtered = [r for r in record.get(FILTERED) or [] if r.get("stage") != stage.name]
    if outcome.rejected is not None:
        filtered.append({"stage": stage.name, "reason": outcome.rejected, "value": outcome.value})
    return {**record, **outcome.fields, "adjustments": [*notes, *outcome.notes], FILTERED: filtered or None,
            STAGES: {**(record.get(STAGES) or {}), stage.name: stage.key()}}


class Keeper(Protocol):
    """What the job lends :func:`derived` so that a finished sub-clip is never lost (hdtf.job: the clips it keeps
    under ``kept/``): its files are replaced only by a verified new sub-clip, and one no longer made stays kept."""

    def set_aside(self, clip_id: str, record: Mapping[str, Any] | None, standing: dict[str, Any]) -> bool:
        """Keep the finished clip of ``record`` (or the earlier clip it keeps) under ``kept/`` and name it in a status
        written now, in ``standing``: the record that stands for ``clip_id`` until a replacement is done. Whether one
        is kept (False: ``record`` holds no finished clip)."""

    def put_back(self, clip_id: str, record: Mapping[str, Any],
                 usable: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """The earlier clip ``record`` keeps, its files back in their places, when it is ``usable``; else None."""


def derived(record: dict[str, Any], earlier: Mapping[str, Any], options: Any, stages: Sequence[Stage],
            fresh: bool, keeper: Keeper) -> list[dict[str, Any]]:
    """The records of the clips ``stages`` make of the clip of ``record`` (sub-clips at scene cuts), each with the
    stages after its maker run on it: an earlier run's record (``earlier``: records by id) when it was made of the
    clip's current files (brought up like any finished clip, or put back from ``kept/``), else made now, the earlier
    finished one kept aside first (``keeper``). A clip that is not done keeps the sub-clips it had (they are whole
    clips of their own); a finished one the clip no longer makes (it was cut again or split otherwise) stays kept,
    named by a record that says so. ``fresh``: the clip was just cut by this job."""
    parent = record["id"]
    before = {k: dict(r) for k, r in earlier.items() if isinstance(r, Mapping) and r.get("parent") == parent}
    if record.get("status") != "done":
        return list(before.values())
    made: list[dict[str, Any]] = []
    for i, stage in enumerate(stages):
        later = list(stages[i + 1:])
        for sub in stage.sub_clips(record):
            made.append(_sub_clip(stage, record, sub, before.pop(sub.id, None), options, later, fresh, keeper))
    for gone in before.values():  # no longer made: the clip was cut again or split otherwise
        standing = _standing(gone, gone["id"], parent, SUPERSEDED,
                             f"no longer made of {parent} (it was cut again or split otherwise)")
        if keeper.set_aside(gone["id"], gone, standing):
            made.append(standing)
        else:  # nothing finished to keep: what an unfinished make left goes
            options.layout.discard_clip(gone["id"], file_suffixes())
    return made


def _sub_clip(stage: Stage, record: dict[str, Any], sub: Any, old: dict[str, Any] | None, options: Any,
              later: list[Stage], fresh: bool, keeper: Keeper) -> dict[str, Any]:
    """The record of ``sub``: its earlier one (``old``) brought up when it was made of the clip's current files, or
    the clip ``old`` keeps put back when that was; else ``sub`` made now, a finished earlier one kept aside first."""

    def usable(before: dict[str, Any]) -> bool:
        return stage.reusable(before, record, sub) and options.layout.finished(before)

    if old is not None:
        current = old if usable(old) else keeper.put_back(sub.id, old, usable)
        child = None if current is None else bring_up(dict(current), options, later)
        if child is not None:
            return child
    keeper.set_aside(sub.id, old, _standing(record, sub.id, record["id"], "pending", "being made again"))
    return _make(stage, record, sub, options, later, fresh)


def _standing(like: Mapping[str, Any], clip_id: str, parent: str, status: str, reason: str) -> dict[str, Any]:
    """The record of sub-clip ``clip_id`` of ``parent`` that names no file: ``status`` and why (being made, failed,
    superseded), with the video's fields and the clip settings of ``like`` (its clip's record, or its own)."""
    return {**{k: like[k] for k in _STANDING if k in like}, "id": clip_id, "parent": parent, "status": status,
            "retry": status != SUPERSEDED, "reason": reason, "path": None, "audio_path": None, "adjustments": []}


def _make(stage: Stage, record: dict[str, Any], sub: Any, options: Any, later: list[Stage],
          fresh: bool) -> dict[str, Any]:
    """A sub-clip made now: its files from the clip's, the ``later`` stages run on it; a failure is its record (what
    it left removed: an earlier finished sub-clip of the id is already kept aside and named)."""
    clip = _input(record, options, fresh)
    try:
        child = stage.make_sub_clip(record, sub, clip.video, clip.audio)
        return run_fresh(child, options, later)
    except Exception as exc:  # whatever failed (a stage, a full disk, a bug): this sub-clip fails, the job goes on
        reason = str(exc) if isinstance(exc, HDTFError) else f"{type(exc).__name__}: {exc}".splitlines()[0]
        if not isinstance(exc, HDTFError):
            log.warning("%s: %s", sub.id, reason)
        options.layout.discard_clip(sub.id, file_suffixes())
        return _standing(record, sub.id, record["id"], "failed", reason)
