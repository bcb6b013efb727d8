"""A clip's record: its fields, declared once, the one constructor, the status schema and the settle rule.

A record is what ``status/{key}.json`` (and from it the manifest and the ``datasets`` rows) says about one clip: the
metadata fields of its annotation (``ClipSpec.to_row``), the outcome (``status``, ``reason``), the facts of the cut
(:data:`FACTS`), the files it names relative to the run (:data:`CUT_FILES`, and every field ending in
:data:`FILE_FIELD` that a stage adds), the size and hash of each of those files as committed (:data:`STAMPS`), and
what the stages after the cut did (:data:`STAGES`: each stage's version, options hash and fields; :data:`FILTERED`:
the stages that rejected the clip, with the reason and the measured value). Where the files are is
``hdtf.layout``'s business; this module only says what a record holds and when it still answers for its clip.

A clip is *settled* (not cut again) when its annotation, the fingerprint of the raw file it was cut from and the cut
settings are unchanged and it is done with its cut files whole, or skipped/failed with ``retry: false``
(:func:`is_settled`). Each stage of a settled clip is settled on its own: same version, same options hash, its files
whole (``hdtf.stages``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hdtf.records import ClipSpec

# The facts of a cut clip with their arrow types (rows, manifest); None until known.
FACTS: dict[str, str] = {
    "fps": "float32",
    "num_frames": "int32",
    "width": "int32",
    "height": "int32",
    "duration": "float64",
    "sample_rate": "int32",
    "source_width": "int32",
    "source_height": "int32",
}
# The record fields that name the cut's own files: they must be whole for a done clip to count (the face track is
# the source's boxes in the cut's pixels, written with it where the list gives them: VoxCeleb2).
CUT_FILES = ("path", "audio_path", "face_track_path")
# Every other record field naming a file ends so (a stage's ``landmarks_path``): such names are confined to the run,
# stamped, kept aside and uploaded like the cut's.
FILE_FIELD = "_path"
# For each file name the record holds, the file's size and the hash of its first and last STAMP_EDGE bytes as
# committed (:func:`file_fingerprint`): a few pages, so checking costs two small reads.
STAMPS = "files"
STAMP_EDGE = 8192
# The earlier clip being made again, its files under ``kept/`` (``Layout.keep_aside``).
KEPT = "kept"
# The status of a sub-clip its clip no longer makes (cut again or split otherwise): its record stays, naming the
# earlier sub-clip kept under ``kept/``; it counts for no video's state.
SUPERSEDED = "superseded"
# Each stage that ran on the clip: name -> {"version", "options" (hash), "fields" (name -> arrow type)}.
STAGES = "stages"
# The stages that rejected the clip: [{"stage", "reason", "value"}]; None when none did. Never deleted for it.
FILTERED = "filtered"

_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "bool": (bool,), "float32": (int, float),
                                           "float64": (int, float), "int32": (int, float), "int64": (int, float)}


def file_fingerprint(path: Path, edge: int = 1 << 20) -> dict[str, Any]:
    """A file's identity without reading all of it: its size and a SHA-256 of its first and last ``edge`` bytes (a
    re-download, a re-encode or another upload of a raw video changes both or either; a clip file a power loss left
    short or zero-filled changes its size or its edges: :data:`STAMP_EDGE`)."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as f:
        digest.update(f.read(edge))
        if size > edge:
            f.seek(max(edge, size - edge))
            digest.update(f.read(edge))
    return {"size": size, "sha256": digest.hexdigest()}


def same_source(recorded: Mapping[str, Any] | None, current: Mapping[str, Any] | None) -> bool:
    """Whether a clip cut from the raw file fingerprinted ``recorded`` answers for the raw file ``current``: unknown
    on either side (a section download, a raw file no longer at hand) counts as the same; the video's URL and id are
    part of the clip's annotation and compared with it."""
    return not recorded or not current or dict(recorded) == dict(current)


