"""Turn a dataset row, or a prepared mp4 file, into arrays: RGB frames and a mono float32 waveform.

This is the one supported way to decode a clip; the training and evaluation code use it too, so a row loaded with
``load_dataset("hdtf", "clips")``, a row read back from an exported parquet shard and a file in a prepared directory
all decode the same way. decord, soundfile and PyAV are imported on first use.

:func:`decode_clip` holds every frame; it refuses a clip whose frames would take more than ``max_bytes`` (default
:data:`MAX_DECODED_BYTES`; five minutes at 512x512 are 5.9 GB) in one line that names :func:`stream_frames`, which
yields the same frames a batch at a time.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdtf.errors import HDTFError

MAX_DECODED_BYTES = 2 * 1024**3  # frames decode_clip holds at once: about 2.7 minutes of 512x512 video
STREAM_BATCH = 32  # frames stream_frames decodes at a time


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


def decode_clip(row_or_path: Mapping[str, Any] | str | Path, *, max_bytes: int = MAX_DECODED_BYTES) -> DecodedClip:
    """Decode a ``clips`` row, a webdataset sample of an export, or a path to a prepared mp4.

    A row's ``video`` is a ``datasets.Video(decode=False)`` value (``{"bytes", "path"}``) or plain mp4 bytes, and its
    ``audio`` the samples. A webdataset sample (``mp4``, ``wav``, ``json`` and ``landmarks.npy`` members, as
    ``load_dataset`` or the ``webdataset`` library give them) decodes the same way. For a path, the audio comes from
    the ``.wav`` beside it when there is one (bit-exact with the dataset rows), else from the mp4's own audio track;
    landmarks come from the ``.landmarks.npz`` beside it when there is one. HDTFError when the frames would take
    more than ``max_bytes`` of memory (:func:`stream_frames` reads any length).
    """
    if isinstance(row_or_path, Mapping):
        if "video" not in row_or_path and "mp4" in row_or_path:
            return _decode_sample(row_or_path, max_bytes)
        return _decode_row(row_or_path, max_bytes)
    return _decode_file(Path(row_or_path), max_bytes)


def stream_frames(row_or_path: Mapping[str, Any] | str | Path, batch: int = STREAM_BATCH) -> Iterator[np.ndarray]:
    """The RGB frames (H, W, 3) uint8 of what :func:`decode_clip` takes, ``batch`` decoded at a time: a clip of any
    length in bounded memory."""
    reader, _ = _reader(_video_source(row_or_path))
    for first in range(0, len(reader), batch):
        chunk = reader.get_batch(list(range(first, min(first + batch, len(reader))))).asnumpy()
        yield from np.ascontiguousarray(chunk, dtype=np.uint8)


def _video_source(row_or_path: Mapping[str, Any] | str | Path) -> str | io.BytesIO:
    """Where a row's, a sample's or a path's video is, as decord reads it."""
    from hdtf.rows import video_bytes

    if not isinstance(row_or_path, Mapping):
        path = Path(row_or_path)
        if not path.is_file():
            raise HDTFError(f"{path}: no such video file")
        return str(path)
    key = "mp4" if "video" not in row_or_path and "mp4" in row_or_path else "video"
    video = video_bytes(row_or_path.get(key))
    if video is None:
        raise HDTFError(f"clip {row_or_path.get('id', row_or_path.get('__key__', '?'))}: no mp4 bytes in {key!r}")
    return io.BytesIO(video)


def _decode_row(row: Mapping[str, Any], max_bytes: int) -> DecodedClip:
    from hdtf.rows import video_bytes

    video = video_bytes(row.get("video"))
    if video is None:
        raise HDTFError(f"clip {row.get('id', '?')}: row has no mp4 bytes in 'video' (is this a 'clips' row?)")
    frames, fps = read_frames(io.BytesIO(video), max_bytes)
    audio = np.asarray(row["audio"], dtype=np.float32).reshape(-1)
    landmarks, found = _landmarks(row.get("landmarks"), row.get("landmarks_found"))
    return DecodedClip(frames, audio, int(row["sample_rate"]), float(row.get("fps") or fps), landmarks, found)


def _decode_sample(sample: Mapping[str, Any], max_bytes: int) -> DecodedClip:
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
    frames, fps = read_frames(io.BytesIO(video), max_bytes)
    audio, rate = read_wav(io.BytesIO(wav))
    landmarks, found = _landmarks(points, meta.get("landmarks_found"))
    return DecodedClip(frames, audio, rate, float(meta.get("fps") or fps), landmarks, found)


def _decode_file(path: Path, max_bytes: int) -> DecodedClip:
    if not path.is_file():
        raise HDTFError(f"{path}: no such video file")
    frames, fps = read_frames(str(path), max_bytes)
    wav = path.with_suffix(".wav")
    audio, rate = read_wav(wav) if wav.is_file() else read_mp4_audio(path)
    landmarks = found = None
    npz = path.with_suffix(".landmarks.npz")
    if npz.is_file():
        with np.load(npz) as data:
            landmarks, found = _landmarks(data["points"], data["found"])
    return DecodedClip(frames, audio, rate, fps, landmarks, found)


def _reader(source: str | io.BytesIO) -> tuple[Any, str]:
    """A decord reader of ``source`` and its name for messages."""
    import decord

    name = source if isinstance(source, str) else "video bytes"
    try:
        return decord.VideoReader(source, ctx=decord.cpu(0), num_threads=1), name
    except RuntimeError as exc:
        raise HDTFError(f"{name}: decord cannot read it ({str(exc).splitlines()[0]})") from exc


def read_frames(source: str | io.BytesIO, max_bytes: int = MAX_DECODED_BYTES) -> tuple[np.ndarray, float]:
    """All frames of a video (a path, or a file-like object that decord reads into memory) and its frame rate;
    HDTFError, before decoding them, when they would take more than ``max_bytes``."""
    reader, name = _reader(source)
    fps = float(reader.get_avg_fps())
    if len(reader) == 0:
        return np.zeros((0, 0, 0, 3), dtype=np.uint8), fps
    height, width = reader[0].shape[:2]
    need = len(reader) * height * width * 3
    if need > max_bytes:
        raise HDTFError(f"{name}: {len(reader)} frames of {width}x{height} take {need / 2**30:.1f} GiB decoded, more "
                        f"than decode_clip holds ({max_bytes / 2**30:.1f} GiB); read it with "
                        "hdtf.decode.stream_frames (a batch at a time) or pass a larger max_bytes")
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
