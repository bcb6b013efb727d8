"""``hdtf init-model`` + ``hdtf generate`` as a user runs them: real photos, real speech, an mp4 checked with
ffprobe, and every bad input answered with one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures.talking_face import (  # noqa: F401
    no_face_video,
    talking_face_factory,
    talking_face_small,
)

HDTF = [sys.executable, "-m", "hdtf.cli"]


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([*HDTF, *map(str, args)], capture_output=True, text=True, timeout=300, check=False)


def _streams(path: Path) -> dict[str, dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny"
    done = _run("init-model", path, "--preset", "tiny")
    assert done.returncode == 0, done.stderr
    assert "untrained tiny generator" in done.stdout
    return path


@pytest.fixture(scope="module")
def espeak_wav(tmp_path_factory) -> Path:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng not installed")
    path = tmp_path_factory.mktemp("speech") / "espeak.wav"
    subprocess.run([espeak, "-s", "170", "-w", str(path), "The quick brown fox talks."], check=True)
    return path


def test_generate_astronaut_with_espeak(model_dir, espeak_wav, talking_face_small, tmp_path):  # noqa: F811
    import soundfile as sf
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    out = tmp_path / "out" / "talk.mp4"
    done = _run("generate", "--model", model_dir, "--image", tmp_path / "astronaut.png", "--audio", espeak_wav,
                "--output", out, "--save-intermediates", tmp_path / "inter", "--no-progress", "--seed", "1",
                "--style-video", talking_face_small.path)
    assert done.returncode == 0, done.stderr
    info = sf.info(str(espeak_wav))
    expected = max(1, int(np.floor(info.frames / info.samplerate * 25 + 0.5)))  # one frame per 40 ms
    streams = _streams(out)
    video, audio = streams["video"], streams["audio"]
    assert video["codec_name"] == "h264" and video["r_frame_rate"] == "25/1"
    assert (video["width"], video["height"]) == (128, 128)
    assert int(video["nb_read_frames"]) == expected
    assert audio["codec_name"] == "aac" and abs(float(audio["duration"]) - expected / 25) < 0.1
    assert [p.name for p in out.parent.iterdir()] == ["talk.mp4"]  # no partial file left behind
    panels = _streams(tmp_path / "inter" / "intermediates.mp4")["video"]
    assert panels["width"] == 5 * 128 and int(panels["nb_read_frames"]) == expected
    with np.load(tmp_path / "inter" / "animation.npz") as saved:
        assert saved["landmarks"].shape == (expected, 68, 2)
    assert f"{expected} frames" in done.stdout


def _blank_png(path: Path) -> Path:
    from PIL import Image

    Image.fromarray(np.full((160, 160, 3), 90, np.uint8)).save(path)
    return path


def _empty_wav(path: Path) -> Path:
    import soundfile as sf

    sf.write(str(path), np.zeros(0, np.float32), 16000)
    return path


@pytest.mark.parametrize("case", ["no_face_image", "empty_audio", "unreadable_audio", "faceless_driver", "not_a_model"])
def test_bad_input_is_one_line(case, model_dir, face_photo, speech_wav, no_face_video, tmp_path):  # noqa: F811
    model, image, source = model_dir, face_photo, ["--audio", speech_wav]
    if case == "no_face_image":
        image, expected = _blank_png(tmp_path / "wall.png"), "wall.png: no face"
    elif case == "empty_audio":
        source, expected = ["--audio", _empty_wav(tmp_path / "silence.wav")], "silence.wav: audio is empty"
    elif case == "unreadable_audio":
        bad = tmp_path / "notes.wav"
        bad.write_text("not audio at all\n")
        source, expected = ["--audio", bad], "notes.wav: cannot read audio"
    elif case == "faceless_driver":
        source, expected = ["--driving-video", no_face_video.path], "no face found in the driving video"
    else:
        model, expected = tmp_path, "not an hdtf model directory"
    done = _run("generate", "--model", model, "--image", image, *source, "--output", tmp_path / "o.mp4",
                "--no-progress")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o.mp4").exists()
