"""ffprobe/ffmpeg: probe a video, cut one clip in one pass, list keyframes. Knows nothing about any dataset.

``cut_clip`` runs a single ffmpeg process per clip: input-side seek (only the GOP before ``start`` is decoded),
one filter graph (deinterlace, crop, fps, scale, square pixels, yuv420p), H.264 + AAC into the mp4 and, from the
same decoded and resampled audio, a PCM WAV as a second output. Separate cut/crop/resize passes re-decode and
re-encode the video each time; this is the main speed-up over the original scripts.

Every cut is verified before its files are put in place: frames = (end - start) x fps within one frame, audio as long
as the video within one frame's time, the size asked for, and a window that lies inside the frame (ffmpeg's crop
filter would otherwise move it silently). A source that ends early (a download cut short whose index still promises
the whole length, audio that stops before the picture) raises :class:`ShortCutError` naming where it ends; with
``allow_short`` the clip is kept at the length both streams really have (re-cut once when they differ), and its facts
say so. Output-side ``-t`` on both outputs keeps ffmpeg from extending the video past ``end`` when the audio stream
ends first (input-side ``-t`` alone does not, in ffmpeg 5.1).

Rotation: a phone video is stored landscape with a display matrix saying how to turn it. ffmpeg turns the frames
before filtering, so :func:`probe` reports the *displayed* size and the rotation, and every window handed to
``cut_clip`` is in displayed pixels.

Sources without audio give clips without audio: no silent track is invented (a silent track would look like
valid training audio), no WAV is written and ``ClipFacts.has_audio`` is False, so the caller decides.

No ffmpeg or ffprobe run is unbounded: each is stopped after :func:`time_limit` of the media it works on (a fixed
allowance plus a multiple of the clip's length) and fails with a MediaError naming the file and the limit.
"""

from __future__ import annotations

import json
import re
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from hdtf import atomic
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
# Every ffmpeg/ffprobe run is stopped after a fixed allowance plus this many seconds per second of media it works on
# (a 1080p cut runs faster than real time even on one slow core), so a stalled input (a hung network mount, a pipe
# nobody writes) fails the clip in one line instead of holding its job forever.
TIME_LIMIT = (120.0, 20.0)


class MediaError(HDTFError):
    """ffmpeg/ffprobe could not read or write a media file; the message names the file and ffmpeg's reason."""


class ShortCutError(MediaError):
    """The source ends (video, audio or both) before the end of the asked cut; ``shortfall`` says where."""

    def __init__(self, message: str, shortfall: Shortfall):
        super().__init__(message)
        self.shortfall = shortfall


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
    # Display matrix: degrees the stored frames are turned (counter-clockwise) to be shown; width/height above are
    # the displayed frame's (swapped from the stored ones for 90/270).
    rotation: int = 0
    video_duration: float | None = None  # of the first video stream, as its header says
    audio_duration: float | None = None  # of the first audio stream, as its header says


@dataclass(frozen=True)
class Shortfall:
    """Where a cut of ``[start, end)`` really ended: the video at ``video_end``, the audio at ``audio_end`` (seconds
    of the cut file's timeline; None: no audio)."""

    start: float
    end: float
    video_end: float
    audio_end: float | None

    @property
    def available_end(self) -> float:
        """Where both streams are still there."""
        return min(self.video_end, self.end, *(() if self.audio_end is None else (self.audio_end,)))

    def reason(self, offset: float = 0.0) -> str:
        """One line, times on a timeline starting ``offset`` seconds before the cut file's (a section's start)."""
        needs = f"the clip needs {_secs(self.start + offset)}\u2013{_secs(self.end + offset)} s"
        video_short = self.video_end < self.end - 1e-6
        audio_short = self.audio_end is not None and self.audio_end < self.end - 1e-6
        what = "source" if video_short and (audio_short or self.audio_end is None) else (
            "video" if video_short else "audio")
        return f"{what} ends at {self.available_end + offset:.1f} s; {needs}"


