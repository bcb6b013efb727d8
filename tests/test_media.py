"""media.py against real ffmpeg on small lavfi-made sources whose pixels encode position and time."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from hdtf.media import MediaError, ShortCutError, cut_clip, keyframe_times, probe
from hdtf.records import CropBox

# Source: 320x240 at 30 fps, blue background, a red 80x80 box at (100, 60) that turns yellow at t >= 1.5 s, and
# 44.1 kHz stereo audio that is silent until the same instant, then a 440 Hz tone; a keyframe every second.
BOX = CropBox(100, 60, 80, 80)
CHANGE_AT = 1.5


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media_sources")
    boxed = root / "boxed.mp4"
    video = (
        "color=c=blue:s=320x240:r=30:d=3,"
        f"drawbox=x={BOX.x}:y={BOX.y}:w={BOX.w}:h={BOX.h}:color=red:t=fill,"
        f"drawbox=x={BOX.x}:y={BOX.y}:w={BOX.w}:h={BOX.h}:color=yellow:t=fill:enable='gte(t,{CHANGE_AT})'"
    )
    tone = f"if(gte(t\\,{CHANGE_AT})\\,0.5*sin(2*PI*440*t)\\,0)"  # commas escaped for the filter parser
    _ffmpeg("-f", "lavfi", "-i", video, "-f", "lavfi", "-i", f"aevalsrc=exprs={tone}|{tone}:s=44100:d=3",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-shortest", str(boxed))
    silent = root / "silent.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1", "-c:v", "libx264", "-preset", "ultrafast", str(silent))
    # A white box jumping 12 px per field: woven frames comb at its edges unless deinterlaced.
    interlaced = root / "interlaced.mp4"
    moving = ("color=black:s=320x240:r=50:d=2[bg];color=white:s=60x120:r=50[fg];"
              "[bg][fg]overlay=x='mod(t*600,240)':y=60:shortest=1,tinterlace=mode=interleave_top,setfield=tff")
    _ffmpeg("-f", "lavfi", "-i", moving, "-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ilme+ildct",
            "-x264-params", "tff=1", str(interlaced))
    return {"boxed": boxed, "silent": silent, "interlaced": interlaced}


def _frames(path: Path) -> np.ndarray:
    info = probe(path)
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, 3)


def _stream(path: Path, kind: str) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", "-select_streams", kind,
                          str(path)], check=True, capture_output=True, text=True).stdout
    streams = json.loads(out)["streams"]
    return streams[0] if streams else {}


def test_probe(sources):
    info = probe(sources["boxed"])
    assert (info.width, info.height, info.fps, info.codec) == (320, 240, 30.0, "h264")
    assert info.has_audio and info.sample_rate == 44100 and not info.interlaced
    assert info.duration == pytest.approx(3.0, abs=0.05) and info.nb_frames == 90
    assert probe(sources["interlaced"]).interlaced
    assert not probe(sources["silent"]).has_audio


def test_keyframe_times(sources):
    assert keyframe_times(sources["boxed"]) == pytest.approx([0.0, 1.0, 2.0])


@pytest.fixture(scope="module")
def default_cut(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("cut")
    facts = cut_clip(sources["boxed"], out / "clip.mp4", start=1.2, end=2.2, crop=BOX, dst_wav=out / "clip.wav")
    return facts, out / "clip.mp4", out / "clip.wav"


def test_cut_format(default_cut):
    facts, mp4, _ = default_cut
    assert (facts.width, facts.height, facts.fps, facts.num_frames) == (512, 512, 25.0, 25)
    assert facts.has_audio and facts.sample_rate == 16000
    assert facts.duration == pytest.approx(1.0, abs=0.05)
    assert len(_frames(mp4)) == facts.num_frames
    video = _stream(mp4, "v:0")
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert video.get("sample_aspect_ratio", "1:1") == "1:1"
    audio = _stream(mp4, "a:0")
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("aac", "16000", 1)
    assert sorted(p.name for p in mp4.parent.iterdir()) == ["clip.mp4", "clip.wav"]


def test_wav_is_the_clips_audio(default_cut):
    _, _, wav = default_cut
    samples, rate = soundfile.read(wav)
    assert rate == 16000 and samples.ndim == 1 and soundfile.info(wav).subtype == "PCM_16"
    assert len(samples) / rate == pytest.approx(1.0, abs=0.03)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()] == pytest.approx(440, abs=3)


def _onset(samples: np.ndarray, rate: int) -> float:
    """Seconds until the audio first gets loud."""
    return int(np.argmax(np.abs(samples) > 0.1)) / rate


def test_audio_stays_in_sync(default_cut):
    _, mp4, wav = default_cut
    samples, rate = soundfile.read(wav)
    assert _onset(samples, rate) == pytest.approx(CHANGE_AT - 1.2, abs=0.01)
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(mp4), "-vn", "-f", "s16le", "-"],
                         check=True, capture_output=True).stdout
    muxed = np.frombuffer(raw, np.int16) / 32768
    assert _onset(muxed, 16000) == pytest.approx(CHANGE_AT - 1.2, abs=0.01)


def test_cut_times_follow_the_source(default_cut):
    frames = _frames(default_cut[1]).astype(int)
    center = frames[:, 200:312, 200:312].mean(axis=(1, 2))
    red = (center[:, 0] > 200) & (center[:, 1] < 60) & (center[:, 2] < 60)
    yellow = (center[:, 0] > 200) & (center[:, 1] > 200) & (center[:, 2] < 60)
    assert (red | yellow).all()
    # 1.2 s .. 1.5 s is red: 0.3 s at 25 fps = 7.5 frames, then yellow to the end.
    first_yellow = int(np.argmax(yellow))
    assert first_yellow in (7, 8) and yellow[first_yellow:].all()


def test_crop_position_and_scale(sources, tmp_path):
    # Window half on the blue background, half on the red box: left half of the output blue, right half red.
    window = CropBox(BOX.x - 40, BOX.y, 80, 80)
    cut_clip(sources["boxed"], tmp_path / "half.mp4", start=0.0, end=0.4, crop=window, size=128)
    frame = _frames(tmp_path / "half.mp4")[0].astype(int)
    assert frame.shape == (128, 128, 3)
    left, right = frame[:, 4:58].reshape(-1, 3).mean(0), frame[:, 70:124].reshape(-1, 3).mean(0)
    assert left[2] > 200 and left[0] < 60, left
    assert right[0] > 200 and right[2] < 60, right


def test_native_size_and_fps(sources, tmp_path):
    facts = cut_clip(sources["boxed"], tmp_path / "native.mp4", start=0.5, end=1.5, crop=CropBox(11, 21, 101, 75),
                     size=None, fps=None, sample_rate=None)
    assert (facts.width, facts.height, facts.fps, facts.num_frames) == (100, 74, 30.0, 30)
    assert facts.sample_rate == 44100 and _stream(tmp_path / "native.mp4", "a:0")["channels"] == 1


def test_source_without_audio(sources, tmp_path):
    (tmp_path / "s.wav").write_bytes(b"stale audio of an earlier run")
    facts = cut_clip(sources["silent"], tmp_path / "s.mp4", start=0.0, end=0.8, crop=None, size=64,
                     dst_wav=tmp_path / "s.wav")
    assert not facts.has_audio and facts.sample_rate is None and facts.num_frames == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.mp4"]


def _combing(path: Path) -> float:
    """Mean |row i - row i+1| over mean |row i - row i+2|: about 1 for progressive content, large when woven."""
    luma = _frames(path).astype(float).mean(axis=3)
    adjacent = np.abs(np.diff(luma, axis=1)).mean()
    two_apart = np.abs(luma[:, 2:] - luma[:, :-2]).mean()
    return adjacent / two_apart


def test_interlaced_source_is_deinterlaced(sources, tmp_path):
    kwargs = {"start": 0.2, "end": 1.0, "crop": None, "size": None, "fps": None}
    cut_clip(sources["interlaced"], tmp_path / "woven.mp4", **kwargs)
    cut_clip(sources["interlaced"], tmp_path / "clean.mp4", deinterlace=True, **kwargs)
    assert _combing(tmp_path / "woven.mp4") > 5
    assert _combing(tmp_path / "clean.mp4") < 1.5
    assert not probe(tmp_path / "clean.mp4").interlaced


def test_corrupt_source_clear_error_and_no_output(sources, tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(sources["boxed"].read_bytes()[: 4000])
    with pytest.raises(MediaError, match="corrupt.mp4"):
        probe(corrupt)
    out = tmp_path / "out"
    with pytest.raises(MediaError, match="corrupt.mp4"):
        cut_clip(corrupt, out / "c.mp4", start=0, end=1, crop=None, dst_wav=out / "c.wav")
    assert not out.exists() or not list(out.iterdir())
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "missing.mp4")


def test_ffmpeg_failure_cleans_temporaries(sources, tmp_path):
    with pytest.raises(MediaError, match=r"boxed\.mp4: .*Invalid too big.*crop"):
        cut_clip(sources["boxed"], tmp_path / "bad.mp4", start=0, end=1, crop=CropBox(0, 0, 400, 400),
                 dst_wav=tmp_path / "bad.wav")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MediaError, match="not after start"):
        cut_clip(sources["boxed"], tmp_path / "bad.mp4", start=2, end=1, crop=None)


def test_a_stalled_ffmpeg_is_stopped_at_its_time_limit(sources, tmp_path, monkeypatch):
    """A source ffmpeg waits on forever (a pipe nobody writes: a stalled mount behaves alike) fails at the limit for
    the clip's length, in one line, with nothing left behind and no ffmpeg still running."""
    import os
    import time

    from hdtf import media

    assert media.time_limit(10) > media.time_limit(1) >= media.TIME_LIMIT[0]
    stalled = tmp_path / "stalled.mp4"
    os.mkfifo(stalled)
    monkeypatch.setattr(media, "TIME_LIMIT", (1.0, 0.5))  # 1 s + 0.5 s per second of media: 2 s for this cut
    out = tmp_path / "out"
    began = time.monotonic()
    with pytest.raises(MediaError) as stopped:
        cut_clip(stalled, out / "c.mp4", start=0, end=2, crop=None, dst_wav=out / "c.wav", info=probe(sources["boxed"]))
    assert 2 <= time.monotonic() - began < 10
    message = str(stopped.value)
    assert "\n" not in message and "stalled.mp4: ffmpeg did not finish within 2 s" in message
    assert sorted(p.name for p in out.iterdir()) == []
    running = subprocess.run(["pgrep", "-f", str(stalled)], capture_output=True, text=True).stdout.split()
    assert running == [], "the stalled ffmpeg was not stopped"


