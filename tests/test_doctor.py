"""``hdtf doctor`` run as a user runs it: by absolute path with a bare PATH, and with ffmpeg hidden from PATH."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hdtf.commands import doctor


def _hdtf() -> list[str]:
    script = Path(sys.executable).with_name("hdtf")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hdtf.cli"]


def _doctor(path: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {"PATH": path, "HOME": str(tmp_path)}  # nothing else: no venv on PATH, no HDTF_JS_RUNTIME
    return subprocess.run([*_hdtf(), "doctor", *extra], capture_output=True, text=True, env=env, timeout=300,
                          check=False)


def _line(out: str, name: str) -> str:
    match = re.search(rf"^  (\S+)\s+{re.escape(name)}: (.*)$", out, re.MULTILINE)
    assert match, f"no {name} line in:\n{out}"
    return f"{match.group(1)} {match.group(2)}"


@pytest.fixture(scope="module")
def system_path() -> str:
    if shutil.which("ffmpeg", path="/usr/bin:/bin") is None:
        pytest.skip("ffmpeg is not in /usr/bin or /bin here")
    return "/usr/bin:/bin"


def test_doctor_passes_with_a_bare_path(system_path, tmp_path):
    done = _doctor(system_path, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.match(r"ok \d{4}\.\d+\.\d+$", _line(out, "yt-dlp"))
    runtime = _line(out, "JavaScript runtime")  # found without the venv's bin/ on PATH, and yt-dlp agrees
    assert runtime.startswith("ok deno ") and ", supported" in runtime
    assert re.search(r'yt-dlp reports "JS runtimes: deno-\d+\.\d+\.\d+"', runtime)
    assert _line(out, "yt-dlp-ejs").startswith("ok ")
    assert _line(out, "ffmpeg").endswith("encoders libx264, aac, pcm_s16le") and _line(out, "ffprobe").startswith("ok")
    for name in ("torch", "transformers", "datasets", "huggingface_hub", "decord", "dlib", "dlib model files",
                 "torchcodec"):
        _line(out, name)
    assert "CUDA device" in _line(out, "torch") and out.rstrip().endswith("hdtf prepare can run here.")


def test_doctor_fails_with_ffmpeg_hidden(tmp_path):
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        pytest.skip("no ffprobe here")
    bin_dir = tmp_path / "bin"  # a PATH with ffprobe but no ffmpeg
    bin_dir.mkdir()
    os.symlink(ffprobe, bin_dir / "ffprobe")
    done = _doctor(str(bin_dir), tmp_path)
    assert done.returncode == 1
    assert "FAIL ffmpeg: not found on PATH" in re.sub(r"\s+", " ", done.stdout)
    assert re.search(r"^\s+fix: install ffmpeg: sudo apt-get install ffmpeg", done.stdout, re.MULTILINE)
    assert _line(done.stdout, "ffprobe").startswith("ok ")
    assert "hdtf prepare cannot run here: fix ffmpeg" in done.stdout


def test_an_unusable_runtime_fails_the_prepare_part(tmp_path):
    args = argparse.Namespace(js_runtime=f"deno:{tmp_path / 'missing'}")
    runtime, ejs = doctor.check_js_runtime(args)
    assert runtime.ok is False and runtime.detail.startswith("deno not found (--js-runtime")
    assert 'yt-dlp reports "JS runtimes: none"' in runtime.detail and "pip install" in runtime.line()
    assert ejs.ok
