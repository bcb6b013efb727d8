"""Export a prepared folder (``hdtf prepare`` output; a folder or a storage URL) as parquet or webdataset shards with a
dataset card. The shards are written to a local folder.

Parquet rows are exactly the ``clips`` rows of ``load_dataset("hdtf", "clips")`` (built by ``hdtf.rows``) and are
written through ``datasets``, so ``load_dataset(folder or repo_id)`` restores the same features. Webdataset shards are plain
tars of the prepared files, for streaming trainers; the card declares their columns (``hdtf.rows.sample_features``)
so that ``load_dataset`` reads them without torchcodec. The video is a ``datasets.Video(decode=False)`` column in both.

Clips go to the splits of their source's standard split (``standard_split`` of each source: HDTF's split v1
``train``/``test``; TalkingHead-1KH's own ``small``/``train``/``val`` lists), one shard set per split that holds
clips; the card says where the splits come from.

An export writes and removes only its own files (:mod:`hdtf.export.owned`: a manifest of them in OUTPUT,
``.hdtf-export.json``). Every shard is written under a temporary name and renamed, the card (README.md, after
LICENSE.md) is written last, the earlier export's other files are removed, and the manifest is rewritten with the new
files. A push uploads exactly the manifest's files.

A trainer's folder (``to="latentsync"|"hallo"|"musetalk"``) is made by :mod:`hdtf.export.trainers` under the same
ownership rules.
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
from hdtf.card import (
    LICENSE_FILE,
    Availability,
    DatasetFacts,
    SplitFacts,
    dataset_card,
    licence_file,
    shared_reason,
)
from hdtf.errors import HDTFError
from hdtf.export.owned import MANIFEST, claim, fingerprint, read_manifest, remove_earlier, unchanged, write_manifest

if TYPE_CHECKING:
    from hdtf.layout import Layout

FORMATS = ("parquet", "webdataset")
# Clips per shard. HDTF clips average about two minutes (~25 MB of 512x512 video plus float32 audio), so 16 clips
# make shards of a few hundred MB, the size the Hub recommends.
DEFAULT_SHARD_SIZE = 16
# Every shard an export pushes, whatever its split, count or format: the Hub's delete patterns (a repo's shards that
# the new export does not have would be loaded with it).
SHARD_GLOBS = ("data/*-?????-of-?????.parquet", "*-?????-of-?????.tar")
_PATTERN = {"parquet": "data/{split}-*.parquet", "webdataset": "{split}-*.tar"}
_SHARD = {"parquet": "data/{split}-{index:05d}-of-{count:05d}.parquet",
          "webdataset": "{split}-{index:05d}-of-{count:05d}.tar"}
CARD_FILE = "README.md"
# The flag of ``hdtf export --push-to-hub`` by which a user states that they may share clips whose source's terms
# forbid it (CelebV-HQ's): without it such a push is refused.
HAVE_RIGHTS_FLAG = "--i-have-distribution-rights"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the shard files (in order), the card and the number of clips; ``left``: files of the
    earlier export it did not remove because they changed since (no longer its own)."""

    files: tuple[Path, ...]
    card: Path
    num_examples: int
    left: tuple[Path, ...] = ()


