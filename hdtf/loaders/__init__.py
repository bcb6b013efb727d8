"""``datasets`` builders: the generic prepared-clips builder (``prepared``) and, derived from it, one builder per
source of :data:`hdtf.sources.SOURCES`, registered by ``hdtf._registry`` so that ``load_dataset(NAME)`` works offline.

``datasets`` takes the first builder class a module defines, so each source's builder needs a module of its own:
``hdtf.loaders.<name>`` is made from the source when it is first imported (:class:`DerivedBuilders`, a finder
behind the file system's: a module file of that name would win), so that adding a source adds no builder file.
HDTF's builder keeps the module it was first published as, ``hdtf_loader``.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

from hdtf.sources import SOURCES

# The code a derived builder module runs: what its cache hash and tracebacks point at.
GENERIC = str(Path(__file__).with_name("prepared.py"))


class DerivedBuilders(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``hdtf.loaders.<source>`` for every registered source and makes it: a module holding the source's
    builder, a :class:`hdtf.loaders.prepared.PreparedClipsBuilder` subclass named after it."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in SOURCES:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=GENERIC)

    def create_module(self, spec):
        return None  # the default module

    def exec_module(self, module) -> None:
        from hdtf.loaders.prepared import derive_builder

        derive_builder(module.__name__.rpartition(".")[2], module.__name__)


if not any(isinstance(finder, DerivedBuilders) for finder in sys.meta_path):
    sys.meta_path.append(DerivedBuilders())
