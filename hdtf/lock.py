"""Per-video locks: two runs on one output never download or write the same video at once.

A lock is a small JSON document (who holds it: pid, host, a random token, when taken) created only if absent, so of
two runs racing for it exactly one succeeds. While held, a daemon thread touches it every :data:`HEARTBEAT` seconds.
Two media keep it:

- :class:`FileLock`, a file in a local or shared folder: written under a temporary name and hard-linked into place (it
  appears whole or not at all);
- :class:`ObjectLock`, an object on a store whose client can create-if-absent and replace-if-unchanged (S3 conditional
  writes: ``If-None-Match: *`` and ``If-Match: ETag``; see :mod:`hdtf.storage`).

A run that was killed leaves its lock behind. Such a lock is *stale*, and the next run takes it over, when its
holder's process is gone (same host: the pid no longer runs) or when it has not been touched for ``stale_after``
seconds (any host: a run on another machine sharing the output). Taking over is itself exclusive (a file is renamed
away and checked to be the stale one; an object is replaced only if its ETag is still the stale one's), so two
waiters never both take over the same lock.

Where locks live is :class:`hdtf.layout.Layout`'s business (``Layout.lock``); this module only knows the two media.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hdtf.errors import HDTFError

HEARTBEAT = 30.0  # seconds between touches of a held lock
STALE_AFTER = 600.0  # a lock untouched this long is stale, whoever holds it
_POLL = (0.2, 2.0)  # first and longest wait between tries while another run holds a lock

log = logging.getLogger(__name__)


class LockBusy(HDTFError):
    """Another run holds the lock and did not let go within the time we were willing to wait."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its file says, and when the file was last touched."""

    pid: int | None
    host: str | None
    token: str | None
    taken: float | None  # epoch seconds
    touched: float  # the file's mtime (epoch seconds)

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        who = f"pid {self.pid} on {self.host}" if self.pid is not None else "an unknown process"
        since = f", since {time.strftime('%H:%M:%S', time.localtime(self.taken))}" if self.taken else ""
        return f"{who}{since}, last active {max(0.0, now - self.touched):.0f} s ago"

    def stale(self, stale_after: float, now: float | None = None) -> str | None:
        """Why this holder no longer counts (None: it does)."""
        now = time.time() if now is None else now
        if self.host == socket.gethostname() and self.pid is not None and not _running(self.pid):
            return f"pid {self.pid} on {self.host} is no longer running"
        if now - self.touched > stale_after:
            return f"not touched for {now - self.touched:.0f} s (more than {stale_after:.0f} s)"
        return None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def read_holder(path: Path) -> Holder | None:
    """The holder of the lock at ``path``; None when there is no lock file."""
    try:
        touched = path.stat().st_mtime
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        data = {}
        try:
            touched = path.stat().st_mtime
        except FileNotFoundError:
            return None
    return _holder_from(data, touched)


def _holder_from(data: Any, touched: float) -> Holder:
    """The holder a lock's JSON names (an unreadable lock: an unknown holder, judged by its age only)."""
    if not isinstance(data, dict):
        data = {}
    pid = data.get("pid")
    return Holder(pid if isinstance(pid, int) else None, data.get("host"), data.get("token"), data.get("taken"),
                  touched)


