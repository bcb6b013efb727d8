"""A per-video wall-clock limit that works under any executor: the job runs in a child process group that is killed
whole (ffmpeg and yt-dlp children included) at the deadline.

No engine has per-task timeouts (Ray has none; a process pool cannot stop one job), and a job's threads cannot be
interrupted from inside, so the limit is a process boundary: :func:`run_job` starts ``python -m
hdtf.executors.deadline`` in a new session, hands it the video and options through a scratch file and waits. At the
deadline it kills the session's process group and records the video as :func:`hdtf.job.interrupted` ("failed: timed
out after N s"; clips finished before stay finished). The child watches its parent: when the executor's worker dies
(a killed Ray worker, a lost pool process), the child kills its own group at once, so a retried job never races a
leftover one over the same files.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hdtf.job import VideoResult, interrupted, process_video
from hdtf.options import PrepareOptions
from hdtf.records import VideoSpec

_WATCH_INTERVAL = 0.1  # seconds between the child's checks that its parent is alive


class JobKilled(Exception):
    """The job's process was killed from outside (a signal, the kernel's OOM killer): worth another attempt."""


def run_job(video: VideoSpec, options: PrepareOptions, timeout: float | None = None) -> VideoResult:
    """``process_video(video, options)``; with ``timeout`` (seconds), in a child process group killed at the deadline.

    Raises what the job raised (a bug: the job never raises for bad videos) and :class:`JobKilled` when the child
    died from a signal it was not sent by this function.
    """
    if timeout is None:
        return process_video(video, options)
    with tempfile.TemporaryDirectory(prefix="hdtf-job-") as scratch:
        request, answer = Path(scratch) / "job.pickle", Path(scratch) / "result.pickle"
        request.write_bytes(pickle.dumps((video, options)))
        child = subprocess.Popen([sys.executable, "-m", __name__, str(os.getpid()), str(request), str(answer)],
                                 start_new_session=True)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            return interrupted(video, options, f"timed out after {timeout:g} s")
        except BaseException:  # this worker is being stopped (cancelled task, Ctrl-C): the job goes with it
            _kill_group(child)
            raise
        if code < 0:
            raise JobKilled(f"the job process was killed by {signal.Signals(-code).name}")
        if not answer.is_file():
            raise RuntimeError(f"the job process exited with status {code} and no result")
        ok, value = pickle.loads(answer.read_bytes())
    if not ok:
        raise value
    return value


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()


def _die_with_parent(parent: int) -> None:
    """Kill this process group when ``parent`` is gone (this process was re-parented)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCH_INTERVAL)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="hdtf-parent-watch", daemon=True).start()


def _main(parent: str, request: str, answer: str) -> None:
    _die_with_parent(int(parent))
    video, options = pickle.loads(Path(request).read_bytes())
    try:
        outcome = (True, process_video(video, options))
    except Exception as exc:  # handed to the parent, which raises it as its own executor would
        outcome = (False, exc)
    try:
        data = pickle.dumps(outcome)
    except Exception:  # an exception that does not pickle: its text still says what happened
        data = pickle.dumps((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
    Path(answer).write_bytes(data)


if __name__ == "__main__":
    _main(*sys.argv[1:4])
