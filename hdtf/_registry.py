"""Registration of hdtf's dataset builders with ``datasets``: one per source of :data:`hdtf.sources.SOURCES`.

datasets 5 no longer runs loading scripts; its packaged-module table is the supported lookup for names such as
``"csv"``. Adding our builder modules there makes ``load_dataset("hdtf", ...)`` resolve to ``hdtf_loader`` (and any
other source's name to the module ``hdtf.loaders`` derives for it) without any network access. The hash keys the
datasets cache, so it follows the builder's source code.

``import hdtf`` does not import ``datasets`` (0.5-1 s): :func:`register_when_imported` registers at once when
``datasets`` is already loaded, and otherwise right after its first import, through a one-shot import hook.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import sys
from pathlib import Path

# HDTF's builder keeps the module it was first published as; every other source's is hdtf.loaders.<name>, made from
# the source on import.
FIRST_MODULES = {"hdtf": "hdtf_loader"}


def builder_module(name: str) -> str:
    """The module holding the builder of source ``name``."""
    return FIRST_MODULES.get(name, f"hdtf.loaders.{name}")


def builders() -> dict[str, str]:
    """Dataset name (its source's name in hdtf.sources.SOURCES) -> module holding its builder: one per source."""
    from hdtf.sources import SOURCES

    return {name: builder_module(name) for name in SOURCES}


# Modules whose code decides what a row holds, besides each builder's own module and its source's (which reads the
# lists): part of every cache hash.
ROW_MODULES = ("hdtf.loaders.prepared", "hdtf.options", "hdtf.layout", "hdtf.rows", "hdtf.records")


def _source_hash(name: str) -> str:
    """The cache hash of dataset ``name``: the code of its builder, its source and the row modules."""
    from hdtf.sources import SOURCES

    digest = hashlib.sha256()
    for module_name in dict.fromkeys((builder_module(name), SOURCES[name], *ROW_MODULES)):
        spec = importlib.util.find_spec(module_name)
        if spec is None or spec.origin is None:
            raise ImportError(f"hdtf: cannot find the dataset builder module {module_name!r}")
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()


def register_datasets_builders() -> bool:
    """Register the builders; return False (and do nothing) when ``datasets`` is not installed."""
    if importlib.util.find_spec("datasets") is None:
        return False
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    for name, module in builders().items():
        _PACKAGED_DATASETS_MODULES[name] = (module, _source_hash(name))
    _skip_data_file_search()
    return True


def _skip_data_file_search() -> None:
    """Stop ``load_dataset`` from globbing the working directory for data files when it loads one of our builders.

    datasets resolves data files for every packaged module, searching the current directory recursively: minutes in
    a big folder (a source tree with a virtualenv), an EmptyDatasetError in an empty one, and a cache key that
    depends on whatever files happen to lie there. Our builders read no data files, so they get an empty set.
    """
    from datasets import load
    from datasets.data_files import DataFilesDict

    factory = load.PackagedDatasetModuleFactory
    if getattr(factory.get_module, "_hdtf_wrapped", False):
        return
    original = factory.get_module

    def get_module(self):
        if self.name not in builders():
            return original(self)
        module_path, module_hash = load._PACKAGED_DATASETS_MODULES[self.name]
        return load.DatasetModule(module_path, module_hash, {"data_files": DataFilesDict(), "dataset_name": self.name})

    get_module._hdtf_wrapped = True
    factory.get_module = get_module


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds ``datasets`` like the normal machinery, then registers our builders once its module has executed."""

    def find_spec(self, name, path, target=None):
        if name != "datasets":
            return None
        sys.meta_path.remove(self)  # one shot; also keeps the lookup below from finding us again
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            register_datasets_builders()

        spec.loader.exec_module = exec_then_register
        return spec


def register_when_imported() -> None:
    """Register now if ``datasets`` is loaded, else as soon as anything imports it."""
    if "datasets" in sys.modules:
        register_datasets_builders()
    elif not any(isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
