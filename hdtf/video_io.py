"""Small ffmpeg helpers for the generator: read a file's audio, write frames + speech as a video file.

The container is the one the output's extension names (``CONTAINERS``: .mp4/.m4v/.mov/.mkv H.264 + AAC, .webm
VP9 + Opus, .gif palette GIF without sound); other extensions are refused in one line. Everything goes through ffmpeg
with argument lists and raw pipes (rgb24 video, f32le audio); writes are atomic.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from hdtf.errors import HDTFError


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise HDTFError("ffmpeg not found on PATH (install ffmpeg)")
    return exe


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def read_audio(path: str | os.PathLike, sampling_rate: int = 16000) -> np.ndarray:
    """Mono float32 samples of any audio (or video-with-audio) file at ``sampling_rate``.

    HDTFError naming the file when it cannot be decoded or holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise HDTFError(f"{path}: audio file not found")
    cmd = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-vn",
           "-ac", "1", "-ar", str(sampling_rate), "-f", "f32le", "pipe:1"]
    done = subprocess.run(cmd, capture_output=True, check=False)
    if done.returncode != 0:
        raise HDTFError(f"{path}: cannot read audio ({_last_line(done.stderr)})")
    samples = np.frombuffer(done.stdout, dtype="<f4").astype(np.float32)
    if samples.size == 0:
        raise HDTFError(f"{path}: audio is empty")
    return samples


def has_audio(path: str | os.PathLike) -> bool:
    from hdtf.media import probe

    return probe(Path(path)).has_audio


@dataclass(frozen=True)
class Container:
    """How one output extension is written: ffmpeg's muxer, the video codec options, the audio codec options (None:
    the format holds no sound) and what to add to H.264's CRF for the same look (None: the codec has no CRF)."""

    muxer: str
    video: tuple[str, ...]
    audio: tuple[str, ...] | None
    crf_offset: int | None = 0


_H264 = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")
_AAC = ("-c:a", "aac", "-b:a", "128k")
_FASTSTART = ("-movflags", "+faststart")  # the index first, so players start before the whole file has arrived
CONTAINERS = {
    ".mp4": Container("mp4", _H264 + _FASTSTART, _AAC),
    ".m4v": Container("mp4", _H264 + _FASTSTART, _AAC),
    ".mov": Container("mov", _H264 + _FASTSTART, _AAC),
    ".mkv": Container("matroska", _H264, _AAC),
    ".webm": Container("webm", ("-c:v", "libvpx-vp9", "-b:v", "0", "-deadline", "good", "-cpu-used", "4",
                                "-row-mt", "1", "-pix_fmt", "yuv420p"), ("-c:a", "libopus", "-b:a", "64k"),
                       crf_offset=14),  # VP9's CRF 32 looks like H.264's 18
    # one palette for the whole clip (palettegen over all frames, then paletteuse), looping
    ".gif": Container("gif", ("-filter_complex", "[0:v]split[a][b];[a]palettegen[p];[b][p]paletteuse",
                              "-loop", "0"), None, crf_offset=None),
}


def container_for(path: str | os.PathLike) -> Container:
    """The Container its extension names (case-insensitive); HDTFError naming the supported ones otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        what = f"'{suffix}' is not a video container hdtf writes" if suffix else "has no file extension"
        raise HDTFError(f"{path}: {what} (use {', '.join(CONTAINERS)})")
    return CONTAINERS[suffix]


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sampling_rate: int = 16000,
    crf: int = 18,
) -> Path:
    """Encode RGB uint8 frames (all the same even size) in the container ``path``'s extension names (see
    ``CONTAINERS``), with ``audio`` muxed when the container holds sound (GIF does not: it is left out).

    Written to a hidden temporary name next to ``path`` and renamed on success, so a partial file never looks done.
    The first frame fixes the size; the audio is whatever the caller passes (trim it to the video's duration).
    """
    path = Path(path)
    container = container_for(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    try:
        first = np.ascontiguousarray(next(frames), dtype=np.uint8)
    except StopIteration:
        raise HDTFError(f"{path}: no frames to write") from None
    height, width = first.shape[:2]
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    with tempfile.TemporaryDirectory(prefix="hdtf-video-") as work:
        cmd = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
               "-framerate", str(Fraction(fps).limit_denominator(1001)), "-i", "pipe:0"]
        if audio is not None and len(audio) and container.audio is not None:
            wav = Path(work) / "audio.f32"
            np.asarray(audio, dtype="<f4").tofile(wav)
            cmd += ["-f", "f32le", "-ar", str(sampling_rate), "-ac", "1", "-i", str(wav),
                    "-map", "0:v", "-map", "1:a", *container.audio]
        cmd += list(container.video)
        if container.crf_offset is not None:
            cmd += ["-crf", str(crf + container.crf_offset)]
        cmd += ["-f", container.muxer, str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            proc.stdin.write(first.tobytes())
            for frame in frames:
                proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped reading; its exit status and stderr say why
        except BaseException:
            proc.kill()
            proc.wait()
            tmp.unlink(missing_ok=True)
            raise
        finally:
            if proc.stdin and not proc.stdin.closed:
                proc.stdin.close()
        err = proc.stderr.read()
        proc.wait()
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise HDTFError(f"{path}: ffmpeg failed to encode the video ({_last_line(err)})")
    os.replace(tmp, path)
    return path
