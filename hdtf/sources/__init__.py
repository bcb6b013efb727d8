"""Metadata sources: each module reads one dataset's lists into records and resolves a clip against the real video.

A source is ONE module with the names of :class:`Source` and one line in :data:`SOURCES`. Everything else is
derived from it by name: ``hdtf prepare --source NAME`` and its flags (its ``Options``), the job's ``resolve_clip``
(by ``ClipSpec.source``), the ``datasets`` builder ``load_dataset(NAME)`` (``hdtf.loaders``), the dataset card's
description, licence, citation and split text (its ``CARD``) and the exports' standard split. Sources know
nothing of ffmpeg, downloads or ``datasets``; what every list format needs is in :mod:`hdtf.sources.common` and
:mod:`hdtf.records`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hdtf.media import MediaInfo
    from hdtf.records import ClipSpec, ParseReport, ResolvedClip, SourceCard, VideoSpec

# name (ClipSpec.source, builder name; the CLI spells it with '-') -> module
SOURCES = {"hdtf": "hdtf.sources.hdtf", "talkinghead_1kh": "hdtf.sources.talkinghead_1kh",
           "celebv_hq": "hdtf.sources.celebv_hq", "voxceleb2": "hdtf.sources.voxceleb2",
           "avspeech": "hdtf.sources.avspeech", "csv_clips": "hdtf.sources.csv_clips"}
# How the CLI spells a source where it differs from the name with '-' (``datasets`` has its own ``csv`` builder, so
# the list of your own is ``csv_clips`` there and ``--source csv`` here).
CLI_NAMES = {"csv_clips": "csv"}


class Source(Protocol):
    """What a source module provides."""

    NAME: str  # its key in SOURCES
    SPLITS: tuple[str, ...]  # the splits a builder can make (a single "train" where the lists have none)
    # What cards and the builder's DatasetInfo say about the dataset: description, homepage, citation, licence (Hub
    # id and words per part), and how its clips are split.
    CARD: SourceCard
    # A frozen dataclass of the source's list options, declared with ``hdtf.options.option`` (flags of
    # ``hdtf prepare --source NAME``, fields of its builder's config), each with its own help (a source's --split
    # help says its splits). Sources may share a flag when they name its field alike (``splits`` for ``--split``):
    # the first declaration's parser reads it for all of them, and ``hdtf prepare --help`` shows each one's help.
    Options: type

    def selected_splits(self, options: Any) -> Sequence[str] | None:
        """The splits ``options`` ask for (HDTFError for unknown ones); None: not chosen (all of them)."""

    def list_videos(self, options: Any, split: str, *, fetch_dir: Path,
                    offline: bool = False) -> tuple[list[VideoSpec], ParseReport]:
        """The split's videos (their clips in list order) and what was not taken verbatim. Lists that are
        downloaded when not given go to ``fetch_dir``; ``offline`` forbids that (HDTFError naming the option)."""

    def standard_split(self, clip: Mapping[str, Any]) -> str:
        """The split of :data:`SPLITS` a prepared clip (its record: ``id``, ``subset``, ``video_name``) belongs to in
        the source's standard split, as exports declare it (a single ``train`` where the lists have none)."""

    # Optional: ``columns()`` -> the ``datasets`` features of the source's own row fields (``ClipSpec.fields``:
    # CelebV-HQ's attributes, VoxCeleb2's header facts), and of the columns of a finished clip's own files it has
    # (``hdtf.rows.FACE_TRACK``: VoxCeleb2's face track, in the ``clips`` rows only); rows of every source carry the
    # metadata fields besides.
    # Optional: ``WINDOW_AT_CUT = True`` where ``resolve_clip`` makes the window from what it reads in the job
    # (VoxCeleb2's per-frame boxes), so that ``--crop-method fixed`` does not skip a clip listed without one; a
    # ``ResolvedClip.track`` it returns is kept as the clip's face track file.

    def resolve_clip(self, clip: ClipSpec, media: MediaInfo,
                     keyframes: Callable[[], list[float]]) -> ResolvedClip:
        """The clip's times and window in the real video (``media`` probed; ``keyframes`` on demand); ValueError
        when the clip is not in it."""


def get_source(name: str) -> Source | ModuleType:
    """The source module for ``name`` (e.g. ``"hdtf"``; ``"talkinghead-1kh"`` as the CLI spells it)."""
    by_cli = {cli: key for key, cli in CLI_NAMES.items()}
    try:
        return importlib.import_module(SOURCES[by_cli.get(name, name.replace("-", "_"))])
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(SOURCES)}") from None


def cli_name(name: str) -> str:
    """How ``hdtf prepare --source`` spells a source."""
    return CLI_NAMES.get(name, name.replace("_", "-"))


def source_columns(names: Sequence[str]) -> dict[str, Any]:
    """The ``datasets`` features of the own row fields of the sources ``names`` (their ``columns()``), in order."""
    found: dict[str, Any] = {}
    for name in names:
        declare = getattr(get_source(name), "columns", None)
        found.update(declare() if declare is not None else {})
    return found
