"""Where every file of a prepared run lives, and the run's bookkeeping read and written: the only module that knows.

::

    OUTPUT/
      clips/{id}.mp4              H.264 + AAC, size x size, constant fps
      clips/{id}.wav              the same audio as 16-bit PCM
      clips/{id}.landmarks.npz    points (T, 68, 2) float32 in clip pixels, found (T,) bool   [landmarks stage]
      clips/{id}.track.npz        the source's face boxes: frames, times (s), boxes (N, 4) x,y,w,h in clip pixels
                                  [sources whose lists give per-frame boxes: VoxCeleb2]
      clips/{id}{suffix}          another stage's file (:meth:`Layout.clip_file`)
      aligned/{id}.mp4 .npz       the face-aligned view and its per-frame matrices            [aligned stage]
      embeddings/{id}.face.npy    (D,) float32 face embedding                                [face_embedding stage]
      embeddings/{id}.audio.npy   (T, dim) or (T, layers + 1, dim) float16, T = video frames  [audio_embedding stage]
      masks/{id}.{kind}.png       Hallo's union masks (face_mask, lip_mask, sep_*_mask)       [masks stage]
      faces/{id}.json             MuseTalk's per-frame face boxes and landmarks               [face_json stage]
      status/{video_key}.json     one video's job result, rewritten after every clip: the source of truth
      locks/{video_key}.lock      held while a run works on the video (hdtf.lock): one run per video at a time
      locks/.manifest.json.lock   held while a run reads every status and rewrites the manifest
      manifest.json               the aggregate of status/*.json, the parse report and the options (hdtf.manifest)
      raw/                        the downloader's scratch: downloads in progress, kept raw videos
      kept/{id}.mp4 .wav .landmarks.npz   an earlier clip being made again, kept until its replacement is recorded
      kept/aligned/{id}.mp4 ...   its files of other stage folders

Records name their files relative to OUTPUT (``clips/{id}.mp4``), so a record means the same wherever the folder
is read. Writers get local paths to write to (:meth:`Layout.clip_files`, :attr:`Layout.raw_dir`) and hand JSON to
:meth:`Layout.write_status` / :meth:`Layout.write_manifest`; readers turn a record's names into files with
:meth:`Layout.file` and ask :meth:`Layout.finished` / :meth:`Layout.clip_is_settled` whether a clip counts.

The record's fields and the settle rule are :mod:`hdtf.clip_record`'s; this module checks the files. A clip is *settled*
(not made again) only while everything its content depends on is unchanged: its annotation (the
metadata fields of its record, the video's URL and id among them), the raw file it was cut from (size and hash,
:func:`file_fingerprint`, compared whenever a raw file is at hand) and the options that change its pixels or samples,
and only while its files are whole: a record keeps each file's size and a hash of its first and last bytes (``files``,
added when the status naming it is written, :meth:`Layout.write_status`), so a file a power loss left empty or short
is made again. A record of an earlier version without them counts while its files are not empty. On a store the sizes
come from the listings already made; the hash is compared only for local files.

Status files are data: each is checked in one place (:func:`status_problem`) as it is read. One that cannot be used
is one warning line naming it (``status/{key}.json``), and its video is treated as not started (``hdtf prepare`` makes
it again; readers of the whole run count it as ``unreadable``). A record's file names must stay inside the run
(relative, no ``..``, no link leading out): a record naming any other file is made again, never read or written.

A clip made again (other settings with ``--resettle``, an edited annotation, another raw file) never loses the
earlier one first: :meth:`Layout.keep_aside` copies its files to ``kept/`` and the new record names that copy
(``kept``: the earlier record, its files under ``kept/``) until a replacement is recorded as done; only then does
:meth:`Layout.drop_kept` remove it. A re-make that fails leaves the earlier clip there, named; a run back at the
settings it was made with puts it back (:meth:`Layout.restore_kept`), without a download.

Everything goes through a ``Layout`` value (:meth:`Layout.for_output` picks the kind), so a run can live on object
storage (an fsspec URL: ``s3://bucket/prefix``) without its callers changing. A :class:`RemoteLayout` keeps the same
names as objects under the URL; its writers work in a private local scratch folder (``root``): clips are cut there,
each file the job made goes up in one PUT when the first status naming it as done is written, and that status object
goes up last, so a clip counts (:meth:`Layout.finished`) only when its status names it and its objects exist; nothing ever
appears half-written under a final name. Raw downloads stay in the scratch folder. Existence is answered from
listings (one LIST per folder of a video's clips when its status is read, one LIST of ``clips/`` and of each stage
folder when a reader takes the whole run), never one request per clip.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdtf import atomic
from hdtf.clip_record import (CUT_FILES, KEPT, STAMP_EDGE, STAMPS, file_fields, file_fingerprint, given_up, is_inside,
                              is_settled, named_files, outside_names, status_problem as record_problem)
from hdtf.clip_record import clip_record  # noqa: F401 - the record's constructor, where readers of a run find it
from hdtf.errors import HDTFError
from hdtf.lock import FileLock, Lock, ObjectLock
from hdtf.records import ClipSpec, VideoSpec, safe_name
from hdtf.redact import scrub
from hdtf.storage import Store, clean_url, default_scratch, is_url, local_path, private_scratch

log = logging.getLogger(__name__)

# 2: clip records gained source_file, rotation, short; the download entry kept/notes/raw. Version 1 files are
# read as well (their clips are settled on annotation and options; their source identity is taken as unchanged).
STATUS_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
# Stage files that live outside clips/ (their suffix -> their folder), where trainers' chains keep them; every other
# stage file is clips/{id}{suffix}.
STAGE_FOLDERS: dict[str, str] = {
    ".face.npy": "embeddings", ".audio.npy": "embeddings", ".json": "faces",
    **{f".{kind}.png": "masks" for kind in ("face_mask", "lip_mask", "sep_face_mask", "sep_lip_mask", "sep_pose_mask")},
}
_CLIP_FOLDERS = frozenset({"clips/", *(f"{folder}/" for folder in STAGE_FOLDERS.values())})
# A video's status when its file cannot be used (Layout.statuses): counted, and made again by the next prepare.
UNREADABLE = "unreadable"
# The files of a clip in clips/, by kind (ClipFiles' fields): the id and these suffixes.
CLIP_SUFFIXES = {"video": ".mp4", "audio": ".wav", "landmarks": ".landmarks.npz", "track": ".track.npz"}


@dataclass(frozen=True)
class ClipFiles:
    """Local paths a clip's files are written to."""

    video: Path
    audio: Path
    landmarks: Path
    track: Path  # the source's per-frame face boxes in clip pixels, when its list gives them (VoxCeleb2)


