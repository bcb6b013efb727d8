"""Audio front-end: speech → one feature window per video frame (log-mel, or SyncNet/DAVS-style MFCC).

Video frame ``t`` at ``fps`` covers samples ``[t·spf, (t+1)·spf)`` with ``spf = sampling_rate / fps`` (640 at
16 kHz / 25 fps). The mel hop divides ``spf`` (160 → 4 mel frames per video frame), so every window starts exactly
on a frame boundary and covers ``(2·context_frames + 1)`` video frames of audio centred on frame ``t``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature

_LOG_FLOOR = 1e-5


def to_mono_16k(audio: np.ndarray, sampling_rate: int, target_rate: int) -> np.ndarray:
    """Downmix (channels last or first, whichever is smaller) and resample with a polyphase filter."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1 if audio.shape[1] <= audio.shape[0] else 0)
    elif audio.ndim != 1:
        raise ValueError(f"audio must be 1-D or 2-D (samples x channels), got shape {audio.shape}")
    if sampling_rate != target_rate:
        from scipy.signal import resample_poly

        ratio = Fraction(target_rate, sampling_rate)
        audio = resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)
    return audio


class HDTFFeatureExtractor(SequenceFeatureExtractor):
    """Per-video-frame audio windows for the audio-to-animation model.

    Returns ``input_features`` (B, T, window, feature_size), ``attention_mask`` (B, T, window) marking mel frames
    that lie inside the real audio, and ``frame_mask`` (B, T) marking real video frames when utterances are padded.
    """

    model_input_names = ["input_features", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 80,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        fps: float = 25.0,
        hop_length: int = 160,
        win_length: int = 400,
        n_fft: int = 512,
        context_frames: int = 2,
        feature_type: str = "log_mel",
        n_mels: int | None = None,
        fmin: float = 55.0,
        fmax: float | None = 7600.0,
        do_normalize: bool = True,
        **kwargs,
    ):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        if feature_type not in ("log_mel", "mfcc"):
            raise ValueError(f"feature_type must be 'log_mel' or 'mfcc', got {feature_type!r}")
        spf = sampling_rate / fps
        if abs(spf - round(spf)) > 1e-9 or round(spf) % hop_length:
            raise ValueError(
                f"{sampling_rate} Hz / {fps} fps = {spf} samples per video frame is not a multiple of hop {hop_length}"
            )
        self.fps = fps
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_fft = n_fft
        self.context_frames = context_frames
        self.feature_type = feature_type
        # MFCC keeps feature_size cepstra from n_mels bands; log-mel uses feature_size bands directly.
        self.n_mels = n_mels if n_mels is not None else (feature_size if feature_type == "log_mel" else 40)
        self.fmin = fmin
        self.fmax = fmax
        self.do_normalize = do_normalize

    @classmethod
    def for_generator(cls, options: dict[str, Any], image_size: int, parts: dict[str, Any]) -> HDTFFeatureExtractor:
        """A new generator's feature extractor: the preset's keyword arguments (``hdtf.modeling.components``)."""
        return cls(**options)

    # ---- geometry --------------------------------------------------------------------------------------------
    @property
    def samples_per_frame(self) -> int:
        return round(self.sampling_rate / self.fps)

    @property
    def mel_per_frame(self) -> int:
        return self.samples_per_frame // self.hop_length

    @property
    def window_length(self) -> int:
        """Mel frames per video-frame window."""
        return (2 * self.context_frames + 1) * self.mel_per_frame

    def num_frames(self, num_samples: int) -> int:
        """Video frames for ``num_samples`` of audio: one per 1/fps seconds (40 ms at 25 fps), at least one."""
        return max(1, math.floor(num_samples / self.samples_per_frame + 0.5))

    # ---- features --------------------------------------------------------------------------------------------
    def _mel_filters(self) -> np.ndarray:
        from transformers.audio_utils import mel_filter_bank

        return mel_filter_bank(
            num_frequency_bins=self.n_fft // 2 + 1,
            num_mel_filters=self.n_mels,
            min_frequency=self.fmin,
            max_frequency=self.fmax or self.sampling_rate / 2,
            sampling_rate=self.sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        ).astype(np.float32)

    def _frames(self, audio: np.ndarray) -> np.ndarray:
        """Feature frames (n_frames, feature_size) with frame j centred on sample j·hop."""
        pad = self.n_fft // 2
        padded = np.pad(audio, (pad, pad))
        n = 1 + (len(padded) - self.n_fft) // self.hop_length
        idx = np.arange(self.n_fft)[None, :] + self.hop_length * np.arange(n)[:, None]
        window = np.zeros(self.n_fft, dtype=np.float32)
        off = (self.n_fft - self.win_length) // 2
        window[off : off + self.win_length] = np.hanning(self.win_length + 1)[:-1]
        power = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
        logmel = np.log(np.maximum(power @ self._mel_filters(), _LOG_FLOOR)).astype(np.float32)
        if self.feature_type == "mfcc":
            from scipy.fft import dct

            return dct(logmel, type=2, axis=1, norm="ortho")[:, : self.feature_size].astype(np.float32)
        return logmel

    def _windows(self, audio: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """(T, window, C) features and (T, window) validity for one mono utterance at the model rate."""
        spf, ctx = self.samples_per_frame, self.context_frames
        valid_samples = len(audio)
        # Silence (zeros) around the utterance so every window is full; the mask says which part is real.
        total = (num_frames + 2 * ctx) * spf
        padded = np.zeros(total, dtype=np.float32)
        chunk = audio[: total - ctx * spf]
        padded[ctx * spf : ctx * spf + len(chunk)] = chunk
        feats = self._frames(padded)[: (num_frames + 2 * ctx) * self.mel_per_frame]
        mel_pos = np.arange(len(feats)) * self.hop_length - ctx * spf
        valid = (mel_pos >= 0) & (mel_pos < valid_samples)
        if self.do_normalize and valid.any():
            mu, sd = feats[valid].mean(0), feats[valid].std(0)
            feats = (feats - mu) / (sd + 1e-5)
        m, w = self.mel_per_frame, self.window_length
        starts = np.arange(num_frames) * m
        idx = starts[:, None] + np.arange(w)[None, :]
        return feats[idx], valid[idx]

    def __call__(
        self,
        raw_speech: np.ndarray | list[np.ndarray],
        sampling_rate: int | None = None,
        num_frames: int | list[int] | None = None,
        return_tensors: str | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Featurise one utterance (1-D/2-D array) or a list of them; other rates are resampled to 16 kHz.

        ``num_frames`` fixes the number of video frames (e.g. to match a video); by default one per 1/fps seconds.
        """
        if sampling_rate is None:
            sampling_rate = self.sampling_rate
        batch = raw_speech if isinstance(raw_speech, (list, tuple)) else [raw_speech]
        audios = [to_mono_16k(a, sampling_rate, self.sampling_rate) for a in batch]
        if num_frames is None or isinstance(num_frames, int):
            counts = [num_frames or self.num_frames(len(a)) for a in audios]
        else:
            counts = list(num_frames)
        t_max = max(counts)
        feats = np.full((len(audios), t_max, self.window_length, self.feature_size), self.padding_value, np.float32)
        mask = np.zeros((len(audios), t_max, self.window_length), np.int32)
        frame_mask = np.zeros((len(audios), t_max), np.int32)
        for i, (audio, count) in enumerate(zip(audios, counts)):
            f, v = self._windows(audio, count)
            feats[i, :count], mask[i, :count], frame_mask[i, :count] = f, v, 1
        return BatchFeature(
            {"input_features": feats, "attention_mask": mask, "frame_mask": frame_mask}, tensor_type=return_tensors
        )
