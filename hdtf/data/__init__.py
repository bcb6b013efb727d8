"""Torch datasets over an ``hdtf prepare`` output, for training (imports torch and decord: never imported by ``hdtf``).

- :class:`AnimationPairDataset`: (reference frame, driving frame, their landmarks, Fapp) pairs from one clip, for the
  animation-to-video stage.
- :class:`AudioAnimationDataset`: (audio window, landmark sequence) for the audio-to-animation stage.

Both are map-style, so ``accelerate`` shards them across processes with its samplers, and deterministic: item ``i``
of epoch ``e`` depends only on ``(seed, e, i)``. decord readers are opened lazily per worker process.
"""

from hdtf.data.clips import PreparedClip, clips_from_rows, load_prepared_clips
from hdtf.data.datasets import AnimationPairDataset, AudioAnimationDataset

__all__ = ["AnimationPairDataset", "AudioAnimationDataset", "PreparedClip", "clips_from_rows", "load_prepared_clips"]
