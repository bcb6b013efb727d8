"""The per-video wall-clock limit under the local executors: a hung video becomes "failed: timed out after N s"
(its process group killed, its status written), and the next run makes its clips as if nothing had happened."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest
from fixtures.sources import hdtf_sources  # noqa: F401

from hdtf.executors.deadline import run_job
from hdtf.job import interrupted
from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips, load_manifest
from hdtf.options import PrepareOptions
from hdtf.run import RunOptions, prepare
from hdtf.sources.hdtf import parse_metadata


@pytest.fixture(scope="module")
def alpha(hdtf_sources):  # noqa: F811
    videos, _ = parse_metadata(hdtf_sources.metadata, ["RD"])
    return [v for v in videos if v.name == "Alpha"]


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_hung_video_times_out_and_the_next_run_finishes_it(executor, alpha, hdtf_sources, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    with serve_directory(hdtf_sources.served, rate=2000) as slow:  # the download would take minutes
        options = PrepareOptions(output_dir=out, url_template=slow + "/{subset}_{name}.mp4", size=64)
        began = time.monotonic()
        summary = prepare(alpha, options, run=RunOptions(executor=executor, workers=2, video_timeout=2,
                                                         progress=False))
    assert time.monotonic() - began < 30
    assert summary.videos == {"failed": 1} and summary.clips == {"failed": 2}
    status = options.layout.read_status("RD_Alpha")
    assert (status["status"], status["reason"]) == ("failed", "timed out after 2 s")
    assert {(c["reason"], c["retry"]) for c in status["clips"]} == {("timed out after 2 s", True)}
    assert load_manifest(out)["run"]["video_timeout"] == 2
    with serve_directory(hdtf_sources.served) as fast:
        again = PrepareOptions(output_dir=out, url_template=fast + "/{subset}_{name}.mp4", size=64)
        prepare(alpha, again, run=RunOptions(executor=executor, video_timeout=60, progress=False))
    assert [c["id"] for c in done_clips(out)] == ["RD_Alpha_000", "RD_Alpha_001"]


def test_a_job_under_a_limit_returns_what_the_job_returns(alpha, hdtf_sources, tmp_path):  # noqa: F811
    options = PrepareOptions(output_dir=tmp_path, raw_dir=hdtf_sources.served, size=64)
    result = run_job(alpha[0], options, timeout=60)
    assert (result.key, result.status, [c["status"] for c in result.clips]) == ("RD_Alpha", "done", ["done"] * 2)
    assert (tmp_path / result.clips[0]["path"]).is_file()


def test_a_stopped_jobs_status_is_written_once_its_dying_process_lets_the_lock_go(alpha, tmp_path):
    """A dead Ray worker's job process (the deadline child) still holds the video's lock for a moment: without a wait
    the status is left to it ("locked"); with one it is written as soon as that process is gone."""
    options = PrepareOptions(output_dir=tmp_path, size=64)
    hold = ("import sys, time; from hdtf.options import PrepareOptions; "
            "PrepareOptions(output_dir=sys.argv[1], size=64).layout.lock('RD_Alpha').acquire(0); "
            "print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        refused = interrupted(alpha[0], options, "worker error after 1 attempt(s): WorkerCrashedError")
        assert refused.status == "locked" and options.layout.read_status("RD_Alpha") is None
        threading.Timer(0.5, lambda: (holder.send_signal(signal.SIGKILL), holder.wait())).start()
        began = time.monotonic()
        stopped = interrupted(alpha[0], options, "worker error after 1 attempt(s): WorkerCrashedError", wait=30)
    finally:
        holder.kill()
        holder.wait()
    assert 0.5 <= time.monotonic() - began < 10
    status = options.layout.read_status("RD_Alpha")
    assert (stopped.status, status["status"], status["reason"]) == ("failed", "failed", stopped.reason)
    assert {(c["status"], c["retry"]) for c in status["clips"]} == {("failed", True)}