def _secs(t: float) -> str:
    return f"{t:.2f}".rstrip("0").rstrip(".")


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
    audio_duration: float | None = None  # of the written audio (the WAV's sample count when one was written)
    applied_crop: CropBox | None = None  # the window ffmpeg was given, in the source's displayed pixels
    shortfall: Shortfall | None = None  # set when allow_short kept a clip shorter than asked


def _reason(stderr: str) -> str:
    """ffmpeg's cause in one line: the first messages (the root cause) and the last (what failed)."""
    lines = [_ADDRESS.sub("]", line.strip()) for line in stderr.splitlines() if line.strip()]
    if len(lines) > 3:
        lines = [*lines[:2], "...", lines[-1]]
    return " | ".join(lines) or "no error output"


def time_limit(media_seconds: float = 0.0) -> float:
    """Seconds an ffmpeg/ffprobe run on ``media_seconds`` of media may take (:data:`TIME_LIMIT`)."""
    base, per_second = TIME_LIMIT
    return base + per_second * max(0.0, media_seconds)


def _run(args: Sequence[str], path: Path, what: str, media_seconds: float = 0.0) -> str:
    limit = time_limit(media_seconds)
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, errors="replace", check=False,
                              timeout=limit)
    except FileNotFoundError as exc:
        raise MediaError(f"{args[0]} not found on PATH; install ffmpeg to {what} {path}") from exc
    except subprocess.TimeoutExpired:  # subprocess.run has killed it
        raise MediaError(f"cannot {what} {path}: {Path(args[0]).name} did not finish within {limit:.0f} s (the limit "
                         f"for {media_seconds:.1f} s of media) and was stopped; is the file on a stalled mount or "
                         "still being written?") from None
    if done.returncode != 0:
        raise MediaError(f"cannot {what} {path}: {_reason(done.stderr)}")
    return done.stdout


def _ffprobe_json(path: Path, *extra: str, media_seconds: float = 0.0) -> dict:
    # Absolute, so a file name beginning with '-' (YouTube ids may) is never read as an option.
    out = _run(["ffprobe", "-v", "error", "-of", "json", *extra, str(Path(path).absolute())], path, "read",
               media_seconds)
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
    rotation = _rotation(video)
    width, height = int(video["width"]), int(video["height"])
    if rotation in (90, 270):
        width, height = height, width
    return MediaInfo(
        width=width,
        height=height,
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
        rotation=rotation,
        video_duration=_seconds(video.get("duration")) or None,
        audio_duration=(_seconds(audio.get("duration")) or None) if audio is not None else None,
    )


def _rotation(stream: dict) -> int:
    """Degrees (0, 90, 180, 270; counter-clockwise) the display matrix turns the stored frames, as ffmpeg's
    autorotation does (ffprobe prints the matrix's counter-clockwise angle; the legacy ``rotate`` tag, read where there
    is no matrix, is clockwise). Other angles read as 0: ffmpeg does not turn those by quarter turns either."""
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            ccw = _seconds(str(side["rotation"]))
            break
    else:
        ccw = -_seconds((stream.get("tags") or {}).get("rotate"))
    turns = round(ccw / 90)
    return (turns * 90) % 360 if abs(ccw - turns * 90) < 1 else 0


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


