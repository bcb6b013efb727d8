"""Per-frame cost of every registered metric on 512x512 RGB frames on CPU, measured in one run.

Frames: scikit-image's astronaut (a real face) resized to 512, shifted a pixel per frame, and a noisy copy as the
"generated" frame. Each metric of :mod:`hdtf.metrics.registry` streams the clip through its own start / update /
finish, so a newly registered metric is measured too. Faces are observed once beforehand and timed on their own
(evaluation observes them once per frame for all metrics). Prints milliseconds per frame and each one's share of a
full evaluation (the budget that decides ``--face-every``). SyncNet runs with random weights (its cost does not
depend on their values); metrics needing other weight files are skipped, since their cost is the user's network.

    python benchmarks/bench_metrics.py [--frames 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _frames(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from PIL import Image
    from skimage import data

    base = np.asarray(Image.fromarray(data.astronaut()).resize((512, 512), Image.LANCZOS))
    rng = np.random.default_rng(0)
    real = [np.roll(base, k, axis=1) for k in range(n)]
    gen = [np.clip(r + rng.normal(0, 8, r.shape), 0, 255).astype(np.uint8) for r in real]
    return gen, real


def _time(fn, runs: int) -> tuple[float, float]:
    """(wall, CPU) milliseconds per frame of ``fn()`` over ``runs`` frames, after one warm-up call (model loading,
    caches); CPU time is the steadier figure on a shared machine."""
    fn()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) / runs * 1e3, (time.process_time() - cpu) / runs * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (SyncNet, SSIM on torch)")
    args = parser.parse_args()

    import torch

    from hdtf.metrics import registry
    from hdtf.metrics.base import Clip, Frame
    from hdtf.metrics.faces import observe_face
    from hdtf.metrics.image import ssim
    from hdtf.metrics.sync import build_syncnet

    torch.set_num_threads(args.threads)
    gen, real = _frames(args.frames)
    n = len(gen)
    results: dict[str, tuple[float, float]] = {}

    def observe():
        return [Frame(k, g, r, observed=True) for k, (g, r) in enumerate(zip(gen, real))]

    results["faces: detect + 68 landmarks (generated)"] = _time(observe, n)
    frames = observe()
    results["faces: detect + 68 landmarks (real)"] = _time(lambda: [observe_face(r) for r in real], n)
    for frame in frames:
        assert frame.face is not None and frame.real_face is not None
    clip = Clip(source=real[0], source_face=frames[0].real_face,
                audio=np.random.default_rng(0).normal(0, 0.1, 16000 * n // 25), sample_rate=16000)

    with tempfile.TemporaryDirectory() as tmp:
        stand_ins = {"syncnet": Path(tmp) / "syncnet_v2.model"}
        torch.manual_seed(0)
        torch.save(build_syncnet().state_dict(), stand_ins["syncnet"])
        for name in registry.names():
            cls = registry.metric_class(name)
            if cls.weights is not None and cls.weights not in stand_ins:
                print(f"{name}: skipped (needs the user's {registry.weights_option(cls.weights)} network)")
                continue
            metric = cls(stand_ins.get(cls.weights))

            def stream(metric=metric):
                metric.start(clip)
                for frame in frames:
                    metric.update(frame)
                metric.finish()

            results[name] = _time(stream, n)
    torch_ssim = _time(lambda: [ssim(torch.from_numpy(g), torch.from_numpy(r)) for g, r in zip(gen, real)], n)

    total = sum(cpu for _, cpu in results.values())
    print(f"{n} frames of 512x512, CPU, torch threads={args.threads}")
    print(f"{'metric':42s} {'wall ms':>8s} {'cpu ms':>8s} {'cpu share':>9s}")
    for name, (wall, cpu) in results.items():
        print(f"{name:42s} {wall:8.1f} {cpu:8.1f} {cpu / total:9.1%}")
    print(f"{'ssim on torch tensors (cpu)':42s} {torch_ssim[0]:8.1f} {torch_ssim[1]:8.1f}")
    print(f"all of the above, cpu ms/frame: {total:.1f} -> {1000.0 / total:.2f} frames/s per core")
    if "ssim" in results:
        print(f"ratio ssim torch/numpy (cpu): {torch_ssim[1] / results['ssim'][1]:.2f}")


if __name__ == "__main__":
    main()
