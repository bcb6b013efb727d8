"""Turn a dataset row, or a prepared mp4 file, into arrays: RGB frames and a mono float32 waveform.

This is the one supported way to decode a clip; the training and evaluation code use it too, so a row loaded with
``load_dataset("hdtf", "clips")``, a row read back from an exported parquet shard and a file in a prepared directory
all decode the same way. decord, soundfile and PyAV are imported on first use.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdtf.errors import HDTFError


@dataclass(frozen=True)
class DecodedClip:
    """A clip as arrays. ``landmarks`` is (T, 68, 2) float32 in frame pixels and ``landmarks_found`` (T,) bool, or
    both None when landmarks were not computed."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    audio: np.ndarray  # (N,) float32 in [-1, 1]
    sample_rate: int
    fps: float
    landmarks: np.ndarray | None = None
    landmarks_found: np.ndarray | None = None

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps if self.fps else 0.0


def decode_clip(row_or_path: Mapping[str, Any] | str | Path) -> DecodedClip:
    """Decode a ``clips`` row, a webdataset sample of an export, or a path to a prepared mp4.

    A row's ``video`` is a ``datasets.Video(decode=False)`` value (``{"bytes", "path"}``) or plain mp4 bytes, and its
    ``audio`` the samples. A webdataset sample (``mp4``, ``wav``, ``json`` and ``landmarks.npy`` members, as
    ``load_dataset`` or the ``webdataset`` library give them) decodes the same way. For a path, the audio comes from
    the ``.wav`` beside it when there is one (bit-exact with the dataset rows), else from the mp4's own audio track;
    landmarks come from the ``.landmarks.npz`` beside it when there is one.
    """
    if isinstance(row_or_path, Mapping):
        if "video" not in row_or_path and "mp4" in row_or_path:
            return _decode_sample(row_or_path)
        return _decode_row(row_or_path)
    return _decode_file(Path(row_or_path))


def _decode_row(row: Mapping[str, Any]) -> DecodedClip:
    from hdtf.rows import video_bytes

    video = video_bytes(row.get("video"))
    if video is None:
        raise HDTFError(f"clip {row.get('id', '?')}: row has no mp4 bytes in 'video' (is this a 'clips' row?)")
    frames, fps = read_frames(io.BytesIO(video))
    audio = np.asarray(row["audio"], dtype=np.float32).reshape(-1)
    landmarks, found = _landmarks(row.get("landmarks"), row.get("landmarks_found"))
    return DecodedClip(frames, audio, int(row["sample_rate"]), float(row.get("fps") or fps), landmarks, found)


def _decode_sample(sample: Mapping[str, Any]) -> DecodedClip:
    """A webdataset sample of an export: members decoded by ``datasets`` (json as a dict, npy as an array) or raw
    bytes (the ``webdataset`` library without decoders)."""
    import json

    from hdtf.rows import video_bytes

    key = sample.get("__key__", "?")
    video, wav = video_bytes(sample.get("mp4")), video_bytes(sample.get("wav"))
    if video is None or wav is None:
        raise HDTFError(f"sample {key}: needs 'mp4' and 'wav' members (is this an hdtf webdataset export?)")
    meta = sample.get("json") or {}
    if isinstance(meta, (bytes, bytearray, str)):
        meta = json.loads(meta)
    points = sample.get("landmarks.npy")
    if isinstance(points, (bytes, bytearray)):
        points = np.load(io.BytesIO(points), allow_pickle=False)
    frames, fps = read_frames(io.BytesIO(video))
    audio, rate = read_wav(io.BytesIO(wav))
    landmarks, found = _landmarks(points, meta.get("landmarks_found"))
    return DecodedClip(frames, audio, rate, float(meta.get("fps") or fps), landmarks, found)


def _decode_file(path: Path) -> DecodedClip:
    if not path.is_file():
        raise HDTFError(f"{path}: no such video file")
    frames, fps = read_frames(str(path))
    wav = path.with_suffix(".wav")
    audio, rate = read_wav(wav) if wav.is_file() else read_mp4_audio(path)
    landmarks = found = None
    npz = path.with_suffix(".landmarks.npz")
    if npz.is_file():
        with np.load(npz) as data:
            landmarks, found = _landmarks(data["points"], data["found"])
    return DecodedClip(frames, audio, rate, fps, landmarks, found)


def read_frames(source: str | io.BytesIO) -> tuple[np.ndarray, float]:
    """All frames of a video (a path, or a file-like object that decord reads into memory) and its frame rate."""
    import decord

    try:
        reader = decord.VideoReader(source, ctx=decord.cpu(0), num_threads=1)
    except RuntimeError as exc:
        name = source if isinstance(source, str) else "video bytes"
        raise HDTFError(f"{name}: decord cannot read it ({str(exc).splitlines()[0]})") from exc
    fps = float(reader.get_avg_fps())
    if len(reader) == 0:
        return np.zeros((0, 0, 0, 3), dtype=np.uint8), fps
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    return np.ascontiguousarray(frames, dtype=np.uint8), fps


def read_wav(path: str | Path | io.BytesIO) -> tuple[np.ndarray, int]:
    """A wav as a mono float32 waveform (channels averaged) and its sample rate."""
    import soundfile

    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return _mono(audio.T), int(rate)


def read_mp4_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """The first audio track of a media file as a mono float32 waveform at its own sample rate (PyAV)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise HDTFError(f"{path}: has no audio track")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate)
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        chunks = [
            out.to_ndarray() for frame in container.decode(stream) for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
    if not chunks:
        return np.zeros(0, dtype=np.float32), rate
    return _mono(np.concatenate(chunks, axis=1)), rate


def _mono(channels_first: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(channels_first.mean(axis=0), dtype=np.float32)


def _landmarks(points: Any, found: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Normalise the landmark columns. A missing dynamic-shape array reads back as a float NaN (datasets quirk)."""
    if points is None or (isinstance(points, float) and np.isnan(points)):
        return None, None
    points = np.asarray(points, dtype=np.float32)
    found = np.ones(len(points), dtype=bool) if found is None else np.asarray(found, dtype=bool)
    return points, found
