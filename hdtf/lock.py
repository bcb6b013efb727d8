"""Per-video locks: two runs on one output never download or write the same video at once.

A lock is a small JSON document (who holds it: pid, host, boot id, pid namespace and process start time, a random
token, when taken) created only if absent, so of two runs racing for it exactly one succeeds. While held, a daemon
thread refreshes it every :data:`HEARTBEAT` seconds, and only while it still carries the holder's token. Two media
keep it:

- :class:`FileLock`, a file in a local or shared folder: written under a temporary name and hard-linked into place (it
  appears whole or not at all);
- :class:`ObjectLock`, an object on a store whose client can create-if-absent and replace-if-unchanged (S3 conditional
  writes: ``If-None-Match: *`` and ``If-Match: ETag``; see :mod:`hdtf.storage`).

A run that was killed leaves its lock behind. Such a lock is *stale*, and the next run takes it over, when its
holder's process is certainly gone (same host, same boot, same pid namespace, and no process with its pid *and* start
time runs: a container with host networking shares the host name but not the pids, and a pid is reused after a
reboot) or when it has not been touched for ``stale_after`` seconds (any host). Age is measured on the medium's own
clock (a probe file's mtime in the lock's folder, a probe object's ``LastModified``), never by comparing another
machine's time with ours. Taking over is itself exclusive (a file is replaced in one rename while a ``.takeover``
marker keeps other waiters out, and never goes missing meanwhile; an object is replaced only if its ETag is still the
stale one's), so two waiters never both take over the same lock.

A holder that was judged stale (suspended, cut off from a shared folder) may wake up while another run holds its lock.
Its heartbeat stops refreshing (it sees another token) and :meth:`Lock.check`, called before every status write,
raises :class:`LockLost`: such a job stops without writing.

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from hdtf.errors import HDTFError

HEARTBEAT = 30.0  # seconds between touches of a held lock
STALE_AFTER = 600.0  # a lock untouched this long is stale, whoever holds it
TAKEOVER_STALE = 60.0  # a takeover marker this old was left by a waiter that died in the middle of taking over
_POLL = (0.2, 2.0)  # first and longest wait between tries while another run holds a lock

log = logging.getLogger(__name__)


class LockBusy(HDTFError):
    """Another run holds the lock and did not let go within the time we were willing to wait."""


class LockLost(HDTFError):
    """Another run took this run's lock over (it judged this run stale): this run must stop without writing."""


# ------------------------------------------------------------------------------------------- who is running


def boot_id() -> str | None:
    """This machine's boot id (Linux): pids of another boot mean nothing now."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def pid_namespace() -> str | None:
    """This process's pid namespace (Linux, e.g. ``pid:[4026531836]``): pids of another namespace mean nothing here."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, field 22 of ``/proc/PID/stat``); None: no such process
    (or no /proc). A pid with another start time is another process."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text(encoding="ascii", errors="replace")
        return int(stat.rpartition(")")[2].split()[19])  # fields after the command name start at field 3
    except (OSError, ValueError, IndexError):
        return None


def _identity() -> dict[str, Any]:
    """What a lock says about its holder, enough to tell later whether that process still runs."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "boot": boot_id(), "pidns": pid_namespace(),
            "start": process_start(pid)}


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its file says, and when the file was last touched."""

    pid: int | None
    host: str | None
    token: str | None
    taken: float | None  # epoch seconds
    touched: float  # the file's mtime (epoch seconds, the medium's clock)
    boot: str | None = None
    pidns: str | None = None
    start: int | None = None
    age: float | None = field(default=None, compare=False)  # seconds since touched, on the medium's clock

    def _age(self, now: float | None) -> float:
        if self.age is not None:
            return self.age
        return (time.time() if now is None else now) - self.touched

    def describe(self, now: float | None = None) -> str:
        who = f"pid {self.pid} on {self.host}" if self.pid is not None else "an unknown process"
        since = f", since {time.strftime('%H:%M:%S', time.localtime(self.taken))}" if self.taken else ""
        return f"{who}{since}, last active {max(0.0, self._age(now)):.0f} s ago"

    def gone(self) -> bool:
        """Whether the holder's process has certainly ended: it ran on this machine, since this boot, in this pid
        namespace, and no process with its pid and start time runs now. Anything else (another machine or container,
        an older lock without these facts) is judged by age alone."""
        if self.pid is None or self.start is None or self.boot is None or self.pidns is None:
            return False
        if self.host != socket.gethostname() or self.boot != boot_id() or self.pidns != pid_namespace():
            return False
        return process_start(self.pid) != self.start

    def stale(self, stale_after: float, now: float | None = None) -> str | None:
        """Why this holder no longer counts (None: it does)."""
        if self.gone():
            return f"pid {self.pid} on {self.host} is no longer running"
        age = self._age(now)
        if age > stale_after:
            return f"not touched for {age:.0f} s (more than {stale_after:.0f} s)"
        return None


