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

# Readers inherited across a fork, kept alive on purpose: a decord reader's destructor joins decoder threads that
# exist only in the process that made it, and aborts (or hangs) when run in a forked DataLoader worker.
_INHERITED: list[object] = []


class _ReaderCache:
    """decord readers opened lazily in the process that uses them: a reader must never cross a fork into a worker."""

    def __init__(self, width: int, height: int, capacity: int = 8) -> None:
        self.width, self.height, self.capacity = width, height, capacity
        self._pid: int | None = None
        self._readers: OrderedDict[Path, object] = OrderedDict()

    def get(self, path: Path):
        import decord

        if self._pid != os.getpid():  # first use in this process (or inherited across a fork): start afresh
            if self._readers:
                _INHERITED.append(self._readers)
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
        self._order: tuple[int, np.ndarray] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Draw different pairs/windows each epoch while staying reproducible."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips) * self.samples_per_clip

    def _pick(self, index: int) -> tuple[PreparedClip, np.random.Generator]:
        """The clip and random generator of item ``index``; the clip order is shuffled per epoch *inside* the
        dataset, so a plain sequential sampler (what accelerate shards and skips exactly on resume) still mixes
        clips within a batch."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        if self._order is None or self._order[0] != self.epoch:
            self._order = (self.epoch, np.random.default_rng([self.seed, self.epoch]).permutation(len(self)))
        slot = int(self._order[1][index])
        return self.clips[slot % len(self.clips)], np.random.default_rng([self.seed, self.epoch, index])


class AnimationPairDataset(_ClipSampling):
    """(reference, driving) frame pairs from one clip with their landmarks and the approximate dense flow Fapp.

    Items: ``reference_image``/``driving_image`` (3,R,R) float RGB in [0,1], ``reference_points``/``driving_points``
    (68,2) in pixels of the R x R image, ``reference_index``/``driving_index`` (frame numbers in the clip), and
    ``dense_flow`` (R,R,2) built from them with
    :func:`hdtf.modeling.fapp.construct_fapp` (skip with ``build_fapp=False`` to build it batched on the device).
    Only frames whose landmarks were found are sampled.

    ``num_references`` N > 1: the reference fields gain a leading axis of N frames (``reference_image`` (N,3,R,R),
    ``reference_points`` (N,68,2), ``reference_index`` (N,), ``dense_flow`` (N,R,R,2), one flow per reference),
    drawn from the frames at least ``reference_gap`` frames away from the driving one where the clip has enough of
    them (a reference next to the target would teach copying). N = 1 draws exactly the pairs it always drew.
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
        num_references: int = 1,
        reference_gap: int = 10,
    ) -> None:
        super().__init__(source, samples_per_clip=samples_per_clip, seed=seed)
        if num_references < 1:
            raise ValueError(f"num_references must be at least 1, got {num_references}")
        self.num_references = num_references
        self.reference_gap = reference_gap
        self.resolution = resolution or self.clips[0].size
        self.fapp_method = fapp_method
        self.build_fapp = build_fapp
        self._readers = _ReaderCache(self.resolution, self.resolution)

    def _frames(self, candidates: np.ndarray, rng: np.random.Generator) -> tuple[list[int], int]:
        """(reference frame numbers, driving frame number) of one item."""
        if self.num_references == 1:  # the one-shot draw, unchanged
            ref, drv = (int(i) for i in rng.choice(candidates, size=2, replace=len(candidates) < 2))
            return [ref], drv
        drv = int(rng.choice(candidates))
        away = candidates[np.abs(candidates - drv) >= self.reference_gap]
        pool = away if len(away) >= self.num_references else candidates[candidates != drv]
        pool = pool if len(pool) else candidates
        refs = rng.choice(pool, size=self.num_references, replace=len(pool) < self.num_references)
        return [int(i) for i in refs], drv

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip, rng = self._pick(index)
        candidates = clip.found_indices[clip.found_indices < clip.num_frames]
        refs, drv = self._frames(candidates, rng)
        frames = self._readers.get(clip.video_path).get_batch([*refs, drv]).asnumpy()
        images = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)
        points = torch.from_numpy(clip.points[[*refs, drv]] * (self.resolution / clip.size))
        one = self.num_references == 1
        item = {
            "reference_image": images[0] if one else images[:-1],
            "driving_image": images[-1],
            "reference_points": points[0] if one else points[:-1],
            "driving_points": points[-1],
            "reference_index": torch.tensor(refs[0] if one else refs),
            "driving_index": torch.tensor(drv),
        }
        if self.build_fapp:
            from hdtf.modeling.fapp import construct_fapp, construct_fapp_references

            if one:
                item["dense_flow"] = construct_fapp(points[0], points[1:2], self.resolution, method=self.fapp_method)[0]
            else:
                item["dense_flow"] = construct_fapp_references(
                    points[:-1], points[-1:], self.resolution, method=self.fapp_method)[0]
        return item


