"""``datasets`` builder for HDTF, registered by ``import hdtf`` so that ``load_dataset("hdtf", ...)`` works offline.

The generic prepared-clips builder (:mod:`hdtf.loaders.prepared`: configs ``metadata`` and ``clips``) over the HDTF
source; its keyword arguments are ``metadata_dir``, ``subsets`` and ``splits`` (the source's), ``videos``,
``executor``, ``workers`` and the clip options of ``hdtf prepare``. Splits ``train`` and ``test`` are the standard,
versioned split of :mod:`hdtf.splits` (by person; HDTF itself has no official split).
"""

from __future__ import annotations

from hdtf.card import source_card
from hdtf.loaders.prepared import PreparedClipsBuilder


class HDTF(PreparedClipsBuilder):
    """HDTF talking-face clips (``clips``) or their annotations (``metadata``); ``train`` and ``test`` splits.
    Citation, licence and homepage: the source's card facts (``hdtf.card``)."""

    SOURCE = "hdtf"
    DESCRIPTION = (
        source_card("hdtf").description + " The `clips` config turns the metadata into square face clips with mono "
        "audio (16 kHz unless `sample_rate` says otherwise); the `metadata` config lists the annotated clips."
    )
