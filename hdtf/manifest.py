"""A prepared run's bookkeeping aggregated: ``status/*.json`` (per video) into ``manifest.json``, and read back.

The status files are the source of truth (each job writes only its own video's file); the manifest is their
aggregate plus the run's parse report, options and where each video ran, rewritten by the parent after a run.
Readers that need the current state (``done_clips``, ``summarize``) read the status files; ``load_manifest`` reads
the aggregate. Where the files are is :mod:`hdtf.layout`'s business.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError
from hdtf.clip_record import FILTERED, KEPT, SUPERSEDED
from hdtf.layout import MANIFEST, Layout
from hdtf.records import ParseReport
from hdtf.sync_check import MIN_CONFIDENCE, summary_line

MANIFEST_VERSION = 1

# Notes that say nothing happened (the face tracker's "re-acquired 0×; switched 0×"): not counted as any kind.
QUIET_NOTES = re.compile(r"re-?acquired 0×; switched 0×$", re.IGNORECASE)
# Kinds of notes on done clips that `hdtf status` counts (first match wins), from the notes' own words.
NOTE_KINDS = (
    ("short clips (kept with --allow-short; true duration recorded)", re.compile(r"^short: ")),
    ("rotated sources (display matrix)", re.compile(r"display matrix|display rotation")),
    ("re-acquired faces", re.compile(r"re-?acquired [1-9]", re.IGNORECASE)),
    ("faces switched", re.compile(r"switched [1-9]")),
    ("whole downloads instead of sections", re.compile(r"byte ranges")),
    ("scaled windows", re.compile(r"\bscaled\b")),
    ("windows made square", re.compile(r"square")),
    ("windows moved into the frame", re.compile(r"adjusted to|moved|shifted")),
    ("ends truncated", re.compile(r"truncated")),
)


def load_manifest(output_dir: str | Path | Layout) -> dict[str, Any]:
    """``manifest.json`` of a prepared dataset (a folder or a URL; HDTFError when it has none)."""
    return Layout.for_output(output_dir).read_manifest()


def _all_clips(layout: Layout, statuses: list[dict[str, Any]] | None = None,
               manifest: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every clip record of the run: from its ``statuses`` (read here when not given), else from the manifest (read
    here when not given; ``{}`` for none)."""
    statuses = layout.statuses() if statuses is None else statuses
    if statuses:
        return [clip for status in statuses for clip in status.get("clips", [])]
    if manifest is None:
        manifest = layout.manifest() or {}
    return list(manifest.get("clips", []))


