"""Read and write a prepared dataset's bookkeeping: ``status/*.json`` (per video) aggregated into ``manifest.json``.

The status files are the source of truth (each worker writes only its own video's file); the manifest is their
aggregate plus the run's parse report and options, rewritten atomically by the parent after a run. Readers that
need the current state (``done_clips``, ``summarize``) read the status files; ``load_manifest`` reads the aggregate.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError
from hdtf.records import ParseReport

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def _statuses(output_dir: Path) -> list[dict[str, Any]]:
    from hdtf.pipeline import read_status

    found = (read_status(p) for p in sorted((Path(output_dir) / "status").glob("*.json")))
    return [s for s in found if s is not None]


def load_manifest(output_dir: Path) -> dict[str, Any]:
    """``manifest.json`` of a prepared dataset (HDTFError when the folder has none)."""
    path = Path(output_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HDTFError(f"{output_dir} is not a prepared dataset: {MANIFEST} not found (run hdtf prepare)") from None
    except ValueError as exc:
        raise HDTFError(f"{path} is not valid JSON: {exc}") from None


def _all_clips(output_dir: Path) -> list[dict[str, Any]]:
    statuses = _statuses(output_dir)
    if statuses:
        return [clip for status in statuses for clip in status.get("clips", [])]
    if (Path(output_dir) / MANIFEST).is_file():
        return list(load_manifest(output_dir).get("clips", []))
    return []


def done_clips(output_dir: Path) -> list[dict[str, Any]]:
    """Every finished clip (status "done" and its mp4 on disk), sorted by id; paths are relative to ``output_dir``."""
    out = Path(output_dir)
    clips = [c for c in _all_clips(out) if c.get("status") == "done" and c.get("path") and (out / c["path"]).is_file()]
    return sorted(clips, key=lambda c: c["id"])


def write_manifest(output_dir: Path, report: ParseReport | None = None, options: dict[str, Any] | None = None) -> Path:
    """Rewrite ``manifest.json`` from the status files; keep the previous parse report/options when not given."""
    from hdtf.pipeline import write_json_atomic

    out = Path(output_dir)
    previous: dict[str, Any] = {}
    if (out / MANIFEST).is_file():
        try:
            previous = load_manifest(out)
        except HDTFError:
            previous = {}
    statuses = _statuses(out)
    clips = [clip for status in statuses for clip in status.get("clips", [])]
    videos = [{**status["video"], "status": status.get("status"), "reason": status.get("reason"),
               "num_clips": len(status.get("clips", [])), "download": status.get("download")} for status in statuses]
    manifest = {
        "version": MANIFEST_VERSION,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "options": options if options is not None else previous.get("options"),
        "parse_report": [asdict(i) for i in report.issues] if report is not None else previous.get("parse_report", []),
        "counts": {"videos": dict(Counter(v["status"] for v in videos)),
                   "clips": dict(Counter(c.get("status") for c in clips))},
        "videos": videos,
        "clips": clips,
    }
    path = out / MANIFEST
    write_json_atomic(path, manifest)
    return path


def summarize(output_dir: Path, max_reasons: int = 20) -> str:
    """A short text report of a prepared dataset: counts per status, then the reasons grouped, most frequent first."""
    out = Path(output_dir)
    statuses = _statuses(out)
    if not statuses and not (out / MANIFEST).is_file():
        raise HDTFError(f"{out} is not a prepared dataset: no status/*.json and no {MANIFEST}")
    manifest = load_manifest(out) if (out / MANIFEST).is_file() else {}
    clips = _all_clips(out)
    video_counts = Counter(s.get("status") for s in statuses) if statuses else Counter(
        v.get("status") for v in manifest.get("videos", []))
    clip_counts = Counter(c.get("status") for c in clips)
    done = [c for c in clips if c.get("status") == "done"]
    seconds = sum(c.get("duration") or 0.0 for c in done)
    length = f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
    lines = [f"{out}",
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
    issues = manifest.get("parse_report") or []
    if issues:
        lines.append(f"metadata: {len(issues)} issue(s) ({_counts(Counter(i.get('action') for i in issues))})")
    return "\n".join(lines)


def _counts(counter: Counter) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))) or "none"
