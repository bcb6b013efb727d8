"""The classes a generator directory may name as its components: the allow-list loading looks classes up in.

``generator_config.json`` records each component as ``{"library": "hdtf.modeling", "class": ..., "path": ...}``.
A downloaded config is data, never code: only the classes listed here are constructed, and no module named in a
config is imported. A component is anything with ``save_pretrained(path)`` and ``from_pretrained(path)``; a new
kind = its module in ``hdtf.modeling`` + one line below.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from hdtf.errors import HDTFError

LIBRARY = "hdtf.modeling"
# class name -> the module of hdtf.modeling that defines it
COMPONENT_CLASSES: dict[str, str] = {
    "ExpressionBasis": "animation_params",
    "HDTFFeatureExtractor": "feature_extraction_hdtf",
    "HDTFFaceProcessor": "processing_hdtf",
    "HDTFAudioToAnimation": "modeling_audio2animation",
    "HDTFAnimationToVideo": "modeling_animation2video",
}
_PATH = re.compile(r"^(?!\.{1,2}$)[\w.-]+$")  # one name inside the model directory: no separators, not . or ..


def component_class(record: Any, where: str) -> type:
    """The class a component record names; HDTFError (naming ``where``) for anything outside the allow-list."""
    if not isinstance(record, dict) or not isinstance(record.get("path"), str) or not _PATH.match(record["path"]):
        raise HDTFError(f"{where}: malformed component record {record!r}")
    library, name = record.get("library"), record.get("class")
    if library != LIBRARY or name not in COMPONENT_CLASSES:
        known = ", ".join(sorted(COMPONENT_CLASSES))
        raise HDTFError(f"{where}: unknown component class {library}.{name} (known: {known})")
    return getattr(importlib.import_module(f"{LIBRARY}.{COMPONENT_CLASSES[name]}"), name)


def component_record(component: Any, path: str) -> dict[str, str]:
    """How a component is recorded: its class (which must be registered here) and where it lives."""
    name = type(component).__name__
    if name not in COMPONENT_CLASSES:
        raise ValueError(f"{name} is not a registered generator component class (hdtf.modeling.components)")
    return {"library": LIBRARY, "class": name, "path": path}