def test_names_that_look_like_options_or_protocols(sources, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-src:1.mp4").symlink_to(sources["boxed"])
    facts = cut_clip(Path("-src:1.mp4"), Path("-clip:1.mp4"), start=0.0, end=0.2, crop=None, size=32,
                     dst_wav=Path("-clip:1.wav"))
    assert facts.num_frames == 5 and probe(Path("-clip:1.mp4")).width == 32
    assert soundfile.info("-clip:1.wav").samplerate == 16000


def test_cut_past_the_end_is_short_and_says_where_the_source_ends(sources, tmp_path):
    with pytest.raises(ShortCutError, match="source ends at 3.0 s; the clip needs 2\u20134 s") as caught:
        cut_clip(sources["boxed"], tmp_path / "c.mp4", start=2.0, end=4.0, crop=BOX, dst_wav=tmp_path / "c.wav")
    assert caught.value.shortfall.available_end == pytest.approx(3.0, abs=0.05)
    assert list(tmp_path.iterdir()) == [], "a short cut leaves no file that looks finished"
    facts = cut_clip(sources["boxed"], tmp_path / "c.mp4", start=2.0, end=4.0, crop=BOX, dst_wav=tmp_path / "c.wav",
                     allow_short=True)
    assert facts.num_frames == 25 == len(_frames(tmp_path / "c.mp4")) and facts.shortfall is not None
    assert soundfile.info(tmp_path / "c.wav").duration == pytest.approx(1.0, abs=0.04)


def test_rotated_source_is_probed_and_cut_as_displayed(sources, tmp_path):
    from fixtures.awkward import rotated

    turned = rotated(sources["boxed"], tmp_path / "turned.mp4")
    assert _stream(turned, "v:0")["width"] == 240, "stored turned"
    info = probe(turned)
    assert (info.width, info.height, info.rotation) == (320, 240, 90)
    facts = cut_clip(turned, tmp_path / "c.mp4", start=0.0, end=0.4, crop=BOX, size=64)
    assert facts.applied_crop == BOX
    frame = _frames(tmp_path / "c.mp4")[0].astype(int)
    assert frame[:, :, 0].mean() > 200 and frame[:, :, 2].mean() < 60, "the window shows the red box only"
    with pytest.raises(MediaError, match=r"window \(280, 60, 80, 80\) lies outside the 320x240"):
        cut_clip(turned, tmp_path / "d.mp4", start=0.0, end=0.4, crop=CropBox(280, 60, 80, 80), size=64)
