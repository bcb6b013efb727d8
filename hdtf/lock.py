"""Lock files: two runs on one output folder never download or write the same video at once.

A lock is a small JSON file (who holds it: pid, host, a random token, when taken) created only if absent: it is
written under a temporary name and hard-linked into place, so it appears whole or not at all, and of two runs racing
for it exactly one succeeds. While held, a daemon thread touches it every :data:`HEARTBEAT` seconds.

A run that was killed leaves its lock behind. Such a lock is *stale*, and the next run takes it over, when its
holder's process is gone (same host: the pid no longer runs) or when it has not been touched for ``stale_after``
seconds (any host: a run on another machine sharing the folder). Taking over renames the stale file away first and
checks it really took the stale one, so two waiters never both take over the same lock.

Where lock files live is :class:`hdtf.layout.Layout`'s business (``Layout.lock``); this module only knows files.
"""

from __future__ import annotations

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
    if not isinstance(data, dict):
        data = {}
    pid = data.get("pid")
    return Holder(pid if isinstance(pid, int) else None, data.get("host"), data.get("token"), data.get("taken"),
                  touched)


class FileLock:
    """An exclusive lock on one thing (``what``, for messages), held as the file ``path``."""

    def __init__(self, path: Path, what: str, *, stale_after: float = STALE_AFTER, heartbeat: float = HEARTBEAT):
        self.path, self.what = Path(path), what
        self.stale_after, self.heartbeat = stale_after, heartbeat
        self.token: str | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- taking it -------------------------------------------------------------------------------------------------

    def try_acquire(self) -> Holder | None:
        """Take the lock if it is free or stale: None when taken, else who holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # the holder may let go or another waiter take over between our steps: look again
            if self._create():
                return None
            holder = read_holder(self.path)
            if holder is None:
                continue
            why = holder.stale(self.stale_after)
            if why is None:
                return holder
            if self._take_over(holder):
                log.warning("%s: took over a stale lock (%s)", self.what, why)
        return read_holder(self.path) or Holder(None, None, None, None, time.time())

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

    def _create(self) -> bool:
        token = secrets.token_hex(8)
        data = {"pid": os.getpid(), "host": socket.gethostname(), "token": token, "taken": time.time(),
                "what": self.what}
        text = json.dumps(data) + "\n"
        temp = self.path.with_name(f".{self.path.name}.{token}.tmp")
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
        self.token = token
        self._stop.clear()
        self._beat = threading.Thread(target=self._touch, name=f"hdtf-lock-{self.path.stem}", daemon=True)
        self._beat.start()
        return True

    def _take_over(self, stale: Holder) -> bool:
        """Move the stale lock away, making sure it is the one judged stale (a fresh one goes back)."""
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
        return got is not None and got.token == stale.token

    def _touch(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                os.utime(self.path)
            except OSError:
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
        holder = read_holder(self.path)
        if holder is not None and holder.token == self.token:
            self.path.unlink(missing_ok=True)
        self.token = None

    @property
    def held(self) -> bool:
        return self.token is not None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
