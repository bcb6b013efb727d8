"""The generator's components, declared once: what ``HDTFGenerator`` holds, where each part lives in a model
directory, its class (the allow-list loading looks classes up in), and how a new generator builds it.

``generator_config.json`` records each component as ``{"library": "hdtf.modeling", "class": ..., "path": ...}``.
A downloaded config is data, never code: only the classes declared below are constructed, and no module named in a
config is imported. ``HDTFGenerator``'s parts (its ``__init__``, save and load), the version-1 layout,
``presets.preset``'s keys, ``from_preset`` and the model card's component table all derive from
``GENERATOR_COMPONENTS``, read at each call.

A component class has ``save_pretrained(path)``, a classmethod ``from_pretrained(path)`` and a classmethod
``for_generator(options, image_size, parts)``: a new part built from the preset's ``options`` (its ``preset_key``;
``{}`` without one), the model's image size and the ``parts`` built before it. A new kind = its module in
``hdtf.modeling`` + one line below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hdtf.errors import HDTFError

from .animation_params import BASIS_FILE, ExpressionBasis
from .feature_extraction_hdtf import HDTFFeatureExtractor
from .modeling_animation2video import HDTFAnimationToVideo
from .modeling_audio2animation import HDTFAudioToAnimation
from .processing_hdtf import HDTFFaceProcessor

__all__ = ["GENERATOR_COMPONENTS", "LIBRARY", "Component", "component_class", "component_record",
           "component_table", "preset_keys", "version_1_records"]

LIBRARY = "hdtf.modeling"
_PATH = re.compile(r"^(?!\.{1,2}$)[\w.-]+$")  # one name inside the model directory: no separators, not . or ..


@dataclass(frozen=True)
class Component:
    """One part of a generator: ``name`` is its ``HDTFGenerator`` attribute, ``__init__`` keyword and key in
    ``generator_config.json``; ``path`` one name inside the model directory (a sub-folder or a file)."""

    name: str
    path: str
    cls: type
    optional: bool = False  # absent from version-1 directories: built by ``cls.for_generator({}, ...)`` on load
    preset_key: str | None = None  # the key of ``presets.PRESETS`` entries holding its keyword arguments
    role: str = ""  # the model card's words for what it does


# Saved, loaded and built in this order (a part's ``for_generator`` sees the ones before it).
GENERATOR_COMPONENTS: tuple[Component, ...] = (
    Component("feature_extractor", "feature_extractor", HDTFFeatureExtractor, preset_key="feature_extractor",
              role="speech → log-mel windows per video frame"),
    Component("expression_basis", BASIS_FILE, ExpressionBasis,
              role="the landmark expression basis the coefficients refer to"),
    Component("audio2animation", "audio2animation", HDTFAudioToAnimation, preset_key="audio2animation",
              role="speech features → head pose and expression coefficients"),
    Component("animation2video", "animation2video", HDTFAnimationToVideo, preset_key="animation2video",
              role="reference photo(s) + dense flow → frames"),
    Component("face_processor", "animation2video", HDTFFaceProcessor, optional=True,
              role="frames a photo the way the network expects (preprocessor_config.json beside it)"),
)


def _allowed() -> dict[str, type]:
    """The allow-list: class name -> class, for every declared component."""
    return {component.cls.__name__: component.cls for component in GENERATOR_COMPONENTS}


def preset_keys() -> tuple[str, ...]:
    """The keys a preset (and ``from_preset``'s overrides) may hold besides ``image_size``."""
    return tuple(c.preset_key for c in GENERATOR_COMPONENTS if c.preset_key)


def component_record(component: Any, path: str) -> dict[str, str]:
    """How a component is recorded: its class (which must be declared here) and where it lives."""
    name = type(component).__name__
    if _allowed().get(name) is not type(component):
        raise ValueError(f"{name} is not a declared generator component class (hdtf.modeling.components)")
    return {"library": LIBRARY, "class": name, "path": path}


def version_1_records() -> dict[str, dict[str, str]]:
    """What a version-1 directory (written before components were recorded) holds: the required components."""
    return {c.name: {"library": LIBRARY, "class": c.cls.__name__, "path": c.path}
            for c in GENERATOR_COMPONENTS if not c.optional}


def component_class(record: Any, where: str) -> type:
    """The class a component record names; HDTFError (naming ``where``) for anything outside the allow-list."""
    if not isinstance(record, dict) or not isinstance(record.get("path"), str) or not _PATH.match(record["path"]):
        raise HDTFError(f"{where}: malformed component record {record!r}")
    library, name = record.get("library"), record.get("class")
    allowed = _allowed()
    if library != LIBRARY or name not in allowed:
        raise HDTFError(f"{where}: unknown component class {library}.{name} (known: {', '.join(sorted(allowed))})")
    return allowed[name]


def component_table() -> str:
    """The model card's table of the directory's parts (each loads on its own with its class's
    ``from_pretrained``)."""
    rows = [f"| `{c.name}` | `{c.path}{'' if '.' in c.path else '/'}` | `{c.cls.__name__}` | "
            f"{'optional' if c.optional else 'required'} | {c.role} |" for c in GENERATOR_COMPONENTS]
    head = ["| component | in the directory | class | | role |", "| --- | --- | --- | --- | --- |"]
    return "\n".join([*head, *rows])