@dataclass(frozen=True)
class Layout:
    """The files of one prepared run under ``root`` (picklable: jobs in other processes get it with their options)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @staticmethod
    def for_output(output: str | Path | Layout, scratch: str | Path | None = None) -> Layout:
        """The layout of the run at ``output``: a folder (a path or ``file://``), or an fsspec URL whose files are
        built in ``scratch`` (default :func:`hdtf.storage.default_scratch`). A layout is returned as it is."""
        if isinstance(output, Layout):
            return output
        if is_url(output):
            url = clean_url(str(output))
            return RemoteLayout(Path(scratch) if scratch is not None else default_scratch(url), url)
        return Layout(local_path(output))

    @property
    def where(self) -> str:
        """The run's location as users name it (and :meth:`for_output` takes it): its folder or URL."""
        return str(self.root)

    def location(self, name: str) -> str:
        """Where a record's name lives, for messages."""
        return str(self.root / name)

    def check_output(self) -> None:
        """Raise HDTFError when this run's files cannot be written (a folder is made when needed: nothing to check)."""

    def present(self) -> bool:
        """Whether the run's folder is there (on a store: always; what it holds is for its listings to say)."""
        return self.root.is_dir()

    # -- where ----------------------------------------------------------------------------------------------------

    def clip_files(self, clip_id: str) -> ClipFiles:
        stem = self.clips_dir / safe_name(clip_id)
        return ClipFiles(**{kind: stem.with_suffix(suffix) for kind, suffix in CLIP_SUFFIXES.items()})

    @property
    def clips_dir(self) -> Path:
        """The local folder of the clips' files."""
        return self.root / "clips"

    def clip_paths(self, kind: str) -> list[Path]:
        """The files of one kind (a key of :data:`CLIP_SUFFIXES`) in the local clips folder, by name: for a folder of
        clips read without its records (one made elsewhere, or copied without its status files)."""
        return sorted(self.clips_dir.glob(f"*{CLIP_SUFFIXES[kind]}"))

    def holds_run(self) -> bool:
        """Whether the local folder holds a prepared run: its manifest or its status folder."""
        return self.manifest_file.is_file() or (self.root / "status").is_dir()

    def status_file(self, video_key: str) -> Path:
        return self.root / "status" / f"{safe_name(video_key)}.json"

    def lock(self, video_key: str) -> Lock:
        """The lock a run holds while it downloads, cuts or records ``video_key`` (``hdtf.lock``)."""
        return self._lock(f"locks/{safe_name(video_key)}.lock", video_key)

    def manifest_lock(self) -> Lock:
        """The lock a run holds while it reads every status and rewrites the manifest: of runs ending together (the
        shards of one run), the last to take it has seen every status, so the manifest left behind covers them all.
        Its name starts with '.', which no video's lock name does."""
        return self._lock(f"locks/.{MANIFEST}.lock", MANIFEST)

    def _lock(self, name: str, what: str) -> Lock:
        return FileLock(self.root / name, what)

    @property
    def manifest_file(self) -> Path:
        return self.root / MANIFEST

    @property
    def raw_dir(self) -> Path:
        """The downloader's scratch folder (always local; its file names are ``hdtf.download``'s)."""
        return self.root / "raw"

    @property
    def fetch_dir(self) -> Path:
        """The local folder a source fetches its lists into."""
        return self.root / "metadata"

    def relative(self, path: Path) -> str:
        """The name a record stores for a file of this run."""
        return Path(path).relative_to(self.root).as_posix()

    def _local(self, name: str) -> Path:
        """The file under the folder ``root`` a record's name stands for; HDTFError when the name or a link on the way
        leads out of the run (a status is data: it must never make hdtf read, pack or write another file)."""
        return _within(self.root / _inside(name), self.root, name)

    def file(self, name: str) -> Path:
        """The local file a record's relative name stands for (fetched first when the run is on a store); HDTFError
        when the name leads out of the run."""
        return self._local(name)

    def read_bytes(self, name: str) -> bytes:
        """The bytes of the file a record names (HDTFError when the name leads out of the run)."""
        return self._local(name).read_bytes()

    def size(self, name: str) -> int | None:
        """The size of the file a record names; None when it is not there or the name leads out of the run (then one
        warning line: the record does not count)."""
        try:
            path = self._local(name)
        except HDTFError as exc:
            _warn_once(self.where, str(exc))
            return None
        try:
            found = path.stat()
        except OSError:
            return None
        return found.st_size if stat.S_ISREG(found.st_mode) else None

    def exists(self, name: str) -> bool:
        """Whether the file a record names is there (inside the run)."""
        return self.size(name) is not None

    def at_hand(self, path: Path) -> Path:
        """``path`` (one of :meth:`clip_files`) as a local file: the file itself, or, when a run on a store made it
        earlier, a local copy fetched from there."""
        return path

    def editable(self, name: str) -> Path:
        """The file a record names, as a local file a job may change in place (an A/V correction of a clip made
        earlier): the file itself; on a store, a copy in the scratch folder that goes up with the next status naming
        it as done (the store's object is unchanged until then; a file this job made or fetched to change and has not
        uploaded yet is that copy already). HDTFError when the name leads out of the run."""
        return self._local(name)

    def wrote(self, *paths: Path) -> None:
        """Note files this job has just written (a clip's cut, its landmarks): on a store, only such scratch files
        go up with a status; in a folder they are in place already."""

    def drop_unrecorded(self, clip_ids: Iterable[str], suffixes: Iterable[str] = ()) -> None:
        """Forget what a stopped job made for these clips and did not record (before its status is written for it
        from outside, :func:`hdtf.job.interrupted`): nothing to do in a folder, whose files are written in place; on
        a store, the scratch files that the next status naming the clips as done would otherwise upload."""

    def make_dirs(self) -> None:
        """The run's folders (HDTFError when one is a link leading out of the run: files cut there would be
        rejected as outside the run, and made again on every run)."""
        for sub in ("clips", "status"):
            atomic.make_dirs(_within(self.root / sub, self.root, sub))

    def clip_file(self, clip_id: str, suffix: str) -> Path:
        """The local path of a file a stage makes for a clip (``suffix``: e.g. ``.landmarks.npz`` under ``clips/``;
        a suffix naming a folder first, ``aligned/.mp4``, puts the file in that folder: ``aligned/{id}.mp4``; else the
        folder :data:`STAGE_FOLDERS` names for the suffix)."""
        folder, _, suffix = suffix.rpartition("/")
        return self.root / (folder or STAGE_FOLDERS.get(suffix, "clips")) / f"{safe_name(clip_id)}{suffix}"

    def every_clip_file(self, clip_id: str, suffixes: Iterable[str] = ()) -> list[Path]:
        """Every file a clip may have: its cut's, its landmarks and the stage files of ``suffixes``."""
        files = self.clip_files(clip_id)
        return list(dict.fromkeys([files.video, files.audio, files.landmarks, files.track,
                                   *(self.clip_file(clip_id, s) for s in suffixes)]))

    def discard_clip(self, clip_id: str, suffixes: Iterable[str] = ()) -> None:
        """Remove a clip's files (its new record is not "done": files of an earlier cut must not look finished);
        ``suffixes``: the stage files it may have besides its cut's and its landmarks."""
        for path in self.every_clip_file(clip_id, suffixes):
            path.unlink(missing_ok=True)

    # -- earlier clips kept aside ---------------------------------------------------------------------------------

    def kept_files(self, record: Mapping[str, Any]) -> dict[str, str]:
        """The names (record field -> name under ``kept/``) an earlier clip's files are kept under: each file's own
        name in ``kept/``, and a file of a stage folder other than ``clips/`` under that folder's name in ``kept/``
        (``kept/aligned/{id}.mp4``: it would share ``kept/{id}.mp4`` with the clip otherwise)."""
        return {key: f"{KEPT}/{_kept_name(record[key])}" for key in file_fields(record)
                if isinstance(record.get(key), str)}

    def keep_aside(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Copy the files of a finished clip's ``record`` to ``kept/`` and return the record naming the copies: the
        earlier clip, which a new record carries (``kept``) until its replacement is recorded as done. The originals
        stay until a status naming the copies is written, so that no moment has the clip unnamed. Files the record
        names that are gone are left out."""
        kept = {key: value for key, value in record.items() if key != KEPT}
        for key, copy in self.kept_files(record).items():
            name = record.get(key)
            kept[key] = None
            if name and self.exists(_inside(name)):
                self._copy(name, copy)
                kept[key] = copy
        return kept

    def restore_kept(self, kept: Mapping[str, Any]) -> dict[str, Any]:
        """Copy an earlier clip's files back from ``kept/`` to their places under ``clips/`` and return its record
        naming them (a run went back to the settings it was made with). The copies under ``kept/`` stay until a
        status names the clip as done again (:meth:`drop_kept`)."""
        record = dict(kept)
        for key in file_fields(kept):
            name = kept.get(key)
            record[key] = None
            if name in _kept_names(kept):
                place = _place_of_kept(name)
                self._copy(name, place)
                record[key] = place
        return record

    def _copy(self, name: str, copy: str) -> None:
        with atomic.replacing(self._local(copy)) as temp:
            shutil.copyfile(self._local(name), temp)

    def drop_kept(self, kept: Mapping[str, Any]) -> None:
        """Remove an earlier clip's copies under ``kept/`` (its replacement is recorded as done)."""
        for name in _kept_names(kept):
            self._local(name).unlink(missing_ok=True)

    # -- status ---------------------------------------------------------------------------------------------------

    def read_status(self, video_key: str) -> dict[str, Any] | None:
        """A video's status, or None when it is absent or cannot be used (then one warning line, and the video is
        simply done again)."""
        path = self.status_file(video_key)
        return _read_status(path, self.relative(path), self.where)

    def write_status(self, video: VideoSpec, state: str, reason: str | None, clips: Iterable[Mapping[str, Any]],
                     **extra: Any) -> None:
        """Rewrite ``status/{key}.json`` atomically and durably (:mod:`hdtf.atomic`): a reader sees the previous
        status or this one, never half, and a power loss leaves one of them. Done records get the size and hash of
        the files they name that they have none for (:meth:`stamp`). Shareable: URLs without credentials, paths
        relative to the root (``hdtf.redact.scrub``)."""
        clips = self.stamp(clips)
        atomic.write_json(self.status_file(video.key),
                          scrub(status_document(video, state, reason, clips, **extra), self.root))

    def statuses(self, known: dict[str, tuple[Any, dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
        """Every status of the run, in file-name order; one that cannot be used stands as its video
        :data:`UNREADABLE` with no clips (and one warning line).

        ``known`` (a run's own memo, kept from one call to the next): a status file whose size, modification time
        and inode are those it had when it was read before is not read again, so a run reads each status once
        however often it asks (the settings check, the settled videos, the manifest), and still sees every status
        another run changed meanwhile. The documents are shared with the memo: readers must not change them."""
        found = []
        try:
            listing = sorted((e.name, e) for e in os.scandir(self.root / "status") if e.name.endswith(".json"))
        except FileNotFoundError:
            return found
        for file_name, entry in listing:
            path = Path(entry.path)
            name = self.relative(path)
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            signature = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
            if known is not None and (memo := known.get(file_name)) is not None and memo[0] == signature:
                found.append(memo[1])
                continue
            status = _read_status(path, name, self.where)
            if status is not None or path.exists():
                document = status or _unusable(path.stem, name)
                found.append(document)
                if known is not None:
                    known[file_name] = (signature, document)
        return found

    def stamp(self, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """``records``, each done one given (in place: the caller's records carry them from then on) the size and
        hash of the files it names and has none for, from the files as they are at hand now: a clip is committed
        only after its files are in place (:func:`hdtf.atomic.commit`), so these are the files it was made as.
        Stamps of files a record no longer names are dropped."""
        records = list(records)
        for record in records:
            if record.get("status") != "done" or not isinstance(record, dict):
                continue
            named = named_files([record])
            stamps = {n: s for n, s in (record.get(STAMPS) or {}).items() if n in named}
            for name in named:
                if name not in stamps and (local := self._committing(name)) is not None:
                    stamps[name] = file_fingerprint(local, STAMP_EDGE)
            record[STAMPS] = stamps or None
        return records

    def _committing(self, name: str) -> Path | None:
        """The local file a record's name is committed from, when it is at hand."""
        try:
            path = self._local(name)
        except HDTFError:
            return None
        return path if path.is_file() else None

    # -- manifest -------------------------------------------------------------------------------------------------

    def _manifest_bytes(self) -> bytes | None:
        try:
            return self.manifest_file.read_bytes()
        except FileNotFoundError:
            return None

    def manifest(self) -> dict[str, Any] | None:
        """``manifest.json``, or None when the run has none (yet): one read, no existence check before it. HDTFError
        when it is not JSON."""
        data = self._manifest_bytes()
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise HDTFError(f"{self.location(MANIFEST)} is not valid JSON: {exc}") from None

    def read_manifest(self) -> dict[str, Any]:
        """``manifest.json`` (HDTFError when the run has none or it is not JSON)."""
        manifest = self.manifest()
        if manifest is None:
            raise HDTFError(f"{self.where} is not a prepared dataset: {MANIFEST} not found (run hdtf prepare)")
        return manifest

    def write_manifest(self, manifest: Mapping[str, Any]) -> Path | str:
        """Write ``manifest.json`` (shareable, as :meth:`write_status`); returns where it is (a path, or a URL for a
        run on a store)."""
        atomic.write_json(self.manifest_file, scrub(manifest, self.root))
        return self.manifest_file

    # -- is a clip settled? ---------------------------------------------------------------------------------------

    def finished(self, record: Mapping[str, Any]) -> bool:
        """A finished clip: recorded as done and its mp4 (and wav) there whole (:meth:`intact`; sizes only)."""
        return record.get("status") == "done" and self.intact(record)

    def intact(self, record: Mapping[str, Any], deep: bool = False) -> bool:
        """Whether the cut files a record names (mp4, wav) are there whole: of the size recorded with them (and,
        ``deep``, the same first and last bytes, where the file is local), or, in a record of an earlier version that
        has no sizes, not empty. A file that is missing, empty or short (a power loss, a killed copy) fails it."""
        if not record.get("path"):
            return False
        stamps = record.get(STAMPS) or {}
        return all(self._whole(record[k], stamps.get(record[k]), deep) for k in CUT_FILES if record.get(k))

    def _whole(self, name: str, stamp: Mapping[str, Any] | None, deep: bool) -> bool:
        size = self.size(name)
        if size is None:
            return False
        if not stamp:
            return size > 0
        return size == stamp.get("size") and (not deep or self._same_edges(name, stamp))

    def _same_edges(self, name: str, stamp: Mapping[str, Any]) -> bool:
        """Whether the file's first and last bytes still hash as recorded."""
        return file_fingerprint(self._local(name), STAMP_EDGE) == dict(stamp)

    def clip_is_settled(self, record: Mapping[str, Any], clip: ClipSpec, source: Mapping[str, Any] | None,
                        settings: Mapping[str, Any], allow_short: bool = False) -> bool:
        """Whether ``record`` still answers for ``clip`` (:func:`hdtf.clip_record.is_settled`), its cut files
        checked whole here (sizes and, for local files, the hashed edges)."""
        return is_settled(record, clip, source, settings, allow_short, lambda r: self.intact(r, deep=True))

    def missing_files(self, record: Mapping[str, Any], fields: Iterable[str]) -> list[str]:
        """The ``fields`` of a done record that name a file that is gone (or not whole)."""
        stamps = record.get(STAMPS) or {}
        return [k for k in fields if record.get(k) and not self._whole(record[k], stamps.get(record[k]), False)]


def status_document(video: VideoSpec, state: str, reason: str | None, clips: Iterable[Mapping[str, Any]],
                    **extra: Any) -> dict[str, Any]:
    """The content of a video's status (the same wherever it is stored)."""
    return {
        "version": STATUS_VERSION,
        "video": {"key": video.key, "source": video.source, "subset": video.subset, "name": video.name,
                  "url": video.url, "youtube_id": video.youtube_id, "resolution": video.resolution},
        "status": state,
        "reason": reason,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
        "clips": list(clips),
    }


def status_problem(status: Any) -> str | None:
    """Why a parsed status document cannot be used (None: it can): :func:`hdtf.clip_record.status_problem` for the
    status versions this hdtf reads."""
    return record_problem(status, READABLE_VERSIONS)


def _read_status(path: Path, name: str, where: str = "") -> dict[str, Any] | None:
    """The status at ``path`` (``name``: its name in the run, for messages); None when there is none or it cannot
    be used (then one warning line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _warn_once(where, f"{name}: cannot be read ({type(exc).__name__}); its video is treated as not started")
        return None
    return _parse_status(data, name, where)


def _parse_status(data: bytes, name: str, where: str = "") -> dict[str, Any] | None:
    """A status from its bytes, checked (:func:`status_problem`); records naming a file outside the run are made
    failures to redo (:func:`_confined`). None, with one warning line naming it, when it cannot be used."""
    try:
        status = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        problem: str | None = f"not JSON ({exc})"
    else:
        problem = status_problem(status)
    if problem is not None:
        _warn_once(where, f"{name}: not a usable status ({problem}); its video is treated as not started")
        return None
    status["clips"] = [_confined(record, name, where) for record in status["clips"]]
    return status


def _unusable(stem: str, name: str) -> dict[str, Any]:
    """What stands for a status file that cannot be used among the run's statuses: its video, not started."""
    return {"version": STATUS_VERSION, "video": {"key": stem}, "status": UNREADABLE,
            "reason": f"{name} could not be used; its video is treated as not started", "clips": []}


def _confined(record: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    """``record``, or, when a file name it holds leads out of the run, a failure to make again (one warning line)."""
    outside = outside_names(record)
    if not outside:
        return record
    _warn_once(where, f"{name}: clip {record['id']} names a file outside the run ({outside[0]!r}); it is made again")
    return given_up(record, "its record named a file outside the run")


_warned: set[tuple[str, str]] = set()  # (run, message) pairs said in this process: a bad file is one line, not many


def _warn_once(where: str, message: str) -> None:
    if (where, message) not in _warned:
        _warned.add((where, message))
        log.warning("%s", message)


def _kept_name(name: str) -> str:
    """Where under ``kept/`` the file ``name`` is kept: its own name for a file of ``clips/``, else its folder too."""
    path = Path(name)
    return path.name if path.parent.as_posix() in ("clips", ".") else path.as_posix()


def _place_of_kept(name: str) -> str:
    """The place a file kept as ``name`` (under ``kept/``) goes back to (:func:`_kept_name` undone)."""
    rest = Path(name).relative_to(KEPT)
    return f"clips/{rest.as_posix()}" if rest.parent.as_posix() == "." else rest.as_posix()


def _kept_names(kept: Mapping[str, Any]) -> list[str]:
    """The files a kept record names, only under ``kept/`` (a record is data: it never makes a run delete elsewhere)."""
    names = [kept.get(key) for key in file_fields(kept)]
    return [_inside(name) for name in names if isinstance(name, str) and name.startswith(f"{KEPT}/")]


class OutsideRun(HDTFError):
    """A record names a file outside the run: the record is given up (its clip made again), never followed."""


def _inside(name: str) -> str:
    """A record's file name that stays inside the run (a status is data: a name climbing out with ``..`` or an
    absolute one must never make a run read, pack, upload or write a file elsewhere)."""
    if not is_inside(name):
        raise OutsideRun(f"file name {name!r} in a status is not inside the run")
    return name


def _within(path: Path, root: Path, name: str) -> Path:
    """``path`` (under ``root``) when no link on its way leads out of ``root``; HDTFError otherwise. Only the parts
    below ``root`` are looked at (one ``lstat`` each; the name holds no ``..``): the path is resolved only when one
    of them is a link, so checking a run's files costs no walk of the folders above it."""
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError:  # not there (yet): nothing below it can lead anywhere
            return path
        if stat.S_ISLNK(mode):
            if not path.resolve().is_relative_to(root.resolve()):
                raise OutsideRun(f"file name {name!r} in a status leads out of the run through a link")
            return path
    return path


@dataclass
class _Seen:
    """What one :class:`RemoteLayout` value has learnt of its store: which objects exist (from listings and its own
    uploads), whether it reads the whole run and has listed ``clips/``, what the probe found. Only the probe's finding
    travels with the layout to other processes."""

    objects: dict[str, int | None] = field(default_factory=dict)  # name -> size (None: no such object)
    conditional: bool | None = None  # the probe found create-if-absent honoured (None: not probed here)
    whole_run: bool = False  # every status was read: an unknown clip file is found with one listing of its folder
    listed: set[str] = field(default_factory=set)  # folders listed (clips/, ...): a file there not seen does not exist
    made: set[str] = field(default_factory=set)  # scratch files this process wrote and has not uploaded yet


@dataclass(frozen=True)
class RemoteLayout(Layout):
    """A run whose files are objects under ``url`` (an fsspec URL), built in the local scratch folder ``root``.

    Writers get scratch paths (:meth:`clip_files`, :attr:`raw_dir`) as for a local run. :meth:`write_status` is the
    commit point: it uploads the scratch files a done record of the status names that this process wrote (one PUT
    each; a job says which with :meth:`wrote`, :meth:`editable` copies count), then the status object (one PUT), then
    deletes the uploaded scratch files. A file found in the scratch folder under a clip's name is never taken for the
    clip: it may be left from a stopped job or planted. The scratch folder is private (checked wherever the layout
    is made or unpickled: :func:`hdtf.storage.private_scratch`). Raw downloads and kept raw videos (``--keep-raw``)
    stay in the scratch folder; they are never uploaded. Locks are objects under ``locks/`` when the store can create an
    object only if it is absent (S3 conditional writes), else files in the scratch folder (this machine only).

    What exists is remembered per layout value from listings: reading a video's status lists the objects its records
    name in one request; reading every status (:meth:`statuses`) lists ``clips/`` once.
    """

    url: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        private_scratch(self.root)
        object.__setattr__(self, "_seen", _Seen())

    def __getstate__(self) -> dict[str, Any]:  # what is known of the store's objects stays in this process
        return {"root": self.root, "url": self.url, "conditional": self._seen.conditional}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "root", private_scratch(state["root"]))  # a worker on another node checks its own
        object.__setattr__(self, "url", state["url"])
        object.__setattr__(self, "_seen", _Seen(conditional=state.get("conditional")))

    @property
    def store(self) -> Store:
        return Store(self.url)

    @property
    def where(self) -> str:
        return self.url

    def location(self, name: str) -> str:
        return f"{self.url}/{name}"

    def check_output(self) -> None:
        """Write and delete a marker object (``hdtf.storage.Store.probe``): one HDTFError line when the run could
        not store its files (unknown protocol, missing package, bucket not found, no credentials, access denied)."""
        if self._seen.conditional is None:
            self._seen.conditional = self.store.probe()

    def present(self) -> bool:
        return True

    def make_dirs(self) -> None:
        atomic.make_dirs(self.root / "clips")

    def _lock(self, name: str, what: str) -> Lock:
        """An object under ``locks/`` where the store creates objects only if absent (S3; as the probe found, when
        this layout was probed), else a file in the scratch folder: this machine's runs only."""
        store = self.store
        on_store = store.conditional if self._seen.conditional is None else self._seen.conditional
        return ObjectLock(store, name, what) if on_store else FileLock(self.root / name, what)

    # -- files ----------------------------------------------------------------------------------------------------

    def _fetched(self, name: str) -> Path:
        return _within(self.root / ".fetched" / _inside(name), self.root, name)

    def _local(self, name: str) -> Path:
        """The scratch file a record's name stands for (HDTFError when the name or a link leads out of the scratch
        folder: a link there must never make a run upload another file)."""
        return _within(self.root / _inside(name), self.root, name)

    def file(self, name: str) -> Path:
        """A local copy of the object ``name`` in the scratch folder, fetched again when the object changed (its
        ETag); a missing object gives a path that does not exist."""
        local = self._fetched(name)
        info = self.store.info(name)
        if info is None:
            return local
        tag = local.with_name(local.name + ".etag")
        if not (local.is_file() and tag.is_file() and tag.read_text(encoding="utf-8") == str(info.etag)):
            self.store.fetch(name, local)
            atomic.write_text(tag, str(info.etag))
        return local

    def read_bytes(self, name: str) -> bytes:
        return self.store.read_bytes(_inside(name))

    def size(self, name: str) -> int | None:
        """The object's size, from the listings made (one HEAD only for a name no listing covered)."""
        if not is_inside(name):
            _warn_once(self.where, f"file name {name!r} in a status is not inside the run")
            return None
        seen = self._seen
        folder = name.partition("/")[0] + "/"
        listable = folder in _CLIP_FOLDERS  # what a listing of a clip-file folder answers for (not kept/ copies)
        if name not in seen.objects and listable and seen.whole_run and folder not in seen.listed:
            seen.objects.update({n: size for n, size in self.store.listing(folder).items() if n not in seen.objects})
            seen.listed.add(folder)
        if name not in seen.objects:
            info = None if listable and folder in seen.listed else self.store.info(name)
            seen.objects[name] = None if info is None else info.size
        return seen.objects[name]

    def _same_edges(self, name: str, stamp: Mapping[str, Any]) -> bool:
        return True  # the hash would take a GET per file: on a store the listed size is what is compared

    def at_hand(self, path: Path) -> Path:
        name = self.relative(path)
        return path if name in self._seen.made and path.is_file() else self.file(name)

    def wrote(self, *paths: Path) -> None:
        self._seen.made.update(self.relative(p) for p in paths)

    def _committing(self, name: str) -> Path | None:
        return super()._committing(name) if name in self._seen.made else None  # never a file this job did not cut

    def editable(self, name: str) -> Path:
        local = self._local(name)
        if name in self._seen.made and local.is_file():
            return local  # this job's copy (it made the file, or fetched it to change): newer than the object
        try:
            self.store.fetch(name, local)
        except FileNotFoundError:
            local.unlink(missing_ok=True)
        self._seen.made.add(name)
        return local

    def _forget(self, clip_id: str, suffixes: Iterable[str]) -> list[str]:
        """Remove a clip's scratch files (the store's objects stay); their names."""
        suffixes = tuple(suffixes)
        super().discard_clip(clip_id, suffixes)
        names = [self.relative(p) for p in self.every_clip_file(clip_id, suffixes)]
        self._seen.made.difference_update(names)
        return names

    def drop_unrecorded(self, clip_ids: Iterable[str], suffixes: Iterable[str] = ()) -> None:
        suffixes = tuple(suffixes)
        for clip_id in clip_ids:
            self._forget(clip_id, suffixes)

    def discard_clip(self, clip_id: str, suffixes: Iterable[str] = ()) -> None:
        names = self._forget(clip_id, suffixes)
        self.store.delete(names)
        for name in names:
            self._seen.objects[name] = None
            self._fetched(name).unlink(missing_ok=True)

    def _copy(self, name: str, copy: str) -> None:
        size = self.size(name)
        self.store.copy(name, copy)
        self._seen.objects[copy] = size

    def drop_kept(self, kept: Mapping[str, Any]) -> None:
        names = _kept_names(kept)
        self.store.delete(names)
        for name in names:
            self._seen.objects[name] = None
            self._fetched(name).unlink(missing_ok=True)

    def _learn(self, names: list[str]) -> None:
        """Find out with one listing per folder (of the names' common prefix there) which of ``names`` exist."""
        folders: dict[str, list[str]] = {}
        for name in names:
            folders.setdefault(name.partition("/")[0], []).append(name)
        for group in folders.values():  # one listing per folder (clips/, embeddings/, ...), never the whole run
            found = self.store.listing(os.path.commonprefix(group))
            self._seen.objects.update({name: found.get(name) for name in group})

    # -- status ---------------------------------------------------------------------------------------------------

    def _status_name(self, video_key: str) -> str:
        return self.relative(self.status_file(video_key))

    def read_status(self, video_key: str) -> dict[str, Any] | None:
        name = self._status_name(video_key)
        try:
            status = _parse_status(self.store.read_bytes(name), name, self.where)
        except FileNotFoundError:
            return None
        if status is not None:
            self._learn(named_files(status["clips"]))
        return status

    def write_status(self, video: VideoSpec, state: str, reason: str | None, clips: Iterable[Mapping[str, Any]],
                     **extra: Any) -> None:
        """Upload the scratch files the done records name that this process wrote (:meth:`wrote`), then the status
        object: the commit point."""
        clips = self.stamp(clips)
        store, seen, uploaded = self.store, self._seen, []
        for name in dict.fromkeys(named_files(clips, done_only=True)):
            local = self._local(name)
            if name in seen.made and local.is_file():
                size = local.stat().st_size
                store.put_file(local, name)
                seen.objects[name] = size
                uploaded.append(name)
        store.put_json(self._status_name(video.key),
                       scrub(status_document(video, state, reason, clips, **extra), self.root))
        for name in uploaded:
            seen.made.discard(name)
            self._local(name).unlink(missing_ok=True)
        if state != "running":  # the job is done with the video: drop local copies fetched for it
            for name in named_files(clips):
                self._fetched(name).unlink(missing_ok=True)

    def statuses(self, known: dict[str, tuple[Any, dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
        """Every status (one that cannot be used stands as its video :data:`UNREADABLE`): one listing of ``status/``
        and the objects fetched concurrently, except those ``known`` (the run's memo, as for a folder) read before
        whose size and ETag in the listing are unchanged. From then on :meth:`exists` answers for the whole run from
        one listing of ``clips/`` (made when first needed)."""
        tags = {n: tag for n, tag in self.store.tagged("status/").items() if n.endswith(".json")}
        names = sorted(tags)
        memo = {} if known is None else known
        seen = {n: memo[n][1] for n in names if n in memo and memo[n][0] == tags[n] and tags[n][1] is not None}
        found = self.store.read_many([n for n in names if n not in seen])
        self._seen.whole_run = True
        statuses = []
        for name in names:
            if name in seen:
                statuses.append(seen[name])
            elif name in found:
                document = _parse_status(found[name], name, self.where) or _unusable(Path(name).stem, name)
                memo[name] = (tags[name], document)
                statuses.append(document)
        return statuses

    # -- manifest -------------------------------------------------------------------------------------------------

    def _manifest_bytes(self) -> bytes | None:
        try:
            return self.store.read_bytes(MANIFEST)
        except FileNotFoundError:
            return None

    def write_manifest(self, manifest: Mapping[str, Any]) -> str:
        self.store.put_json(MANIFEST, scrub(manifest, self.root))
        return self.location(MANIFEST)
