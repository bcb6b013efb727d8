"""construct_fapp (batched torch) vs the original per-frame numpy + scipy griddata algorithm, in one run.

25 frames, 68 landmarks, 512x512 by default. Prints both timings, the speed-up, and the largest absolute difference
between the two sampling grids for method="nearest" (0 means bit-identical). Optionally writes a flow picture.

    python benchmarks/bench_fapp.py [--frames 25] [--size 512] [--threads 2] [--points face|random] [--picture flow.png]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hdtf.modeling.fapp import construct_fapp, flow_to_color, reference_fapp


def talking_landmarks(frames: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 68-point face (jaw, brows, nose, eyes, lips) that nods and opens its mouth, in integer pixels."""
    rng = np.random.default_rng(seed)
    s = size / 512
    t = np.linspace(-np.pi / 2, np.pi / 2, 17)
    jaw = np.stack([256 + 150 * np.sin(t), 250 + 160 * np.cos(t)], 1)[::-1]
    brows = np.array(
        [(150 + 25 * i, 200 - 10 * np.sin(i * np.pi / 4)) for i in range(5)]
        + [(262 + 25 * i, 200 - 10 * np.sin(i * np.pi / 4)) for i in range(5)]
    )
    nose = np.array([(256, 230 + 20 * i) for i in range(4)] + [(226 + 15 * i, 320) for i in range(5)])
    a = np.linspace(np.pi, 3 * np.pi, 7)[:6]
    eyes = np.concatenate([np.stack([c + 30 * np.cos(a), 245 + 12 * np.sin(a)], 1) for c in (196, 316)])
    b = np.linspace(np.pi, 3 * np.pi, 13)[:12]
    outer = np.stack([256 + 60 * np.cos(b), 380 + 25 * np.sin(b)], 1)
    c = np.linspace(np.pi, 3 * np.pi, 9)[:8]
    inner = np.stack([256 + 40 * np.cos(c), 380 + 0 * np.sin(c)], 1)
    base = np.concatenate([jaw, brows, nose, eyes, outer, inner]) * s
    driving = []
    for k in range(frames):
        opening = 12 * s * max(0.0, np.sin(k / 3))
        frame = base + [6 * s * np.sin(k / 5), 4 * s * np.cos(k / 4)]
        frame[48:60, 1] += np.where(frame[48:60, 1] > 380 * s, opening, 0)
        frame[64:68, 1] += opening
        driving.append(frame + rng.normal(0, 0.7 * s, frame.shape))
    return np.round(base), np.round(np.stack(driving))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--points", choices=("face", "random"), default="face",
                        help="a talking face (default) or 68 points scattered uniformly over the image")
    parser.add_argument("--picture", help="write a PNG of the first frame's flow (flow_to_color)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.points == "face":
        reference, driving = talking_landmarks(args.frames, args.size)
    else:  # random scatter: long, steep Voronoi ridges and no coincident points
        rng = np.random.default_rng(0)
        points = rng.uniform(0, args.size, (args.frames + 1, 68, 2)).astype(np.float32).astype(np.float64)
        reference, driving = points[0], points[1:]  # float32-exact, so the float32 row sees the same points
    ref_t, drv_t = torch.from_numpy(reference), torch.from_numpy(driving)

    construct_fapp(ref_t, drv_t, args.size)  # warm-up
    runs = {
        "scipy per frame": lambda: reference_fapp(reference, driving, args.size),
        "construct_fapp f64": lambda: construct_fapp(ref_t, drv_t, args.size),
        "construct_fapp f32": lambda: construct_fapp(ref_t.float(), drv_t.float(), args.size),
    }
    best = {name: (float("inf"), float("inf")) for name in runs}
    for _ in range(args.repeats):  # interleaved so that load from other processes hits all alike
        for name, fn in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    expected = reference_fapp(reference, driving, args.size)
    got = construct_fapp(ref_t, drv_t, args.size)
    got32 = construct_fapp(ref_t.float(), drv_t.float(), args.size)
    diffs = {
        "scipy per frame": "",
        "construct_fapp f64": f"max |diff| {np.abs(got.numpy() - expected).max():.3g}",
        "construct_fapp f32": f"max |diff| {np.abs(got32.double().numpy() - expected).max():.3g} (float32 output)",
    }
    print(
        f"{args.frames} frames, {driving.shape[1]} points ({args.points}), {args.size}x{args.size}, "
        f"torch threads {torch.get_num_threads()}, best of {args.repeats}"
    )
    base_wall, base_cpu = best["scipy per frame"]
    for name, (wall, cpu) in best.items():
        print(
            f"{name:<20} wall {wall:7.3f} s ({base_wall / wall:5.1f}x)   CPU {cpu:7.3f} s ({base_cpu / cpu:5.1f}x)   "
            f"{diffs[name]}"
        )
    if args.picture:
        from PIL import Image

        Image.fromarray(flow_to_color(got[0])).save(args.picture)
        print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()
