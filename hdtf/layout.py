"""Where every file of a prepared run lives, and the run's bookkeeping read and written: the only module that knows.

::

    OUTPUT/
      clips/{id}.mp4              H.264 + AAC, size x size, constant fps
      clips/{id}.wav              the same audio as 16-bit PCM
      clips/{id}.landmarks.npz    points (T, 68, 2) float32 in clip pixels, found (T,) bool   [when computed]
      status/{video_key}.json     one video's job result, rewritten after every clip: the source of truth
      locks/{video_key}.lock      held while a run works on the video (hdtf.lock): one run per video at a time
      manifest.json               the aggregate of status/*.json, the parse report and the options (hdtf.manifest)
      raw/                        the downloader's scratch: downloads in progress, kept raw videos

Records name their files relative to OUTPUT (``clips/{id}.mp4``), so a record means the same wherever the folder
is read. Writers get local paths to write to (:meth:`Layout.clip_files`, :attr:`Layout.raw_dir`) and hand JSON to
:meth:`Layout.write_status` / :meth:`Layout.write_manifest`; readers turn a record's names into files with
:meth:`Layout.file` and ask :meth:`Layout.finished` / :meth:`Layout.clip_is_settled` whether a clip counts.

A clip is *settled* (not made again) only while everything its content depends on is unchanged: its annotation (the
metadata fields of its record, the video's URL and id among them), the raw file it was cut from (size and hash,
:func:`file_fingerprint`, compared whenever a raw file is at hand) and the options that change its pixels or samples.

Everything goes through a ``Layout`` value so that a run can later live on object storage (an fsspec URL) without
its callers changing: such a layout writes clips into local scratch, uploads each finished file in one PUT when a
status naming it is written, and writes the status last; it answers ``file``/``finished`` from the store.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdtf import atomic
from hdtf.errors import HDTFError
from hdtf.lock import FileLock
from hdtf.records import ClipSpec, VideoSpec, safe_name
from hdtf.redact import scrub

# 2: clip records gained source_file, rotation, short; the download entry kept/notes/raw. Version 1 files are
# read as well (their clips are settled on annotation and options; their source identity is taken as unchanged).
STATUS_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
# The record fields that name a clip's files: the cut's own (they must exist for a done clip to count) and the extra
# files made from it (landmarks: made again from the clip when lost, without a re-cut).
CUT_FILE_FIELDS = ("path", "audio_path")
EXTRA_FILE_FIELDS = ("landmarks_path",)


@dataclass(frozen=True)
class ClipFiles:
    """Local paths a clip's files are written to."""

    video: Path
    audio: Path
    landmarks: Path


