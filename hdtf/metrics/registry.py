"""The metrics ``hdtf evaluate`` knows, by name, and the weight files they may need.

Each metric is a :class:`hdtf.metrics.base.Metric` subclass, named here as ``"module:Class"`` and imported on first
use, so importing this module costs nothing (the CLI reads the names without loading numpy). The order is the
report's order. Adding a metric is one module with its class plus one line in :data:`METRICS` (and one in
:data:`WEIGHTS` when it needs a new kind of user-supplied file, which becomes a ``--<key>-weights`` option).
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING

from hdtf.errors import HDTFError

if TYPE_CHECKING:
    from hdtf.metrics.base import Metric

METRICS: dict[str, str | type[Metric]] = {
    "psnr": "hdtf.metrics.image:PSNR",
    "ssim": "hdtf.metrics.image:SSIM",
    "cpbd": "hdtf.metrics.sharpness:CPBD",
    "lmd": "hdtf.metrics.landmarks:LMD",
    "csim": "hdtf.metrics.identity:CSIM",
    "csim_arcface": "hdtf.metrics.arcface:ArcFaceCSIM",
    "lse": "hdtf.metrics.sync:LSE",
    "fid": "hdtf.metrics.fid:FID",
}

# Weight files a metric may declare (Metric.weights): key -> help of the ``--<key>-weights`` option. Never downloaded:
# a metric whose file was not given is reported as n/a.
WEIGHTS: dict[str, str] = {
    "fid": "TorchScript Inception for FID (e.g. inception-2015-12-05.pt); FID is n/a without it",
    "syncnet": "SyncNet state dict (syncnet_v2.model) for LSE-D/LSE-C; LSE is n/a without it",
    "arcface": "ONNX ArcFace face-recognition model (e.g. insightface w600k_r50.onnx) for csim_arcface; n/a without it",
}

_NAME = re.compile(r"[a-z][a-z0-9_]*")


def names() -> tuple[str, ...]:
    """Registered metric names, in report order."""
    return tuple(METRICS)


def metric_class(name: str) -> type[Metric]:
    """The class registered as ``name``, imported on first use."""
    if name not in METRICS:
        raise HDTFError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    target = METRICS[name]
    if isinstance(target, str):
        from hdtf.metrics.base import Metric

        module, _, attribute = target.partition(":")
        target = getattr(importlib.import_module(module), attribute, None)
        if not (isinstance(target, type) and issubclass(target, Metric)):
            raise HDTFError(f"metric {name!r}: {METRICS[name]} is not a hdtf.metrics.base.Metric subclass")
        METRICS[name] = target
    return target


def register(name: str, target: str | type[Metric]) -> None:
    """Add a metric (a ``"module:Class"`` path or the class itself) after the built-in ones."""
    if not _NAME.fullmatch(name):
        raise HDTFError(f"metric name {name!r}: use lowercase letters, digits and '_' (it is a CLI choice)")
    if name in METRICS:
        raise HDTFError(f"metric {name!r} is already registered")
    if isinstance(target, str) and not re.fullmatch(r"[\w.]+:\w+", target):
        raise HDTFError(f"metric {name!r}: expected 'module:Class', got {target!r}")
    METRICS[name] = target


def weights_option(key: str) -> str:
    """The command-line option that gives the weight file ``key``."""
    return f"--{key}-weights"


def missing_weights(key: str) -> str:
    """The report's value for a metric whose weight file ``key`` was not given."""
    return f"n/a (weights not provided: {weights_option(key)})"
