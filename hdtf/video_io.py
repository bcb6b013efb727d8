"""Small ffmpeg helpers for the generator: read a file's audio, write frames + speech as an H.264/AAC mp4.

Everything goes through ffmpeg with argument lists and raw pipes (rgb24 video, f32le audio); writes are atomic.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
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


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sampling_rate: int = 16000,
    crf: int = 18,
) -> Path:
    """Encode RGB uint8 frames (all the same even size) as H.264 yuv420p, with ``audio`` muxed as AAC.

    Written to a hidden temporary name next to ``path`` and renamed on success, so a partial file never looks done.
    The first frame fixes the size; the audio is whatever the caller passes (trim it to the video's duration).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    try:
        first = np.ascontiguousarray(next(frames), dtype=np.uint8)
    except StopIteration:
        raise HDTFError(f"{path}: no frames to write") from None
    height, width = first.shape[:2]
    tmp = path.with_name(f".{path.stem}.partial.mp4")
    with tempfile.TemporaryDirectory(prefix="hdtf-video-") as work:
        cmd = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
               "-framerate", str(Fraction(fps).limit_denominator(1001)), "-i", "pipe:0"]
        if audio is not None and len(audio):
            wav = Path(work) / "audio.f32"
            np.asarray(audio, dtype="<f4").tofile(wav)
            cmd += ["-f", "f32le", "-ar", str(sampling_rate), "-ac", "1", "-i", str(wav),
                    "-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "128k"]
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
                "-movflags", "+faststart", "-f", "mp4", str(tmp)]
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
