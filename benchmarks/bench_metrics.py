"""Per-frame cost of each metric on 512x512 RGB frames on CPU, measured in one run.

Frames: scikit-image's astronaut (a real face) resized to 512, and a noisy copy as the "generated" frame.
Prints milliseconds per frame and each metric's share of a full per-frame evaluation (the budget that decides
``--face-every``). SyncNet runs with random weights: its cost does not depend on their values.

    python benchmarks/bench_metrics.py [--frames 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _frames(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from PIL import Image
    from skimage import data

    base = np.asarray(Image.fromarray(data.astronaut()).resize((512, 512), Image.LANCZOS))
    rng = np.random.default_rng(0)
    real = [np.roll(base, k, axis=1) for k in range(n)]
    gen = [np.clip(r + rng.normal(0, 8, r.shape), 0, 255).astype(np.uint8) for r in real]
    return gen, real


def _time(fn, pairs) -> tuple[float, float]:
    """(wall, CPU) milliseconds per frame; CPU time is the steadier figure on a shared machine."""
    fn(*pairs[0])  # warm-up: model loading, caches
    wall, cpu = time.perf_counter(), time.process_time()
    for pair in pairs:
        fn(*pair)
    return (time.perf_counter() - wall) / len(pairs) * 1e3, (time.process_time() - cpu) / len(pairs) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (SyncNet, SSIM on torch)")
    args = parser.parse_args()

    import torch

    from hdtf.metrics.faces import observe_face
    from hdtf.metrics.identity import face_descriptor
    from hdtf.metrics.image import psnr, ssim
    from hdtf.metrics.sharpness import cpbd
    from hdtf.metrics.sync import SyncScorer, build_syncnet, face_crop

    torch.set_num_threads(args.threads)
    gen, real = _frames(args.frames)
    pairs = list(zip(gen, real))
    face = observe_face(real[0])
    net = build_syncnet().eval()
    scorer = SyncScorer(net, batch=8)
    audio = np.random.default_rng(0).normal(0, 0.1, 16000 * len(gen) // 25)

    def sync_clip(_g, _r):  # one call scores the whole clip; divided by the frame count below
        scorer.score((face_crop(g, face.box) for g in gen), audio)

    results = {
        "psnr (numpy)": _time(lambda g, r: psnr(g, r), pairs),
        "ssim (numpy)": _time(lambda g, r: ssim(g, r), pairs),
        "ssim (torch cpu)": _time(lambda g, r: ssim(torch.from_numpy(g), torch.from_numpy(r)), pairs),
        "cpbd": _time(lambda g, _r: cpbd(g), pairs),
        "face detect+68 landmarks (dlib)": _time(lambda g, _r: observe_face(g), pairs),
        "csim descriptor (dlib resnet)": _time(lambda g, _r: face_descriptor(g, face), pairs),
    }
    wall, cpu = _time(sync_clip, pairs[:2])
    results["lse: crop + syncnet + mfcc"] = (wall / len(gen), cpu / len(gen))
    counted = [k for k in results if k != "ssim (torch cpu)"]
    total = sum(results[k][1] for k in counted)
    print(f"{args.frames} frames of 512x512, CPU, torch threads={args.threads}")
    print(f"{'metric':38s} {'wall ms':>8s} {'cpu ms':>8s} {'cpu share':>9s}")
    for name, (wall, cpu) in results.items():
        share = f"{cpu / total:9.1%}" if name in counted else ""
        print(f"{name:38s} {wall:8.1f} {cpu:8.1f} {share}")
    print(f"all per-frame metrics, cpu ms/frame: {total:.1f} -> {1000.0 / total:.2f} frames/s per core")
    print(f"ratio ssim torch/numpy (cpu): {results['ssim (torch cpu)'][1] / results['ssim (numpy)'][1]:.2f}")


if __name__ == "__main__":
    main()
