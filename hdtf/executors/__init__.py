"""Executors: how the per-video jobs of a run are run. Each backend is one module with an ``Executor`` subclass
(:mod:`hdtf.executors.base`) and one line here; ``hdtf prepare --executor NAME`` and the builders' ``executor=``
choose by name.

Only names live here (no backend is imported until chosen), so ``hdtf --help`` and ``import hdtf`` stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from hdtf.errors import HDTFError

if TYPE_CHECKING:
    from hdtf.executors.base import Executor

# name -> "module:class"
EXECUTORS = {
    "serial": "hdtf.executors.serial:SerialExecutor",
    "process": "hdtf.executors.process:ProcessExecutor",
}


def default_executor(workers: int, videos: int) -> str:
    """Today's choice when none is named: jobs in this process for one worker or one video, else a process pool."""
    return "serial" if workers <= 1 or videos <= 1 else "process"


def get_executor(name: str, workers: int = 1) -> Executor:
    """The executor registered as ``name``, for ``workers`` jobs at once (HDTFError for an unknown name)."""
    if name not in EXECUTORS:
        raise HDTFError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise HDTFError(f"workers must be at least 1, not {workers}")
    module, cls = EXECUTORS[name].split(":")
    return getattr(importlib.import_module(module), cls)(workers)
