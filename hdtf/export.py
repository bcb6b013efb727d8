"""Export a prepared folder (``hdtf prepare`` output; a folder or a storage URL) as parquet or webdataset shards with a
dataset card. The shards are written to a local folder.

Parquet rows are exactly the ``clips`` rows of ``load_dataset("hdtf", "clips")`` (built by ``hdtf.rows``) and are
written through ``datasets``, so ``load_dataset(folder or repo_id)`` restores the same features. Webdataset shards are plain
tars of the prepared files, for streaming trainers; the card declares their columns (``hdtf.rows.sample_features``)
so that ``load_dataset`` reads them without torchcodec. The video is a ``datasets.Video(decode=False)`` column in both.

Clips go to the splits of their source (HDTF: ``train``; TalkingHead-1KH: ``small``/``train``/``val``), one shard set
per split. Every shard is written under a temporary name and renamed; shards of an earlier export (another shard
count or format) are removed afterwards, and the card (README.md, after LICENSE.md) is written last, so a folder with
a card is a finished export. A push replaces the repository's shards the same way.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf import atomic
from hdtf.card import LICENSE_FILE, Availability, DatasetFacts, SplitFacts, dataset_card, licence_file
from hdtf.errors import HDTFError

if TYPE_CHECKING:
    from hdtf.layout import Layout

FORMATS = ("parquet", "webdataset")
# Clips per shard. HDTF clips average about two minutes (~25 MB of 512x512 video plus float32 audio), so 16 clips
# make shards of a few hundred MB, the size the Hub recommends.
DEFAULT_SHARD_SIZE = 16
# Every shard an export writes, whatever its split, count or format (local globs and the Hub's delete patterns).
SHARD_GLOBS = ("data/*-?????-of-?????.parquet", "*-?????-of-?????.tar")
_PATTERN = {"parquet": "data/{split}-*.parquet", "webdataset": "{split}-*.tar"}


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the shard files (in order), the card and the number of clips."""

    files: tuple[Path, ...]
    card: Path
    num_examples: int


def export(prepared_dir: str | Path, output: Path, to: str = "parquet", shard_size: int = DEFAULT_SHARD_SIZE,
           repo_id: str | None = None) -> ExportResult:
    """Export every finished clip of ``prepared_dir`` (a folder or URL) to the folder ``output`` as ``to``
    ("parquet" or "webdataset") shards.

    ``repo_id``: the Hub repository it will be pushed to, named in the card's loading recipe.
    """
    if to not in FORMATS:
        raise HDTFError(f"export format {to!r} is not one of {', '.join(FORMATS)}")
    if shard_size < 1:
        raise HDTFError(f"shard size {shard_size} must be at least 1 clip")
    from hdtf.layout import Layout

    layout, output = Layout.for_output(prepared_dir), Path(output)
    prepared_dir = layout.where
    if not layout.present():
        raise HDTFError(f"prepared folder {layout.where} does not exist")
    statuses = layout.statuses()  # read once: for the clips and the availability
    entries = _finished(layout, statuses)
    if output.resolve() == layout.root.resolve():
        raise HDTFError(f"export output {output} must not be the prepared folder itself")
    output.mkdir(parents=True, exist_ok=True)
    write = _write_parquet if to == "parquet" else _write_webdataset
    files: list[Path] = []
    splits = []
    for split, items in _by_split(entries).items():
        shards = [items[i : i + shard_size] for i in range(0, len(items), shard_size)]
        written = write(prepared_dir, output, split, shards)
        files += written
        splits.append(SplitFacts(split, _PATTERN[to].format(split=split), len(items),
                                 sum(f.stat().st_size for f in written),
                                 sum(float(e.get("duration") or 0.0) for e in items) / 3600))
    _remove_stale(output, files)
    options, skipped, prepared, metadata = _provenance(layout)
    sources = sorted({e["source"] for e in entries})
    facts = DatasetFacts(
        layout=to, features=_features() if to == "parquet" else _sample_features(), splits=splits, sources=sources,
        options=options, skipped=skipped, availability=availability(statuses), prepared=prepared,
        repo_id=repo_id, metadata=metadata,
    )
    atomic.write_text(output / LICENSE_FILE, licence_file(sources))
    card_path = output / "README.md"
    atomic.write_text(card_path, dataset_card(facts))
    return ExportResult(tuple(files), card_path, len(entries))


