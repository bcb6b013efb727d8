"""The real CLI in subprocesses over loopback: a full run, `hdtf status`, exit codes, and resume after SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.awkward import awkward_sources  # noqa: F401
from fixtures.sources import ALPHA, BETA, hdtf_sources, nothing_partial_looks_finished  # noqa: F401

from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips, load_manifest

pytestmark = pytest.mark.slow
FACTS = ("status", "num_frames", "width", "height", "fps", "sample_rate", "applied_crop", "audio_path", "path")


def _args(sources, out: Path, base: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--metadata-dir", str(sources.metadata),
            "--subsets", "RD", "--url-template", base + "/{subset}_{name}.mp4", "--no-progress", *extra]


def _facts(out: Path) -> dict[str, tuple]:
    return {c["id"]: tuple(str(c[k]) for k in FACTS) for c in done_clips(out)}


@pytest.fixture(scope="module")
def server(hdtf_sources):
    requests: list = []
    with serve_directory(hdtf_sources.served, requests) as base:
        yield base, requests


@pytest.fixture(scope="module")
def full_run(hdtf_sources, server, tmp_path_factory):
    base, _ = server
    out = tmp_path_factory.mktemp("cli_full")
    done = subprocess.run(_args(hdtf_sources, out, base, "--workers", "2"), capture_output=True, text=True, timeout=300)
    return out, done


def test_prepare_prints_the_report_and_succeeds(full_run):
    out, done = full_run
    assert done.returncode == 0, done.stderr
    assert "Zeta_0.mp4" in done.stdout and "00:0x" in done.stdout, "parse issues are printed one per line"
    assert "clips: 3 done, 1 skipped, 1 unavailable" in done.stdout
    manifest = load_manifest(out)
    assert manifest["counts"]["clips"] == {"done": 3, "skipped": 1, "unavailable": 1}
    assert len(_facts(out)) == 3


def test_status_summarises_counts_and_reasons(full_run):
    out, _ = full_run
    shown = subprocess.run([sys.executable, "-m", "hdtf.cli", "status", str(out)], capture_output=True, text=True)
    assert shown.returncode == 0
    assert "clips:  5 (3 done, 1 skipped, 1 unavailable)" in shown.stdout
    assert "HTTP Error 404" in shown.stdout and "--crop-method landmarks|auto" in shown.stdout


def test_exit_code_when_nothing_can_be_done(hdtf_sources, server, tmp_path, capsys):
    from hdtf.cli import main

    base, _ = server
    assert main(_args(hdtf_sources, tmp_path / "a", base, "--videos", "Gamma,Delta")[3:]) == 1
    assert "no clip could be made" in capsys.readouterr().err
    assert main(_args(hdtf_sources, tmp_path / "b", base, "--videos", "Nobody")[3:]) == 2
    assert "unknown video name(s) Nobody" in capsys.readouterr().err


def test_raw_dir_needs_no_network(hdtf_sources, server, tmp_path, capsys):
    from hdtf.cli import main

    _, requests = server
    requests.clear()
    args = _args(hdtf_sources, tmp_path, "http://127.0.0.1:9", "--videos", "Beta", "--raw-dir",
                 str(hdtf_sources.served))
    assert main(args[3:]) == 0
    assert requests == [] and [c["id"] for c in done_clips(tmp_path)] == ["RD_Beta_000"]
    assert (hdtf_sources.served / "RD_Beta.mp4").is_file()


def _kill_when(args: list[str], ready, timeout: float = 120) -> None:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the run finished before it could be killed"


@pytest.mark.parametrize("moment", ["downloading", "cutting"])
def test_resume_after_sigkill_matches_an_uninterrupted_run(hdtf_sources, server, full_run, tmp_path, moment):
    base, requests = server
    out = tmp_path / "out"
    ready = {
        "downloading": lambda: (out / "raw" / ".RD_Alpha.partial").exists(),
        "cutting": lambda: any((out / "clips").glob(".*partial*")) and (out / "clips" / "RD_Alpha_000.mp4").exists(),
    }[moment]
    _kill_when(_args(hdtf_sources, out, base), ready)
    nothing_partial_looks_finished(out, hdtf_sources.served)
    resumed = subprocess.run(_args(hdtf_sources, out, base), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert _facts(out) == _facts(full_run[0])
    if moment != "cutting":
        return
    requests.clear()
    again = subprocess.run(_args(hdtf_sources, out, base), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and requests == [], "a finished dataset must not download anything again"
    assert "downloaded 0 video(s)" in again.stdout


def test_options_no_clip_can_succeed_with_stop_before_any_download(hdtf_sources, server, tmp_path, capsys):
    from hdtf.cli import main

    base, requests = server
    requests.clear()
    for size, why in (("511", "output size 511 must be even"), ("100000", "output size 100000 is too large")):
        assert main(_args(hdtf_sources, tmp_path / size, base, "--size", size)[3:]) == 2
        assert why in capsys.readouterr().err
    assert requests == [] and not (tmp_path / "511").exists()
    # The documented 'none' values: the window's own size, the source's sample rate.
    args = _args(hdtf_sources, tmp_path / "native", base, "--videos", "Beta", "--size", "none", "--sample-rate", "none")
    assert main(args[3:]) == 0
    clip = done_clips(tmp_path / "native")[0]
    assert (clip["width"], clip["height"], clip["sample_rate"]) == (360, 360, 44100)


def test_exit_status_3_and_status_notes_when_some_clips_fail(awkward_sources, tmp_path, capsys):
    from hdtf.cli import main

    with serve_directory(awkward_sources.served) as base:
        args = _args(awkward_sources, tmp_path, base, "--videos", "Cut,Turned")[3:]
        assert main(args) == 3
        assert "1 of 3 clip(s) not made (e.g. RD_Cut_001)" in capsys.readouterr().err
        assert main(["status", str(tmp_path)]) == 0
        shown = capsys.readouterr().out
        assert re.search(r"1 failed: source ends at [\d.]+ s; the clip needs 1\u20138 s", shown), shown
        assert re.search(r"1 rotated sources \(display matrix\) \[RD_Turned_000\]", shown), shown
        assert main([*args, "--allow-short"]) == 0
    shown = subprocess.run([sys.executable, "-m", "hdtf.cli", "status", str(tmp_path)], capture_output=True,
                           text=True).stdout
    assert re.search(r"1 short clips \(kept with --allow-short; true duration recorded\) \[RD_Cut_001\]", shown), shown
    # A reader that stops early (`hdtf status DIR | head`) is no error: no trace, exit 0.
    read_end, write_end = os.pipe()
    os.close(read_end)
    closed = subprocess.run([sys.executable, "-m", "hdtf.cli", "status", str(tmp_path)], stdout=write_end,
                            stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert closed.returncode == 0 and closed.stderr == ""


def test_offline_without_metadata_dir_names_the_flag_and_leaves_no_metadata_folder(tmp_path):
    """The pinned lists cannot be fetched (here: every HTTPS request goes to a proxy port nobody listens on): one line
    naming --metadata-dir, exit 2, and no empty OUTPUT/metadata/ left behind."""
    out = tmp_path / "out"
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": ""}
    done = subprocess.run([sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot download HDTF metadata https://" in lines[0], done.stderr
    assert "--metadata-dir DIR" in lines[0] and "metadata_dir=" in lines[0]
    assert not (out / "metadata").exists()
