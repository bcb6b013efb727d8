"""What hdtf.data's AnimationPairDataset costs on top of decoding: training items/s and decoded frames/s of the
loader vs decord's raw ``get_batch`` and a PyAV seek-and-decode baseline, on the same clips and the same frame pairs.

Clips: ``--clips`` synthetic 10 s, 512x512, 25 fps H.264 clips (x264 medium, CRF 23, keyframe every 250 frames, as
ffmpeg makes prepared clips) with template landmarks, or the done clips of a real prepared folder (``--data``).
Items are read in one process (``num_workers=0``: per-item cost; workers divide it); the ways take turns item by
item, and the median of ``--repeat`` passes and the ratios come from one run of this script. The loader is timed without the Fapp
(``build_fapp=False``, what is compared with raw decoding) and with it (what a training step waits for).

    python benchmarks/bench_loader.py [--clips 3] [--items 32] [--resolution 512] [--repeat 3] [--data PREPARED]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hdtf.data import AnimationPairDataset, PreparedClip, load_prepared_clips


def synthetic_clips(folder: Path, count: int) -> list[PreparedClip]:
    """``count`` 512x512 clips of moving test patterns, each with a still 68-point face template (all found)."""
    from hdtf.modeling.animation_params import template_shape

    face = template_shape().astype(np.float32)
    face = (face - face.min(0)) / (face.max(0) - face.min(0)).max() * 256 + 128  # a 256 px face, centred
    clips = []
    for i in range(count):
        path = folder / f"clip_{i}.mp4"
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=512x512:r=25:d=10,hue=h={40 * i}",
             "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-g", "250", "-pix_fmt", "yuv420p", str(path)],
            check=True,
        )
        clips.append(PreparedClip(id=f"clip_{i}", video_path=path, audio_path=None, fps=25.0, num_frames=250,
                                  size=512, sample_rate=None, points=np.repeat(face[None], 250, 0),
                                  found=np.ones(250, bool)))
    return clips


def pyav_frames(path: Path, indices: list[int], fps: float, size: int) -> list[np.ndarray]:
    """Seek to the keyframe before each frame and decode forward to it (what a loader without decord would do)."""
    import av

    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index in indices:
            target = round(index / fps / stream.time_base)
            container.seek(target, stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts >= target:
                    out.append(frame.reformat(width=size, height=size, format="rgb24").to_ndarray())
                    break
    return out


def medians(ways, count: int, repeat: int) -> list[float]:
    """Median total seconds of each way over ``count`` items; the ways take turns item by item (in rotating order),
    so background load on a shared machine hits all of them alike."""
    totals: list[list[float]] = [[] for _ in ways]
    for r in range(repeat):
        spent = [0.0] * len(ways)
        for i in range(count):
            for k in range(len(ways)):
                w = (k + i + r) % len(ways)
                began = time.perf_counter()
                ways[w](i)
                spent[w] += time.perf_counter() - began
        for total, t in zip(totals, spent):
            total.append(t)
    return [statistics.median(t) for t in totals]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, help="a prepared folder to read instead of synthetic clips")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        clips = load_prepared_clips(args.data) if args.data else synthetic_clips(Path(tmp), args.clips)
        size = args.resolution
        per_clip = -(-args.items // len(clips))
        plain = AnimationPairDataset(clips, resolution=size, samples_per_clip=per_clip, build_fapp=False)
        with_fapp = AnimationPairDataset(clips, resolution=size, samples_per_clip=per_clip)
        n = len(plain)
        pairs = []
        for i in range(n):
            item = plain[i]
            clip = plain._pick(i)[0]  # the clip item i is drawn from
            pairs.append((clip, [int(item["reference_index"]), int(item["driving_index"])]))

        import decord

        readers = {c.id: decord.VideoReader(str(c.video_path), width=size, height=size, num_threads=1) for c in clips}

        def raw_decord(i: int) -> None:
            clip, idx = pairs[i]
            readers[clip.id].get_batch(idx).asnumpy()

        def pyav(i: int) -> None:
            clip, idx = pairs[i]
            pyav_frames(clip.video_path, idx, clip.fps, size)

        for i in range(n):  # warm: readers open, codecs initialised
            raw_decord(i), plain[i], with_fapp[i]
        t_raw, t_loader, t_fapp, t_av = medians([raw_decord, plain.__getitem__, with_fapp.__getitem__, pyav], n,
                                                args.repeat)
    source = str(args.data) if args.data else f"{len(clips)} synthetic 512x512 10 s clips"
    print(f"{n} items (pairs of random frames) from {source}, at {size}x{size}, 1 process, 1 torch thread")
    for name, t in (("raw decord get_batch", t_raw), ("AnimationPairDataset (no Fapp)", t_loader),
                    ("AnimationPairDataset (with Fapp)", t_fapp), ("PyAV seek + decode", t_av)):
        print(f"  {name:34s} {n / t:7.1f} items/s {2 * n / t:7.1f} frames/s")
    print(f"loader overhead over raw decord: {100 * (t_loader / t_raw - 1):+.1f}% (target < 10%)")
    print(f"Fapp share of a training item: {100 * (t_fapp - t_loader) / t_fapp:.0f}%")
    print(f"decord vs PyAV: {t_av / t_raw:.1f}x faster")


if __name__ == "__main__":
    main()