def video_filter_chain(crop: CropBox | None, size: int | None, fps: float | None, deinterlace: bool) -> str:
    filters = ["yadif=mode=send_frame:parity=auto:deint=all"] if deinterlace else []
    if crop is not None:
        w, h = (crop.w, crop.h) if size is not None else (crop.w // 2 * 2, crop.h // 2 * 2)
        filters.append(f"crop={w}:{h}:{crop.x}:{crop.y}:exact=1")
    if fps is not None:
        filters.append(f"fps={Fraction(fps).limit_denominator(1001)}")
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
    info: MediaInfo | None = None,
    threads: int = 0,
    allow_short: bool = False,
) -> ClipFacts:
    """Cut ``[start, end)`` of ``src`` into ``dst_mp4`` (and ``dst_wav``) with one ffmpeg process; verified; atomic.

    ``crop`` is in ``src``'s displayed pixels (None: the whole frame, scaled to ``size`` x ``size`` without keeping its
    aspect); ``size`` None keeps the crop size (rounded down to even), ``fps`` None keeps the source rate,
    ``sample_rate`` None keeps the source rate (mono either way). ``info`` is ``probe(src)`` when the caller already
    has it. ``threads`` 0 lets ffmpeg choose (set 1 when many clips are cut in parallel). Without source audio no WAV
    is written (and a stale one at ``dst_wav`` is removed).

    The written files are checked against the request before they are put in place (see the module docstring):
    ShortCutError when the source ends before ``end`` (``allow_short``: the clip is kept as long as both streams
    really are, ``ClipFacts.shortfall`` set), MediaError for any other mismatch. Returns the facts probed from the
    written files.
    """
    src, dst_mp4 = Path(src), Path(dst_mp4)
    if end <= start:
        raise MediaError(f"cannot cut {src}: end {end:.3f}s is not after start {start:.3f}s")
    info = info or probe(src)
    if crop is not None:
        _check_window(src, crop, info)
    dst_mp4.parent.mkdir(parents=True, exist_ok=True)
    tmp_mp4 = atomic.temporary(dst_mp4)
    tmp_wav = None if dst_wav is None else atomic.temporary(dst_wav)
    encode = {"crop": crop, "size": size, "fps": fps, "sample_rate": sample_rate, "deinterlace": deinterlace,
              "threads": threads}
    try:
        facts = _encode(src, tmp_mp4, tmp_wav, start, end, info, **encode)
        shortfall = _verify(src, facts, start, end, size, crop)
        if shortfall is not None:
            if not allow_short or shortfall.available_end <= start:
                raise ShortCutError(f"cannot cut {start:.3f}-{end:.3f}s of {src}: {shortfall.reason()}", shortfall)
            # Keep what both streams have: cut again to where the shorter one ends, then it must add up.
            facts = _encode(src, tmp_mp4, tmp_wav, start, shortfall.available_end, info, **encode)
            if _verify(src, facts, start, shortfall.available_end, size, crop) is not None:
                raise ShortCutError(f"cannot cut {start:.3f}-{end:.3f}s of {src}: {shortfall.reason()} "
                                    "(and the shorter cut did not add up either)", shortfall)
            facts = replace(facts, shortfall=shortfall)
        if tmp_wav is not None:
            if info.has_audio:
                atomic.commit(tmp_wav, Path(dst_wav))
            else:
                Path(dst_wav).unlink(missing_ok=True)
        atomic.commit(tmp_mp4, dst_mp4)
    finally:
        tmp_mp4.unlink(missing_ok=True)
        if tmp_wav is not None:
            tmp_wav.unlink(missing_ok=True)
    return facts


def _check_window(src: Path, crop: CropBox, info: MediaInfo) -> None:
    """A window that fits the frame in size but not in place would be moved silently by ffmpeg's crop filter."""
    fits = crop.w <= info.width and crop.h <= info.height
    inside = crop.x >= 0 and crop.y >= 0 and crop.x + crop.w <= info.width and crop.y + crop.h <= info.height
    if fits and not inside:
        turned = f" (displayed; rotated {info.rotation} degrees)" if info.rotation else ""
        raise MediaError(f"cannot cut {src}: window {crop.as_tuple()} lies outside the {info.width}x{info.height}"
                         f"{turned} frame")