def read_holder(path: Path) -> Holder | None:
    """The holder of the lock at ``path``; None when there is no lock file.

    Its time and its content come from one open file: a lock replaced between a ``stat`` and a read would otherwise
    pair the old file's age with the new holder's token, and a fresh lock would look stale."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError:  # there but unreadable: an unknown holder, judged by its age
        try:
            return _holder_from({}, path.stat().st_mtime)
        except FileNotFoundError:
            return None
    try:
        touched = os.fstat(fd).st_mtime
        with os.fdopen(fd, "rb", closefd=False) as f:
            try:
                data = json.loads(f.read())
            except (OSError, ValueError):
                data = {}
    finally:
        os.close(fd)
    return _holder_from(data, touched)


def _holder_from(data: Any, touched: float) -> Holder:
    """The holder a lock's JSON names (an unreadable lock: an unknown holder, judged by its age only)."""
    if not isinstance(data, dict):
        data = {}

    def get(key: str, kind: type) -> Any:
        value = data.get(key)
        return value if isinstance(value, kind) and not isinstance(value, bool) else None

    return Holder(get("pid", int), get("host", str), get("token", str), get("taken", (int, float)), touched,
                  get("boot", str), get("pidns", str), get("start", int))


def _token_in(text: bytes | str) -> str | None:
    try:
        return _holder_from(json.loads(text), 0.0).token
    except ValueError:
        return None


class Lock(abc.ABC):
    """An exclusive lock on one thing (``what``, for messages): the waiting, judging and heartbeat logic; the medium
    (a file, an object) is the subclass's."""

    def __init__(self, what: str, *, stale_after: float = STALE_AFTER, heartbeat: float | None = None):
        self.what = what
        self.stale_after = stale_after
        self.heartbeat = HEARTBEAT if heartbeat is None else heartbeat
        self.token: str | None = None
        self._lost: str | None = None  # why this run no longer holds the lock it took
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
    def _now(self) -> float:
        """The medium's clock now (what a lock touched now would show as its time)."""

    @abc.abstractmethod
    def _take_over(self, stale: Holder, text: str) -> bool:
        """Replace the lock judged stale (``stale``) by ours, only if it is still that one: True when it is ours."""

    @abc.abstractmethod
    def _touch(self) -> bool:
        """Show that the holder is alive, only if the lock still carries our token; False when it does not."""

    @abc.abstractmethod
    def _ours(self) -> bool:
        """Whether the lock now carries our token."""

    @abc.abstractmethod
    def _remove(self) -> None:
        """Delete the lock if it still carries our token."""

    # -- taking it -------------------------------------------------------------------------------------------------

    def try_acquire(self) -> Holder | None:
        """Take the lock if it is free or stale: None when taken, else who holds it."""
        for _ in range(5):  # the holder may let go or another waiter take over between our steps: look again
            token = secrets.token_hex(8)
            text = json.dumps({**_identity(), "token": token, "taken": time.time(), "what": self.what}) + "\n"
            if self._create(text):
                return self._held(token)
            holder = self._holder()
            if holder is None:
                continue
            holder = replace(holder, age=self._now() - holder.touched)
            why = holder.stale(self.stale_after)
            if why is None:
                return holder
            if self._take_over(holder, text):
                log.warning("%s: took over a stale lock (%s)", self.what, why)
                return self._held(token)
        return self._holder() or Holder(None, None, None, None, time.time(), age=0.0)

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
        self.token, self._lost = token, None
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
            self._lost = "another run took over this run's lock"
            log.warning("%s: %s; the heartbeat stops (the lock is the other run's to refresh)", self.what, self._lost)
            return

    # -- holding it ------------------------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`LockLost` unless the lock still carries this run's token. Called before every write that
        another holder's work would be clobbered by (a status), so a run that was taken over stops without writing."""
        if self.token is None:
            raise LockLost(f"{self.what}: this run does not hold the video's lock; it stops without writing")
        if self._lost is None and not self._ours():
            self._lost = "another run took over this run's lock"
        if self._lost is not None:
            raise LockLost(f"{self.what}: {self._lost} (this run was not heard from for {self.stale_after:.0f} s); "
                           "it stops without writing, and the other run carries on")

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


