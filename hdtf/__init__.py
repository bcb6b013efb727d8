"""hdtf: HDTF / TalkingHead-1KH as training-ready talking-face clips with audio, and the flow-guided one-shot model.

``import hdtf`` is cheap: it arranges for the ``datasets`` builders to be registered (so ``load_dataset("hdtf")``
works, whichever of the two is imported first) and nothing else. datasets, torch, transformers and dlib are imported
only when first used, and so are the submodules: after a plain ``import hdtf``, ``hdtf.manifest.done_clips(...)`` or
``hdtf.data.load_prepared_clips(...)`` imports that submodule on first access.
"""

from __future__ import annotations

__version__ = "0.1.0"

from hdtf._registry import register_when_imported

register_when_imported()

_LAZY = {
    "HDTFGenerator": "hdtf.modeling",
    "HDTFAnimationToVideo": "hdtf.modeling",
    "HDTFAudioToAnimation": "hdtf.modeling",
    "HDTFFaceProcessor": "hdtf.modeling",
}


def __getattr__(name: str):
    """Resolve model classes and submodules on first use, so that ``import hdtf`` never imports torch yet
    ``hdtf.manifest`` / ``hdtf.data`` work as the docs write them."""
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if not name.startswith("_"):
        from importlib.util import find_spec

        if find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'hdtf' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
