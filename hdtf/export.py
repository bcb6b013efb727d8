"""Export a prepared folder (``hdtf prepare`` output; a folder or a storage URL) as parquet or webdataset shards with a
dataset card. The shards are written to a local folder.

Parquet rows are exactly the ``clips`` rows of ``load_dataset("hdtf", "clips")`` (built by ``hdtf.rows``) and are written
through ``datasets``, so ``load_dataset("parquet", ...)`` or ``load_dataset(repo_id)`` restores the same features.
Webdataset shards are plain tars of the prepared files, for streaming trainers. Every shard is written under a
temporary name and renamed; shards of an earlier export with another shard count are removed afterwards, and the card
(README.md) is written last, so a folder with a card is a finished export.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf import atomic
from hdtf.errors import HDTFError

if TYPE_CHECKING:
    from hdtf.layout import Layout

FORMATS = ("parquet", "webdataset")
# Clips per shard. HDTF clips average about two minutes (~25 MB of 512x512 video plus float32 audio), so 16 clips
# make shards of a few hundred MB, the size the Hub recommends.
DEFAULT_SHARD_SIZE = 16
PARQUET_FILES = "data/train-*.parquet"
WEBDATASET_FILES = "train-*.tar"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the shard files (in order), the card and the number of clips."""

    files: tuple[Path, ...]
    card: Path
    num_examples: int


def export(prepared_dir: str | Path, output: Path, to: str = "parquet",
           shard_size: int = DEFAULT_SHARD_SIZE) -> ExportResult:
    """Export every finished clip of ``prepared_dir`` (a folder or URL) to the folder ``output`` as ``to``
    ("parquet" or "webdataset") shards."""
    from hdtf.layout import Layout

    if to not in FORMATS:
        raise HDTFError(f"export format {to!r} is not one of {', '.join(FORMATS)}")
    if shard_size < 1:
        raise HDTFError(f"shard size {shard_size} must be at least 1 clip")
    layout, output = Layout.for_output(prepared_dir), Path(output)
    prepared_dir = layout.where
    entries = _finished(layout)
    if output.resolve() == layout.root.resolve():
        raise HDTFError(f"export output {output} must not be the prepared folder itself")
    output.mkdir(parents=True, exist_ok=True)
    shards = [entries[i : i + shard_size] for i in range(0, len(entries), shard_size)]
    if to == "parquet":
        files = _write_parquet(prepared_dir, output, shards)
        features, pattern = _features(), PARQUET_FILES
    else:
        files = _write_webdataset(prepared_dir, output, shards)
        features, pattern = None, WEBDATASET_FILES
    _remove_stale(output, pattern, files)
    options, skipped = _provenance(prepared_dir)
    from hdtf.card import dataset_card

    card = dataset_card(
        features,
        num_examples=len(entries),
        data_files=pattern,
        options=options,
        skipped=skipped,
        num_bytes=sum(f.stat().st_size for f in files),
        layout=to,
    )
    card_path = output / "README.md"
    atomic.write_text(card_path, card)
    return ExportResult(tuple(files), card_path, len(entries))