def clip_record(clip: ClipSpec, status: str, reason: str | None, settings: Mapping[str, Any], **facts: Any) -> dict:
    """The one constructor of a clip's record (status file, manifest, datasets rows): the metadata fields, the
    outcome, every fact as None until known, and ``facts`` (file names relative to the run's root). The files'
    sizes and hashes (``files``) are added when the record is committed (``Layout.write_status``)."""
    record = clip.to_row()
    record.update(status=status, reason=reason, path=None, audio_path=None, landmarks_path=None,
                  **dict.fromkeys(FACTS), applied_crop=None, rotation=None, short=False, source_file=None,
                  adjustments=[], settings=dict(settings), **{STAMPS: None})
    record.update(facts)
    return record


def rewritten(record: Mapping[str, Any], *fields: str) -> dict[str, Any]:
    """``record`` without the size and hash of the files its ``fields`` name: they were rewritten in place (an A/V
    correction, landmarks made again), and the next commit (``Layout.write_status``) records them anew."""
    names = {record.get(key) for key in fields}
    stamps = {n: s for n, s in (record.get(STAMPS) or {}).items() if n not in names}
    return {**record, STAMPS: stamps or None}


def file_fields(record: Mapping[str, Any]) -> list[str]:
    """The fields of ``record`` that name files: the cut's, then every other one ending in :data:`FILE_FIELD`."""
    return [*CUT_FILES, *(k for k in record if k.endswith(FILE_FIELD) and k not in CUT_FILES)]


def named_files(records: Iterable[Mapping[str, Any]], done_only: bool = False) -> list[str]:
    """The file names clip records name (of done records only, with ``done_only``)."""
    return [record[k] for record in records if isinstance(record, Mapping) and (
        not done_only or record.get("status") == "done") for k in file_fields(record) if record.get(k)]


def is_inside(name: Any) -> bool:
    """Whether a record's file name stays inside the run by its spelling: relative, without ``..``."""
    if not isinstance(name, str) or "\0" in name:
        return False
    path = Path(name)
    return bool(path.parts) and not path.is_absolute() and ".." not in path.parts


def outside_names(record: Mapping[str, Any]) -> list[str]:
    """The file names ``record`` holds that lead out of the run by their spelling."""
    return [record[k] for k in file_fields(record) if record.get(k) and not is_inside(record[k])]


def given_up(record: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """``record`` as a failure to make again, naming no file (it named one it must not be trusted with)."""
    return {**record, "status": "failed", "retry": True, "reason": reason,
            **dict.fromkeys((*file_fields(record), STAMPS))}


def is_settled(record: Mapping[str, Any], clip: ClipSpec, source: Mapping[str, Any] | None,
               settings: Mapping[str, Any], allow_short: bool, intact: Callable[[Mapping[str, Any]], bool]) -> bool:
    """Whether ``record`` still answers for ``clip``: same annotation (which holds the video's URL and id), same raw
    file when it is at hand (``source``: its :func:`file_fingerprint`), same ``settings`` (the options that change
    the cut), and recorded as done (``intact``: its cut files there whole) or as a final failure. A short clip counts
    as done only with ``allow_short``, a failure for being short only without. What the stages added is judged
    stage by stage (``hdtf.stages``)."""
    if any(record.get(key) != value for key, value in clip.to_row().items()):
        return False
    made_with = record.get("settings") or {}
    if any(made_with.get(key) != value for key, value in settings.items()):
        return False
    if not same_source(record.get("source_file"), source):
        return False
    if record.get("status") == "failed" and record.get("retry") is False:
        return not (record.get("short") and allow_short)
    if record.get("status") == "skipped" and record.get("retry") is False:
        return True
    if record.get("status") != "done" or (record.get("short") and not allow_short):
        return False
    return intact(record)


def options_hash(values: Mapping[str, Any]) -> str:
    """A short, stable hash of a stage's options (what keys the stage's outputs besides its version)."""
    text = json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in sorted(values.items())}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- the status schema -----------------------------------------------------------------------------------------

_NUMBER = (int, float)
_STATUS_TYPES: dict[str, tuple[type, ...]] = {
    "video": (dict,), "status": (str,), "reason": (str,), "updated": (str,), "download": (dict,),
    "source_media": (dict,), "clips": (list,)}
