"""A prepared run as the folder a trainer reads as it is: ``hdtf export RUN --to latentsync|hallo|musetalk``.

Each trainer's layout is one module (``hdtf.export.<name>``, one line in :data:`TRAINERS`) that plans the folder: the
files it holds (name -> how to write it) and the lists it names. This module does the rest for all of them: it picks
the clips (made, whole, not filtered unless asked), groups them by their source's standard split, and writes the plan
under the ownership rules of :mod:`hdtf.export.owned` (only files this export made are replaced or removed).

Media files are hard links to the run's files (``os.link``; a copy where the run is on another file system or a
store), so an export of hours of video costs no space: a later ``hdtf prepare`` replaces a run's file by renaming a
new one into place, which leaves the export's link on the content it was made from.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf import atomic
from hdtf.errors import HDTFError
from hdtf.export import fields
from hdtf.export.owned import claim, fingerprint, remove_earlier, write_manifest

if TYPE_CHECKING:
    from hdtf.layout import Layout

# trainer name -> the module that plans its folder
TRAINERS: dict[str, str] = {
    "latentsync": "hdtf.export.latentsync",
    "hallo": "hdtf.export.hallo",
    "musetalk": "hdtf.export.musetalk",
}

Writer = Callable[[Path], None]  # writes one file's content to the (temporary) path it is given


@dataclass
class Plan:
    """What a trainer's folder holds: ``files`` (name in OUTPUT -> writer), the ``lists`` among them (what a
    trainer's config names), how many clips it holds and the clips it left out, by reason."""

    files: dict[str, Writer] = field(default_factory=dict)
    lists: list[str] = field(default_factory=list)
    clips: int = 0
    left_out: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class Selection:
    """The clips an export takes, by split (the source's standard split, in the source's order), and the run."""

    layout: Layout
    output: Path  # absolute: trainers' lists name files by absolute path
    by_split: dict[str, list[dict[str, Any]]]
    options: Mapping[str, Any]  # the trainer's own export options (musetalk: val_split)


@dataclass(frozen=True)
class TrainerExport:
    """What an export wrote: its files, the lists among them, the clips it holds and those it left out (by
    reason); ``left``: files of the earlier export it did not remove because they changed since."""

    files: tuple[Path, ...]
    lists: tuple[Path, ...]
    num_examples: int
    left_out: dict[str, int]
    left: tuple[Path, ...] = ()


def export_for(prepared_dir: str | Path, output: Path, to: str, *, include_filtered: bool = False,
               **options: Any) -> TrainerExport:
    """Write the folder trainer ``to`` reads (:data:`TRAINERS`) from the run at ``prepared_dir`` into ``output``
    (new, empty or an earlier export's folder). ``include_filtered``: take the clips a filter rejected too."""
    if to not in TRAINERS:
        raise HDTFError(f"export format {to!r} is not one of {', '.join(TRAINERS)}")
    from hdtf.export import by_split_of
    from hdtf.layout import Layout

    layout, output = Layout.for_output(prepared_dir), Path(output)
    if not layout.present():
        raise HDTFError(f"prepared folder {layout.where} does not exist")
    if output.resolve() == layout.root.resolve():
        raise HDTFError(f"export output {output} must not be the prepared folder itself")
    clips, skipped = _chosen(layout, include_filtered)
    if not clips:
        raise HDTFError(f"{layout.where} has no finished clips to export (see hdtf status {layout.where})")
    selection = Selection(layout, output.resolve(), by_split_of(clips), options)
    plan: Plan = importlib.import_module(TRAINERS[to]).plan(selection)
    plan.left_out.update(skipped)
    if not plan.clips:
        reasons = "; ".join(f"{n} {reason}" for reason, n in plan.left_out.most_common())
        raise HDTFError(f"no clip of {layout.where} has what {to} reads ({reasons})")
    from hdtf.card import LICENSE_FILE, licence_file

    sources = sorted({c["source"] for items in selection.by_split.values() for c in items})
    plan.files[LICENSE_FILE] = text(licence_file(sources))
    from hdtf.recipes import recorded_recipe

    facts = {"to": to, "recipe": recorded_recipe(layout.manifest())}
    earlier = claim(output, list(plan.files))
    write_manifest(output, {**earlier, **dict.fromkeys(plan.files, {})}, **facts)
    for name, writer in plan.files.items():
        with atomic.replacing(output / name) as temp:
            writer(temp)
    left = remove_earlier(output, {n: r for n, r in earlier.items() if n not in plan.files})
    write_manifest(output, {name: fingerprint(output / name) for name in plan.files}, **facts)
    return TrainerExport(tuple(output / n for n in plan.files), tuple(output / n for n in plan.lists), plan.clips,
                         dict(plan.left_out), tuple(output / n for n in left))


def _chosen(layout: Layout, include_filtered: bool) -> tuple[list[dict[str, Any]], Counter]:
    """The clips to export (made and whole; filtered ones only when asked), sorted by id, and the filtered ones left
    out, counted."""
    skipped: Counter = Counter()
    chosen = []
    for status in layout.statuses():
        for record in status.get("clips", []):
            if not fields.usable(record) or not layout.intact(record):
                continue
            if fields.is_filtered(record) and not include_filtered:
                skipped["filtered (--include-filtered takes them)"] += 1
                continue
            chosen.append(record)
    return sorted(chosen, key=lambda r: r["id"]), skipped


# -- writers -----------------------------------------------------------------------------------------------------------


def linked(layout: Layout, name: str) -> Writer:
    """The run's file ``name`` (a record's), hard-linked; copied where a link cannot be made (another file system, a
    file fetched from a store into scratch that is then reused)."""

    def write(temp: Path) -> None:
        source, link = layout.file(name), temp.with_name(temp.name + ".link")
        try:
            os.link(source, link)  # beside the (empty, unpredictably named) temporary, then in its place
        except OSError:
            shutil.copyfile(source, temp)
        else:
            os.replace(link, temp)

    return write


def text(content: str) -> Writer:
    return lambda temp: temp.write_text(content, encoding="utf-8")


def json_file(document: Any) -> Writer:
    return text(json.dumps(document, ensure_ascii=False, indent=1) + "\n")


def absolute(selection: Selection, name: str) -> str:
    """The absolute path an exported file will have (trainers' lists and meta files name files so)."""
    return str(selection.output / name)


def missing(names: Mapping[str, str | None]) -> str | None:
    """Why a clip cannot go into a trainer's folder: the first of the wanted files (what -> name) it has none of."""
    for what, name in names.items():
        if not name:
            return f"no {what}"
    return None