class Lock(abc.ABC):
    """An exclusive lock on one thing (``what``, for messages): the waiting, judging and heartbeat logic; the medium
    (a file, an object) is the subclass's."""

    def __init__(self, what: str, *, stale_after: float = STALE_AFTER, heartbeat: float = HEARTBEAT):
        self.what = what
        self.stale_after, self.heartbeat = stale_after, heartbeat
        self.token: str | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- the medium -------------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def _create(self, text: str) -> bool:
        """Write the lock with ``text`` only if there is none: True when this call made it."""

    @abc.abstractmethod
    def _holder(self) -> Holder | None:
        """Who holds the lock now (None: nobody)."""

    @abc.abstractmethod
    def _take_over(self, stale: Holder, text: str) -> bool:
        """Replace the lock judged stale (``stale``) by ours, only if it is still that one: True when it is ours."""

    @abc.abstractmethod
    def _touch(self) -> bool:
        """Show that the holder is alive; False when the lock is no longer ours."""

    @abc.abstractmethod
    def _remove(self) -> None:
        """Delete the lock if it still carries our token."""

    # -- taking it -------------------------------------------------------------------------------------------------

    def try_acquire(self) -> Holder | None:
        """Take the lock if it is free or stale: None when taken, else who holds it."""
        for _ in range(5):  # the holder may let go or another waiter take over between our steps: look again
            token = secrets.token_hex(8)
            text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "token": token,
                               "taken": time.time(), "what": self.what}) + "\n"
            if self._create(text):
                return self._held(token)
            holder = self._holder()
            if holder is None:
                continue
            why = holder.stale(self.stale_after)
            if why is None:
                return holder
            if self._take_over(holder, text):
                log.warning("%s: took over a stale lock (%s)", self.what, why)
                return self._held(token)
        return self._holder() or Holder(None, None, None, None, time.time())

    def acquire(self, wait: float | None = None, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock, waiting up to ``wait`` seconds (None: as long as it takes) while another run holds it.

        ``on_wait`` gets one line when the wait begins (what we wait for and who holds it). LockBusy when the wait
        runs out.
        """
        began, pause = time.monotonic(), _POLL[0]
        said = False
        while True:
            holder = self.try_acquire()
            if holder is None:
                return
            waited = time.monotonic() - began
            if wait is not None and waited >= wait:
                raise LockBusy(f"{self.what}: left to another run that is preparing it ({holder.describe()}); "
                               f"gave up after waiting {waited:.0f} s")
            if not said and on_wait is not None:
                on_wait(f"waiting for {self.what}: another run is preparing it ({holder.describe()}); taken over "
                        f"if that run stops or is not heard from for {self.stale_after:.0f} s")
                said = True
            time.sleep(pause if wait is None else min(pause, max(0.0, wait - waited)))
            pause = min(pause * 2, _POLL[1])

    def _held(self, token: str) -> None:
        self.token = token
        self._stop.clear()
        self._beat = threading.Thread(target=self._keep_alive, name=f"hdtf-lock-{self.what}", daemon=True)
        self._beat.start()

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                if self._touch():
                    continue
            except Exception as exc:  # a store that cannot be reached for a moment: try again at the next beat
                log.warning("%s: could not refresh the lock: %s", self.what, exc)
                continue
            log.warning("%s: another run took over this run's lock (it was not refreshed for %.0f s)", self.what,
                        self.stale_after)
            return

    # -- letting go ------------------------------------------------------------------------------------------------

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
            self._beat = None
        if self.token is None:
            return
        self._remove()
        self.token = None

    @property
    def held(self) -> bool:
        return self.token is not None

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileLock(Lock):
    """A lock held as the file ``path`` (local, or a folder shared between machines)."""

    def __init__(self, path: Path, what: str, *, stale_after: float = STALE_AFTER, heartbeat: float = HEARTBEAT):
        super().__init__(what, stale_after=stale_after, heartbeat=heartbeat)
        self.path = Path(path)

    def _create(self, text: str) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        temp.write_text(text, encoding="utf-8")
        try:
            os.link(temp, self.path)  # fails when the lock exists: the file appears whole, for one creator only
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive creation, then the content
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        finally:
            temp.unlink(missing_ok=True)
        return True

    def _holder(self) -> Holder | None:
        return read_holder(self.path)

    def _take_over(self, stale: Holder, text: str) -> bool:
        """Move the stale lock away, making sure it is the one judged stale (a fresh one goes back), then create."""
        moved = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.stale")
        try:
            os.rename(self.path, moved)
        except FileNotFoundError:
            return False
        got = read_holder(moved)
        if got is not None and got.token != stale.token:  # another waiter took over first and made a new lock
            try:
                os.link(moved, self.path)
            except FileExistsError:
                pass
        moved.unlink(missing_ok=True)
        return got is not None and got.token == stale.token and self._create(text)

    def _touch(self) -> bool:
        try:
            os.utime(self.path)
        except OSError:
            return False
        return True

    def _remove(self) -> None:
        holder = read_holder(self.path)
        if holder is not None and holder.token == self.token:
            self.path.unlink(missing_ok=True)


class ConditionalStore(Protocol):
    """What :class:`ObjectLock` needs of a store (``hdtf.storage.Store`` on a conditional-write protocol)."""

    url: str

    def create(self, name: str, data: bytes) -> bool: ...
    def replace_if(self, name: str, data: bytes, etag: str) -> bool: ...
    def info(self, name: str) -> Any: ...
    def read_bytes(self, name: str) -> bytes: ...
    def delete(self, names: list[str]) -> None: ...


class ObjectLock(Lock):
    """A lock held as the object ``name`` of ``store``: created only if absent, refreshed and taken over only while
    it is the object we last saw (its ETag), so no two runs, on any machines, hold it at once."""

    def __init__(self, store: ConditionalStore, name: str, what: str, *, stale_after: float = STALE_AFTER,
                 heartbeat: float = HEARTBEAT):
        super().__init__(what, stale_after=stale_after, heartbeat=heartbeat)
        self.store, self.name = store, name
        self._text = ""
        self._etag: str | None = None  # of our lock object, as last written
        self._seen: tuple[str | None, str | None] = (None, None)  # token and ETag of the lock as last read

    @property
    def path(self) -> str:
        return f"{self.store.url}/{self.name}"

    def _create(self, text: str) -> bool:
        if not self.store.create(self.name, text.encode("utf-8")):
            return False
        self._mine(text)
        return True

    def _holder(self) -> Holder | None:
        info = self.store.info(self.name)
        if info is None:
            return None
        try:
            data = json.loads(self.store.read_bytes(self.name))
        except FileNotFoundError:
            return None
        except ValueError:
            data = {}
        holder = _holder_from(data, info.modified)
        self._seen = (holder.token, info.etag)
        return holder

    def _take_over(self, stale: Holder, text: str) -> bool:
        token, etag = self._seen
        if token != stale.token or etag is None or not self.store.replace_if(self.name, text.encode("utf-8"), etag):
            return False
        self._mine(text)
        return True

    def _mine(self, text: str) -> None:
        self._text = text
        info = self.store.info(self.name)
        self._etag = None if info is None else info.etag

    def _touch(self) -> bool:
        if self._etag is None or not self.store.replace_if(self.name, self._text.encode("utf-8"), self._etag):
            return False
        self._mine(self._text)
        return True

    def _remove(self) -> None:
        holder = self._holder()
        if holder is not None and holder.token == self.token:
            self.store.delete([self.name])
