"""Two runs on one output folder never download or write the same video at once: per-video lock files (hdtf.lock via
the layout), taken over when their run died, and two real ``hdtf prepare`` processes racing on one folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from fixtures.sources import ALPHA, BETA, hdtf_sources  # noqa: F401

from hdtf import media
from hdtf.job import process_video
from hdtf.layout import Layout
from hdtf.lock import FileLock, LockBusy, read_holder
from hdtf.manifest import done_clips
from hdtf.options import PrepareOptions
from hdtf.sources.hdtf import parse_metadata


def test_one_holder_at_a_time_and_a_clear_line_for_the_other(tmp_path):
    first = Layout(tmp_path).lock("RD_Alpha")
    first.acquire()
    try:
        holder = read_holder(first.path)
        assert (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
        second = Layout(tmp_path).lock("RD_Alpha")
        assert second.try_acquire() == holder
        lines: list[str] = []
        began = time.monotonic()
        with pytest.raises(LockBusy) as busy:
            second.acquire(wait=0.5, on_wait=lines.append)
        assert 0.5 <= time.monotonic() - began < 5
        assert len(lines) == 1 and lines[0].startswith(f"waiting for RD_Alpha: another run is preparing it (pid "
                                                       f"{os.getpid()} on {socket.gethostname()}")
        assert "\n" not in str(busy.value) and "RD_Alpha: left to another run" in str(busy.value)
    finally:
        first.release()
    assert not first.path.exists()
    with Layout(tmp_path).lock("RD_Alpha") as again:
        assert again.held


def _plant(path, pid: int, host: str, age: float = 0.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host, "token": "old", "taken": time.time() - age}))
    os.utime(path, (time.time() - age, time.time() - age))


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = FileLock(tmp_path / "v.lock", "v")
    _plant(lock.path, gone.pid, socket.gethostname())
    assert lock.try_acquire() is None and read_holder(lock.path).pid == os.getpid()
    lock.release()
    # Another machine's lock: only its age tells; a fresh one holds, an old one is taken over.
    _plant(lock.path, 1, "elsewhere")
    assert FileLock(lock.path, "v", stale_after=60).try_acquire().host == "elsewhere"
    _plant(lock.path, 1, "elsewhere", age=120)
    taker = FileLock(lock.path, "v", stale_after=60)
    assert taker.try_acquire() is None and read_holder(lock.path).host == socket.gethostname()
    taker.release()


def test_a_video_held_by_another_run_is_left_untouched(hdtf_sources, tmp_path):
    videos, _ = parse_metadata(hdtf_sources.metadata, ["RD"])
    beta = next(v for v in videos if v.name == "Beta")
    options = PrepareOptions(output_dir=tmp_path, raw_dir=hdtf_sources.served, lock_wait=0)
    with options.layout.lock(beta.key):
        result = process_video(beta, options)
    assert result.status == "locked" and "RD_Beta: left to another run" in result.reason
    assert not options.layout.status_file(beta.key).exists() and not (tmp_path / "clips").exists()
    assert process_video(beta, options).status == "done"


def test_two_runs_on_one_folder_download_each_video_once(hdtf_sources, tmp_path):
    from hdtf.loopback import serve_directory

    out = tmp_path / "out"
    requests: list = []
    with serve_directory(hdtf_sources.served, requests, rate=150_000) as base:  # ~0.7 s per download
        args = [sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--metadata-dir",
                str(hdtf_sources.metadata), "--subsets", "RD", "--videos", "Alpha,Beta", "--url-template",
                base + "/{subset}_{name}.mp4", "--no-progress"]
        first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (out / "locks" / "RD_Alpha.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        second = subprocess.run(args, capture_output=True, text=True, timeout=300)
        first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, first_err + second.stderr
    assert f"waiting for RD_Alpha: another run is preparing it (pid {first.pid} on" in second.stderr
    assert "Traceback" not in first_err + second.stderr and "failed" not in second.stdout
    for source in (ALPHA, BETA):
        path = f"/{source.key}.mp4"
        size = (hdtf_sources.served / path[1:]).stat().st_size
        whole = [r for r in requests if r.path == path and r.bytes_sent == size]
        assert len(whole) == 1, f"{path} downloaded {len(whole)} times"
    clips = done_clips(out)
    assert [c["id"] for c in clips] == ["RD_Alpha_000", "RD_Alpha_001", "RD_Beta_000"]
    for clip in clips:
        assert media.probe(out / clip["path"], count_frames=True).nb_frames == (clip["end"] - clip["start"]) * 25
    assert not list((out / "locks").iterdir()), "both runs let go of their locks"
