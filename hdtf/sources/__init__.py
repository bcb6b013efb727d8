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
           "voxceleb2": "hdtf.sources.voxceleb2"}


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

    def resolve_clip(self, clip: ClipSpec, media: MediaInfo,
                     keyframes: Callable[[], list[float]]) -> ResolvedClip:
        """The clip's times and window in the real video (``media`` probed; ``keyframes`` on demand); ValueError
        when the clip is not in it."""


def get_source(name: str) -> Source | ModuleType:
    """The source module for ``name`` (e.g. ``"hdtf"``; ``"talkinghead-1kh"`` as the CLI spells it)."""
    try:
        return importlib.import_module(SOURCES[name.replace("-", "_")])
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(SOURCES)}") from None


def cli_name(name: str) -> str:
    """How ``hdtf prepare --source`` spells a source."""
    return name.replace("_", "-")
