"""ffprobe/ffmpeg: probe a video, cut one clip in one pass, list keyframes. Knows nothing about any dataset.

``cut_clip`` runs a single ffmpeg process per clip: input-side seek (only the GOP before ``start`` is decoded),
one filter graph (deinterlace, crop, fps, scale, square pixels, yuv420p), H.264 + AAC into the mp4 and, from the
same decoded and resampled audio, a PCM WAV as a second output. Separate cut/crop/resize passes re-decode and
re-encode the video each time; this is the main speed-up over the original scripts.

Sources without audio give clips without audio: no silent track is invented (a silent track would look like
valid training audio), no WAV is written and ``ClipFacts.has_audio`` is False, so the caller decides.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from hdtf.errors import HDTFError
from hdtf.records import CropBox

# libx264 settings, measured with benchmarks/bench_prepare.py and SSIM/PSNR against lossless encodes of a moving
# 512x512 face: at CRF 18 the presets ultrafast..fast all give 45-46 dB PSNR / SSIM 0.982-0.986 (visually
# lossless), while encoding adds 15-25% (ultrafast) to ~40% (veryfast) CPU on top of decoding 1080p.
# ultrafast turns CABAC and the deblocking filter off; both are turned back on at no measurable CPU cost (CABAC:
# 5-8% smaller files; deblocking: no block edges in flat regions).
X264_OPTIONS = ("-preset", "ultrafast", "-crf", "18", "-x264-params", "cabac=1:deblock=0,0")
AAC_BITRATE = "64k"
INTERLACED_FIELD_ORDERS = frozenset({"tt", "bb", "tb", "bt"})
_ADDRESS = re.compile(r" @ 0x[0-9a-f]+\]")


class MediaError(HDTFError):
    """ffmpeg/ffprobe could not read or write a media file; the message names the file and ffmpeg's reason."""


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a file's first video stream (and whether any audio stream exists)."""

    width: int
    height: int
    fps: float
    duration: float
    has_audio: bool
    interlaced: bool
    codec: str
    nb_frames: int | None = None
    sample_rate: int | None = None  # of the first audio stream
    # Timeline facts (seconds): input-side -ss counts from start_time; frame-exact sources need the video's own.
    start_time: float = 0.0  # of the container (where -ss 0 is)
    video_start: float = 0.0  # first video frame's presentation time
    video_decode_delay: float = 0.0  # first video packet's pts - dts: the B-frame reorder delay


@dataclass(frozen=True)
class ClipFacts:
    """A finished clip as read back from the written file."""

    num_frames: int
    fps: float
    width: int
    height: int
    duration: float
    has_audio: bool
    sample_rate: int | None


def _reason(stderr: str) -> str:
    """ffmpeg's cause in one line: the first messages (the root cause) and the last (what failed)."""
    lines = [_ADDRESS.sub("]", line.strip()) for line in stderr.splitlines() if line.strip()]
    if len(lines) > 3:
        lines = [*lines[:2], "...", lines[-1]]
    return " | ".join(lines) or "no error output"


def _run(args: Sequence[str], path: Path, what: str) -> str:
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, errors="replace", check=False)
    except FileNotFoundError as exc:
        raise MediaError(f"{args[0]} not found on PATH; install ffmpeg to {what} {path}") from exc
    if done.returncode != 0:
        raise MediaError(f"cannot {what} {path}: {_reason(done.stderr)}")
    return done.stdout


def _ffprobe_json(path: Path, *extra: str) -> dict:
    # Absolute, so a file name beginning with '-' (YouTube ids may) is never read as an option.
    out = _run(["ffprobe", "-v", "error", "-of", "json", *extra, str(Path(path).absolute())], path, "read")
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:
        raise MediaError(f"cannot read {path}: ffprobe gave unreadable output") from exc


