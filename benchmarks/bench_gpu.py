"""GPU figures of the generator in one short run (``benchmarks/gpu.sh`` runs it under a time limit).

Generation at 512 px (the ``base`` preset, random weights: speed does not depend on their values): frames/s of
``HDTFGenerator.render`` (Fapp on the CPU + the network on the GPU) and of the network alone on precomputed grids,
for fp32 and bf16 weights and 1 and 4 references. Training: animation-to-video steps/s at batch 8 (losses, backward,
AdamW) in fp32 and under bf16 autocast, with 1 and 4 references. Each row also gives the peak GPU memory.

    bash benchmarks/gpu.sh                  # on a GPU machine, < 8 minutes
    bash benchmarks/gpu.sh --smoke          # CPU, tiny sizes: checks that everything runs (CI)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")


def _timed(fn, device: torch.device, repeats: int) -> float:
    """Best wall seconds of ``repeats`` calls after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _talking(frames: int, size: int, references: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reference landmarks (R, 68, 2) and driving landmarks (T, 68, 2): a face that nods and opens its mouth."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_fapp import talking_landmarks

    base, driving = talking_landmarks(frames, size, seed)
    rng = np.random.default_rng(seed)
    refs = base[None] + rng.normal(0, size / 256, (references, 68, 2))
    return refs, driving.astype(np.float64)


def generation(args: argparse.Namespace, device: torch.device) -> list[dict]:
    from hdtf.modeling.fapp import construct_fapp_references
    from hdtf.modeling.generator import HDTFGenerator

    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        generator = HDTFGenerator.from_preset(args.preset, overrides={"image_size": args.size}).to(device, dtype)
        for refs in (1, 4):
            ref_points, driving = _talking(args.frames, args.size, refs)
            images = np.random.default_rng(0).integers(0, 256, (refs, args.size, args.size, 3), dtype=np.uint8)
            _peak_reset(device)
            full = _timed(lambda: generator.render(images, ref_points, driving, batch_size=args.batch), device,
                          args.repeats)
            grid = construct_fapp_references(ref_points, driving[: args.batch], args.size).to(device, dtype)
            ref = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).to(dtype)[None] / 255
            ref = ref.expand(len(grid), -1, -1, -1, -1)
            features = generator.animation2video.encode(ref[0]).expand(len(grid), -1, -1, -1, -1)

            def network():
                with torch.no_grad():
                    generator.animation2video(ref, grid, reference_features=features)

            alone = _timed(network, device, args.repeats)
            rows.append({"kind": "generate", "dtype": str(dtype).split(".")[-1], "references": refs,
                         "render_frames_per_s": args.frames / full, "network_frames_per_s": len(grid) / alone,
                         "peak_gib": _peak_gib(device)})
            print(_row(rows[-1]), flush=True)
        del generator
    return rows


def training(args: argparse.Namespace, device: torch.device) -> list[dict]:
    from hdtf.modeling import losses as L
    from hdtf.modeling.fapp import identity_grid
    from hdtf.modeling.generator import HDTFGenerator

    rows = []
    for refs, autocast in ((1, None), (1, torch.bfloat16), (4, torch.bfloat16)):
        generator = HDTFGenerator.from_preset(args.preset, overrides={
            "image_size": args.size, "animation2video": {"num_references": refs}})
        model = generator.animation2video.to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.5, 0.999))
        batch, size = args.train_batch, args.size
        shape = (batch, refs) if refs > 1 else (batch,)
        reference = torch.rand(*shape, 3, size, size, device=device)
        flow = (identity_grid(size, device=device) + 0.01 * torch.randn(*shape, size, size, 2, device=device))
        target = torch.rand(batch, 3, size, size, device=device)

        def step():
            out = model(reference, flow, autocast_dtype=autocast)
            loss = L.animation2video_losses(out.synthetic_image, target, reference, out.dense_flow_foreground)["loss"]
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        _peak_reset(device)
        seconds = _timed(step, device, args.train_steps)
        rows.append({"kind": "train", "dtype": "bf16 autocast" if autocast else "float32", "references": refs,
                     "batch": batch, "steps_per_s": 1 / seconds, "peak_gib": _peak_gib(device)})
        print(_row(rows[-1]), flush=True)
        del model, optimizer, generator
    return rows


def _row(row: dict) -> str:
    numbers = {k: v for k, v in row.items() if isinstance(v, float)}
    head = f"{row['kind']:<9} {row['dtype']:<14} refs {row['references']}"
    return head + "".join(f"  {k} {v:.2f}" for k, v in numbers.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny preset at 64 px, two frames: does it run?")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if args.smoke:
        device = torch.device("cpu")
        args.preset, args.size, args.frames, args.batch, args.repeats = "tiny", 64, 2, 2, 1
        args.train_batch, args.train_steps = 2, 1
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: run with --smoke on a CPU")
        device = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        args.preset, args.size, args.frames, args.batch, args.repeats = "base", 512, 64, 16, 2
        args.train_batch, args.train_steps = 8, 5
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    started = time.perf_counter()
    rows = generation(args, device) + training(args, device)
    print(f"total {time.perf_counter() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