def _exclusive(path: Path, text: str) -> bool:
    """Create ``path`` with ``text`` only if there is none: True when this call made it (it appears whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    temp.write_text(text, encoding="utf-8")
    try:
        os.link(temp, path)  # fails when the file exists: it appears whole, for one creator only
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive creation, then the content
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    finally:
        temp.unlink(missing_ok=True)
    return True


class FileLock(Lock):
    """A lock held as the file ``path`` (local, or a folder shared between machines)."""

    def __init__(self, path: Path, what: str, *, stale_after: float = STALE_AFTER, heartbeat: float | None = None):
        super().__init__(what, stale_after=stale_after, heartbeat=heartbeat)
        self.path = Path(path)

    @property
    def _marker(self) -> Path:
        """Held (created exclusively) by the one run that replaces or removes the lock file at a time."""
        return self.path.with_name(self.path.name + ".takeover")

    def _create(self, text: str) -> bool:
        return _exclusive(self.path, text)

    def _holder(self) -> Holder | None:
        return read_holder(self.path)

    def _now(self) -> float:
        """The mtime of a file made now in the lock's folder: the clock that stamps the lock (a shared folder's
        server), not this machine's."""
        probe = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.now")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        probe.touch()
        try:
            return probe.stat().st_mtime
        finally:
            probe.unlink(missing_ok=True)

    def _take_over(self, stale: Holder, text: str) -> bool:
        """Under the takeover marker: if the lock is still the stale one, replace it by ours in one rename (the lock
        file never goes missing, so no third run can create one meanwhile)."""
        if not self._enter():
            return False
        try:
            now = read_holder(self.path)
            if now is None or (now.token, now.touched) != (stale.token, stale.touched):
                return False  # let go, taken over by another waiter first, or touched since: judge it again
            temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
            temp.write_text(text, encoding="utf-8")
            os.replace(temp, self.path)
            return True
        finally:
            self._marker.unlink(missing_ok=True)

    def _enter(self, tries: int = 1) -> bool:
        """Take the takeover marker (``tries`` attempts 50 ms apart); a marker left by a waiter that died while
        holding it is cleared."""
        for attempt in range(tries):
            if _exclusive(self._marker, json.dumps({**_identity(), "token": secrets.token_hex(8)})):
                return True
            self._clear_dead_marker()
            if attempt + 1 < tries:
                time.sleep(0.05)
        return False

    def _clear_dead_marker(self) -> None:
        marker = read_holder(self._marker)
        if marker is None or not (marker.gone() or self._now() - marker.touched > TAKEOVER_STALE):
            return
        moved = self._marker.with_name(f".{self._marker.name}.{secrets.token_hex(8)}.stale")
        try:
            os.rename(self._marker, moved)
        except FileNotFoundError:
            return
        got = read_holder(moved)
        if got is not None and got.token != marker.token:  # a live taker's fresh marker: it goes back
            try:
                os.link(moved, self._marker)
            except FileExistsError:
                pass
        moved.unlink(missing_ok=True)

    def _touch(self) -> bool:
        """Refresh the file we read our token from (by descriptor: if another run replaced the lock meanwhile, its
        file is not touched)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "rb", closefd=False) as f:
                if _token_in(f.read()) != self.token:
                    return False
            os.utime(fd if os.utime in os.supports_fd else self.path)
        except OSError:
            return False
        finally:
            os.close(fd)
        return True

    def _ours(self) -> bool:
        holder = read_holder(self.path)
        return holder is not None and holder.token == self.token

    def _remove(self) -> None:
        """Delete the lock file under the takeover marker, if it is still ours (a waiter taking it over meanwhile
        keeps the marker: the lock is then theirs to replace)."""
        if not self._enter(tries=20):
            return
        try:
            if self._ours():
                self.path.unlink(missing_ok=True)
        finally:
            self._marker.unlink(missing_ok=True)


class ConditionalStore(Protocol):
    """What :class:`ObjectLock` needs of a store (``hdtf.storage.Store`` on a conditional-write protocol)."""

    url: str

    def create(self, name: str, data: bytes) -> bool: ...
    def replace_if(self, name: str, data: bytes, etag: str) -> bool: ...
    def put_bytes(self, name: str, data: bytes) -> None: ...
    def info(self, name: str) -> Any: ...
    def read_bytes(self, name: str) -> bytes: ...
    def delete(self, names: list[str]) -> None: ...


class ObjectLock(Lock):
    """A lock held as the object ``name`` of ``store``: created only if absent, refreshed and taken over only while
    it is the object we last saw (its ETag), so no two runs, on any machines, hold it at once."""

    def __init__(self, store: ConditionalStore, name: str, what: str, *, stale_after: float = STALE_AFTER,
                 heartbeat: float | None = None):
        super().__init__(what, stale_after=stale_after, heartbeat=heartbeat)
        self.store, self.name = store, name
        self._text = ""
        self._etag: str | None = None  # of our lock object, as last written
        self._seen: tuple[str | None, str | None] = (None, None)  # token and ETag of the lock as last read
        self._clock: tuple[float, float] | None = None  # the store's time and our monotonic time, read together

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

    def _now(self) -> float:
        """The store's clock (``LastModified`` of a probe object written once per lock), carried forward by ours:
        another machine's clock, or ours set wrong, never makes a live lock look stale."""
        if self._clock is None:
            probe = f"{self.name}.now-{secrets.token_hex(6)}"
            self.store.put_bytes(probe, b"")
            try:
                info = self.store.info(probe)
            finally:
                self.store.delete([probe])
            self._clock = (info.modified if info is not None else time.time(), time.monotonic())
        stamp, then = self._clock
        return stamp + (time.monotonic() - then)

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

    def _ours(self) -> bool:
        try:
            return _token_in(self.store.read_bytes(self.name)) == self.token
        except FileNotFoundError:
            return False

    def _remove(self) -> None:
        holder = self._holder()
        if holder is not None and holder.token == self.token:
            self.store.delete([self.name])
