"""``datasets`` builder for HDTF, registered by ``import hdtf`` so that ``load_dataset("hdtf", ...)`` works offline.

The generic prepared-clips builder (:mod:`hdtf.loaders.prepared`: configs ``metadata`` and ``clips``) over the HDTF
source; its keyword arguments are ``metadata_dir``, ``subsets`` and ``splits`` (the source's), ``videos``,
``executor``, ``workers`` and the clip options of ``hdtf prepare``. Splits ``train`` and ``test`` are the standard,
versioned split of :mod:`hdtf.splits` (by person; HDTF itself has no official split).
"""

from __future__ import annotations

from hdtf.card import CITATION
from hdtf.loaders.prepared import PreparedClipsBuilder


class HDTF(PreparedClipsBuilder):
    """HDTF talking-face clips (``clips``) or their annotations (``metadata``); ``train`` and ``test`` splits."""

    SOURCE = "hdtf"
    DESCRIPTION = (
        "HDTF (High-Definition Talking Face): about 16 hours of 720p/1080p YouTube interview and speech videos of "
        "roughly 300 subjects, annotated as clips with face crop windows. The `clips` config turns the metadata into "
        "square face clips with 16 kHz mono audio; the `metadata` config lists the annotated clips."
    )
    CITATION = CITATION
    LICENSE = "cc-by-4.0"
    HOMEPAGE = "https://github.com/MRzzm/HDTF"