class AudioAnimationDataset(_ClipSampling):
    """Windows of ``num_frames`` video frames: the aligned speech samples and the landmark sequence.

    Items: ``audio`` float32 (num_frames + 2 * context_frames) * sample_rate/fps samples — the window's own audio
    plus ``context_frames`` of neighbouring audio on each side, zero-padded at the clip's ends — ``landmarks``
    (num_frames,68,2) in output pixels (0 where no face was found), ``landmarks_mask`` (num_frames,) bool,
    ``start`` (first frame of the window), ``sample_rate``, ``image_size``. Audio is read from the clip's WAV with
    partial reads, never whole. Windows are drawn where at least half the frames have a face.

    With a ``feature_extractor`` (``HDTFFeatureExtractor``) items also carry the model inputs ``input_features``
    (num_frames, window, C) and ``attention_mask``: the context audio is real speech, not silence, so window edges
    look like they do inside a long utterance. With an ``expression_basis`` they carry the targets
    ``expression_target`` (num_frames, K) and ``pose_target`` (num_frames, 6), relative to the whole clip's rest
    state (``animation_params.clip_targets`` over its found frames), as at generation time.
    """

    def __init__(
        self,
        source: str | Path | Sequence[PreparedClip],
        *,
        num_frames: int = 32,
        context_frames: int = 2,
        samples_per_clip: int = 16,
        seed: int = 0,
        feature_extractor=None,
        expression_basis=None,
    ) -> None:
        super().__init__(source, samples_per_clip=samples_per_clip, seed=seed)
        self.clips = [c for c in self.clips if c.audio_path is not None and c.num_frames >= num_frames]
        if not self.clips:
            from hdtf.errors import HDTFError

            raise HDTFError(f"no clip has audio and at least {num_frames} frames")
        self.num_frames = num_frames
        self.feature_extractor = feature_extractor
        self.context_frames = feature_extractor.context_frames if feature_extractor is not None else context_frames
        self.expression_basis = expression_basis
        self._targets: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _starts(self, clip: PreparedClip) -> np.ndarray:
        found = clip.found[: clip.num_frames].astype(np.int64)
        counts = np.convolve(found, np.ones(self.num_frames, np.int64), mode="valid")
        good = np.flatnonzero(2 * counts >= self.num_frames)
        return good if len(good) else np.arange(len(counts))

    def _clip_targets(self, clip: PreparedClip) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame (expression, pose) targets of the whole clip, zero where no face was found; cached."""
        if clip.id not in self._targets:
            from hdtf.modeling.animation_params import clip_targets

            found = np.flatnonzero(clip.found)
            expression, pose = clip_targets(self.expression_basis, clip.points[found].astype(np.float64))
            full_e = np.zeros((len(clip.found), expression.shape[1]), np.float32)
            full_p = np.zeros((len(clip.found), pose.shape[1]), np.float32)
            full_e[found], full_p[found] = expression, pose
            self._targets[clip.id] = (full_e, full_p)
        return self._targets[clip.id]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        import soundfile

        clip, rng = self._pick(index)
        start = int(rng.choice(self._starts(clip)))
        with soundfile.SoundFile(clip.audio_path) as wav:
            per_frame = wav.samplerate / clip.fps
            first = round((start - self.context_frames) * per_frame)
            length = round((self.num_frames + 2 * self.context_frames) * per_frame)
            wav.seek(max(first, 0))
            audio = wav.read(length - max(-first, 0), dtype="float32", always_2d=True).mean(axis=1)
            sample_rate = wav.samplerate
        audio = np.pad(audio, (max(-first, 0), length - max(-first, 0) - len(audio)))
        window = slice(start, start + self.num_frames)
        found = clip.found[window]
        item = {
            "audio": torch.from_numpy(audio),
            "landmarks": torch.from_numpy(np.where(found[:, None, None], clip.points[window], 0.0).astype(np.float32)),
            "landmarks_mask": torch.from_numpy(found.copy()),
            "start": torch.tensor(start),
            "sample_rate": torch.tensor(sample_rate),
            "image_size": torch.tensor(clip.size),
        }
        if self.feature_extractor is not None:
            ctx, frames = self.context_frames, self.num_frames
            feats = self.feature_extractor(audio, sampling_rate=sample_rate, num_frames=frames + 2 * ctx)
            item["input_features"] = torch.from_numpy(feats["input_features"][0, ctx : ctx + frames])
            item["attention_mask"] = torch.from_numpy(feats["attention_mask"][0, ctx : ctx + frames])
        if self.expression_basis is not None:
            expression, pose = self._clip_targets(clip)
            item["expression_target"] = torch.from_numpy(expression[window])
            item["pose_target"] = torch.from_numpy(pose[window])
        return item