_VIDEO_TYPES: dict[str, tuple[type, ...]] = {"key": (str,), "url": (str,), "youtube_id": (str,), "name": (str,)}
_CLIP_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,), "status": (str,), "reason": (str,), "video_key": (str,), "source": (str,),
    **dict.fromkeys(CUT_FILES, (str,)),
    **dict.fromkeys(("start", "end", *FACTS), _NUMBER),
    "short": (bool,), "retry": (bool,), "adjustments": (list,), "applied_crop": (list,), "settings": (dict,),
    "source_file": (dict,), STAMPS: (dict,), STAGES: (dict,), FILTERED: (list,)}


def status_problem(status: Any, readable: Iterable[int]) -> str | None:
    """Why a parsed status document cannot be used (None: it can): the one check of a status file's schema, so
    that no reader meets a field of the wrong kind (``readable``: the status versions this hdtf reads)."""
    readable = tuple(readable)
    if not isinstance(status, dict):
        return f"not a JSON object but {type(status).__name__}"
    if status.get("version") not in readable:
        return f"version {status.get('version')!r} is not one this hdtf reads ({', '.join(map(str, readable))})"
    problem = _wrong_types(status, _STATUS_TYPES, ("video", "clips"), "") or _wrong_types(
        status["video"], _VIDEO_TYPES, ("key",), "video.")
    for index, record in enumerate(status["clips"] if problem is None else []):
        where = f"clips[{index}]."
        if not isinstance(record, dict):
            return f"clips[{index}] is {type(record).__name__}, not an object"
        problem = (_wrong_types(record, _CLIP_TYPES, ("id", "status"), where)
                   or _wrong_types(record, _stage_types(record), (), where) or _record_problem(record, where))
        if problem is not None:
            return problem
    return problem


def _stage_types(record: Mapping[str, Any]) -> dict[str, tuple[type, ...]]:
    """The types of the fields a record's stages declare (file fields are names), so readers of stage fields meet
    values of their declared kind."""
    types: dict[str, tuple[type, ...]] = dict.fromkeys((k for k in record if k.endswith(FILE_FIELD)), (str,))
    for entry in (record.get(STAGES) or {}).values():
        fields = entry.get("fields") if isinstance(entry, dict) else None
        for name, dtype in (fields.items() if isinstance(fields, dict) else ()):
            types.setdefault(name, _JSON_TYPES.get(dtype, (object,)))
    return types


def _wrong_types(document: Mapping[str, Any], types: Mapping[str, tuple[type, ...]], required: Iterable[str],
                 where: str) -> str | None:
    for key in required:
        if document.get(key) is None:
            return f"{where}{key} is missing"
    for key, allowed in types.items():
        value = document.get(key)
        if value is not None and (not isinstance(value, allowed) or (bool not in allowed and isinstance(value, bool))):
            return f"{where}{key} is {type(value).__name__}, not {' or '.join(t.__name__ for t in allowed)}"
    return None


def _record_problem(record: Mapping[str, Any], where: str) -> str | None:
    """What is wrong inside a record's lists, stamps and stage entries (their items are read as notes, sizes, keys)."""
    if any(not isinstance(note, str) for note in record.get("adjustments") or []):
        return f"{where}adjustments holds a note that is not text"
    for name, stamp in (record.get(STAMPS) or {}).items():
        if not (isinstance(stamp, dict) and isinstance(stamp.get("size"), int)
                and isinstance(stamp.get("sha256"), str)):
            return f"{where}{STAMPS}[{name!r}] is not a size and a hash"
    for name, entry in (record.get(STAGES) or {}).items():
        if not (isinstance(entry, dict) and isinstance(entry.get("options"), str)
                and isinstance(entry.get("fields"), dict)):
            return f"{where}{STAGES}[{name!r}] is not a version, an options hash and fields"
    if any(not (isinstance(r, dict) and isinstance(r.get("stage"), str) and isinstance(r.get("reason"), str))
           for r in record.get(FILTERED) or []):
        return f"{where}{FILTERED} holds an entry that is not a stage and a reason"
    return None
