"""LSE-D / LSE-C: lip-sync error measured with SyncNet (Chung & Zisserman, "Out of time", ACCV 2016 workshops).

Protocol (as popularised by Wav2Lip's evaluation with the ``syncnet_v2`` weights):

- video: face crops resized to 224x224, BGR, float in [0, 255]; one embedding per window of 5 frames (25 fps);
- audio: 16 kHz mono -> 13 MFCCs at 100 Hz (25 ms rectangular frames, 10 ms hop, 26 mel filters, NFFT 512,
  pre-emphasis 0.97, lifter 22, coefficient 0 replaced by log frame energy); one embedding per 20 MFCC frames
  (0.2 s), the window of video frame ``i`` starting at MFCC frame ``4*i``;
- for every video window ``i`` and shift ``k`` in [-15, 15], the Euclidean distance between video embedding ``i``
  and audio embedding ``i+k`` (a zero vector outside the clip); averaged over ``i`` this gives a distance curve;
- **LSE-D** is the curve's minimum, **LSE-C** its median minus its minimum, and the offset is where the minimum is.
  ``offset > 0`` means the audio leads the video by that many frames; ``offset < 0`` that it lags.

The network is written here from the published architecture; the weights are the user's (``syncnet_v2.model`` from
the syncnet_python release: a ``torch.save`` state dict with keys ``netcnnaud.*``, ``netfcaud.*``, ``netcnnlip.*``,
``netfclip.*``; a ``.safetensors`` file with the same keys also loads).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdtf.errors import HDTFError
from hdtf.metrics.base import Clip, Column, Frame, Metric
from hdtf.metrics.registry import missing_weights

MISSING = missing_weights("syncnet")
MAX_SHIFT = 15
WINDOW = 5  # video frames per SyncNet window
MFCC_PER_FRAME = 4  # 100 Hz MFCC / 25 fps video
MFCC_WINDOW = 20
SAMPLE_RATE = 16000
CROP_SIZE = 224
CROP_PAD = 0.4  # syncnet_python's crop scale around the detection box
PAD_VALUE = 110
PAIRWISE_EPS = 1e-6  # torch.nn.functional.pairwise_distance's epsilon, kept for comparable numbers


@dataclass(frozen=True)
class SyncResult:
    offset: int  # frames; > 0: audio leads video
    distance: float  # LSE-D: minimum of the mean distance curve
    confidence: float  # LSE-C: median minus minimum of that curve
    curve: np.ndarray  # (2*max_shift+1,) mean distance for shifts -max_shift..max_shift


def sync_from_embeddings(video: np.ndarray, audio: np.ndarray, max_shift: int = MAX_SHIFT) -> SyncResult:
    """Offset search on per-window embeddings ``video (N,D)`` and ``audio (N,D)`` (window ``i`` of both aligned)."""
    video, audio = np.asarray(video, np.float64), np.asarray(audio, np.float64)
    if video.ndim != 2 or video.shape != audio.shape or len(video) == 0:
        raise ValueError(f"sync: need two (N,D) embedding arrays of equal shape, got {video.shape} and {audio.shape}")
    n = len(video)
    padded = np.concatenate([np.zeros((max_shift, audio.shape[1])), audio, np.zeros((max_shift, audio.shape[1]))])
    # One shift at a time keeps memory at O(N*D) for clips of minutes; padded[k : k+n] is audio i + k - max_shift.
    curve = np.array(
        [np.linalg.norm(video - padded[k : k + n] + PAIRWISE_EPS, axis=1).mean() for k in range(2 * max_shift + 1)]
    )
    best = int(np.argmin(curve))
    return SyncResult(
        offset=max_shift - best,
        distance=float(curve[best]),
        confidence=float(np.median(curve) - curve[best]),
        curve=curve,
    )


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(n_filters: int = 26, n_fft: int = 512, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular mel filters ``(n_filters, n_fft//2+1)``, edges snapped to FFT bins ``floor((n_fft+1) * f / sr)``."""
    mels = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_filters + 2)
    edges = np.floor((n_fft + 1) * _mel_to_hz(mels) / sample_rate).astype(int)
    bins = np.arange(n_fft // 2 + 1)
    bank = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        up = (bins >= lo) & (bins < mid)
        down = (bins >= mid) & (bins < hi)
        bank[j, up] = (bins[up] - lo) / (mid - lo)
        bank[j, down] = (hi - bins[down]) / (hi - mid)
    return bank


def mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, n_coeffs: int = 13) -> np.ndarray:
    """SyncNet's MFCCs of a mono waveform (float in [-1, 1] or int16): ``(n_coeffs, frames)`` at 100 Hz."""
    from scipy.fft import dct

    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if not np.issubdtype(np.asarray(audio).dtype, np.integer):
        x = x * 32768.0  # the reference features were computed on int16 sample values; log terms depend on scale
    x = np.append(x[:1], x[1:] - 0.97 * x[:-1])
    frame_len, hop, n_fft = int(round(0.025 * sample_rate)), int(round(0.01 * sample_rate)), 512
    n_frames = 1 if len(x) <= frame_len else 1 + int(np.ceil((len(x) - frame_len) / hop))
    x = np.pad(x, (0, max(0, (n_frames - 1) * hop + frame_len - len(x))))
    index = np.arange(frame_len)[None, :] + hop * np.arange(n_frames)[:, None]
    power = np.abs(np.fft.rfft(x[index], n_fft)) ** 2 / n_fft
    tiny = np.finfo(np.float64).eps
    energy = power.sum(axis=1)
    energy[energy == 0] = tiny
    bands = power @ mel_filterbank(26, n_fft, sample_rate).T
    bands[bands == 0] = tiny
    coeffs = dct(np.log(bands), type=2, axis=1, norm="ortho")[:, :n_coeffs]
    coeffs *= 1.0 + 11.0 * np.sin(np.pi * np.arange(n_coeffs) / 22.0)
    coeffs[:, 0] = np.log(energy)
    return coeffs.T


