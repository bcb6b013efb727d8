"""Map-style torch datasets over prepared clips (see :mod:`hdtf.data`)."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hdtf.data.clips import PreparedClip, load_prepared_clips


class _ReaderCache:
    """decord readers opened lazily in the process that uses them: a reader must never cross a fork into a worker."""

    def __init__(self, width: int, height: int, capacity: int = 8) -> None:
        self.width, self.height, self.capacity = width, height, capacity
        self._pid: int | None = None
        self._readers: OrderedDict[Path, object] = OrderedDict()

    def get(self, path: Path):
        import decord

        if self._pid != os.getpid():  # first use in this process (or inherited across a fork): start afresh
            self._pid, self._readers = os.getpid(), OrderedDict()
        reader = self._readers.pop(path, None)
        if reader is None:
            reader = decord.VideoReader(str(path), width=self.width, height=self.height, num_threads=1)
            if len(self._readers) >= self.capacity:
                self._readers.popitem(last=False)
        self._readers[path] = reader
        return reader

    def __getstate__(self) -> dict:  # DataLoader pickles datasets into spawned workers: send no open readers
        return {"width": self.width, "height": self.height, "capacity": self.capacity, "_pid": None, "_readers": {}}


def _as_clips(source: str | Path | Sequence[PreparedClip]) -> list[PreparedClip]:
    return load_prepared_clips(source) if isinstance(source, (str, Path)) else list(source)


class _ClipSampling(Dataset):
    """Shared bookkeeping: ``samples_per_clip`` items per clip and epoch, item randomness from (seed, epoch, index)."""

    def __init__(self, source, *, samples_per_clip: int, seed: int) -> None:
        self.clips = _as_clips(source)
        self.samples_per_clip = samples_per_clip
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw different pairs/windows each epoch while staying reproducible."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips) * self.samples_per_clip

    def _pick(self, index: int) -> tuple[PreparedClip, np.random.Generator]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.clips[index % len(self.clips)], np.random.default_rng([self.seed, self.epoch, index])


class AnimationPairDataset(_ClipSampling):
    """(reference, driving) frame pairs from one clip with their landmarks and the approximate dense flow Fapp.

    Items: ``reference_image``/``driving_image`` (3,R,R) float RGB in [0,1], ``reference_points``/``driving_points``
    (68,2) in pixels of the R x R image, and ``dense_flow`` (R,R,2) built from them with
    :func:`hdtf.modeling.fapp.construct_fapp` (skip with ``build_fapp=False`` to build it batched on the device).
    Only frames whose landmarks were found are sampled.
    """

    def __init__(
        self,
        source: str | Path | Sequence[PreparedClip],
        *,
        resolution: int | None = None,
        samples_per_clip: int = 64,
        seed: int = 0,
        fapp_method: str = "nearest",
        build_fapp: bool = True,
    ) -> None:
        super().__init__(source, samples_per_clip=samples_per_clip, seed=seed)
        self.resolution = resolution or self.clips[0].size
        self.fapp_method = fapp_method
        self.build_fapp = build_fapp
        self._readers = _ReaderCache(self.resolution, self.resolution)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip, rng = self._pick(index)
        candidates = clip.found_indices[clip.found_indices < clip.num_frames]
        ref, drv = (int(i) for i in rng.choice(candidates, size=2, replace=len(candidates) < 2))
        frames = self._readers.get(clip.video_path).get_batch([ref, drv]).asnumpy()
        images = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)
        points = torch.from_numpy(clip.points[[ref, drv]] * (self.resolution / clip.size))
        item = {
            "reference_image": images[0],
            "driving_image": images[1],
            "reference_points": points[0],
            "driving_points": points[1],
        }
        if self.build_fapp:
            from hdtf.modeling.fapp import construct_fapp

            item["dense_flow"] = construct_fapp(points[0], points[1:2], self.resolution, method=self.fapp_method)[0]
        return item


class AudioAnimationDataset(_ClipSampling):
    """Windows of ``num_frames`` video frames: the aligned speech samples and the landmark sequence.

    Items: ``audio`` float32 (num_frames * sample_rate/fps + 2 * context) samples — the window's own audio plus
    ``context_frames`` of neighbouring audio on each side, zero-padded at the clip's ends — ``landmarks``
    (num_frames,68,2) in output pixels, ``landmarks_mask`` (num_frames,) bool (False where no face was found),
    ``image_size``. Audio is read from the clip's WAV with partial reads, never whole.
    """

    def __init__(
        self,
        source: str | Path | Sequence[PreparedClip],
        *,
        num_frames: int = 32,
        context_frames: int = 2,
        samples_per_clip: int = 16,
        seed: int = 0,
    ) -> None:
        super().__init__(source, samples_per_clip=samples_per_clip, seed=seed)
        self.clips = [c for c in self.clips if c.audio_path is not None and c.num_frames >= num_frames]
        if not self.clips:
            from hdtf.errors import HDTFError

            raise HDTFError(f"no clip has audio and at least {num_frames} frames")
        self.num_frames = num_frames
        self.context_frames = context_frames

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        import soundfile

        clip, rng = self._pick(index)
        start = int(rng.integers(0, clip.num_frames - self.num_frames + 1))
        with soundfile.SoundFile(clip.audio_path) as wav:
            per_frame = wav.samplerate / clip.fps
            first = round((start - self.context_frames) * per_frame)
            length = round((self.num_frames + 2 * self.context_frames) * per_frame)
            wav.seek(max(first, 0))
            audio = wav.read(length - max(-first, 0), dtype="float32", always_2d=True).mean(axis=1)
            sample_rate = wav.samplerate
        audio = np.pad(audio, (max(-first, 0), length - max(-first, 0) - len(audio)))
        window = slice(start, start + self.num_frames)
        return {
            "audio": torch.from_numpy(audio),
            "landmarks": torch.from_numpy(clip.points[window]),
            "landmarks_mask": torch.from_numpy(clip.found[window]),
            "sample_rate": torch.tensor(sample_rate),
            "image_size": torch.tensor(clip.size),
        }
