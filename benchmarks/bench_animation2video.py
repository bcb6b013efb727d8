"""HDTFAnimationToVideo vs the original-style forward, side by side in one run (CPU; optional GPU paths).

Baseline: ``hdtf.modeling.convert_original.original_forward`` — the original data flow over the original BGR state
dict, in the released code's order (matting branch at 1/4 scale: the small reference warped by the small flow) and
with the ops it ran (full-resolution gaussian blur then nearest subsample, separate BatchNorm passes, plain nearest
up-sampling, no DataParallel). The converter uses the same function to check conversions, so baseline and model
compute the same numbers (max |diff| printed; the converter requires <= 1e-5).

    python benchmarks/bench_animation2video.py                 # CPU, 256 and 512, batch 1 and 4
    python benchmarks/bench_animation2video.py --device cuda   # adds channels_last and bf16 autocast rows
"""

from __future__ import annotations

import argparse
import time

import torch

from hdtf.modeling import HDTFAnimationToVideo, HDTFAnimationToVideoConfig
from hdtf.modeling.convert_original import BGR_TO_RGB, hdtf_to_original, original_forward, probe_inputs


def _timed(fn, device: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process): on a shared machine CPU time is the steadier of the two."""
    if device == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def best_times(fns: list, repeats: int, device: str) -> list[tuple[float, float]]:
    """Best (wall, CPU) time of each function, calls interleaved so that load from other processes hits all alike."""
    for fn in fns:
        fn()  # warm-up
    best = [(float("inf"), float("inf"))] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            wall, cpu = _timed(fn, device)
            best[i] = (min(best[i][0], wall), min(best[i][1], cpu))
    return best


def _row(t_orig: tuple[float, float], t_ours: tuple[float, float], diff: str, name: str) -> str:
    return (
        f"{t_orig[0]:>9.3f} {t_ours[0]:>9.3f} {t_orig[0] / t_ours[0]:>6.2f}x   "
        f"{t_orig[1]:>9.3f} {t_ours[1]:>9.3f} {t_orig[1] / t_ours[1]:>6.2f}x  {diff:>9}  {name}"
    )


def bench_case(model, original, rgb: torch.Tensor, flow: torch.Tensor, device: str, repeats: int) -> list[str]:
    """Rows for one size and batch: fp32 on every device; bf16 autocast and channels_last+bf16 off the CPU."""
    bgr = rgb[:, BGR_TO_RGB].contiguous()

    def original_run():
        return original_forward(original, bgr, flow)

    variants = (
        [("fp32", {})] if device == "cpu" else [("fp32", {}), ("bf16 autocast", {"autocast_dtype": torch.bfloat16})]
    )
    rows = []
    for name, kwargs in variants:

        def ours_run(kwargs=kwargs):
            return model(rgb, flow, **kwargs)

        t_orig, t_ours = best_times([original_run, ours_run], repeats, device)
        diff = (ours_run().synthetic_image - original_run()["synthetic_image"][:, BGR_TO_RGB]).abs().max()
        rows.append(_row(t_orig, t_ours, f"{diff:.2e}", name))
    if device != "cpu":
        model.to(memory_format=torch.channels_last)
        (t_cl,) = best_times([lambda: model(rgb, flow, autocast_dtype=torch.bfloat16)], repeats, device)
        model.to(memory_format=torch.contiguous_format)
        rows.append(_row(t_orig, t_cl, "", "channels_last+bf16"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = HDTFAnimationToVideo(HDTFAnimationToVideoConfig()).eval().to(args.device)
    original = {k: v.to(args.device) for k, v in hdtf_to_original(model.state_dict()).items()}
    print(f"device {args.device}, threads {torch.get_num_threads()}, best of {args.repeats} after a warm-up")
    print(f"{'':>11} {'wall s: original':>19} {'hdtf':>9}   {'CPU s: original':>19} {'hdtf':>9}")
    blank = f"{'':>9} {'':>9}"
    print(f"{'size':>5} {'batch':>5} {blank} {'ratio':>7}   {blank} {'ratio':>7}  {'max|diff|':>9}  variant")
    for size in args.sizes:
        for batch in args.batches:
            rgb, flow = (t.to(args.device) for t in probe_inputs(size, batch=batch))
            with torch.inference_mode():
                for line in bench_case(model, original, rgb, flow, args.device, args.repeats):
                    print(f"{size:>5} {batch:>5} {line}")


if __name__ == "__main__":
    main()
