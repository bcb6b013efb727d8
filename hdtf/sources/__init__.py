"""Metadata sources: each module reads one dataset's lists into records and resolves a clip against the real video.

A source is a module with the names of :class:`Source` and one line in :data:`SOURCES`; ``hdtf prepare --source``
(with the source's flags), the job (``resolve_clip`` by ``ClipSpec.source``) and the builders find it by name, so
none of them knows a list format. Sources know nothing of ffmpeg, downloads or ``datasets``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hdtf.media import MediaInfo
    from hdtf.records import ClipSpec, ParseReport, ResolvedClip, VideoSpec

# name (ClipSpec.source, builder name; the CLI spells it with '-') -> module
SOURCES = {"hdtf": "hdtf.sources.hdtf", "talkinghead_1kh": "hdtf.sources.talkinghead_1kh"}

# The help of the ``--split`` flag the sources share (each declares its ``splits`` field with it).
SPLIT_HELP = ("which split to prepare. HDTF: train, test or all (default all; the standard split v1 of hdtf.splits "
              "puts 22 of the 436 clips in test, no person in both). TalkingHead-1KH: small, train or val "
              "(default small)")


class Source(Protocol):
    """What a source module provides."""

    NAME: str  # its key in SOURCES
    SPLITS: tuple[str, ...]  # the splits a builder can make (a single "train" where the lists have none)
    # A frozen dataclass of the source's list options, declared with ``hdtf.options.option`` (flags of
    # ``hdtf prepare --source NAME``, fields of its builder's config). Sources may share a flag when they name its
    # field alike (``splits`` for ``--split``); the first declaration's parser and help serve both.
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
