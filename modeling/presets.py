"""Named sizes for ``HDTFGenerator.from_preset`` (``hdtf init-model``, ``examples/train.py``): ``tiny`` for fast CPU
tests, ``base`` for the paper-scale 512 model.

Each preset gives the image size and, under each generator component's ``preset_key`` (``components``), that
component's keyword arguments (a component the preset leaves out gets its defaults); training's ``--model_config``
overrides them key by key. ``base`` keeps the
released animation2video checkpoint's hyper-parameters (512x512, encoder/hourglass block expansion 64, max 512
features, 2 bottleneck blocks, 5 hourglass blocks at 1/4 scale), so a converted original checkpoint loads into it.
"""

from __future__ import annotations

from typing import Any

from .components import preset_keys

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "image_size": 128,
        "feature_extractor": {"feature_size": 40, "context_frames": 2},
        "audio2animation": {
            "conv_channels": [8, 16],
            "hidden_size": 32,
            "num_layers": 1,
            "style_dim": 8,
            "noise_dim": 4,
            "dropout": 0.0,
        },
        "animation2video": {
            "block_expansion": 8,
            "max_features": 32,
            "num_bottleneck_blocks": 1,
            "hourglass_num_blocks": 3,
            "hourglass_block_expansion": 8,
            "hourglass_max_features": 32,
        },
    },
    "base": {
        "image_size": 512,
        "feature_extractor": {"feature_size": 80, "context_frames": 2},
        "audio2animation": {
            "conv_channels": [32, 64, 128],
            "hidden_size": 256,
            "num_layers": 2,
            "style_dim": 32,
            "noise_dim": 16,
            "dropout": 0.1,
        },
        "animation2video": {},  # HDTFAnimationToVideoConfig's defaults are the released checkpoint's
    },
}


def preset(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of the named preset with ``overrides`` merged in (the dict-valued keys key by key); ValueError listing
    the choices for an unknown preset name or key."""
    import copy

    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    keys = ("image_size", *preset_keys())
    spec = {key: {} for key in preset_keys()} | copy.deepcopy(PRESETS[name])
    unknown = set(overrides or {}) - set(keys)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} (allowed: {sorted(keys)})")
    for key, value in (overrides or {}).items():
        spec[key] = {**spec[key], **value} if isinstance(spec[key], dict) else value
    return spec
