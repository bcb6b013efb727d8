"""Small ffmpeg helpers for the generator and the curated views: read a file's audio, write frames + speech (or a
file's own audio track, copied) as a video file, from an iterable or pushed one frame at a time.

The container is the one the output's extension names (``CONTAINERS``: .mp4/.m4v/.mov/.mkv H.264 + AAC, .webm
VP9 + Opus, .gif palette GIF without sound); other extensions are refused in one line. Everything goes through ffmpeg
with argument lists and raw pipes (rgb24 video, f32le audio); writes are atomic.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from hdtf import atomic
from hdtf.errors import HDTFError


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise HDTFError("ffmpeg not found on PATH (install ffmpeg)")
    return exe


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


@contextmanager
def open_video(path: str | Path) -> Iterator[tuple[Any, Any]]:
    """``path`` opened with PyAV: (container, its first video stream, threaded decoding); HDTFError naming the file
    when it cannot be opened or has no video. The curation cores', the stages' and the metrics' decodes start here."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise HDTFError(f"{path}: cannot open video ({exc})") from exc
    with container:
        if not container.streams.video:
            raise HDTFError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield container, stream


# ffmpeg's gray from 8-bit YUV is the luma plane, stretched from the limited 16-235 range to 0-255 unless the frame is
# full range: the same values from a lookup table cost ~0.2 ms on a 512x512 frame, PyAV's conversion (swscale's
# generic path) ~1.3 ms. The table is swscale's own rounding: equal to its output for all 256 values (tested).
_LUMA_FIRST = frozenset({"yuv420p", "yuv422p", "yuv444p", "yuv440p", "yuv411p", "yuv410p", "nv12", "nv21",
                         "yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "yuvj411p"})
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
_STRETCH = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def gray_frame(frame: Any) -> np.ndarray:
    """A decoded PyAV frame as a (height, width) uint8 gray image, the values ``frame.to_ndarray(format="gray")``
    gives, computed from the luma plane where the frame has one (the decodes of the stages and the tracker)."""
    if frame.format.name not in _LUMA_FIRST:
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :frame.width]
    if frame.format.name.startswith("yuvj") or frame.color_range == _FULL_RANGE:
        return luma.copy()
    return np.take(_STRETCH, luma)



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


# veryfast, not the cut's ultrafast (hdtf.media.X264_OPTIONS): these files (the aligned view, generated videos) are
# kept and shipped, and veryfast spends ~0.8 ms a 256x256 frame to make them 2-5x smaller at the same look. Measured
# on the aligned 256 views of two 8 s real-face clips (benchmarks/bench_curate.py's; the warped frames encoded at
# CRF 18 and compared with them as yuv420p by ffmpeg's psnr/ssim filters): veryfast 0.82 CPU-s, 331 KiB, 43.2 dB /
# SSIM 0.986; ultrafast with CABAC and deblocking 0.50 CPU-s, 1663 KiB (5x), 45.0 dB / 0.987; superfast 0.54 CPU-s,
# 712 KiB, 44.5 dB / 0.988; at veryfast's size ultrafast looks worse (CRF 26: 472 KiB, 40.2 dB / 0.973).
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
    with VideoWriter(path, fps, audio=audio, sampling_rate=sampling_rate, crf=crf) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.path


class VideoWriter:
    """:func:`write_video` for frames that arrive one at a time (a stage fed by a shared decode pushes them; it has
    no iterable to hand over): ``write(frame)`` each, then ``close()`` (or leave the ``with`` block) to finish.

    ``audio``: samples at ``sampling_rate`` to encode, or ``audio_from``: a media file whose first audio track is
    copied as it is (no second lossy encode; its codec must be one the container holds, e.g. a clip's AAC in .mp4; a
    file without audio gives a silent video). At most one of the two.
    An error or ``abort()`` leaves nothing at ``path``: the output is written to a hidden temporary name first.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        *,
        audio: np.ndarray | None = None,
        sampling_rate: int = 16000,
        audio_from: str | os.PathLike | None = None,
        crf: int = 18,
    ) -> None:
        if audio is not None and audio_from is not None:
            raise ValueError("give audio samples or a file to copy the audio from, not both")
        self.path = Path(path)
        self.container = container_for(self.path)
        self.fps, self.audio, self.sampling_rate, self.crf = fps, audio, sampling_rate, crf
        self.audio_from = None if audio_from is None else Path(audio_from)
        self.frames = 0
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._work: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None
        self._size: tuple[int, int] | None = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        """Encode the next RGB uint8 frame; the first one fixes the size (even in both directions)."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if self._proc is None:
            self._start(frame.shape[1], frame.shape[0])
        elif frame.shape[:2] != self._size[::-1]:
            self.abort()
            raise HDTFError(f"{self.path}: frame {self.frames} is {frame.shape[1]}x{frame.shape[0]}, not "
                            f"{self._size[0]}x{self._size[1]} like the first")
        try:
            self._proc.stdin.write(frame.tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped reading; close() reports its exit status and stderr
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and put it in place; HDTFError when no frame was written or ffmpeg failed."""
        if self._proc is None:
            self.abort()
            raise HDTFError(f"{self.path}: no frames to write")
        proc, self._proc = self._proc, None
        if not proc.stdin.closed:
            proc.stdin.close()
        err = proc.stderr.read()
        proc.wait()
        self._cleanup()
        if proc.returncode != 0:
            self._tmp.unlink(missing_ok=True)
            raise HDTFError(f"{self.path}: ffmpeg failed to encode the video ({_last_line(err)})")
        atomic.commit(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Stop encoding and leave nothing behind (the file at ``path``, if any, is untouched)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        self._cleanup()
        self._tmp.unlink(missing_ok=True)

    def _start(self, width: int, height: int) -> None:
        self._size = (width, height)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._work = tempfile.TemporaryDirectory(prefix="hdtf-video-")
        cmd = [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
               "-framerate", str(Fraction(self.fps).limit_denominator(1001)), "-i", "pipe:0"]
        sound = self.container.audio is not None
        if sound and self.audio is not None and len(self.audio):
            wav = Path(self._work.name) / "audio.f32"
            np.asarray(self.audio, dtype="<f4").tofile(wav)
            cmd += ["-f", "f32le", "-ar", str(self.sampling_rate), "-ac", "1", "-i", str(wav),
                    "-map", "0:v", "-map", "1:a", *self.container.audio]
        elif sound and self.audio_from is not None:
            # Absolute path: a name beginning with '-' is never an option, one with ':' never a protocol.
            cmd += ["-i", str(self.audio_from.absolute()), "-map", "0:v", "-map", "1:a:0?", "-c:a", "copy"]
        cmd += list(self.container.video)
        if self.container.crf_offset is not None:
            cmd += ["-crf", str(self.crf + self.container.crf_offset)]
        cmd += ["-f", self.container.muxer, str(self._tmp)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def _cleanup(self) -> None:
        if self._work is not None:
            self._work.cleanup()
            self._work = None
