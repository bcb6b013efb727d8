"""Talking-face metrics: plain functions on images/landmarks/embeddings, metric classes behind a registry, and the
streaming per-clip runner.

Images are RGB channels-last uint8 (data range 255) or float in [0, 1]; see each module for the details. Names are
resolved on first use, so ``import hdtf.metrics.registry`` (the CLI's list of metrics) loads no numpy; torch, dlib
and PyAV are imported only when a metric needs them.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Clip": "base", "Column": "base", "Frame": "base", "FrameMean": "base", "Metric": "base",
    "ArcFaceModel": "arcface", "align_face": "arcface",
    "FeatureStats": "fid", "InceptionFeatures": "fid", "frechet_distance": "fid",
    "csim": "identity", "face_descriptor": "identity",
    "psnr": "image", "ssim": "image",
    "lmd": "landmarks", "lmd_per_frame": "landmarks",
    "cpbd": "sharpness",
    "SyncResult": "sync", "SyncScorer": "sync", "load_syncnet": "sync", "mfcc": "sync",
    "sync_from_embeddings": "sync",
    "MetricSet": "video", "iter_frames": "video", "score_clip": "video",
    "metric_class": "registry", "names": "registry", "register": "registry",
}  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"hdtf.metrics.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'hdtf.metrics' has no attribute {name!r}")


__all__ = sorted(_LAZY)
