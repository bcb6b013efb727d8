"""An export's own files: every export (hf shards, a trainer's folder) writes and removes only the files it made.

An export keeps a manifest of its files in OUTPUT (``.hdtf-export.json``: each file's name, size and SHA-256); a
folder without one must be empty (new), and a file an earlier export did not write, or that changed since, is never
overwritten or removed. The manifest first names the files about to be written (:func:`claim`, then
:func:`write_manifest` with empty records), so an interrupted export's files stay its own; when they are written, the
earlier export's other files are removed (:func:`remove_earlier`) and the manifest is rewritten with the new files'
fingerprints. A name in a manifest is always a relative path inside OUTPUT with no hidden part (never ``..``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hdtf import atomic
from hdtf.errors import HDTFError

# The export's record of its own files in OUTPUT (not uploaded).
MANIFEST = ".hdtf-export.json"
_FORMAT, _VERSION = "hdtf-export", 1
# The only names a manifest may give: relative paths of plain name parts, none hidden (so never ``..`` or the
# manifest itself, never a path outside OUTPUT).
_OWN_NAME = re.compile(r"^[\w-][\w.-]*(?:/[\w-][\w.-]*)*$", re.ASCII)


def claim(output: Path, planned: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The earlier export's files in ``output`` (its manifest: name -> record), after checking that ``output`` may be
    written: new, empty or an export's folder whose ``planned`` names are free or its own files, unchanged, and
    reached through no symbolic link (files are written into those folders)."""
    if output.exists() and not output.is_dir():
        raise HDTFError(f"export output {output} is not a folder")
    for folder in sorted({p for name in planned for p in Path(name).parents if p != Path(".")}):
        if (output / folder).is_symlink():
            raise HDTFError(f"export output {output}: {folder.as_posix()} is a symbolic link; export into a new or "
                            "empty folder")
    earlier = read_manifest(output)
    if earlier is None:
        if output.is_dir() and any(output.iterdir()):
            raise HDTFError(f"export output {output} is not empty and holds no hdtf export (no {MANIFEST}): "
                            "export into a new or empty folder")
        return {}
    taken = [name for name in planned if (output / name).exists() or (output / name).is_symlink()]
    foreign = [name for name in taken if name not in earlier or not unchanged(output / name, earlier[name])]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise HDTFError(f"export output {output}: {shown} not written by the earlier export (or changed since); "
                        "move it away or export into another folder")
    return earlier


def read_manifest(output: Path) -> dict[str, dict[str, Any]] | None:
    """The files a manifest in ``output`` names (a record without ``sha256``: being written); None without one."""
    path = output / MANIFEST
    if not path.is_file() or path.is_symlink():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HDTFError(f"{path} cannot be read ({exc}); move it away or export into another folder") from exc
    files = document.get("files") if isinstance(document, dict) and document.get("format") == _FORMAT else None
    if not isinstance(files, dict) or not all(
            isinstance(name, str) and _OWN_NAME.match(name) and isinstance(record, dict)
            for name, record in files.items()):
        raise HDTFError(f"{path} is not an hdtf export manifest; move it away or export into another folder")
    return files


def write_manifest(output: Path, files: Mapping[str, Mapping[str, Any]], **facts: Any) -> None:
    """Write the manifest naming ``files`` (name -> fingerprint, ``{}`` while being written); ``facts``: what the
    export was (its format, the recipe the run was prepared with)."""
    bad = [name for name in files if not _OWN_NAME.match(name)]
    if bad:
        raise HDTFError(f"export file name {bad[0]!r} is not a plain relative name")
    atomic.write_json(output / MANIFEST, {"format": _FORMAT, "version": _VERSION, **facts,
                                          "files": dict(sorted(files.items()))})


def fingerprint(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def unchanged(path: Path, record: Mapping[str, Any]) -> bool:
    """``path`` is a plain file as ``record`` says it was written (any content while it was being written)."""
    if path.is_symlink() or not path.is_file():
        return False
    if "sha256" not in record:
        return True
    return path.stat().st_size == record.get("size") and fingerprint(path)["sha256"] == record["sha256"]


def remove_earlier(output: Path, stale: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Remove the earlier export's files the new one does not have (another shard count, split, format or clip
    list), when they are as it wrote them, and the folders that leaves empty; return the names left because they
    changed since (they are no longer its own)."""
    left = []
    for name, record in sorted(stale.items()):
        path = output / name
        if unchanged(path, record):
            path.unlink()
            _drop_empty_parents(output, path)
        elif path.exists():
            left.append(name)
    return left


def _drop_empty_parents(output: Path, path: Path) -> None:
    folder = path.parent
    while folder != output and folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
