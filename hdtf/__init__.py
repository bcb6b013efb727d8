"""hdtf: HDTF / TalkingHead-1KH as training-ready talking-face clips with audio, and the flow-guided one-shot model.

``import hdtf`` is cheap: it arranges for the ``datasets`` builders to be registered (so ``load_dataset("hdtf")``
works, whichever of the two is imported first) and nothing else. datasets, torch, transformers and dlib are imported
only when first used.
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
    """Resolve model classes on first use so that ``import hdtf`` never imports torch."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hdtf' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