@dataclass(frozen=True)
class Layout:
    """The files of one prepared run under ``root`` (picklable: jobs in other processes get it with their options)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # -- where ----------------------------------------------------------------------------------------------------

    def clip_files(self, clip_id: str) -> ClipFiles:
        stem = self.root / "clips" / safe_name(clip_id)
        return ClipFiles(stem.with_suffix(".mp4"), stem.with_suffix(".wav"), stem.with_suffix(".landmarks.npz"))

    def status_file(self, video_key: str) -> Path:
        return self.root / "status" / f"{safe_name(video_key)}.json"

    def lock(self, video_key: str) -> FileLock:
        """The lock a run holds while it downloads, cuts or records ``video_key`` (``hdtf.lock``)."""
        return FileLock(self.root / "locks" / f"{safe_name(video_key)}.lock", video_key)

    @property
    def manifest_file(self) -> Path:
        return self.root / MANIFEST

    @property
    def raw_dir(self) -> Path:
        """The downloader's scratch folder (always local; its file names are ``hdtf.download``'s)."""
        return self.root / "raw"

    def relative(self, path: Path) -> str:
        """The name a record stores for a file of this run."""
        return Path(path).relative_to(self.root).as_posix()

    def file(self, name: str) -> Path:
        """The file a record's relative name stands for."""
        return self.root / name

    def make_dirs(self) -> None:
        for sub in ("clips", "status"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def discard_clip(self, clip_id: str) -> None:
        """Remove a clip's files (its new record is not "done": files of an earlier cut must not look finished)."""
        files = self.clip_files(clip_id)
        for path in (files.video, files.audio, files.landmarks):
            path.unlink(missing_ok=True)

    # -- status ---------------------------------------------------------------------------------------------------

    def read_status(self, video_key: str) -> dict[str, Any] | None:
        """A video's status, or None when it is absent or unreadable (then the video is simply done again)."""
        return _read_status(self.status_file(video_key))

    def write_status(self, video: VideoSpec, state: str, reason: str | None, clips: Iterable[Mapping[str, Any]],
                     **extra: Any) -> None:
        """Rewrite ``status/{key}.json`` atomically: a reader sees the previous status or this one, never half.
        Shareable: URLs without credentials, paths relative to the root (``hdtf.redact.scrub``)."""
        atomic.write_json(self.status_file(video.key), scrub({
            "version": STATUS_VERSION,
            "video": {"key": video.key, "source": video.source, "subset": video.subset, "name": video.name,
                      "url": video.url, "youtube_id": video.youtube_id, "resolution": video.resolution},
            "status": state,
            "reason": reason,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **extra,
            "clips": list(clips),
        }, self.root))

    def statuses(self) -> list[dict[str, Any]]:
        """Every readable status of the run, in file-name order."""
        found = (_read_status(p) for p in sorted((self.root / "status").glob("*.json")))
        return [s for s in found if s is not None]

    # -- manifest -------------------------------------------------------------------------------------------------

    def has_manifest(self) -> bool:
        return self.manifest_file.is_file()

    def read_manifest(self) -> dict[str, Any]:
        """``manifest.json`` (HDTFError when the folder has none or it is not JSON)."""
        try:
            return json.loads(self.manifest_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HDTFError(f"{self.root} is not a prepared dataset: {MANIFEST} not found (run hdtf prepare)") from None
        except ValueError as exc:
            raise HDTFError(f"{self.manifest_file} is not valid JSON: {exc}") from None

    def write_manifest(self, manifest: Mapping[str, Any]) -> Path:
        atomic.write_json(self.manifest_file, scrub(manifest, self.root))
        return self.manifest_file

    # -- is a clip settled? ---------------------------------------------------------------------------------------

    def finished(self, record: Mapping[str, Any]) -> bool:
        """A finished clip: recorded as done and its mp4 is there."""
        return record.get("status") == "done" and bool(record.get("path")) and self.file(record["path"]).is_file()

    def clip_is_settled(self, record: Mapping[str, Any], clip: ClipSpec, source: Mapping[str, Any] | None,
                        settings: Mapping[str, Any], allow_short: bool = False) -> bool:
        """Whether ``record`` still answers for ``clip``: same annotation (which holds the video's URL and id), same
        raw file when it is at hand (``source``: its :func:`file_fingerprint`), same ``settings`` (the
        options that change a clip's content), and recorded as done (its video and audio there) or as a final
        failure. A short clip counts as done only with ``allow_short``, a failure for being short only without.
        Per-clip extra files (landmarks) are not judged here: they are added to settled clips (:func:`missing_extras`).
        """
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
        return all(self.file(record[k]).is_file() for k in CUT_FILE_FIELDS if record.get(k))

    def missing_extras(self, record: Mapping[str, Any]) -> list[str]:
        """The extra-file fields (``landmarks_path``) a done record names whose files are gone."""
        return [k for k in EXTRA_FILE_FIELDS if record.get(k) and not self.file(record[k]).is_file()]


def _read_status(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") in READABLE_VERSIONS else None


def file_fingerprint(path: Path, edge: int = 1 << 20) -> dict[str, Any]:
    """A raw file's identity without reading all of it: its size and a SHA-256 of its first and last ``edge``
    bytes (a re-download, a re-encode or another upload of the video changes both or either)."""
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
    outcome, every fact as None until known, and ``facts`` (file names relative to the run's root)."""
    record = clip.to_row()
    record.update(status=status, reason=reason, path=None, audio_path=None, landmarks_path=None, fps=None,
                  num_frames=None, width=None, height=None, duration=None, sample_rate=None, source_width=None,
                  source_height=None, applied_crop=None, rotation=None, short=False, source_file=None,
                  adjustments=[], settings=dict(settings))
    record.update(facts)
    return record
