"""Atomic, durable file replacement, the house rule for every file that says "finished": write a hidden temporary
sibling, put it in place with :func:`commit` only when writing succeeded, remove it otherwise.

A reader (or a resumed run) therefore sees either the previous file or the complete new one, never a partial one, and
that holds across a power loss too: :func:`commit` syncs the new file's bytes to the disk before the rename and the
folder after it, so a name that a record (written after it) counts as finished never comes back empty.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; it replaces ``path`` (:func:`commit`) when the
    block succeeds.

    The temporary is :func:`temporary`'s. Parent folders are created (:func:`make_dirs`).
    """
    path = Path(path)
    make_dirs(path.parent)
    temp = temporary(path)
    try:
        yield temp
        commit(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def commit(temp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Put the finished file ``temp`` in place of ``path`` durably: its bytes reach the disk before the rename (else
    a power loss can leave the new name on an empty or partial file) and the folder's entry after it (else the old
    file can come back under a record that names the new one)."""
    sync_file(temp)
    os.replace(temp, path)
    sync_folder(Path(path).parent)


def make_dirs(folder: str | os.PathLike) -> None:
    """``mkdir -p`` whose new folders survive a power loss (each one's entry is synced in its parent)."""
    folder = Path(folder)
    if folder.is_dir():
        return
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for made in reversed(missing):
        sync_folder(made.parent)


def sync_file(path: str | os.PathLike) -> None:
    """Flush a written file's bytes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename or a new file in it) to the disk; file systems that cannot sync a folder
    (EINVAL) keep their entries durable by other means."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def temporary(path: str | os.PathLike) -> Path:
    """A new empty hidden sibling of ``path`` for its content to be written to before a rename: created here, so that
    nothing already there under that name (a link planted to redirect the write elsewhere) is written through. Its
    name is unpredictable, so concurrent writers never share one, and keeps the target's extension (ffmpeg, PIL and
    numpy pick formats from it)."""
    path = Path(path)
    while True:
        temp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.partial{path.suffix}")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666))
        except FileExistsError:
            continue
        return temp


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with replacing(path) as temp:
        temp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: Any, **dump_kwargs: Any) -> None:
    """JSON with one-space indentation by default; values JSON cannot hold are written with ``str``."""
    dump_kwargs.setdefault("indent", 1)
    dump_kwargs.setdefault("default", str)
    write_text(path, json.dumps(data, **dump_kwargs) + "\n")


def make_shareable(directory: str | os.PathLike) -> None:
    """Give a staged folder the usual 0755/0644 permissions: ``tempfile.mkdtemp`` and safetensors create owner-only
    ones, but model folders are made to be shared, pushed and mounted into other users' jobs."""
    directory = Path(directory)
    directory.chmod(0o755)
    for item in directory.rglob("*"):
        item.chmod(0o755 if item.is_dir() else 0o644)
