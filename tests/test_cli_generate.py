"""``hdtf init-model`` + ``hdtf generate`` as a user runs them: real photos, real speech, an mp4 checked with
ffprobe, and every bad input answered with one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import re
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


@pytest.fixture(scope="module")
def short_speech(speech_wav, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("short") / "speech_1s.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(speech_wav), "-t", "1", str(path)], check=True)
    return path


def _exif_rotated(photo: Path, path: Path) -> Path:
    """The photo as a phone stores a portrait: pixels turned a quarter to the left, EXIF Orientation 6 to undo it."""
    from PIL import Image

    with Image.open(photo) as upright:
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
        upright.transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)
    return path


def _panels(path: Path) -> np.ndarray:
    from hdtf.decode import read_frames

    frames, _ = read_frames(str(path))
    return frames.astype(np.float32)


def test_exif_rotated_photo_is_upright_and_containers_follow_the_extension(
    model_dir, face_photo, short_speech, tmp_path
):
    """The same face stored sideways with an EXIF Orientation tag gives the upright photo's video (.webm for one,
    .mkv for the other, each checked with ffprobe); the untrained model is named in one warning line."""
    rotated = _exif_rotated(face_photo, tmp_path / "portrait.jpg")
    outputs = {}
    for name, photo, ext in (("upright", face_photo, ".webm"), ("rotated", rotated, ".mkv")):
        out = tmp_path / f"{name}{ext}"
        done = _run("generate", "--model", model_dir, "--image", photo, "--audio", short_speech, "--output", out,
                    "--save-intermediates", tmp_path / name, "--no-progress", "--seed", "2")
        assert done.returncode == 0, done.stderr
        warnings = [line for line in done.stderr.splitlines() if "warning" in line]
        assert len(warnings) == 1 and "audio2animation and animation2video stages are untrained" in warnings[0]
        outputs[name] = out
    webm, mkv = _streams(outputs["upright"]), _streams(outputs["rotated"])
    assert (webm["video"]["codec_name"], webm["audio"]["codec_name"]) == ("vp9", "opus")
    assert (mkv["video"]["codec_name"], mkv["audio"]["codec_name"]) == ("h264", "aac")
    for streams in (webm, mkv):
        assert int(streams["video"]["nb_read_frames"]) == 25 and streams["video"]["r_frame_rate"] == "25/1"
    with np.load(tmp_path / "upright" / "animation.npz") as a, np.load(tmp_path / "rotated" / "animation.npz") as b:
        assert np.abs(a["reference_landmarks"] - b["reference_landmarks"]).max() < 3
    # panels: frame + landmarks | Fapp | warped photo | masks; the warped photo shows which way up the face is
    upright, turned = (_panels(tmp_path / n / "intermediates.mp4")[:, :, 256:384] for n in ("upright", "rotated"))
    assert np.abs(upright - turned).mean() < 4
    assert np.abs(upright - np.rot90(upright, 1, axes=(1, 2))).mean() > 20


def test_tiny_face_is_reported_with_its_size(model_dir, face_photo, short_speech, tmp_path):
    from PIL import Image

    canvas = Image.new("RGB", (320, 240), (120, 110, 100))
    with Image.open(face_photo) as photo:
        canvas.paste(photo.resize((36, 36), Image.LANCZOS), (140, 90))  # the face itself ~22 px across
    canvas.save(tmp_path / "crowd.png")
    done = _run("generate", "--model", model_dir, "--image", tmp_path / "crowd.png", "--audio", short_speech,
                "--output", tmp_path / "o.mp4", "--no-progress")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    found = re.search(r"crowd\.png: face too small \((\d+) px; at least (\d+) needed\)", lines[0])
    assert found, lines[0]
    assert 12 <= int(found.group(1)) < int(found.group(2)) == 36
    assert not (tmp_path / "o.mp4").exists()


def test_unknown_output_extension_is_refused_at_once(model_dir, face_photo, short_speech, tmp_path):
    done = _run("generate", "--model", model_dir, "--image", face_photo, "--audio", short_speech,
                "--output", tmp_path / "talk.avi")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"hdtf generate: error: {tmp_path / 'talk.avi'}: '.avi' is not a video container hdtf writes "
        "(use .mp4, .m4v, .mov, .mkv, .webm, .gif)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_init_model_keeps_an_existing_model_unless_overwrite(tmp_path, capsys):
    from hdtf.cli import main

    target = tmp_path / "model"
    assert main(["init-model", str(target), "--seed", "1"]) == 0
    weights = (target / "animation2video" / "model.safetensors").read_bytes()
    (target / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["init-model", str(target), "--seed", "2"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"hdtf init-model: error: {target}: already holds an hdtf model (pass --overwrite to replace it)"
    ]
    assert (target / "animation2video" / "model.safetensors").read_bytes() == weights
    other = tmp_path / "photos"
    other.mkdir()
    (other / "me.jpg").write_bytes(b"\xff\xd8")
    assert main(["init-model", str(other)]) == 2 and "photos: exists and is not empty" in capsys.readouterr().err
    assert main(["init-model", str(target), "--seed", "2", "--overwrite"]) == 0
    assert (target / "animation2video" / "model.safetensors").read_bytes() != weights
    assert not (target / "notes.txt").exists(), "an overwritten directory keeps nothing of the old one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "photos"], "no staging folder left behind"


def test_generate_from_a_reference_video(model_dir, talking_face_small, short_speech, tmp_path):  # noqa: F811
    """--reference-video with --references: frames of the person's video are the references (issue 25)."""
    out = tmp_path / "refs.mp4"
    done = _run("generate", "--model", model_dir, "--reference-video", talking_face_small.path, "--references", "3",
                "--reference-sampling", "pose", "--audio", short_speech, "--output", out, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert int(_streams(out)["video"]["nb_read_frames"]) == 25 and "3 reference frames" in done.stdout
    refused = _run("generate", "--model", model_dir, "--image", tmp_path / "x.png", "--references", "2",
                   "--audio", short_speech, "--output", tmp_path / "no.mp4")
    assert refused.returncode != 0 and "--references applies to --reference-video only" in refused.stderr
    assert not (tmp_path / "no.mp4").exists()
