"""What the Ray executor costs against the local process pool, measured in one run on this machine.

1. Scheduling overhead per video: 2,000 no-op jobs (videos without clips whose status is already written, so the
   job only reads one small JSON file) through the process pool and through Ray (a local instance with the pool's
   CPU count, started before timing; its start-up is printed apart). Per-video cost is the slope between runs of
   200 and 2,000 jobs (fixed costs such as spawning the pool drop out); the serial executor's slope is the jobs' own
   cost, and an executor's overhead is its slope minus that.
2. Wall time of a real run: 12 loopback videos (6 copies each of the test suite's two painted sources, 18 clips,
   fetched by yt-dlp over loopback HTTP and cut by ffmpeg) with the pool vs Ray, alternating rounds.

Prints the figures and ray/pool ratios (no targets: the point is to know the price of a cluster-ready executor on one
machine).

    python benchmarks/bench_executor.py [--jobs 2000] [--workers 2] [--rounds 2] [--size 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures.sources import build_sources  # noqa: E402

from hdtf.loopback import serve_directory  # noqa: E402
from hdtf.manifest import done_clips  # noqa: E402
from hdtf.options import PrepareOptions  # noqa: E402
from hdtf.records import VideoSpec  # noqa: E402
from hdtf.run import RunOptions, prepare  # noqa: E402
from hdtf.sources.hdtf import parse_metadata  # noqa: E402


def _timed(videos: list[VideoSpec], options: PrepareOptions, executor: str, workers: int,
           **settings: object) -> float:
    began = time.perf_counter()
    summary = prepare(videos, options, run=RunOptions(executor=executor, workers=workers, progress=False,
                                                      **settings))
    elapsed = time.perf_counter() - began
    if sum(summary.videos.values()) != len(videos):
        sys.exit(f"{executor}: {summary.videos} for {len(videos)} videos")
    return elapsed


def no_op_overhead(work: Path, jobs: int, workers: int) -> None:
    """Per-video overhead as a slope: (time for ``jobs`` - time for ``jobs // 10``) / the difference, so fixed
    costs (spawning the pool, connecting to Ray) drop out; the fixed cost is printed apart."""
    videos = [VideoSpec("hdtf", "RD", f"Noop{i:05d}", None, None, None, ()) for i in range(jobs)]
    few = videos[: jobs // 10]
    options = PrepareOptions(output_dir=work / "noop")
    prepare(videos, options, executor="serial", progress=False)  # writes every status: later jobs only read it
    variants = {"serial": ("serial", {}), "pool": ("process", {}), "ray": ("ray", {}),
                "ray, 64 in flight": ("ray", {"max_in_flight": 64})}
    slope, fixed = {}, {}
    for name, (executor, settings) in variants.items():
        _timed(few, options, executor, workers, **settings)  # warm-up: Ray's first tasks start its worker processes
        small = _timed(few, options, executor, workers, **settings)
        large = _timed(videos, options, executor, workers, **settings)
        slope[name] = (large - small) / (len(videos) - len(few))
        fixed[name] = small - slope[name] * len(few)
    print(f"{jobs} no-op jobs (slope between {len(few)} and {jobs} jobs):")
    for name in variants:
        extra = slope[name] - slope["serial"]
        print(f"  {name:18s} {slope[name] * 1e3:6.2f} ms/video  (overhead over the job itself {extra * 1e3:5.2f} ms;"
              f" fixed cost per run {fixed[name]:.2f}s)")
    ratio = (slope["ray"] - slope["serial"]) / (slope["pool"] - slope["serial"])
    print(f"  ratio ray/pool scheduling overhead per video: {ratio:.2f}")


def twelve_videos(work: Path, workers: int, rounds: int, size: int) -> None:
    if rounds < 1:
        return
    sources = build_sources(work / "sources")
    listed, _ = parse_metadata(sources.metadata, ["RD"])
    served = work / "served"
    served.mkdir()
    videos = []
    for base in (v for v in listed if v.name in ("Alpha", "Beta")):
        for i in range(6):
            name = f"{base.name}{i}"
            (served / f"RD_{name}.mp4").symlink_to(sources.served / f"RD_{base.name}.mp4")
            clips = tuple(c.with_(id=f"RD_{name}_{c.clip_index:03d}", video_name=name) for c in base.clips)
            videos.append(replace(base, name=name, clips=clips))
    times: dict[str, list[float]] = {"pool": [], "ray": []}
    with serve_directory(served) as url:
        for round_ in range(rounds):
            for name, executor in (("pool", "process"), ("ray", "ray")):
                out = work / f"{name}_{round_}"
                options = PrepareOptions(output_dir=out, url_template=url + "/{subset}_{name}.mp4", size=size)
                times[name].append(_timed(videos, options, executor, workers))
                if len(done_clips(out)) != sum(len(v.clips) for v in videos):
                    sys.exit(f"{name}: {len(done_clips(out))} clips made")
            print(f"round {round_ + 1}: pool {times['pool'][-1]:.2f}s  ray {times['ray'][-1]:.2f}s", flush=True)
    pool, ray_ = statistics.median(times["pool"]), statistics.median(times["ray"])
    clips = sum(len(v.clips) for v in videos)
    print(f"12 loopback videos ({clips} clips, {size}px), median of {rounds}: pool {pool:.2f}s  ray {ray_:.2f}s  "
          f"ratio ray/pool {ray_ / pool:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="pool processes and local Ray CPUs")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    # A throw-away local instance needs no token (Ray would otherwise write ~/.ray/auth_token, which turns token
    # authentication on for every later `ray start` on this machine).
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; ray {ray.__version__}", flush=True)
    began = time.perf_counter()
    ray.init(address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    print(f"local Ray instance started in {time.perf_counter() - began:.2f}s (not counted below)", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench_executor_") as tmp:
            no_op_overhead(Path(tmp), args.jobs, args.workers)
            twelve_videos(Path(tmp), args.workers, args.rounds, args.size)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