def push_to_hub(output: Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Upload an export folder to a Hub dataset repository (created if missing); return the commit URL."""
    from hdtf import hub

    output = Path(output)
    if not (output / "README.md").is_file():
        raise HDTFError(f"{output} is not a finished export (no README.md); run hdtf export first")
    return hub.upload_folder(output, repo_id, repo_type="dataset", private=private, token=token,
                             commit_message="Upload HDTF clips (hdtf export)")


# -- shared ----------------------------------------------------------------------------------------------------------


def _features():
    from hdtf.rows import clip_features

    return clip_features()


def _finished(layout: Layout) -> list[dict[str, Any]]:
    from hdtf.manifest import done_clips

    if not layout.present():
        raise HDTFError(f"prepared folder {layout.where} does not exist")
    entries = done_clips(layout)
    if not entries:
        raise HDTFError(f"{layout.where} has no finished clips to export (see hdtf status {layout.where})")
    return entries


def _provenance(prepared_dir: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The clip-describing options of the last prepare run (``hdtf.options.card_options``: no paths, proxies or
    cookies in a shareable card) and the not-done clips counted by reason."""
    from hdtf.layout import Layout
    from hdtf.options import card_options

    layout = Layout.for_output(prepared_dir)
    if not layout.has_manifest():
        return {}, {}
    manifest = layout.read_manifest()
    options = card_options(manifest.get("options") or {})
    skipped = Counter(
        f"{c.get('status')}: {c.get('reason')}" for c in manifest.get("clips", []) if c.get("status") != "done"
    )
    return options, dict(skipped)


def _shard_name(stem: str, index: int, count: int, suffix: str) -> str:
    return f"{stem}-{index:05d}-of-{count:05d}{suffix}"


def _remove_stale(output: Path, pattern: str, keep: Sequence[Path]) -> None:
    """Shards from an earlier export into the same folder (another shard count) would be loaded too: remove them."""
    kept = {p.resolve() for p in keep}
    for path in output.glob(pattern):
        if path.resolve() not in kept:
            path.unlink()


# -- parquet ---------------------------------------------------------------------------------------------------------


def _rows(prepared_dir: str, entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from hdtf.rows import clip_row

    for entry in entries:
        yield clip_row(prepared_dir, entry)


def _write_parquet(prepared_dir: str, output: Path, shards: list[list[dict[str, Any]]]) -> list[Path]:
    """One ``datasets`` arrow build per shard (in a scratch cache that is deleted), written out with ``to_parquet``."""
    import datasets

    data = output / "data"
    data.mkdir(exist_ok=True)
    features = _features()
    files = []
    with tempfile.TemporaryDirectory(dir=output, prefix=".export-cache-") as scratch:
        for index, entries in enumerate(shards):
            ds = datasets.Dataset.from_generator(
                _rows,
                features=features,
                cache_dir=scratch,
                gen_kwargs={"prepared_dir": str(prepared_dir), "entries": entries},
                writer_batch_size=4,
            )
            path = data / _shard_name("train", index, len(shards), ".parquet")
            with atomic.replacing(path) as temp:
                ds.to_parquet(str(temp), batch_size=4)
            ds.cleanup_cache_files()
            del ds
            files.append(path)
    return files


# -- webdataset ------------------------------------------------------------------------------------------------------


def sample_key(clip_id: str) -> str:
    """The webdataset key of a clip: webdataset splits a member name at its first dot, so ids keep none."""
    return clip_id.replace(".", "_")


def _write_webdataset(prepared_dir: str, output: Path, shards: list[list[dict[str, Any]]]) -> list[Path]:
    files = []
    for index, entries in enumerate(shards):
        path = output / _shard_name("train", index, len(shards), ".tar")
        with atomic.replacing(path) as temp, tarfile.open(temp, "w", format=tarfile.PAX_FORMAT) as tar:
            for entry in entries:
                for name, payload in _sample_members(prepared_dir, entry):
                    _add(tar, name, payload)
        files.append(path)
    return files


def _sample_members(prepared_dir: str, entry: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    import numpy as np

    from hdtf.layout import Layout
    from hdtf.rows import clip_fields, read_landmarks

    key = sample_key(entry["id"])
    layout = Layout.for_output(prepared_dir)
    yield f"{key}.mp4", layout.read_bytes(entry["path"])
    yield f"{key}.wav", layout.read_bytes(entry["audio_path"])
    points, found = read_landmarks(layout, entry)
    meta = {**clip_fields(entry), "landmarks_found": found}
    yield f"{key}.json", json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")
    if points is not None:
        buffer = io.BytesIO()
        np.save(buffer, points, allow_pickle=False)
        yield f"{key}.landmarks.npy", buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    """A member with fixed owner and time, so the same clips always make byte-identical shards."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(payload), 0o644, 0
    tar.addfile(info, io.BytesIO(payload))

