"""Atomic file replacement, the house rule for every file that says "finished": write a hidden temporary sibling,
rename it over the target only when writing succeeded, remove it otherwise.

A reader (or a resumed run) therefore sees either the previous file or the complete new one, never a partial one.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; it replaces ``path`` when the block succeeds.

    The temporary is :func:`temporary`'s. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temporary(path)
    try:
        yield temp
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


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
