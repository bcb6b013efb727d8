"""Two runs on one output folder never download or write the same video at once: per-video lock files (hdtf.lock via
the layout), taken over when their run died, and two real ``hdtf prepare`` processes racing on one folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from fixtures.sources import ALPHA, BETA, hdtf_sources  # noqa: F401

from hdtf import media
from hdtf.job import process_video
from hdtf.layout import Layout
from hdtf.lock import FileLock, LockBusy, boot_id, pid_namespace, process_start, read_holder
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


def _plant(path, pid: int, host: str, age: float = 0.0, **identity) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host, "token": "old", "taken": time.time() - age, **identity}))
    os.utime(path, (time.time() - age, time.time() - age))


def _ended_process() -> tuple[int, int]:
    """(pid, start time) of a real process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    start = process_start(child.pid)
    child.communicate(b"")
    assert start is not None
    return child.pid, start


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    pid, start = _ended_process()
    here = {"boot": boot_id(), "pidns": pid_namespace(), "start": start}
    lock = FileLock(tmp_path / "v.lock", "v")
    _plant(lock.path, pid, socket.gethostname(), **here)
    assert lock.try_acquire() is None and read_holder(lock.path).pid == os.getpid()
    mine = read_holder(lock.path)
    assert (mine.boot, mine.pidns, mine.start) == (boot_id(), pid_namespace(), process_start(os.getpid()))
    lock.release()
    assert not lock.path.exists() and not list(tmp_path.iterdir()), "no marker or probe file left behind"
    # Another machine's lock: only its age tells; a fresh one holds, an old one is taken over.
    _plant(lock.path, 1, "elsewhere")
    assert FileLock(lock.path, "v", stale_after=60).try_acquire().host == "elsewhere"
    _plant(lock.path, 1, "elsewhere", age=120)
    taker = FileLock(lock.path, "v", stale_after=60)
    assert taker.try_acquire() is None and read_holder(lock.path).host == socket.gethostname()
    taker.release()


def test_a_pid_counts_only_on_this_boot_in_this_pid_namespace_with_its_start_time(tmp_path):
    """Containers with host networking share the host name (and the boot) but not the pids; a pid is reused after
    a reboot or once its process ends: the pid check is trusted only when every fact matches, else age decides."""
    pid, start = _ended_process()
    host, boot, pidns = socket.gethostname(), boot_id(), pid_namespace()
    lock = FileLock(tmp_path / "v.lock", "v")
    for label, facts in [
        ("another container", {"boot": boot, "pidns": "pid:[1]", "start": start}),
        ("another boot", {"boot": "0" * 36, "pidns": pidns, "start": start}),
        ("no start time (an older lock)", {"boot": boot, "pidns": pidns}),
    ]:
        _plant(lock.path, pid, host, **facts)
        held = lock.try_acquire()
        assert held is not None and held.token == "old", label
        assert read_holder(lock.path).token == "old", label
    # our own pid, but a process that started at another time: the pid was reused, the holder is gone
    _plant(lock.path, os.getpid(), host, boot=boot, pidns=pidns, start=process_start(os.getpid()) - 1)
    assert lock.try_acquire() is None and read_holder(lock.path).token == lock.token
    lock.release()
    # our own pid and start time: alive
    _plant(lock.path, os.getpid(), host, boot=boot, pidns=pidns, start=process_start(os.getpid()))
    assert FileLock(lock.path, "v").try_acquire().token == "old"


def test_racing_waiters_take_over_a_stale_lock_once_and_it_never_goes_missing(tmp_path):
    path = tmp_path / "v.lock"
    missing: list[float] = []
    for _ in range(10):
        _plant(path, 1, "elsewhere", age=3600)
        takers = [FileLock(path, "v", heartbeat=3600) for _ in range(4)]
        results: list = [None] * len(takers)
        start, stop = threading.Barrier(len(takers) + 1), threading.Event()

        def watch() -> None:
            start.wait()
            while not stop.is_set():
                if not path.exists():
                    missing.append(time.time())

        def take(i: int) -> None:
            start.wait()
            results[i] = takers[i].try_acquire()

        threads = [threading.Thread(target=take, args=(i,)) for i in range(len(takers))]
        watcher = threading.Thread(target=watch)
        for t in [*threads, watcher]:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        watcher.join()
        winners = [t for t, r in zip(takers, results) if r is None]
        assert len(winners) == 1, results
        assert read_holder(path).token == winners[0].token
        for t in takers:
            t.release()
        assert not path.exists()
    assert not missing, "the lock file went missing while it was taken over"


_OLD_HOLDER = """
import json, sys
from pathlib import Path
import hdtf.lock
hdtf.lock.HEARTBEAT = 0.1
from hdtf.job import process_video
from hdtf.options import PrepareOptions
from hdtf.sources.hdtf import parse_metadata
out, metadata, template = sys.argv[1:4]
videos, _ = parse_metadata(Path(metadata), ["RD"])
beta = next(v for v in videos if v.name == "Beta")
result = process_video(beta, PrepareOptions(output_dir=Path(out), url_template=template, lock_wait=0))
print(json.dumps({"status": result.status, "reason": result.reason}))
"""


def test_a_run_whose_lock_was_taken_over_stops_without_refreshing_or_writing(hdtf_sources, tmp_path):
    """A real second process holds the video's lock and is frozen mid-download long enough to look stale; another
    run takes the lock over. Woken up, the old holder must not refresh the new lock file, remove it, or write its
    status or clips."""
    from hdtf.loopback import serve_directory

    out = tmp_path / "out"
    lock_path, status = out / "locks" / "RD_Beta.lock", Layout(out).status_file("RD_Beta")
    size = (hdtf_sources.served / f"{BETA.key}.mp4").stat().st_size
    with serve_directory(hdtf_sources.served, rate=size / 4) as base:  # a download of about 4 s
        old = subprocess.Popen([sys.executable, "-c", _OLD_HOLDER, str(out), str(hdtf_sources.metadata),
                                base + "/{subset}_{name}.mp4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        deadline = time.monotonic() + 60
        while read_holder(lock_path) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(old.pid, signal.SIGSTOP)  # a frozen node, a suspended laptop: no heartbeat...
        try:
            assert read_holder(lock_path).pid == old.pid
            aged = time.time() - 3600  # ...for long enough that its lock looks stale
            os.utime(lock_path, (aged, aged))
            taker = FileLock(lock_path, "RD_Beta", heartbeat=3600)
            assert taker.try_acquire() is None
            mine = lock_path.read_bytes()
            stamp = time.time() - 100
            os.utime(lock_path, (stamp, stamp))
            status.parent.mkdir(parents=True, exist_ok=True)
            status.write_bytes(b'{"written by": "the run that took the lock over"}\n')
        finally:
            os.kill(old.pid, signal.SIGCONT)
        stdout, stderr = old.communicate(timeout=300)
    assert old.returncode == 0, stderr
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["status"] == "locked" and "another run took over this run's lock" in result["reason"], result
    assert "stops without writing" in result["reason"] and "heartbeat stops" in stderr, stderr
    assert lock_path.read_bytes() == mine and lock_path.stat().st_mtime == stamp, "the old holder touched the lock"
    assert status.read_bytes() == b'{"written by": "the run that took the lock over"}\n'
    assert not (out / "clips").exists() or not any((out / "clips").iterdir())
    taker.check()
    taker.release()
    assert not lock_path.exists()


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