def done_clips(output_dir: str | Path | Layout, statuses: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every finished clip (status "done" and its mp4 there), sorted by id; paths are relative to ``output_dir`` (a
    folder or a URL: on a store, one listing of the status objects and one of the clip objects). ``statuses``: the
    run's status documents when the caller has read them already."""
    layout = Layout.for_output(output_dir)
    return sorted((c for c in _all_clips(layout, statuses) if layout.finished(c)), key=lambda c: c["id"])


def video_clips(statuses: Iterable[Mapping[str, Any]], keys: Iterable[str]) -> list[dict[str, Any]]:
    """The clip records of the videos ``keys`` in a run's status documents (``Layout.statuses``)."""
    keys = set(keys)
    return [clip for status in statuses if (status.get("video") or {}).get("key") in keys
            for clip in status.get("clips", [])]


def write_manifest(output_dir: str | Path | Layout, report: ParseReport | None = None,
                   options: dict[str, Any] | None = None, workers: Mapping[str, dict[str, Any]] | None = None,
                   run: dict[str, Any] | None = None, statuses: list[dict[str, Any]] | None = None,
                   recipe: dict[str, Any] | None = None) -> Path | str:
    """Rewrite ``manifest.json`` from the status files; keep the previous parse report, options, run facts and
    worker facts where not given (``workers``: video key -> where its job ran in this run; ``run``: how the run's
    jobs were run, e.g. the executor and the cluster address). ``statuses``: the run's status documents when the
    caller has read them (``Layout.statuses``) while holding ``Layout.manifest_lock``, so that it can use them too
    without reading them again; without them, the lock is taken here and the statuses read under it. ``recipe``: the
    recipe the run was prepared with (``hdtf.recipes.recipe_record``). Returns where the manifest is (a path, or a
    URL on a store)."""
    layout = Layout.for_output(output_dir)
    if statuses is None:
        with layout.manifest_lock():
            return write_manifest(layout, report, options, workers, run, layout.statuses(), recipe)
    try:
        previous = layout.manifest() or {}
    except HDTFError:  # not JSON: rewritten from the statuses
        previous = {}
    ran = {v.get("key"): v.get("worker") for v in previous.get("videos", []) if v.get("worker")}
    ran.update(workers or {})
    clips = [clip for status in statuses for clip in status.get("clips", [])]
    videos = []
    for status in statuses:
        video = {**status["video"], "status": status.get("status"), "reason": status.get("reason"),
                 "num_clips": len(status.get("clips", [])), "download": status.get("download")}
        if video.get("key") in ran:
            video["worker"] = ran[video["key"]]
        videos.append(video)
    manifest = {
        "version": MANIFEST_VERSION,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "options": options if options is not None else previous.get("options"),
        "run": run if run is not None else previous.get("run"),
        "recipe": recipe if recipe is not None else previous.get("recipe"),
        "parse_report": [asdict(i) for i in report.issues] if report is not None else previous.get("parse_report", []),
        # where the lists came from (the source's account, hdtf.records.ParseReport.provenance)
        "metadata": report.provenance if report is not None else previous.get("metadata"),
        "counts": {"videos": dict(Counter(v["status"] for v in videos)),
                   "clips": dict(Counter(c.get("status") for c in clips))},
        "videos": videos,
        "clips": clips,
    }
    return layout.write_manifest(manifest)


def summarize(output_dir: str | Path | Layout, max_reasons: int = 20,
              min_sync_confidence: float = MIN_CONFIDENCE) -> str:
    """A short text report of a prepared dataset (a folder or a URL): counts per status, then the reasons grouped,
    most frequent first (and, when clips were sync-checked, how many are below ``min_sync_confidence``)."""
    layout = Layout.for_output(output_dir)
    statuses = layout.statuses()
    manifest = layout.manifest()
    if not statuses and manifest is None:
        raise HDTFError(f"{layout.where} is not a prepared dataset: no status/*.json and no {MANIFEST}")
    manifest = manifest or {}
    clips = _all_clips(layout, statuses, manifest)
    video_counts = Counter(s.get("status") for s in statuses) if statuses else Counter(
        v.get("status") for v in manifest.get("videos", []))
    clip_counts = Counter(c.get("status") for c in clips)
    done = [c for c in clips if c.get("status") == "done"]
    seconds = sum(c.get("duration") or 0.0 for c in done)
    length = f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
    lines = [layout.where,
             f"videos: {sum(video_counts.values())} ({_counts(video_counts)})",
             f"clips:  {sum(clip_counts.values())} ({_counts(clip_counts)}); {length} of finished clips"]
    reasons: dict[tuple[str, str], list[str]] = defaultdict(list)
    for clip in clips:
        if clip.get("status") != "done":
            reasons[(clip.get("status") or "?", clip.get("reason") or "no reason recorded")].append(clip.get("id", "?"))
    if reasons:
        lines.append("not done, by reason:")
        ranked = sorted(reasons.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for (status, reason), ids in ranked[:max_reasons]:
            example = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
            lines.append(f"  {len(ids):5d} {status}: {reason} [{example}]")
        if len(ranked) > max_reasons:
            lines.append(f"  ... {len(ranked) - max_reasons} more reason(s)")
    lines += _kept_lines(clips)
    lines += _filter_lines(done)
    lines += _range_lines(done)
    lines += _note_lines(done)
    sync = summary_line(clips, min_sync_confidence)  # hdtf.sync_check
    if sync is not None:
        lines.append(sync)
    issues = manifest.get("parse_report") or []
    if issues:
        lines.append(f"metadata: {len(issues)} issue(s) ({_counts(Counter(i.get('action') for i in issues))})")
    return "\n".join(lines)


def _kept_lines(clips: list[dict[str, Any]]) -> list[str]:
    """The earlier clips kept aside because their re-make is not done, or because their clip no longer makes them (a
    sub-clip of an earlier split: ``superseded``), each named by a record's ``kept``: how many, where, and what each
    was made with that differs from now."""
    kept = [c for c in clips if isinstance(c.get(KEPT), dict) and c.get("status") != "done"]
    if not kept:
        return []
    shown = []
    for clip in kept[:3]:
        now, then = clip.get("settings") or {}, clip[KEPT].get("settings") or {}
        differ = ", ".join(f"{k} {then.get(k)}" for k in sorted(set(now) | set(then)) if then.get(k) != now.get(k))
        if clip.get("status") == SUPERSEDED:
            differ = f"no longer made of {clip.get('parent')}"
        shown.append(f"{clip.get('id', '?')}: {differ or 'an earlier annotation or source'}")
    more = ", ..." if len(kept) > 3 else ""
    gone = " or no longer made" if any(c.get("status") == SUPERSEDED for c in kept) else ""
    return [f"kept from an earlier setting: {len(kept)} clip(s) whose re-make is not done{gone}, the earlier files "
            f"kept under {KEPT}/ [{'; '.join(shown)}{more}]"]


def _filter_lines(done: list[dict[str, Any]]) -> list[str]:
    """Done clips each filtering stage rejected (kept on disk, left out of rows): how many, the measured values'
    range and an example reason."""
    rejected: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for clip in done:
        for entry in clip.get(FILTERED) or []:
            rejected[entry.get("stage", "?")].append(entry)
    lines = []
    for stage, entries in sorted(rejected.items()):
        values = [e["value"] for e in entries if isinstance(e.get("value"), (int, float))]
        span = f", values {min(values):g}..{max(values):g}" if values else ""
        lines.append(f"filtered by {stage}: {len(entries)} of {len(done)} done clip(s){span} (kept on disk, left out "
                     f"of rows; e.g. {entries[0].get('reason')})")
    return lines + _measured_lines(done)


def _measured_lines(done: list[dict[str, Any]]) -> list[str]:
    """The range of each value a registered filter compares (face_px, iqa, ...) over the done clips that have it,
    so that a threshold can be chosen (or changed: the filters re-judge without measuring again)."""
    from hdtf.stages import stage_classes

    measured = dict.fromkeys(key for cls in stage_classes() if cls.filters for key in cls.reads)
    lines = []
    for key in measured:
        values = [c[key] for c in done if isinstance(c.get(key), (int, float)) and not isinstance(c.get(key), bool)]
        if values:
            lines.append(f"measured {key}: {min(values):g}..{max(values):g} over {len(values)} done clip(s)")
    return lines


def _range_lines(done: list[dict[str, Any]]) -> list[str]:
    """The range of each number the stages measured on the done clips (``hdtf.stages``: their scalar fields), so a
    user can choose a threshold and re-filter without measuring again."""
    from hdtf.stages import stage_classes

    numeric = {"int32", "int64", "float32", "float64"}
    fields = dict.fromkeys(k for cls in stage_classes() for k, t in cls.scalars().items() if t in numeric)
    lines = []
    for name in fields:
        values = [c[name] for c in done if isinstance(c.get(name), (int, float)) and not isinstance(c[name], bool)]
        if values:
            lines.append(f"{name}: {min(values):g}..{max(values):g} over {len(values)} of {len(done)} done clip(s)")
    return lines


def _note_lines(done: list[dict[str, Any]]) -> list[str]:
    """Done clips per kind of note (a clip counts once per kind), the most frequent first, with examples."""
    kinds: dict[str, list[str]] = defaultdict(list)
    for clip in done:
        seen = set()
        for note in clip.get("adjustments") or []:
            if QUIET_NOTES.search(note):
                continue
            kind = next((label for label, pattern in NOTE_KINDS if pattern.search(note)), "other notes")
            if kind not in seen:
                seen.add(kind)
                kinds[kind].append(clip.get("id", "?"))
    if not kinds:
        return []
    lines = ["notes on done clips, by kind:"]
    for kind, ids in sorted(kinds.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        example = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
        lines.append(f"  {len(ids):5d} {kind} [{example}]")
    return lines


def _counts(counter: Counter) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))) or "none"
