"""Per-clip features a trainer reads: a face embedding (ArcFace ONNX) and audio embeddings per video frame.

**Face embedding.** Hallo (fudan-generative-vision/hallo ``hallo/datasets/image_processor.py``,
``ImageProcessorForDataProcessing.preprocess``) stores, per clip, insightface's ``face["embedding"]`` of the largest
face in the first frame where one is found: the recognition model's raw 512-d float32 output (not L2-normalised),
saved with ``torch.save`` as ``face_emb/{id}.pt``. :class:`FaceEmbedding` runs the user's ArcFace ONNX model exactly as
``hdtf evaluate`` does (:mod:`hdtf.metrics.arcface`: 5-point alignment from the 68 landmarks to 112x112, RGB,
``(x - 127.5) / 127.5``) and keeps the raw output of the first frame with a face (``mode="first"``, Hallo's) or the
mean raw output of every ``every``-th frame with a face (``mode="mean"``).

**Audio embeddings.** :class:`AudioEncoder` loads a ``transformers`` audio encoder by Hub id or local path (the
local files only when ``HF_HUB_OFFLINE`` is set): wav2vec2-style models (``AutoModel``: wav2vec2, HuBERT, WavLM, ...)
or Whisper's encoder (a whole Whisper checkpoint's encoder, or a saved ``WhisperEncoder``), with the feature
extractor saved beside it. The clip's audio, trimmed or zero-padded to the video's length, is encoded (in windows of
:data:`WINDOW_SECONDS`; Whisper's encoder takes exactly 30 s windows, the unused tail is dropped), and the hidden
states are resampled to one vector per video frame by linear interpolation with the first and last vectors on the
first and last frames (as Hallo's ``linear_interpolation``, ``F.interpolate(..., align_corners=True)``). ``layers=
"last"`` gives ``(frames, dim)``, ``"all"`` every hidden state the model returns, ``(frames, layers + 1, dim)``:
the input embedding and each layer's output. Stored float16.

Where hdtf differs from Hallo (``hallo/datasets/audio_processor.py``, ``hallo/models/wav2vec.py``): Hallo
interpolates wav2vec2's convolutional features to the frame count *before* the transformer and stores
``hidden_states[1:]`` (the layers' outputs, ``(frames, 12, 768)`` float32 for wav2vec2-base) after separating the
vocals with an MDX-Net model; hdtf resamples the encoder's outputs after it (any encoder, no change to its input
rate), keeps the input embedding as index 0 (a Hallo export drops it) and does not separate vocals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from hdtf.errors import HDTFError

WINDOW_SECONDS = 30.0
LAYER_CHOICES = ("last", "all")


class FaceEmbedding:
    """The clip's face embedding as a frame accumulator named ``face_embedding``; ``model`` is a
    :class:`hdtf.metrics.arcface.ArcFaceModel`.

    After ``end()``, ``artifacts["face_emb"]`` is the ``(D,)`` float32 embedding (absent without a face); ``end()``
    returns ``face_embedding_frames`` (the frames used), ``face_embedding_dim`` and ``face_embedding_norm`` (None
    without a face).
    """

    name = "face_embedding"

    def __init__(self, model: Any, *, mode: Literal["first", "mean"] = "first", every: int = 25) -> None:
        if mode not in ("first", "mean"):
            raise ValueError(f"face embedding mode must be 'first' or 'mean', got {mode!r}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.model, self.mode, self.every = model, mode, every
        self.artifacts: dict[str, np.ndarray] = {}

    def begin(self, fps: float, size: tuple[int, int], num_frames: int | None = None) -> None:
        self.used: list[int] = []
        self.sum: np.ndarray | None = None
        self.artifacts = {}

    def frame(self, index: int, rgb: np.ndarray, landmarks: np.ndarray | None) -> None:
        if landmarks is None or (self.mode == "first" and self.used):
            return
        if self.mode == "mean" and self.used and index - self.used[-1] < self.every:
            return
        from hdtf.metrics.arcface import align_face

        raw = self.model.features(align_face(rgb, landmarks)[None])[0].astype(np.float64)
        self.sum = raw if self.sum is None else self.sum + raw
        self.used.append(index)

    def end(self) -> dict[str, Any]:
        if self.sum is None:
            return {"face_embedding_frames": [], "face_embedding_dim": None, "face_embedding_norm": None}
        embedding = (self.sum / len(self.used)).astype(np.float32)
        self.artifacts = {"face_emb": embedding}
        return {"face_embedding_frames": list(self.used), "face_embedding_dim": int(embedding.size),
                "face_embedding_norm": float(np.linalg.norm(embedding))}


class AudioEncoder:
    """A ``transformers`` audio encoder that gives one embedding per video frame (module docstring)."""

    def __init__(self, name_or_path: str | Path, *, layers: str = "last", device: str = "cpu") -> None:
        if layers not in LAYER_CHOICES:
            raise HDTFError(f"audio embedding layers must be one of {', '.join(LAYER_CHOICES)}, not {layers!r}")
        self.layers, self.device = layers, device
        self.source = str(name_or_path)
        self.model, self.extractor, self.whisper = _load(self.source, device)
        self.sampling_rate = int(self.extractor.sampling_rate)

    def embed(self, audio: np.ndarray, rate: int, num_frames: int, fps: float) -> np.ndarray:
        """float16 embeddings of a mono waveform for a clip of ``num_frames`` video frames at ``fps``:
        ``(num_frames, dim)`` (``layers="last"``) or ``(num_frames, layers + 1, dim)`` (``"all"``)."""
        if num_frames < 1 or not fps > 0:
            raise HDTFError(f"audio embeddings need a clip with frames, got {num_frames} frames at {fps} fps")
        wav = _resampled(np.asarray(audio, dtype=np.float32).reshape(-1), int(rate), self.sampling_rate)
        length = int(round(num_frames / fps * self.sampling_rate))
        wav = np.pad(wav[:length], (0, max(0, length - wav.size)))
        window = int(WINDOW_SECONDS * self.sampling_rate)
        states = [self._encode(wav[start:start + window]) for start in range(0, length, window)]
        hidden = np.concatenate(states, axis=1)  # (layers + 1, positions, dim)
        per_frame = _interpolate(hidden, num_frames)  # (layers + 1, frames, dim)
        if self.layers == "last":
            return per_frame[-1].astype(np.float16)
        return per_frame.transpose(1, 0, 2).astype(np.float16)

    def embed_file(self, path: str | Path, num_frames: int, fps: float) -> np.ndarray:
        """:meth:`embed` of the audio of a media file (a clip's mp4 or its wav), read with ffmpeg at the encoder's
        sampling rate."""
        from hdtf.video_io import read_audio

        return self.embed(read_audio(path, self.sampling_rate), self.sampling_rate, num_frames, fps)

    def _encode(self, wav: np.ndarray) -> np.ndarray:
        """Every hidden state of one window: (layers + 1, positions, dim) float32, only positions the audio covers."""
        import torch

        if self.whisper:
            inputs = self.extractor(wav, sampling_rate=self.sampling_rate, return_tensors="pt").input_features
            # The encoder halves the mel frames (stride-2 convolution): one position per 2 hops of real audio.
            keep = int(np.ceil(wav.size / self.extractor.hop_length / 2))
        else:
            inputs = self.extractor(wav, sampling_rate=self.sampling_rate, return_tensors="pt").input_values
            keep = None
        with torch.inference_mode():
            out = self.model(inputs.to(self.device), output_hidden_states=True)
        hidden = torch.stack(tuple(out.hidden_states), dim=0)[:, 0].float().cpu().numpy()
        return hidden if keep is None else hidden[:, :max(1, keep)]


def _load(source: str, device: str) -> tuple[Any, Any, bool]:
    """(encoder module in eval mode on ``device``, feature extractor, is-Whisper) of a Hub id or local folder."""
    try:
        from transformers import AutoConfig, AutoFeatureExtractor, AutoModel
    except ImportError as exc:
        raise HDTFError("audio embeddings need transformers and torch (pip install 'hdtf[model]')") from exc
    try:
        config = AutoConfig.from_pretrained(source)
        extractor = AutoFeatureExtractor.from_pretrained(source)
        whisper = config.model_type == "whisper"
        if whisper and "WhisperEncoder" in (config.architectures or []):
            from transformers.models.whisper.modeling_whisper import WhisperEncoder

            model = WhisperEncoder.from_pretrained(source)
        else:
            model = AutoModel.from_pretrained(source)
            if whisper:
                model = model.get_encoder()
    except (OSError, ValueError, KeyError) as exc:
        raise HDTFError(f"audio encoder {source}: cannot load it with its feature extractor "
                        f"({str(exc).splitlines()[0]})") from exc
    return model.to(device).eval(), extractor, whisper


def _resampled(wav: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return wav
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(wav, target // g, rate // g).astype(np.float32)


def _interpolate(hidden: np.ndarray, frames: int) -> np.ndarray:
    """Linear resampling of (layers, positions, dim) to (layers, frames, dim), ends on ends (align_corners)."""
    positions = hidden.shape[1]
    if positions == 1:
        return np.repeat(hidden, frames, axis=1)
    where = np.linspace(0.0, positions - 1.0, frames)
    low = np.floor(where).astype(int).clip(0, positions - 2)
    frac = (where - low)[None, :, None]
    return hidden[:, low] * (1.0 - frac) + hidden[:, low + 1] * frac
