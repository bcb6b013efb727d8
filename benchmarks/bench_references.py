"""One reference vs four: does the n-reference animation-to-video mode help, measured on held-out clips, in one run.

Makes talking-face videos of a real photo (``hdtf.synthetic``, espeak-ng speech, head motion from the seed), prepares
them with the real ``hdtf prepare`` (loopback HTTP, landmark crops), then trains two tiny animation-to-video models
on the same training clips for the same number of steps and the same seed: one with 1 reference frame per item,
one with 4 (each warped by its own Fapp flow, fused by the learned confidence). The loop is examples/train.py's
animation2video step without Accelerate (same dataset class, losses, optimiser, clipping), in this process.

Scoring: on each held-out clip, 4 reference frames spread over the clip and target frames at least 10 frames from
all of them; each model renders the targets from the clip's own landmarks (the 1-reference model from the first of
the 4). Printed: L1, PSNR, SSIM, mouth-region L1 (box around the true mouth landmarks) and M-LMD (dlib landmarks of
the generated frame vs the clip's, px at 512) per model, and the 4-vs-1 ratios. The 4-reference model is also scored
with only the first reference, which separates "sees more of the face" from "was trained differently".

    python benchmarks/bench_references.py [--steps 30] [--batch 2] [--clips 3] [--held-out 1] [--seconds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SIZE = 128  # the tiny preset's side
GAP = 10  # frames between a target and any reference


def prepare_clips(root: Path, count: int, seconds: float) -> Path:
    """``count`` talking-face videos (seeds 0..count-1) through the real ``hdtf prepare``; returns its output."""
    from hdtf.loopback import serve_directory
    from hdtf.synthetic import make_talking_face_video

    served, metadata, out = root / "served", root / "metadata", root / "prepared"
    served.mkdir(parents=True)
    metadata.mkdir()
    names = [f"Speaker{chr(65 + k)}" for k in range(count)]
    for k, name in enumerate(names):
        make_talking_face_video(served / f"RD_{name}.mp4", seconds=seconds, size=(640, 360), seed=k)
    lines = {
        "video_url": "".join(f"{n} https://www.youtube.com/watch?v={n[-1] * 11}\n" for n in names),
        "resolution": "".join(f"{n}.mp4 360\n" for n in names),
        "annotion_time": "".join(f"{n}.mp4 00:00-00:{int(seconds):02d}\n" for n in names),
        "crop_wh": "",
        "crop_ratio": "",
    }
    for kind, text in lines.items():
        (metadata / f"RD_{kind}.txt").write_text(text, encoding="utf-8")
    with serve_directory(served) as base:
        done = subprocess.run(
            [sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--metadata-dir", str(metadata),
             "--subsets", "RD", "--url-template", base + "/{subset}_{name}.mp4", "--crop-method", "landmarks",
             "--size", str(SIZE), "--no-progress"],
            check=False, capture_output=True, text=True, timeout=600,
        )
    if done.returncode:
        raise SystemExit(f"hdtf prepare failed:\n{done.stdout}\n{done.stderr}")
    return out


def train(clips, references: int, steps: int, seed: int, batch: int):
    """A tiny HDTFGenerator whose animation2video network is trained with ``references`` frames per item."""
    from hdtf.data import AnimationPairDataset
    from hdtf.modeling import losses as L
    from hdtf.modeling.generator import HDTFGenerator

    generator = HDTFGenerator.from_preset("tiny", seed=seed, overrides={"animation2video": {"num_references": references}})
    model = generator.animation2video.train()
    data = AnimationPairDataset(clips, samples_per_clip=steps * batch, seed=seed, num_references=references)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    torch.manual_seed(seed)
    losses = []
    for step, item in enumerate(loader):
        if step == steps:
            break
        out = model(reference_image=item["reference_image"], dense_flow=item["dense_flow"])
        parts = L.animation2video_losses(out.synthetic_image, item["driving_image"], item["reference_image"],
                                         out.dense_flow_foreground)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(parts["l1"].detach()))
    generator.animation2video = model.eval()
    return generator, losses


def held_out_frames(clip) -> tuple[list[int], list[int]]:
    """(4 reference frames spread over the clip, target frames at least GAP frames from every reference)."""
    found = clip.found_indices[clip.found_indices < clip.num_frames]
    refs = [int(found[k]) for k in np.linspace(0, len(found) - 1, 4).round().astype(int)]
    far = [int(f) for f in found if min(abs(int(f) - r) for r in refs) >= GAP]
    return refs, far[:: max(1, len(far) // 12)][:12]


def mouth_box(points: np.ndarray) -> tuple[slice, slice]:
    """A box around the mouth landmarks (48-67), a quarter of its size larger on each side."""
    lo, hi = points[48:68].min(0), points[48:68].max(0)
    pad = 0.25 * (hi - lo).max()
    (x0, y0), (x1, y1) = np.floor(lo - pad).astype(int).clip(0, SIZE), np.ceil(hi + pad).astype(int).clip(0, SIZE)
    return slice(y0, y1), slice(x0, x1)


def score(generator, clips, references: int) -> dict[str, float]:
    """Mean metrics over the held-out targets of ``clips``, rendered from the first ``references`` references."""
    import decord

    from hdtf.face.detect import NoFaceError
    from hdtf.metrics.image import psnr, ssim
    from hdtf.metrics.landmarks import lmd_per_frame
    from hdtf.modeling.processing_hdtf import find_face

    rows: dict[str, list[float]] = {"l1": [], "psnr": [], "ssim": [], "mouth_l1": [], "m_lmd": []}
    for clip in clips:
        refs, targets = held_out_frames(clip)
        refs = refs[:references]
        reader = decord.VideoReader(str(clip.video_path), width=SIZE, height=SIZE, num_threads=1)
        scale = SIZE / clip.size
        ref_images = reader.get_batch(refs).asnumpy()
        truth = reader.get_batch(targets).asnumpy()
        driving = clip.points[targets].astype(np.float64) * scale
        frames = generator.render(ref_images, clip.points[refs].astype(np.float64) * scale, driving)["frames"]
        rows["l1"] += list(np.abs(frames.astype(np.float64) - truth).mean(axis=(1, 2, 3)) / 255)
        rows["psnr"] += list(psnr(frames, truth, data_range=255))
        rows["ssim"] += list(ssim(frames, truth, data_range=255))
        for frame, real, points in zip(frames, truth, driving):
            box = mouth_box(points)
            rows["mouth_l1"].append(float(np.abs(frame[box].astype(np.float64) - real[box]).mean() / 255))
            try:
                found = find_face(frame)
            except NoFaceError:
                continue
            rows["m_lmd"].append(float(lmd_per_frame(found, points, frame_size=SIZE)[0]))
    result = {k: float(np.mean(v)) if v else float("nan") for k, v in rows.items()}
    result["lmd_frames"] = f"{len(rows['m_lmd'])}/{len(rows['l1'])}"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="optimisation steps per model (default 30)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--clips", type=int, default=3, help="videos made and prepared (default 3)")
    parser.add_argument("--held-out", type=int, default=1, help="of those, clips kept for scoring (default 1)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each video (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", type=Path, help="an existing 'hdtf prepare' output at 128 px instead of new clips")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from hdtf.data import load_prepared_clips

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hdtf-bench-refs-") as tmp:
        root = args.data or prepare_clips(Path(tmp), args.clips, args.seconds)
        clips = sorted(load_prepared_clips(root), key=lambda c: c.id)
        if len(clips) <= args.held_out:
            raise SystemExit(f"{len(clips)} clip(s): need more than --held-out {args.held_out}")
        training, held_out = clips[: -args.held_out], clips[-args.held_out :]
        prepared = time.perf_counter()
        results, curves, seconds = {}, {}, {}
        for refs in (1, 4):
            begin = time.perf_counter()
            generator, curves[refs] = train(training, refs, args.steps, args.seed, args.batch)
            seconds[refs] = time.perf_counter() - begin
            results[f"{refs} ref model, {refs} ref"] = score(generator, held_out, refs)
            if refs == 4:
                results["4 ref model, 1 ref"] = score(generator, held_out, 1)
    print(f"train clips {', '.join(c.id for c in training)}; held out {', '.join(c.id for c in held_out)}; "
          f"{args.steps} steps x batch {args.batch} at {SIZE} px, torch threads {torch.get_num_threads()}")
    print(f"prepare {prepared - started:.0f} s; training {seconds[1]:.0f} s (1 ref), {seconds[4]:.0f} s (4 refs); "
          f"final train L1 (mean of last 10 steps) {np.mean(curves[1][-10:]):.4f} / {np.mean(curves[4][-10:]):.4f}")
    names = ("l1", "psnr", "ssim", "mouth_l1", "m_lmd")
    print(f"{'':<22}" + "".join(f"{n:>10}" for n in names) + "  LMD frames")
    for label, row in results.items():
        print(f"{label:<22}" + "".join(f"{row[n]:>10.4f}" for n in names) + f"  {row['lmd_frames']}")
    base, four = results["1 ref model, 1 ref"], results["4 ref model, 4 ref"]
    ratios = ", ".join(f"{n} {four[n] / base[n]:.3f}" for n in ("l1", "mouth_l1", "m_lmd", "ssim"))
    print(f"4 refs / 1 ref: {ratios}; PSNR {four['psnr'] - base['psnr']:+.2f} dB "
          "(L1, mouth L1, M-LMD: below 1 is better; SSIM: above 1)")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