def export(prepared_dir: str | Path, output: Path, to: str = "parquet", shard_size: int = DEFAULT_SHARD_SIZE,
           repo_id: str | None = None, include_filtered: bool = False, have_rights: bool = False) -> ExportResult:
    """Export every finished clip of ``prepared_dir`` (a folder or URL) to the folder ``output`` as ``to``
    ("parquet" or "webdataset") shards, one set per split of the source's standard split.

    ``output`` must be new, empty or an earlier export's folder; only the earlier export's unchanged files are
    replaced or removed (HDTFError before any work when one of the new names is taken by another file).
    ``repo_id``: the Hub repository it will be pushed to, named in the card's loading recipe. Clips a stage filtered
    out (``filtered``) are left out unless ``include_filtered``. With ``repo_id``, clips of a source whose terms forbid
    sharing them (CelebV-HQ) are refused before any work unless ``have_rights`` (:func:`check_may_share`).
    """
    if to not in FORMATS:
        raise HDTFError(f"export format {to!r} is not one of {', '.join(FORMATS)}")
    if shard_size < 1:
        raise HDTFError(f"shard size {shard_size} must be at least 1 clip")
    from hdtf.layout import Layout
    from hdtf.recipes import recorded_recipe

    layout, output = Layout.for_output(prepared_dir), Path(output)
    prepared_dir = layout.where
    if not layout.present():
        raise HDTFError(f"prepared folder {layout.where} does not exist")
    statuses = layout.statuses()  # read once: for the clips and the availability
    entries = _finished(layout, statuses, include_filtered)
    if output.resolve() == layout.root.resolve():
        raise HDTFError(f"export output {output} must not be the prepared folder itself")
    sources = sorted({e["source"] for e in entries})
    if repo_id is not None:
        check_may_share(sources, have_rights)
    by_split = by_split_of(entries)
    plan = {split: _shards(split, items, to, shard_size) for split, items in by_split.items()}
    planned = [name for shards in plan.values() for name, _ in shards] + [LICENSE_FILE, CARD_FILE]
    earlier = claim(output, planned)
    write_manifest(output, {**earlier, **dict.fromkeys(planned, {})})  # from here on the planned names are ours
    from hdtf.sources import source_columns

    columns = source_columns(sources)
    curated = _curated(layout, entries) if to == "parquet" else {}
    files: list[Path] = []
    splits = []
    for split, items in by_split.items():
        shards = [(output / name, shard) for name, shard in plan[split]]
        written = (_write_parquet(prepared_dir, shards, columns, curated) if to == "parquet"
                   else _write_webdataset(prepared_dir, shards))
        files += written
        splits.append(SplitFacts(split, _PATTERN[to].format(split=split), len(items),
                                 sum(f.stat().st_size for f in written),
                                 sum(float(e.get("duration") or 0.0) for e in items) / 3600))
    options, skipped, prepared, metadata = _provenance(layout)
    facts = DatasetFacts(
        layout=to, features=_features(columns, curated) if to == "parquet" else _sample_features(), splits=splits,
        sources=sources,
        options=options, skipped=skipped, availability=availability(statuses), prepared=prepared,
        repo_id=repo_id, split_notes=_split_notes(entries, by_split), metadata=metadata,
        recipe=recorded_recipe(layout.manifest()),
    )
    atomic.write_text(output / LICENSE_FILE, licence_file(sources))
    card_path = output / CARD_FILE
    atomic.write_text(card_path, dataset_card(facts))
    left = remove_earlier(output, {n: r for n, r in earlier.items() if n not in planned})
    write_manifest(output, {name: fingerprint(output / name) for name in planned}, to=to, sources=sources)
    return ExportResult(tuple(files), card_path, len(entries), tuple(output / name for name in left))


def check_may_share(sources: Sequence[str], have_rights: bool = False) -> None:
    """HDTFError naming the terms when clips of ``sources`` may not be shared further (a source card's
    ``no_redistribution``: CelebV-HQ), unless the user states that they hold the rights (``have_rights``)."""
    from hdtf.card import source_card

    forbidden = [source_card(s) for s in sources if source_card(s).no_redistribution]
    if forbidden and not have_rights:
        terms = " ".join(card.no_redistribution for card in forbidden)
        raise HDTFError(f"not pushed: the export holds {', '.join(c.pretty_name for c in forbidden)} clips, whose "
                        f"terms forbid sharing them: {terms} Only if you hold the rights to share them this way, "
                        f"pass {HAVE_RIGHTS_FLAG} (have_rights=True)")


def push_to_hub(output: Path, repo_id: str, *, private: bool = True, token: str | None = None,
                have_rights: bool = False) -> str:
    """Upload the files of an export (those its manifest names, unchanged since: nothing else in the folder) to a Hub
    dataset repository as one commit that also deletes the repo's shards the export does not have; return the commit
    URL.

    A repo it creates is private unless ``private=False``: HDTF's clips belong to the videos' uploaders, and no
    licence lets them be shared (see the card). An existing repo keeps its visibility. An export holding clips whose
    terms forbid sharing them (CelebV-HQ) is refused unless ``have_rights``.
    """
    from hdtf import hub

    output = Path(output)
    files = exported_files(output)
    check_may_share(exported_sources(output), have_rights)
    return hub.upload_files(output, files, repo_id, repo_type="dataset", private=private,
                            token=token, commit_message="Upload HDTF clips (hdtf export)",
                            delete_patterns=SHARD_GLOBS)


def exported_sources(output: Path) -> list[str]:
    """The sources of the clips of the export in ``output``, as its manifest records them (none recorded: an export
    made before they were, when no source's terms forbade sharing)."""
    document = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
    sources = document.get("sources") if isinstance(document, dict) else None
    return [str(s) for s in sources] if isinstance(sources, list) else []


def exported_files(output: Path) -> list[str]:
    """The names of a finished export's files in ``output`` (its manifest's, each still as written); HDTFError when
    the folder holds no finished export or one of them changed."""
    files = read_manifest(output)
    if files is None or CARD_FILE not in files or any(not record for record in files.values()):
        raise HDTFError(f"{output} is not a finished export (no complete {MANIFEST}); run hdtf export first")
    changed = [name for name, record in files.items() if not unchanged(output / name, record)]
    if changed:
        raise HDTFError(f"{output}: {', '.join(changed)} changed or went missing since hdtf export wrote them; "
                        "export again")
    return sorted(files)


# -- shared ----------------------------------------------------------------------------------------------------------


