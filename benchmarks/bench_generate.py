"""Where the time of one audio-driven generation goes: photo + N s of speech through a fresh HDTFGenerator.

Stages: reference (dlib landmarks + crop), audio features, audio2animation, Fapp, animation2video, mp4 encode.
Prints seconds per stage, each stage's share of the total, and the real-time factor (video seconds / wall seconds),
all measured in this one run.

    python benchmarks/bench_generate.py --image FACE --audio SPEECH [--preset tiny] [--seconds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hdtf.modeling.fapp import construct_fapp
from hdtf.modeling.generator import HDTFGenerator, _to_uint8

from hdtf.video_io import read_audio, write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--audio", type=Path, required=True)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    gen = HDTFGenerator.from_preset(args.preset)
    speech = read_audio(args.audio, 16000)[: int(args.seconds * 16000)]
    times: dict[str, float] = {}

    def timed(name, fn, *a):
        start = time.perf_counter()
        result = fn(*a)
        times[name] = times.get(name, 0.0) + time.perf_counter() - start
        return result

    image, ref_points = timed("reference", gen.face_processor, args.image)
    timed("features", gen.feature_extractor, speech)  # measured alone; animate_from_audio repeats it
    points, _, _ = timed("audio2animation", gen.animate_from_audio, ref_points, speech, 16000, 0)
    times["audio2animation"] -= times["features"]
    ref = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
    frames = []
    with torch.no_grad():
        for start in range(0, len(points), args.batch_size):
            drv = torch.as_tensor(points[start : start + args.batch_size])
            grid = timed("fapp", construct_fapp, torch.as_tensor(ref_points, dtype=torch.float64), drv, gen.image_size)
            out = timed("animation2video", gen.animation2video, ref.expand(len(drv), -1, -1, -1), grid.float())
            frames.append(_to_uint8(out.synthetic_image))
    with tempfile.TemporaryDirectory() as tmp:
        timed("encode mp4", write_video, Path(tmp) / "out.mp4", np.concatenate(frames), 25.0, speech)
    total = sum(times.values())
    print(f"preset {args.preset} ({gen.image_size}px), {len(points)} frames from {len(speech) / 16000:.2f} s speech, "
          f"{args.threads} threads")
    for name, seconds in times.items():
        print(f"  {name:16s} {seconds:7.2f} s  {100 * seconds / total:5.1f} %")
    print(f"  {'total':16s} {total:7.2f} s  real-time factor {len(points) / 25 / total:.2f}")


if __name__ == "__main__":
    main()
