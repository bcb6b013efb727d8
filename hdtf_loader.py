"""``datasets`` builder for HDTF, registered by ``import hdtf`` so that ``load_dataset("hdtf", ...)`` works offline.

The generic prepared-clips builder (:mod:`hdtf.loaders.prepared`: configs ``metadata`` and ``clips``) derived from the
HDTF source (:mod:`hdtf.sources.hdtf`), like every source's; this one keeps the module name it was first published
as. Its keyword arguments are ``metadata_dir``, ``subsets`` and ``splits`` (the source's), ``videos``, ``executor``,
``workers`` and the clip options of ``hdtf prepare``. Splits ``train`` and ``test`` are the standard, versioned split
of :mod:`hdtf.splits` (by person; HDTF itself has no official split).
"""

from __future__ import annotations

from hdtf.loaders.prepared import derive_builder

HDTF = derive_builder("hdtf", __name__)
