"""Object storage behind a prepared run: an fsspec URL (``s3://bucket/prefix``, ``gs://...``, any fsspec protocol)
seen through one small interface, so that :class:`hdtf.layout.RemoteLayout` is only about *which* objects a run has.

Object stores have no rename, so nothing here writes a final object piece by piece: a finished local file goes up in
one PUT (``put_file``), bytes in one PUT (``pipe_file``). fsspec's ``open(..., "wb")`` is never used for that: an
exception escaping its block still closes it, which saves the partial object under the final name.

Credentials are never read from or written to hdtf's files: the protocol's client finds them as it always does
(``AWS_*`` variables, ``~/.aws`` profiles, instance roles; ``GOOGLE_APPLICATION_CREDENTIALS``, ...). A URL with
credentials in it is refused (it would end up in the manifest and in log lines).

Every failure of the store becomes one :class:`~hdtf.errors.HDTFError` line naming the URL and the reason (unknown
protocol, its package missing and the ``pip`` line, bucket not found, no credentials, access denied, unreachable).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hdtf import atomic
from hdtf.errors import HDTFError

log = logging.getLogger(__name__)

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$")
# The package that gives fsspec each common protocol, and how to get it.
PACKAGES = {
    "s3": "s3fs: pip install 'hdtf[s3]'", "s3a": "s3fs: pip install 'hdtf[s3]'",
    "gs": "gcsfs: pip install gcsfs", "gcs": "gcsfs: pip install gcsfs",
    "az": "adlfs: pip install adlfs", "abfs": "adlfs: pip install adlfs", "abfss": "adlfs: pip install adlfs",
}
# Protocols whose client can create an object only if it is absent (S3 ``If-None-Match: *``) and replace it only if
# it is unchanged (``If-Match: ETag``): what the per-video locks on the store need (hdtf.lock.ObjectLock). The probe
# checks that the store really honours it.
CONDITIONAL = ("s3", "s3a")
# Objects listed per LIST request by S3 and GCS: what a listing of N objects costs in requests.
LIST_PAGE = 1000
# The default scratch folders' parent in the system temp folder: one per user, whatever the URLs.
_SCRATCH_PARENT = f"hdtf-scratch-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def is_url(value: Any) -> bool:
    """Whether ``value`` names a location on an fsspec protocol (``s3://...``); plain paths and ``file://`` do not."""
    if not isinstance(value, str):
        return False
    match = _URL.match(value.strip())
    return match is not None and match.group(1).lower() != "file"


def local_path(value: str | os.PathLike) -> Path:
    """A folder given as a path or a ``file://`` URL."""
    text = os.fspath(value)
    return Path(text[len("file://"):]) if isinstance(text, str) and text.lower().startswith("file://") else Path(text)


def clean_url(url: str) -> str:
    """``url`` in one spelling (lower-case protocol, no trailing slash); HDTFError when it carries credentials or
    names no bucket."""
    match = _URL.match(url.strip())
    if match is None:
        raise HDTFError(f"{url!r} is not a storage URL (protocol://bucket/prefix)")
    protocol, rest = match.group(1).lower(), match.group(2).strip("/")
    parts = urlsplit(f"{protocol}://{rest}")
    if parts.username or parts.password:
        raise HDTFError(f"{protocol}://{parts.hostname}/...: credentials in the URL are not accepted (they would be "
                        "recorded in the manifest); give them as the storage client expects (environment, profile)")
    if not rest:
        raise HDTFError(f"{url!r} names no bucket (use {protocol}://BUCKET/PREFIX)")
    return f"{protocol}://{rest}"


def default_scratch(url: str) -> Path:
    """The local folder a run on ``url`` builds its files in when none is given: the same for every run of this user
    on this machine, so a run that was stopped finds its downloads again. It and its parent, ``hdtf-scratch-<uid>`` in
    the system temp folder (names anyone could take first), are made private or refused by :func:`private_scratch`."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / _SCRATCH_PARENT / digest


def private_scratch(root: Path) -> Path:
    """``root`` (a run's scratch folder) made or checked by :func:`private_folder`, and its parent too when it is the
    default's ``hdtf-scratch-<uid>``: every process that works in it checks it first (a Ray worker on another node
    finds another temp folder)."""
    root = Path(root)
    if root.parent.name == _SCRATCH_PARENT:
        private_folder(root.parent)
    return private_folder(root)


def private_folder(path: Path) -> Path:
    """``path`` as a folder only this user can change: made with mode 0700 when absent (its parents as usual), else
    HDTFError in one line when it is a symbolic link, not a folder, someone else's, or writable by its group or by
    others. Whoever can write in a scratch folder can plant a file that a run would upload as a clip, or a link that
    it would write through."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    found = os.lstat(path)
    fix = "remove it or give another --scratch-dir"
    if stat.S_ISLNK(found.st_mode):
        raise HDTFError(f"scratch folder {path} is a symbolic link: {fix} (a real folder, not a link)")
    if not stat.S_ISDIR(found.st_mode):
        raise HDTFError(f"scratch folder {path} is not a folder: {fix}")
    if not hasattr(os, "getuid"):  # no POSIX owners and modes (Windows): the link check is what applies
        return path
    if found.st_uid != os.getuid():
        raise HDTFError(f"scratch folder {path} belongs to another user (uid {found.st_uid}): {fix}")
    if found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise HDTFError(f"scratch folder {path} is writable by other users (mode {stat.S_IMODE(found.st_mode):o}): "
                        f"chmod 700 it, {fix}")
    return path


@dataclass(frozen=True)
class ObjectInfo:
    """What the store says about one object."""

    size: int
    etag: str | None
    modified: float  # epoch seconds


@dataclass(frozen=True)
class Store:
    """The objects under one URL (``protocol://bucket/prefix``); names are relative to it (``clips/x.mp4``).

    Picklable (only the URL): the fsspec filesystem is made in each process on first use.
    """

    url: str

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def conditional(self) -> bool:
        """Whether this protocol's client can create-if-absent and replace-if-unchanged (see :data:`CONDITIONAL`)."""
        return self.protocol in CONDITIONAL

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (HDTFError naming the fix when the protocol is unknown or its package missing)."""
        return _filesystem(self.url)[0]

    @property
    def base(self) -> str:
        """The URL as the filesystem names it (``bucket/prefix``)."""
        return _filesystem(self.url)[1]

    def key(self, name: str) -> str:
        return f"{self.base}/{name}"

    # -- writing: every object in one request ------------------------------------------------------------------------

    def put_file(self, local: Path, name: str) -> None:
        """Upload a finished local file to ``name`` in one PUT (the object appears whole or not at all)."""
        self._call(f"upload {name}", self.fs.put_file, str(local), self.key(name))

    def put_bytes(self, name: str, data: bytes) -> None:
        self._call(f"write {name}", self.fs.pipe_file, self.key(name), data)

    def put_json(self, name: str, data: Any) -> None:
        """JSON exactly as ``hdtf.atomic.write_json`` writes a local file."""
        self.put_bytes(name, (json.dumps(data, indent=1, default=str) + "\n").encode("utf-8"))

    def create(self, name: str, data: bytes) -> bool:
        """Write ``name`` only if no object has that name (False: one has). Only for :attr:`conditional` stores."""
        try:
            self._call(f"create {name}", self.fs.pipe_file, self.key(name), data, mode="create")
        except FileExistsError:
            return False
        return True

    def replace_if(self, name: str, data: bytes, etag: str) -> bool:
        """Overwrite ``name`` only if it is still the object tagged ``etag`` (False: it changed or is gone)."""
        try:
            self.fs.pipe_file(self.key(name), data, IfMatch=etag)
        except (FileNotFoundError, FileExistsError):
            return False
        except OSError as exc:
            if exc.errno == errno.EINVAL or "condition" in str(exc).lower():  # 412 Precondition Failed
                return False
            raise HDTFError(f"{self.url}: cannot replace {name}: {_reason(self.protocol, exc)}") from exc
        except Exception as exc:
            raise HDTFError(f"{self.url}: cannot replace {name}: {_reason(self.protocol, exc)}") from exc
        return True

    def copy(self, name: str, new_name: str) -> None:
        """Copy the object ``name`` to ``new_name`` on the store (one server-side copy: no bytes through this
        machine; the copy appears whole or not at all)."""
        self._call(f"copy {name}", self.fs.copy, self.key(name), self.key(new_name))

    def delete(self, names: Iterable[str]) -> None:
        """Remove objects (missing ones are fine)."""
        keys = [self.key(n) for n in names]
        if keys:
            try:
                self._call("delete", self.fs.rm, keys)
            except FileNotFoundError:
                pass

    # -- reading -----------------------------------------------------------------------------------------------------

    def read_bytes(self, name: str) -> bytes:
        """The object's bytes (FileNotFoundError when there is none)."""
        return self._call(f"read {name}", self.fs.cat_file, self.key(name), start=0)  # a range: no HEAD first

    def read_many(self, names: list[str]) -> dict[str, bytes]:
        """Several objects at once (fetched concurrently where the client can: one GET each, no HEAD); missing ones
        are left out."""
        if not names:
            return {}
        got = self._call("read", self.fs.cat_ranges, [self.key(n) for n in names], None, None, on_error="return")
        for value in got:
            if isinstance(value, BaseException) and not isinstance(value, FileNotFoundError):
                raise HDTFError(f"{self.url}: cannot read: {_reason(self.protocol, value)}") from value
        return {name: value for name, value in zip(names, got, strict=True) if isinstance(value, bytes)}

    def fetch(self, name: str, local: Path) -> None:
        """Download ``name`` to the local file ``local`` (written under a temporary name, then renamed)."""
        with atomic.replacing(local) as temp:
            self._call(f"download {name}", self.fs.get_file, self.key(name), str(temp))

    def info(self, name: str) -> ObjectInfo | None:
        """Size, ETag and modification time of ``name`` (one HEAD request); None when there is no such object."""
        fs = self.fs
        fs.invalidate_cache(self.key(name))
        try:
            found = self._call(f"look at {name}", fs.info, self.key(name))
        except FileNotFoundError:
            return None
        if found.get("type") == "directory":
            return None
        modified = found.get("LastModified") or found.get("mtime") or found.get("updated")
        stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified or time.time())
        return ObjectInfo(int(found.get("size") or 0), _etag(found), stamp)

    def listing(self, prefix: str) -> dict[str, int]:
        """Every object whose name starts with ``prefix`` (name -> size): one LIST request per
        :data:`LIST_PAGE` objects, filtered by the server where the client can (S3, GCS)."""
        return {name: size for name, (size, _) in self.tagged(prefix).items()}

    def tagged(self, prefix: str) -> dict[str, tuple[int, str | None]]:
        """:meth:`listing` with each object's ETag (None where the store gives none): what tells a reader, from the
        listing alone, that an object it read before is unchanged."""
        folder, _, stem = prefix.rpartition("/")
        where = self.key(folder) if folder else self.base
        fs = self.fs
        try:
            if self.protocol in ("s3", "s3a", "gs", "gcs"):
                found = self._call("list", fs.find, where, prefix=stem, detail=True)
            else:
                found = self._call("list", fs.find, where, detail=True)
        except FileNotFoundError:
            return {}
        start = len(self.base) + 1
        names = {self._name(k, start): (int(v.get("size") or 0), _etag(v)) for k, v in found.items()
                 if v.get("type") != "directory"}
        return {k: v for k, v in names.items() if k.startswith(prefix)}

    @staticmethod
    def _name(key: str, start: int) -> str:
        return key.split("://", 1)[-1][start:]

    # -- can a run write here? ---------------------------------------------------------------------------------------

    def probe(self) -> bool:
        """Write and delete a tiny marker object, so that a destination that cannot take the run's files fails in one
        line before anything is downloaded. Returns whether the store honours create-if-absent: a second conditional
        create of the marker must be refused (always False for protocols outside :data:`CONDITIONAL`; a store that
        rejects conditional writes but takes plain ones gets False too)."""
        marker = f".hdtf-probe-{secrets.token_hex(6)}"
        honoured = False
        try:
            if self.conditional:
                try:
                    self.create(marker, b"hdtf probe\n")
                    honoured = not self.create(marker, b"hdtf probe\n")
                except HDTFError:  # the header refused: do plain writes work?
                    self.put_bytes(marker, b"hdtf probe\n")
            else:
                self.put_bytes(marker, b"hdtf probe\n")
        except FileNotFoundError:
            raise HDTFError(f"{self.url}: bucket {self.base.split('/', 1)[0]!r} not found") from None
        finally:
            try:
                self.delete([marker])
            except HDTFError:
                pass
        if self.conditional and not honoured:
            log.warning("%s: the store does not honour conditional writes (If-None-Match): per-video locks are kept "
                        "in the scratch folder, which keeps runs on this machine apart only; give runs on several "
                        "machines disjoint --shard-index slices", self.url)
        return honoured

    def _call(self, doing: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)``; store failures other than a missing object become one HDTFError line."""
        try:
            return method(*args, **kwargs)
        except (FileNotFoundError, FileExistsError):
            raise
        except HDTFError:
            raise
        except Exception as exc:  # the clients' own errors (botocore, google-auth, aiohttp) have no common base
            raise HDTFError(f"{self.url}: cannot {doing}: {_reason(self.protocol, exc)}") from exc


def _filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, the URL's path on it). fsspec keeps one client per protocol and options in each process
    (its instance cache), so asking again is cheap and a test's new stand-in server is reached once that cache is
    cleared (``S3FileSystem.clear_instance_cache``)."""
    import fsspec
    from fsspec.core import url_to_fs

    protocol = url.split("://", 1)[0]
    try:
        fs, path = url_to_fs(url)
    except ImportError:
        need = PACKAGES.get(protocol, f"the fsspec package for {protocol}://")
        raise HDTFError(f"{url}: {protocol}:// needs {need}") from None
    except ValueError:
        known = ", ".join(p for p in ("s3", "gs", "az", "hf", "memory") if p in fsspec.available_protocols())
        raise HDTFError(f"{url}: unknown storage protocol {protocol!r} (fsspec knows {known}, ...; a local folder "
                        "needs no protocol)") from None
    except Exception as exc:
        raise HDTFError(f"{url}: cannot use this location: {_reason(protocol, exc)}") from None
    return fs, path.rstrip("/")


def _reason(protocol: str, exc: BaseException) -> str:
    """A storage client's exception as the reason a user can act on."""
    kind = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else kind
    if kind in ("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"):
        where = ("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role" if protocol.startswith("s3")
                 else "the environment or a profile, as its client expects")
        return f"no credentials found (give them through {where})"
    if isinstance(exc, PermissionError):
        return f"access denied ({text}): the credentials in use may not write here"
    if kind in ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError") or isinstance(
            exc, ConnectionError):
        return f"cannot reach the store ({text})"
    return f"{kind}: {text}" if kind not in text else text


def _etag(found: dict[str, Any]) -> str | None:
    """An object's ETag (S3) or generation (GCS) as the client's details spell it; None when it gives none."""
    tag = found.get("ETag") or found.get("etag") or found.get("generation")
    return None if tag is None else str(tag)
