"""The stages a prepared clip goes through after its cut, in the order they run: one line per stage.

A stage is one module with one class (:class:`hdtf.stages.base.Stage`; per-frame stages :class:`FrameStage`, which
share one decode of the clip). Its options join ``hdtf prepare``'s flags, the builders' config fields and the card
table; its record fields join the status, the manifest, the ``datasets`` rows and the card. Entries are
``"module:Class"`` and load on first use, so ``import hdtf`` stays light and this registry imports nothing.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from dataclasses import Field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hdtf.stages.base import Stage

# Order matters: a stage reads what the stages before it wrote (the A/V correction trims the clip, so it comes first).
STAGES: dict[str, str] = {
    "sync": "hdtf.stages.sync:SyncCheck",
    "scene_cuts": "hdtf.stages.scenes:SceneCuts",
    "landmarks": "hdtf.stages.landmarks:Landmarks",
    "aligned": "hdtf.stages.aligned:Aligned",
    "iqa": "hdtf.stages.measures:IQA",
    "measures": "hdtf.stages.measures:Measures",
    "face_embedding": "hdtf.stages.features:FaceEmbeddingStage",
    "audio_embedding": "hdtf.stages.features:AudioEmbedding",
    "masks": "hdtf.stages.features:Masks",
    "face_json": "hdtf.stages.features:FaceJSON",
    # The filters last: they read only recorded values, so a changed threshold re-runs them alone.
    "face_share_filter": "hdtf.stages.filters:FaceShare",
    "face_px_filter": "hdtf.stages.filters:FacePx",
    "head_angle_filter": "hdtf.stages.filters:HeadAngle",
    "sharpness_filter": "hdtf.stages.filters:Sharpness",
    "motion_filter": "hdtf.stages.filters:Motion",
    "iqa_filter": "hdtf.stages.filters:IQAFilter",
    "length_filter": "hdtf.stages.filters:Length",
}


def stage_class(name: str) -> type[Stage]:
    """The class of the registered stage ``name`` (its module looked up first: a no-op re-run asks for every class
    once per clip, and ``import_module`` of a loaded module is still a locked import)."""
    module, _, attr = STAGES[name].partition(":")
    return getattr(sys.modules.get(module) or importlib.import_module(module), attr)


def stage_classes() -> list[type[Stage]]:
    """Every registered stage's class, in running order."""
    return [stage_class(name) for name in STAGES]


def option_fields() -> list[Field]:
    """The option fields every stage declares (its ``Options``), in running order."""
    return [f for cls in stage_classes() for f in fields(cls.Options) if "help" in f.metadata]


def resolve(given: dict[str, Any], options: Any) -> dict[str, Any]:
    """Every stage option's value for a run: ``given`` (TypeError for a name no stage declares), else the
    declared default, then each stage's own completion (``Stage.complete``) against the run's ``options``."""
    known = {f.name: f for f in option_fields()}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise TypeError(f"unexpected option(s) {', '.join(unknown)} (no stage in hdtf.stages.STAGES declares them)")
    values = {name: given.get(name, f.default) for name, f in known.items()}
    for cls in stage_classes():
        values.update(cls.complete({f.name: values[f.name] for f in fields(cls.Options)}, options))
    return values


def selected(options: Any) -> Iterator[Stage]:
    """The stages a run with ``options`` asks for, in running order, each bound to the options."""
    for cls in stage_classes():
        stage = cls(options)
        if stage.selected():
            yield stage


def task_resources(options: Any, gpus: float | None = None) -> dict[str, float]:
    """Ray task options for one video's job under ``options``: each resource at the most any selected stage declares
    (``Stage.resources``), at least one CPU; GPUs at most ``gpus`` (the cluster's, when given): a stage that uses
    the GPU where there is one runs on the CPU otherwise, so a cluster without any still runs the job."""
    wanted: dict[str, float] = {"num_cpus": 1}
    for stage in selected(options):
        for key, amount in stage.resources.items():
            wanted[key] = max(wanted.get(key, 0), amount)
    if gpus is not None and "num_gpus" in wanted:
        wanted["num_gpus"] = min(wanted["num_gpus"], gpus)
        if not wanted["num_gpus"]:
            del wanted["num_gpus"]
    return wanted