def _encode(src: Path, tmp_mp4: Path, tmp_wav: Path | None, start: float, end: float, info: MediaInfo, *,
            crop: CropBox | None, size: int | None, fps: float | None, sample_rate: int | None, deinterlace: bool,
            threads: int) -> ClipFacts:
    """One ffmpeg pass into the temporary files, and the facts read back from them."""
    has_audio = info.has_audio
    vf = video_filter_chain(crop, size, fps, deinterlace)
    graph = [f"[0:v:0]{vf}[v]"]
    if has_audio:
        resample = f"aresample={sample_rate}," if sample_rate else ""
        copies = 2 if tmp_wav is not None else 1
        split = f",asplit={copies}" + "".join(f"[a{i}]" for i in range(copies)) if copies > 1 else "[a0]"
        graph.append(f"[0:a:0]{resample}aformat=channel_layouts=mono{split}")
    length = f"{end - start:.3f}"
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    # Absolute paths: a name beginning with '-' is never an option, one with ':' never a protocol.
    args += ["-ss", f"{start:.3f}", "-t", length, "-i", str(src.absolute())]
    args += ["-filter_complex", ";".join(graph), "-map", "[v]"]
    args += ["-c:v", "libx264", *X264_OPTIONS, "-threads", str(threads)]
    if has_audio:
        args += ["-map", "[a0]", "-c:a", "aac", "-b:a", AAC_BITRATE]
    args += ["-t", length, "-movflags", "+faststart", str(tmp_mp4.absolute())]
    if has_audio and tmp_wav is not None:
        args += ["-map", "[a1]", "-c:a", "pcm_s16le", "-t", length, str(tmp_wav.absolute())]
    _run(args, src, f"cut {start:.3f}-{end:.3f}s of", end - start)
    out = probe(tmp_mp4, count_frames=True, timeline=False)
    if not out.nb_frames:
        raise MediaError(f"cannot cut {start:.3f}-{end:.3f}s of {src}: the clip has no video frames")
    audio = None
    if out.has_audio:
        audio = _wav_seconds(tmp_wav) if tmp_wav is not None and tmp_wav.is_file() else out.audio_duration
    applied = None if crop is None or size is not None else CropBox(crop.x, crop.y, crop.w // 2 * 2, crop.h // 2 * 2)
    return ClipFacts(num_frames=out.nb_frames, fps=out.fps, width=out.width, height=out.height,
                     duration=out.duration, has_audio=out.has_audio, sample_rate=out.sample_rate,
                     audio_duration=audio, applied_crop=applied or crop)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def _verify(src: Path, facts: ClipFacts, start: float, end: float, size: int | None,
            crop: CropBox | None) -> Shortfall | None:
    """Check a cut against its request: the Shortfall when the source ended early, MediaError for other mismatches."""
    want = (size, size) if size is not None else (
        (facts.applied_crop.w, facts.applied_crop.h) if crop is not None else (facts.width, facts.height))
    if (facts.width, facts.height) != want:
        raise MediaError(f"cut {start:.3f}-{end:.3f}s of {src} came out {facts.width}x{facts.height}, not "
                         f"{want[0]}x{want[1]}")
    if not facts.fps > 0:
        raise MediaError(f"cut {start:.3f}-{end:.3f}s of {src} has no frame rate")
    frame = 1.0 / facts.fps
    length = end - start
    expected = length * facts.fps
    if facts.num_frames > expected + 1 + 1e-6:
        raise MediaError(f"cut {start:.3f}-{end:.3f}s of {src} has {facts.num_frames} frames, more than the "
                         f"{expected:.1f} asked")
    video_short = facts.num_frames < expected - 1 - 1e-6
    audio_short = facts.audio_duration is not None and facts.audio_duration < length - frame - 1e-6
    if facts.audio_duration is not None and facts.audio_duration > length + frame + 1e-6:
        raise MediaError(f"cut {start:.3f}-{end:.3f}s of {src} has {facts.audio_duration:.3f}s of audio, more than "
                         f"the {length:.3f}s asked")
    if not (video_short or audio_short):
        return None
    video_end = start + (facts.num_frames * frame if video_short else length)
    audio_end = None if facts.audio_duration is None else start + (facts.audio_duration if audio_short else length)
    return Shortfall(start, end, video_end, audio_end)


def upright_copy(src: Path, dst: Path, *, start: float, end: float, width: int) -> MediaInfo:
    """``[start, end)`` of ``src`` as shown (display rotation applied by ffmpeg), ``width`` pixels wide, no audio:
    for readers that decode frames as stored (PyAV), such as the face tracker. Returns its probe."""
    src, dst = Path(src), Path(dst)
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{start:.3f}",
            "-t", f"{end - start:.3f}", "-i", str(src.absolute()), "-map", "0:v:0", "-an",
            "-vf", f"scale={int(width) // 2 * 2}:-2,setsar=1,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
            "-crf", "18", str(dst.absolute())]
    _run(args, src, f"make an upright copy of {start:.3f}-{end:.3f}s of", end - start)
    return probe(dst, timeline=False)