def _rate(text: str | None) -> float:
    try:
        value = Fraction(text or "0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value)


def probe(path: Path, *, count_frames: bool = False, timeline: bool = True) -> MediaInfo:
    """Stream facts of ``path``; ``count_frames`` counts video packets (exact for any container, reads the file).

    ``timeline`` False skips the second ffprobe run that measures the decode delay (0 then); clip read-back
    needs no timeline facts.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"cannot read {path}: no such file")
    extra = ["-show_format", "-show_streams"]
    if count_frames:
        extra += ["-count_packets"]
    data = _ffprobe_json(path, *extra)
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None:
        raise MediaError(f"cannot read {path}: no video stream")
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    duration = float(data.get("format", {}).get("duration") or video.get("duration") or 0.0)
    counted = video.get("nb_read_packets") if count_frames else video.get("nb_frames")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    return MediaInfo(
        width=int(video["width"]),
        height=int(video["height"]),
        fps=fps,
        duration=duration,
        has_audio=audio is not None,
        interlaced=video.get("field_order", "progressive") in INTERLACED_FIELD_ORDERS,
        codec=str(video.get("codec_name", "")),
        nb_frames=int(counted) if counted not in (None, "", "N/A") else None,
        sample_rate=int(audio["sample_rate"]) if audio is not None and audio.get("sample_rate") else None,
        start_time=_seconds(data.get("format", {}).get("start_time")),
        video_start=_seconds(video.get("start_time")),
        video_decode_delay=_decode_delay(path) if timeline else 0.0,
    )


def _seconds(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "", "N/A") else 0.0
    except ValueError:
        return 0.0


def _decode_delay(path: Path) -> float:
    """pts - dts of the first video packet (reads one packet); 0 when either is unknown."""
    data = _ffprobe_json(path, "-select_streams", "v:0", "-read_intervals", "%+#1",
                         "-show_entries", "packet=pts_time,dts_time")
    packets = data.get("packets", [])
    if not packets or "N/A" in (packets[0].get("pts_time", "N/A"), packets[0].get("dts_time", "N/A")):
        return 0.0
    return max(0.0, float(packets[0]["pts_time"]) - float(packets[0]["dts_time"]))


def video_filter_chain(
    crop: CropBox | None, size: int | None, fps: float | None, deinterlace: bool, extra: Sequence[str]
) -> str:
    filters = ["yadif=mode=send_frame:parity=auto:deint=all"] if deinterlace else []
    if crop is not None:
        w, h = (crop.w, crop.h) if size is not None else (crop.w // 2 * 2, crop.h // 2 * 2)
        filters.append(f"crop={w}:{h}:{crop.x}:{crop.y}:exact=1")
    if fps is not None:
        filters.append(f"fps={Fraction(fps).limit_denominator(1001)}")
    filters.extend(extra)
    if size is not None:
        filters.append(f"scale={size}:{size}:flags=lanczos")
    else:
        filters.append("scale=trunc(iw/2)*2:trunc(ih/2)*2")
    filters += ["setsar=1", "format=yuv420p"]
    return ",".join(filters)


def cut_clip(
    src: Path,
    dst_mp4: Path,
    *,
    start: float,
    end: float,
    crop: CropBox | None,
    size: int | None = 512,
    fps: float | None = 25,
    sample_rate: int | None = 16000,
    dst_wav: Path | None = None,
    deinterlace: bool = False,
    extra_video_filters: Sequence[str] = (),
    info: MediaInfo | None = None,
    threads: int = 0,
) -> ClipFacts:
    """Cut ``[start, end)`` of ``src`` into ``dst_mp4`` (and ``dst_wav``) with one ffmpeg process; atomic.

    ``crop`` is in ``src`` pixels (None: the whole frame, scaled to ``size`` x ``size`` without keeping its aspect);
    ``size`` None keeps the crop size (rounded down to even), ``fps`` None keeps the source rate, ``sample_rate``
    None keeps the source rate (mono either way). ``info`` is ``probe(src)`` when the caller already has it.
    ``threads`` 0 lets ffmpeg choose (set 1 when many clips are cut in parallel). Without source audio no WAV is
    written (and a stale one at ``dst_wav`` is removed). Returns the facts probed from the written mp4.
    """
    src, dst_mp4 = Path(src), Path(dst_mp4)
    if end <= start:
        raise MediaError(f"cannot cut {src}: end {end:.3f}s is not after start {start:.3f}s")
    info = info or probe(src)
    has_audio = info.has_audio
    tmp_mp4 = dst_mp4.with_name(f".{dst_mp4.stem}.partial.mp4")
    tmp_wav = None if dst_wav is None else Path(dst_wav).with_name(f".{Path(dst_wav).stem}.partial.wav")
    vf = video_filter_chain(crop, size, fps, deinterlace, extra_video_filters)
    graph = [f"[0:v:0]{vf}[v]"]
    if has_audio:
        resample = f"aresample={sample_rate}," if sample_rate else ""
        copies = 2 if tmp_wav is not None else 1
        split = f",asplit={copies}" + "".join(f"[a{i}]" for i in range(copies)) if copies > 1 else "[a0]"
        graph.append(f"[0:a:0]{resample}aformat=channel_layouts=mono{split}")
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    # Absolute paths: a name beginning with '-' is never an option, one with ':' never a protocol.
    args += ["-ss", f"{start:.3f}", "-t", f"{end - start:.3f}", "-i", str(src.absolute())]
    args += ["-filter_complex", ";".join(graph), "-map", "[v]"]
    args += ["-c:v", "libx264", *X264_OPTIONS, "-threads", str(threads)]
    if has_audio:
        args += ["-map", "[a0]", "-c:a", "aac", "-b:a", AAC_BITRATE]
    args += ["-movflags", "+faststart", str(tmp_mp4.absolute())]
    if has_audio and tmp_wav is not None:
        args += ["-map", "[a1]", "-c:a", "pcm_s16le", str(tmp_wav.absolute())]
    dst_mp4.parent.mkdir(parents=True, exist_ok=True)
    try:
        _run(args, src, f"cut {start:.3f}-{end:.3f}s of")
        out = probe(tmp_mp4, count_frames=True, timeline=False)
        if not out.nb_frames:
            raise MediaError(f"cannot cut {start:.3f}-{end:.3f}s of {src}: the clip has no video frames")
        facts = ClipFacts(
            num_frames=out.nb_frames,
            fps=out.fps,
            width=out.width,
            height=out.height,
            duration=out.duration,
            has_audio=out.has_audio,
            sample_rate=out.sample_rate,
        )
        if tmp_wav is not None:
            if has_audio:
                os.replace(tmp_wav, Path(dst_wav))
            else:
                Path(dst_wav).unlink(missing_ok=True)
        os.replace(tmp_mp4, dst_mp4)
    finally:
        tmp_mp4.unlink(missing_ok=True)
        if tmp_wav is not None:
            tmp_wav.unlink(missing_ok=True)
    return facts


def keyframe_times(path: Path) -> list[float]:
    """Presentation times (s) of the video keyframes of ``path``; only keyframes are decoded."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"cannot read {path}: no such file")
    data = _ffprobe_json(path, "-select_streams", "v:0", "-skip_frame", "nokey",
                         "-show_entries", "frame=pts_time,best_effort_timestamp_time")
    times = []
    for frame in data.get("frames", []):
        value = frame.get("pts_time", frame.get("best_effort_timestamp_time"))
        if value not in (None, "N/A"):
            times.append(float(value))
    return sorted(times)
