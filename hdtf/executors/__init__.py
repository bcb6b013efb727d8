"""Executors: how the per-video jobs of a run are run. Each backend is one module with an ``Executor`` subclass
(:mod:`hdtf.executors.base`) and one line here; ``hdtf prepare --executor NAME`` and the builders' ``executor=``
choose by name.

Only names live here (no backend is imported until chosen; the Ray backend imports ``ray`` only when a run starts),
so ``hdtf --help`` and ``import hdtf`` stay light.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from hdtf.errors import HDTFError

if TYPE_CHECKING:
    from hdtf.executors.base import Executor

# name -> "module:class"
EXECUTORS = {
    "serial": "hdtf.executors.serial:SerialExecutor",
    "process": "hdtf.executors.process:ProcessExecutor",
    "ray": "hdtf.executors.ray:RayExecutor",
}


def default_executor(workers: int, videos: int) -> str:
    """Today's choice when none is named: jobs in this process for one worker or one video, else a process pool."""
    return "serial" if workers <= 1 or videos <= 1 else "process"


def get_executor(name: str, workers: int = 1, **settings: Any) -> Executor:
    """The executor registered as ``name``, for ``workers`` jobs at once, with the backend's ``settings`` (None
    values are left out; HDTFError for an unknown name or a setting the backend does not take)."""
    if name not in EXECUTORS:
        raise HDTFError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise HDTFError(f"workers must be at least 1, not {workers}")
    backend = _backend(name)
    settings = {key: value for key, value in settings.items() if value is not None}
    taken = inspect.signature(backend).parameters
    unknown = sorted(set(settings) - set(taken))
    if unknown:
        users = [other for other in EXECUTORS if unknown[0] in inspect.signature(_backend(other)).parameters]
        hint = f" (a setting of the {', '.join(users)} executor)" if users else ""
        raise HDTFError(f"the {name} executor has no setting {unknown[0]!r}{hint}")
    return backend(workers, **settings)


def _backend(name: str) -> type[Executor]:
    module, cls = EXECUTORS[name].split(":")
    return getattr(importlib.import_module(module), cls)