def keyframe_times(path: Path) -> list[float]:
    """Presentation times (s) of the video keyframes of ``path``; only keyframes are decoded."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"cannot read {path}: no such file")
    length = _seconds(_ffprobe_json(path, "-show_entries", "format=duration").get("format", {}).get("duration"))
    data = _ffprobe_json(path, "-select_streams", "v:0", "-skip_frame", "nokey",
                         "-show_entries", "frame=pts_time,best_effort_timestamp_time", media_seconds=length)
    times = []
    for frame in data.get("frames", []):
        value = frame.get("pts_time", frame.get("best_effort_timestamp_time"))
        if value not in (None, "N/A"):
            times.append(float(value))
    return sorted(times)


def trim_frames(video: Path, audio: Path | None, first: int, count: int, dst_video: Path,
                dst_audio: Path | None) -> ClipFacts:
    """Frames ``[first, first + count)`` of a finished clip and the same span of its audio (the wav's samples, so
    picture and sound stay aligned to the sample), as a new clip: mp4 (H.264 + AAC) and, from the same process, a
    wav. Each output is put in place only when both are made (a sub-clip at a scene cut). Returns the new facts."""
    import soundfile

    video, dst_video = Path(video), Path(dst_video)
    info = probe(video, timeline=False)
    if count < 1 or first < 0:
        raise MediaError(f"cannot trim {video}: frames {first}..{first + count} are not a span of frames")
    graph = [f"[0:v:0]trim=start_frame={first}:end_frame={first + count},setpts=PTS-STARTPTS[v]"]
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video.absolute())]
    with_audio = audio is not None and Path(audio).is_file()
    if with_audio:
        rate = soundfile.info(str(audio)).samplerate
        lo, hi = round(first * rate / info.fps), round((first + count) * rate / info.fps)
        graph.append(f"[1:a:0]atrim=start_sample={lo}:end_sample={hi},asetpts=PTS-STARTPTS,asplit=2[a0][a1]")
        args += ["-i", str(Path(audio).absolute())]
    tmp_video = atomic.temporary(dst_video)
    tmp_audio = atomic.temporary(dst_audio) if with_audio and dst_audio is not None else None
    args += ["-filter_complex", ";".join(graph), "-map", "[v]", "-c:v", "libx264", *X264_OPTIONS]
    if with_audio:
        args += ["-map", "[a0]", "-c:a", "aac", "-b:a", AAC_BITRATE]
    args += ["-movflags", "+faststart", "-f", "mp4", str(tmp_video.absolute())]
    if tmp_audio is not None:
        args += ["-map", "[a1]", "-c:a", "pcm_s16le", "-f", "wav", str(tmp_audio.absolute())]
    try:
        _run(args, video, f"trim frames {first}..{first + count} of", count / max(info.fps, 1.0))
        out = probe(tmp_video, count_frames=True, timeline=False)
        if out.nb_frames != count:
            raise MediaError(f"cannot trim {video}: {out.nb_frames} frames made of the {count} asked for")
        if tmp_audio is not None:
            atomic.commit(tmp_audio, dst_audio)
        atomic.commit(tmp_video, dst_video)
    finally:
        for tmp in (tmp_video, tmp_audio):
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
    return ClipFacts(num_frames=out.nb_frames, fps=out.fps, width=out.width, height=out.height,
                     duration=out.duration, has_audio=out.has_audio, sample_rate=out.sample_rate,
                     audio_duration=count / out.fps if with_audio else None, applied_crop=None)
