"""Atomic file replacement, the house rule for every file that says "finished": write a hidden temporary sibling,
rename it over the target only when writing succeeded, remove it otherwise.

A reader (or a resumed run) therefore sees either the previous file or the complete new one, never a partial one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; it replaces ``path`` when the block succeeds.

    The temporary keeps the target's extension (ffmpeg, PIL and numpy pick formats from it) and carries the pid, so
    concurrent writers never share one. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield temp
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


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
