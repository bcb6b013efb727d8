"""Talking-face metrics: plain functions on images/landmarks/embeddings, and streaming per-clip runners.

Images are RGB channels-last uint8 (data range 255) or float in [0, 1]; see each module for the details.
Importing this package loads numpy/scipy only: torch, dlib and PyAV are imported when a metric needs them.
"""

from hdtf.metrics.fid import FeatureStats, InceptionFeatures, frechet_distance
from hdtf.metrics.identity import csim, face_descriptor
from hdtf.metrics.image import psnr, ssim
from hdtf.metrics.landmarks import lmd, lmd_per_frame
from hdtf.metrics.sharpness import cpbd
from hdtf.metrics.sync import SyncResult, SyncScorer, load_syncnet, mfcc, sync_from_embeddings
from hdtf.metrics.video import METRICS, MetricTools, iter_frames, score_clip

__all__ = [
    "METRICS",
    "FeatureStats",
    "InceptionFeatures",
    "MetricTools",
    "SyncResult",
    "SyncScorer",
    "cpbd",
    "csim",
    "face_descriptor",
    "frechet_distance",
    "iter_frames",
    "lmd",
    "lmd_per_frame",
    "load_syncnet",
    "mfcc",
    "psnr",
    "score_clip",
    "ssim",
    "sync_from_embeddings",
]
