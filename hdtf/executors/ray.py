"""Jobs as Ray tasks: one video = one task running the per-video job, on a cluster or a local Ray instance.

The driver (this process) keeps at most ``max_in_flight`` tasks submitted (default: twice the cluster's CPUs) and
tops up as they finish, so a run of 500k videos never sits in Ray's scheduler at once and results stream back in the
order they finish. The options travel once (``ray.put``); each task gets only its video.

Retries are the driver's, so that it knows and records every attempt: a task whose worker process died, whose node
was lost or whose job process was killed (any Ray system error, :class:`hdtf.executors.deadline.JobKilled`) is
submitted again, up to ``max_retries`` more times; after that it is the video's failed result, written to its status
("worker error after N attempt(s): ..."; clips finished by an attempt stay finished). An exception raised
by the job itself is the video's failed result at once: the job records bad videos as statuses and never raises for
them, so a raise is a bug that a retry would only repeat. A killed worker's job dies with it: under a video timeout
(the default) the job runs in a child process group that kills itself once its worker is gone
(:mod:`hdtf.executors.deadline`), without one the job's ffmpeg is in the worker's own process group, which Ray cleans
up. Out of retries, the driver waits a moment for the dead attempt to let go of the video's lock before it writes
the failed status. The job's files are written under temporary names, so a retry starts from the clips already
finished and nothing half-written is ever taken as done.

``ray`` is imported when a run starts, never by ``import hdtf``; the task function below is pickled by reference, so
every node needs hdtf installed (``pip install 'hdtf[ray]'``), ffmpeg and, for YouTube, the JS runtime
(docs/cluster.md).

Paths travel as the driver means them: a relative ``--output`` (or raw, cookies, scratch path, a stage's weights such
as ``--sync-check``, ``--iqa-weights``, ``--face-embedding-weights``, or an ``--audio-encoder`` folder) is made
absolute here before the options are sent, since a worker runs in the folder ``ray start`` ran in. On a cluster of
several nodes a local OUTPUT must be storage every node mounts at that path; the driver says so in one line (it
cannot see another node's disks). A local instance (no address) is started on 127.0.0.1 only: Ray otherwise binds
its servers to this machine's network address.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError
from hdtf.executors.base import Executor
from hdtf.executors.deadline import JobKilled, run_job
from hdtf.job import VideoResult, crashed, interrupted
from hdtf.options import PrepareOptions
from hdtf.records import VideoSpec
from hdtf.stages import task_resources

DEFAULT_MAX_RETRIES = 3
# Ray has no per-task timeout: without a limit a hung job (a stalled download) would hold a CPU of the cluster for
# good. Generous against the slowest legitimate HDTF video (an hour-long 1080p source); 0 asks for no limit.
DEFAULT_VIDEO_TIMEOUT = 4 * 3600.0
# A dead worker's job process (the deadline child under a video timeout) follows it within a moment (its watch of
# the worker): how long the driver waits for it to let go of the video's lock before writing the failed status.
DEAD_JOB_WAIT = 10.0
# Ray's switch for a cluster of this machine alone: its servers bind 127.0.0.1, not the network address. Read when
# ray is first imported in a process, so it is set before that import.
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

log = logging.getLogger(__name__)


def run_video(video: VideoSpec, options: PrepareOptions, timeout: float | None) -> VideoResult:
    """The Ray task: the job of one video, saying which node and process ran it."""
    import ray

    result = run_job(video, options, timeout)
    context = ray.get_runtime_context()
    result.worker = {"executor": RayExecutor.name, "node": context.get_node_id(),
                     "node_ip": ray.util.get_node_ip_address(), "pid": os.getpid()}
    return result


@dataclass
class _Attempt:
    video: VideoSpec
    number: int = 1
    failures: list[str] = field(default_factory=list)  # why earlier attempts were given up


class RayExecutor(Executor):
    """Per-video jobs as Ray tasks (one CPU each) on the cluster at ``address``.

    ``address``: ``auto``, ``HOST:PORT`` or ``ray://HOST:10001``; None takes ``RAY_ADDRESS``, and without it a local
    Ray instance is started for the run (with ``workers`` CPUs when more than one, else all of this machine's).
    """

    name = "ray"

    def __init__(self, workers: int = 1, video_timeout: float | None = None, address: str | None = None,
                 max_in_flight: int | None = None, max_retries: int = DEFAULT_MAX_RETRIES) -> None:
        super().__init__(workers, DEFAULT_VIDEO_TIMEOUT if video_timeout is None else video_timeout)
        if importlib.util.find_spec("ray") is None:
            raise HDTFError("the ray executor needs Ray, which is not installed here: pip install 'hdtf[ray]'")
        if max_in_flight is not None and max_in_flight < 1:
            raise HDTFError(f"max in flight must be at least 1, not {max_in_flight}")
        if max_retries < 0:
            raise HDTFError(f"max retries must be 0 or more, not {max_retries}")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self._facts: dict[str, Any] = {}

    def facts(self) -> dict[str, Any]:
        return {**super().facts(), "address": self.address or "local", "max_in_flight": self.max_in_flight,
                "max_retries": self.max_retries, **self._facts}

    def run(self, videos: Sequence[VideoSpec], options: PrepareOptions) -> Iterator[VideoResult]:
        if not videos:
            return
        if self.address is None:
            os.environ.setdefault(LOOPBACK_ENV, "0")
        import ray

        options = absolute_paths(options)
        connected_here = self._connect(ray)
        try:
            yield from self._drive(ray, videos, options)
        finally:
            if connected_here:
                ray.shutdown()

    def _connect(self, ray: Any) -> bool:
        """Join the cluster (or start a local instance); False when this process was already connected."""
        if ray.is_initialized():
            return False
        attach = self.address is not None
        try:
            ray.init(address=self.address if attach else "local",
                     num_cpus=None if attach or self.workers <= 1 else self.workers,
                     include_dashboard=None if attach else False, log_to_driver=False,
                     logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = f"the Ray cluster at {self.address}" if attach else "a local Ray instance"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = ("; if it uses token authentication, set RAY_AUTH_MODE=token and its token (docs/cluster.md)"
                    if attach and "RAY_AUTH_MODE" not in os.environ else "")
            raise HDTFError(f"cannot connect to {where}: {first}{hint}") from None
        return True

    def _drive(self, ray: Any, videos: Sequence[VideoSpec], options: PrepareOptions) -> Iterator[VideoResult]:
        from ray.exceptions import RayError, RayTaskError

        cpus = int(ray.cluster_resources().get("CPU", 1))
        limit = self.max_in_flight or max(1, 2 * cpus)
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        self._facts = {"address": ray.get_runtime_context().gcs_address, "cluster_cpus": cpus, "nodes": nodes,
                       "max_in_flight": limit}
        if nodes > 1 and isinstance(options.output_dir, Path):
            log.warning("%s is a local folder and the Ray cluster has %d nodes: it must be storage every node mounts "
                        "at this path (NFS, a shared volume), or each node keeps the clips it makes; an object store "
                        "URL (s3://...) needs none (docs/cluster.md)", options.output_dir, nodes)
        gpus = float(ray.cluster_resources().get("GPU", 0))
        task = ray.remote(max_retries=0, **task_resources(options, gpus))(run_video)  # what the selected stages need
        shared = ray.put(options)
        queue = iter(videos)
        running: dict[Any, _Attempt] = {}

        def submit(attempt: _Attempt) -> None:
            ref = task.options(name=f"hdtf:{attempt.video.key}").remote(attempt.video, shared, self.video_timeout)
            running[ref] = attempt

        def top_up() -> None:
            while len(running) < limit and (video := next(queue, None)) is not None:
                submit(_Attempt(video))

        top_up()
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    attempt = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except JobKilled as exc:  # the job's own process was killed: like a dead worker
                        result = self._retry_or_fail(attempt, exc, options, submit)
                    except RayTaskError as exc:  # the job raised: a bug, not retried
                        result = crashed(attempt.video, options, exc.cause or exc)
                    except RayError as exc:  # the worker died, the node was lost, the object is gone
                        result = self._retry_or_fail(attempt, exc, options, submit)
                    if result is not None:
                        result.worker = {**result.worker, "executor": self.name, "attempts": attempt.number,
                                         **({"failed_attempts": attempt.failures} if attempt.failures else {})}
                        yield result
                top_up()
        finally:
            for ref in running:  # stopped early: the jobs still running go too (their ffmpeg with them)
                ray.cancel(ref, force=True)

    def _retry_or_fail(self, attempt: _Attempt, exc: Exception, options: PrepareOptions,
                       submit: Any) -> VideoResult | None:
        """Submit the video again (None) or, out of retries, its failed result, also written to its status (the dead
        attempts left it "running"): finished clips stay finished."""
        attempt.failures.append(_one_line(exc))
        if attempt.number > self.max_retries:
            reason = f"worker error after {attempt.number} attempt(s): {attempt.failures[-1]}"
            try:
                return interrupted(attempt.video, options, reason, wait=DEAD_JOB_WAIT)
            except (OSError, HDTFError):  # the status cannot be written either (disk, store): the result says it
                return crashed(attempt.video, options, exc)
        attempt.number += 1
        submit(attempt)
        return None


def absolute_paths(options: PrepareOptions) -> PrepareOptions:
    """``options`` with every relative local path made absolute against this process's folder (a worker's folder is
    another one): its own and the stages' path options (model weights), and a stage's id-or-path option
    (``path_or_id``: an audio encoder) where it names a file or folder here."""
    changed = {f.name: local for f in dataclasses.fields(options)
               if (local := _absolute(f, value := getattr(options, f.name))) is not value}
    staged = {f.name: local for f in PrepareOptions.stage_fields()
              if (local := _absolute(f, value := options.stage_options.get(f.name))) is not value}
    if staged:
        changed["stage_options"] = {**options.stage_options, **staged}
    return dataclasses.replace(options, **changed) if changed else options


def _absolute(f: dataclasses.Field, value: Any) -> Any:
    """``value`` of option ``f`` as an absolute path when it is a relative local one, else ``value`` itself."""
    if isinstance(value, Path):
        return value if value.is_absolute() else value.expanduser().absolute()
    if f.metadata.get("path_or_id") and isinstance(value, str) and not Path(value).is_absolute() \
            and Path(value).exists():
        return str(Path(value).absolute())
    return value


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
