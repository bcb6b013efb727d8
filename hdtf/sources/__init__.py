"""Metadata sources: each module parses one dataset's lists into records and resolves clips against a raw video.

A source module exposes ``NAME`` and ``resolve_clip(clip, media, keyframes) -> ResolvedClip``; the pipeline looks
the module up by ``ClipSpec.source`` so it never needs to know a format.
"""

from __future__ import annotations

import importlib
from types import ModuleType

SOURCES = {"hdtf": "hdtf.sources.hdtf", "talkinghead_1kh": "hdtf.sources.talkinghead_1kh"}


def get_source(name: str) -> ModuleType:
    """The source module for ``name`` (e.g. ``"hdtf"``)."""
    try:
        return importlib.import_module(SOURCES[name])
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(SOURCES)}") from None