def _features(columns: Mapping[str, Any] | None = None, curated: Mapping[str, Any] | None = None):
    """The parquet rows' features: the ``clips`` config's (with the sources' own ``columns``), and the curated columns
    the clips have (:mod:`hdtf.export.curated`)."""
    import datasets

    from hdtf.rows import clip_features

    return datasets.Features({**clip_features(columns), **(curated or {})})


def _curated(layout: Layout, entries: list[dict[str, Any]]) -> dict[str, Any]:
    from hdtf.export.curated import columns

    return columns(layout, entries)


def _sample_features():
    from hdtf.rows import sample_features

    return sample_features()


def _finished(layout: Layout, statuses: list[dict[str, Any]], include_filtered: bool) -> list[dict[str, Any]]:
    from hdtf.manifest import done_clips
    from hdtf.rows import is_filtered

    entries = [e for e in done_clips(layout, statuses) if include_filtered or not is_filtered(e)]
    if not entries:
        raise HDTFError(f"{layout.where} has no finished clips to export (see hdtf status {layout.where})")
    return entries


def by_split_of(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The clips per split of their source's standard split (``standard_split``: HDTF's v1 by person,
    TalkingHead-1KH's lists); only splits that hold clips, in the order the source declares them."""
    from hdtf.sources import get_source

    order: dict[str, int] = {}
    by_split: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        source = get_source(entry["source"])
        split = source.standard_split(entry)
        order.setdefault(split, source.SPLITS.index(split))
        by_split.setdefault(split, []).append(entry)
    return {split: by_split[split] for split in sorted(by_split, key=lambda s: (order[s], s))}


def _shards(split: str, items: list[dict[str, Any]], to: str,
            shard_size: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """The split's shards: (file name in OUTPUT, clips), ``shard_size`` clips each."""
    parts = [items[i : i + shard_size] for i in range(0, len(items), shard_size)]
    return [(_SHARD[to].format(split=split, index=i, count=len(parts)), part) for i, part in enumerate(parts)]


def _split_notes(entries: list[dict[str, Any]], by_split: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """What the card says about HDTF's test split in this export: how many of its listed clips it holds."""
    from hdtf import splits

    hdtf = [(e["id"], e.get("subset"), e.get("video_name")) for e in entries if e["source"] == "hdtf"]
    if not hdtf:
        return []
    held = splits.availability(hdtf)
    note = (f"This export holds {held.available} of the {held.listed} listed clips of HDTF's test split "
            f"{held.version}.")
    if "test" not in by_split:
        note += " None of its clips is in the test split, so it declares no `test` split."
    return [note]


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
        f"{c.get('status')}: {shared_reason(c.get('reason'))}" for c in manifest.get("clips", [])
        if c.get("status") != "done"
    )
    return options, dict(skipped), (manifest.get("updated") or "")[:10] or None, manifest.get("metadata")


def availability(statuses: Sequence[Mapping[str, Any]]) -> Availability:
    """How the selected source videos fared (from a run's status documents, ``Layout.statuses``): counts per status,
    why the unavailable ones were, and the days (UTC) they were last tried."""
    gone = [s for s in statuses if s.get("status") == "unavailable"]
    days = sorted((s.get("updated") or "")[:10] for s in (gone or statuses) if s.get("updated"))
    return Availability(
        videos=dict(Counter(s.get("status") or "unknown" for s in statuses)),
        unavailable_reasons=dict(Counter(shared_reason(s.get("reason")) for s in gone)),
        first_tried=days[0] if days else None,
        last_tried=days[-1] if days else None,
    )


# -- parquet ---------------------------------------------------------------------------------------------------------


def _rows(prepared_dir: str, entries: list[dict[str, Any]], columns: Sequence[str] = (),
          curated: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    from hdtf.export.curated import values
    from hdtf.layout import Layout
    from hdtf.rows import clip_row

    layout = Layout.for_output(prepared_dir)
    for entry in entries:
        yield {**clip_row(layout, entry, columns), **values(layout, entry, curated or {})}


def _write_parquet(prepared_dir: str, shards: list[tuple[Path, list[dict[str, Any]]]],
                   columns: Mapping[str, Any] | None = None, curated: Mapping[str, Any] | None = None) -> list[Path]:
    """One ``datasets`` arrow build per shard (in a scratch cache beside them that is deleted), written out with
    ``to_parquet``; ``columns``: the sources' own row fields; ``curated``: the curated columns (:func:`_curated`)."""
    import datasets

    features = _features(columns, curated)
    files = []
    folder = shards[0][0].parent
    folder.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-cache-") as scratch:
        for path, entries in shards:
            ds = datasets.Dataset.from_generator(
                _rows,
                features=features,
                cache_dir=scratch,
                gen_kwargs={"prepared_dir": str(prepared_dir), "entries": entries, "columns": tuple(columns or {}),
                            "curated": curated},
                writer_batch_size=4,
            )
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


def _write_webdataset(prepared_dir: str, shards: list[tuple[Path, list[dict[str, Any]]]]) -> list[Path]:
    files = []
    for path, entries in shards:
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