def face_crop(frame: np.ndarray, box: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """syncnet_python's crop around a detection box: square of half-side ``bs = max(w,h)/2``, extended by 40%
    sideways and 80% downwards (towards the mouth), padded with grey 110, resized to ``size``; returns RGB uint8."""
    from PIL import Image

    x0, y0, x1, y1 = (float(v) for v in box)
    bs = max(x1 - x0, y1 - y0) / 2.0
    mx, my = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    pad = int(round(bs * (1 + 2 * CROP_PAD)))
    padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), constant_values=PAD_VALUE)
    mx, my = mx + pad, my + pad
    top, bottom = int(my - bs), int(my + bs * (1 + 2 * CROP_PAD))
    left, right = int(mx - bs * (1 + CROP_PAD)), int(mx + bs * (1 + CROP_PAD))
    crop = padded[top:bottom, left:right]
    return np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.BILINEAR))


def build_syncnet() -> Any:
    """SyncNet 'S' (syncnet_v2): an audio 2-D CNN on 13x20 MFCC and a lip 3-D CNN on 5x224x224, both -> 1024-d."""
    import torch
    from torch import nn

    def conv2(cin, cout, k, **kw):
        return [nn.Conv2d(cin, cout, k, **kw), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    def conv3(cin, cout, k, **kw):
        return [nn.Conv3d(cin, cout, k, **kw), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]

    def head():
        return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 1024))

    class SyncNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.netcnnaud = nn.Sequential(
                *conv2(1, 64, 3, padding=1), nn.MaxPool2d(1, 1),
                *conv2(64, 192, 3, padding=1), nn.MaxPool2d(3, (1, 2)),
                *conv2(192, 384, 3, padding=1),
                *conv2(384, 256, 3, padding=1),
                *conv2(256, 256, 3, padding=1), nn.MaxPool2d(3, 2),
                *conv2(256, 512, (5, 4)),
            )  # fmt: skip
            self.netfcaud = head()
            self.netcnnlip = nn.Sequential(
                *conv3(3, 96, (5, 7, 7), stride=(1, 2, 2)), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
                *conv3(96, 256, (1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
                nn.MaxPool3d((1, 3, 3), (1, 2, 2), padding=(0, 1, 1)),
                *conv3(256, 256, (1, 3, 3), padding=(0, 1, 1)),
                *conv3(256, 256, (1, 3, 3), padding=(0, 1, 1)),
                *conv3(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
                *conv3(256, 512, (1, 6, 6)),
            )  # fmt: skip
            self.netfclip = head()

        def forward_audio(self, mfcc_windows: torch.Tensor) -> torch.Tensor:
            """(B, 1, 13, 20) MFCC windows -> (B, 1024)."""
            return self.netfcaud(self.netcnnaud(mfcc_windows).flatten(1))

        def forward_video(self, clips: torch.Tensor) -> torch.Tensor:
            """(B, 3, 5, 224, 224) BGR [0,255] windows -> (B, 1024)."""
            return self.netfclip(self.netcnnlip(clips).flatten(1))

    return SyncNet()


def load_syncnet(weights: str | Path | None, device: str = "cpu") -> Any:
    """The SyncNet with the user's weights, in eval mode; HDTFError naming the problem when they are unusable."""
    if weights is None:
        raise HDTFError(f"LSE: {MISSING}")
    path = Path(weights)
    if not path.is_file():
        raise HDTFError(f"SyncNet weights {path}: file not found (expected syncnet_v2.model, see docs/evaluation.md)")
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for a file it cannot unpickle safely
            raise HDTFError(f"SyncNet weights {path}: not a loadable state dict ({str(exc).splitlines()[0]})") from exc
    if not isinstance(state, dict):
        raise HDTFError(f"SyncNet weights {path}: expected a state dict, found {type(state).__name__}")
    net = build_syncnet()
    result = net.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise HDTFError(
            f"SyncNet weights {path}: keys do not match the SyncNet architecture "
            f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})"
        )
    return net.to(device).eval()


class SyncScorer:
    """Streams one clip's face crops through SyncNet (push them one by one) and scores them against its audio.

    Holds only the last 5 crops and one batch of windows; ``score`` is the one-call form for an iterable of crops.
    """

    def __init__(self, net: Any, device: str = "cpu", batch: int = 16) -> None:
        self.net, self.device, self.batch = net, device, batch
        self.reset()

    def reset(self) -> None:
        self._recent: deque[np.ndarray] = deque(maxlen=WINDOW)
        self._pending: list[np.ndarray] = []
        self._embeddings: list[np.ndarray] = []
        self.frames = 0

    def add(self, crop: np.ndarray) -> None:
        """Next 224x224 RGB uint8 face crop of the clip."""
        self.frames += 1
        self._recent.append(np.ascontiguousarray(crop[..., ::-1]))  # SyncNet was trained on BGR
        if len(self._recent) == WINDOW:
            self._pending.append(np.stack(self._recent))
            if len(self._pending) == self.batch:
                self._flush()

    def _flush(self) -> None:
        import torch

        x = torch.from_numpy(np.stack(self._pending)).to(self.device, torch.float32)  # (B,5,H,W,3)
        with torch.no_grad():
            self._embeddings.append(self.net.forward_video(x.permute(0, 4, 1, 2, 3)).double().cpu().numpy())
        self._pending.clear()

    def _audio_embeddings(self, coeffs: np.ndarray, count: int) -> np.ndarray:
        import torch

        windows = np.stack([coeffs[:, MFCC_PER_FRAME * i : MFCC_PER_FRAME * i + MFCC_WINDOW] for i in range(count)])
        out = []
        with torch.no_grad():
            for start in range(0, count, 64):
                x = torch.from_numpy(windows[start : start + 64, None]).to(self.device, torch.float32)
                out.append(self.net.forward_audio(x).double().cpu().numpy())
        return np.concatenate(out)

    def finish(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> SyncResult:
        """LSE of the crops added so far (a 25 fps clip) against its 16 kHz mono audio; then resets."""
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"LSE needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
        if self._pending:
            self._flush()
        video = np.concatenate(self._embeddings) if self._embeddings else np.zeros((0, 1024))
        frames = self.frames
        self.reset()
        audio_frames = len(np.asarray(audio).reshape(-1)) // (SAMPLE_RATE // 25)
        count = min(frames, audio_frames) - WINDOW  # as syncnet_python: the last full window is left out
        if count < 1:
            got = min(frames, audio_frames)
            raise ValueError(f"LSE needs at least {WINDOW + 1} frames of video and audio, got {got}")
        coeffs = mfcc(audio, sample_rate)
        return sync_from_embeddings(video[:count], self._audio_embeddings(coeffs, count))

    def score(self, crops: Iterable[np.ndarray], audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> SyncResult:
        self.reset()
        for crop in crops:
            self.add(crop)
        return self.finish(audio, sample_rate)


class LSE(Metric):
    """LSE-D / LSE-C of the generated frames against the clip's speech, and of the real frames as the reference the
    data allows. Faces are cropped around the last box seen (the source image's before the first observed frame)."""

    columns = (
        Column("lse_d", "LSE-D", "lower"),
        Column("lse_c", "LSE-C", "higher"),
        Column("lse_d_real", "LSE-D (real, reference)", "lower"),
        Column("lse_c_real", "LSE-C (real, reference)", "higher"),
    )
    details = ("lse_offset", "lse_offset_real")
    faces = "generated"
    weights = "syncnet"
    backend = "torch: SyncNet (syncnet_v2 architecture) with the user's weights, MFCCs as python_speech_features"
    packages = ("torch", "scipy")

    def __init__(self, weights: Path | None = None, device: str = "cpu") -> None:
        net = load_syncnet(weights, device)
        self.generated, self.real = SyncScorer(net, device), SyncScorer(net, device)

    def start(self, clip: Clip) -> None:
        self._audio, self._sample_rate = clip.audio, clip.sample_rate
        self._box = self._real_box = clip.source_face.box if clip.source_face is not None else None
        self.generated.reset()
        self.real.reset()

    def update(self, frame: Frame) -> None:
        if self._audio is None:
            return
        self._box = frame.face.box if frame.face is not None else self._box
        if self._box is None:
            raise HDTFError("LSE: no face in the source image or the first generated frame to crop")
        self.generated.add(face_crop(frame.generated, self._box))
        self._real_box = frame.real_face.box if frame.real_face is not None else self._real_box
        if self._real_box is not None:
            self.real.add(face_crop(frame.real, self._real_box))

    def finish(self) -> dict[str, Any]:
        if self._audio is None:
            return {}
        frames = self.generated.frames
        result = self.generated.finish(self._audio, self._sample_rate)
        row = {"lse_d": result.distance, "lse_c": result.confidence, "lse_offset": result.offset}
        if self.real.frames == frames:  # the real clip is scored only when every frame could be cropped
            result = self.real.finish(self._audio, self._sample_rate)
            row.update(lse_d_real=result.distance, lse_c_real=result.confidence, lse_offset_real=result.offset)
        return row