def push_to_hub(output: Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Upload an export folder to a Hub dataset repository (created if missing) as one commit that also deletes the
    shards of an earlier export the folder does not have; return the commit URL."""
    from hdtf import hub

    output = Path(output)
    if not (output / "README.md").is_file():
        raise HDTFError(f"{output} is not a finished export (no README.md); run hdtf export first")
    return hub.upload_folder(output, repo_id, repo_type="dataset", private=private, token=token,
                             commit_message="Upload HDTF clips (hdtf export)", delete_patterns=SHARD_GLOBS)


# -- shared ----------------------------------------------------------------------------------------------------------


def _features():
    from hdtf.rows import clip_features

    return clip_features()


def _sample_features():
    from hdtf.rows import sample_features

    return sample_features()


def _finished(layout: Layout, statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from hdtf.manifest import done_clips

    entries = done_clips(layout, statuses)
    if not entries:
        raise HDTFError(f"{layout.where} has no finished clips to export (see hdtf status {layout.where})")
    return entries


def _by_split(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The clips per split of their source: the subset when the source's subsets are its splits (TalkingHead-1KH),
    else the source's one split (HDTF: ``train``). Splits in the order the source declares them."""
    from hdtf.sources import get_source

    order: dict[str, int] = {}
    by_split: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        splits = get_source(entry["source"]).SPLITS
        split = entry.get("subset") if len(splits) > 1 and entry.get("subset") in splits else splits[0]
        order.setdefault(split, splits.index(split))
        by_split.setdefault(split, []).append(entry)
    return {split: by_split[split] for split in sorted(by_split, key=lambda s: (order[s], s))}


def _provenance(prepared_dir: str | Layout) -> tuple[dict[str, Any], dict[str, int], str | None, dict | None]:
    """The clip-describing options of the last prepare run (``hdtf.options.card_options``: no paths, proxies or
    cookies in a shareable card), the not-done clips counted by reason, the day the manifest was written and where
    the metadata came from (the manifest's ``metadata``)."""
    from hdtf.layout import Layout
    from hdtf.options import card_options

    layout = Layout.for_output(prepared_dir)
    manifest = layout.manifest()
    if manifest is None:
        return {}, {}, None, None
    options = card_options(manifest.get("options") or {})
    skipped = Counter(
        f"{c.get('status')}: {c.get('reason')}" for c in manifest.get("clips", []) if c.get("status") != "done"
    )
    return options, dict(skipped), (manifest.get("updated") or "")[:10] or None, manifest.get("metadata")


def availability(statuses: Sequence[Mapping[str, Any]]) -> Availability:
    """How the selected source videos fared (from a run's status documents, ``Layout.statuses``): counts per status,
    why the unavailable ones were, and the days (UTC) they were last tried."""
    gone = [s for s in statuses if s.get("status") == "unavailable"]
    days = sorted((s.get("updated") or "")[:10] for s in (gone or statuses) if s.get("updated"))
    return Availability(
        videos=dict(Counter(s.get("status") or "unknown" for s in statuses)),
        unavailable_reasons=dict(Counter(s.get("reason") or "no reason recorded" for s in gone)),
        first_tried=days[0] if days else None,
        last_tried=days[-1] if days else None,
    )


def _shard_name(stem: str, index: int, count: int, suffix: str) -> str:
    return f"{stem}-{index:05d}-of-{count:05d}{suffix}"


def _remove_stale(output: Path, keep: Sequence[Path]) -> None:
    """Shards from an earlier export into the same folder (another shard count, split or format) would be loaded or
    pushed too: remove them."""
    kept = {p.resolve() for p in keep}
    for pattern in SHARD_GLOBS:
        for path in output.glob(pattern):
            if path.resolve() not in kept:
                path.unlink()


# -- parquet ---------------------------------------------------------------------------------------------------------


def _rows(prepared_dir: str, entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from hdtf.rows import clip_row

    for entry in entries:
        yield clip_row(prepared_dir, entry)


def _write_parquet(prepared_dir: str, output: Path, split: str, shards: list[list[dict[str, Any]]]) -> list[Path]:
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
            path = data / _shard_name(split, index, len(shards), ".parquet")
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


def _write_webdataset(prepared_dir: str, output: Path, split: str, shards: list[list[dict[str, Any]]]) -> list[Path]:
    files = []
    for index, entries in enumerate(shards):
        path = output / _shard_name(split, index, len(shards), ".tar")
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

