"""Wall and CPU time of `hdtf prepare` on two 20 s clips of a 90 s 1080p30 video vs the original scripts and decoding.

Compared in alternating rounds within one run (so machine load hits all three alike):

- hdtf:  the real CLI (`python -m hdtf.cli prepare --raw-dir ...`): one ffmpeg pass per clip, input-side seek.
- seeds: the original per-clip commands: `ffmpeg -i SRC -ss S -to E -filter:v crop=...` to an intermediate
  (output-side seek: decodes from 0), then a separate 512x512 resize pass (25 fps, 16 kHz mono audio).
- floor: decoding the clips' spans and nothing else (`ffmpeg -ss S -i SRC -t 20 -f null -`).

Prints seeds/hdtf (target >= 2.5) and hdtf/floor (target <= 1.6) for wall time (the targets) and for CPU time
(user + system of all child processes; steadier on a shared machine), and the quality of one hdtf clip (SSIM/PSNR
against a lossless encode of the same frames). The source is generated once and cached in the temp folder.

    python benchmarks/bench_prepare.py [--rounds 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT, FPS, DURATION = 1920, 1080, 30, 90
CLIPS = ((20.0, 40.0), (55.0, 75.0))  # HDTF-like spans: the second starts deep into the video
CROP = (700, 100, 600, 600)  # x, y, w, h in source pixels (the metadata's reference height is 1080)
FFMPEG = ["ffmpeg", "-nostdin", "-v", "error", "-y"]


def make_source(cache: Path) -> Path:
    """A 90 s 1080p30 H.264 (~5 Mb/s, 5 s GOP, like a YouTube download) + 48 kHz stereo AAC source, made once."""
    path = cache / f"source_{HEIGHT}p{FPS}_{DURATION}s.mp4"
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    temp = cache / f".{path.name}.partial.mp4"
    print(f"generating {path} (once; a few minutes on 2 cores)...", flush=True)
    video = f"testsrc2=s={WIDTH}x{HEIGHT}:r={FPS}:d={DURATION},noise=alls=6:allf=t"
    subprocess.run([*FFMPEG, "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", f"sine=f=220:r=48000:d={DURATION}",
                    "-ac", "2", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "5M", "-maxrate", "6M",
                    "-bufsize", "10M", "-g", str(5 * FPS), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
                    str(temp)], check=True)
    os.replace(temp, path)
    return path


class Cost:
    """Wall seconds and CPU seconds (user + system of the child processes) spent on one variant."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def run(self, args: list[str]) -> None:
        began, cpu = time.perf_counter(), _children_cpu()
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        self.wall += time.perf_counter() - began
        self.cpu += _children_cpu() - cpu
        if done.returncode != 0:
            sys.exit(f"failed ({done.returncode}): {' '.join(args)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stamp(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


def write_metadata(directory: Path) -> None:
    """Subset RD with one video, Radio1, and the two clips, in the real files' format."""
    directory.mkdir(parents=True, exist_ok=True)
    x, y, w, h = CROP
    intervals = " ".join(f"{_stamp(s)}-{_stamp(e)}" for s, e in CLIPS)
    files = {
        "video_url": "Radio1 https://www.youtube.com/watch?v=CPCoMyuBRM0\n",
        "resolution": f"Radio1.mp4 {HEIGHT}\n",
        "annotion_time": f"Radio1.mp4 {intervals}\n",
        "crop_wh": "".join(f"Radio1_{k}.mp4 {x} {w} {y} {h}\n" for k in range(len(CLIPS))),
        "crop_ratio": "".join(f"Radio1_{k}.mp4 1.2\n" for k in range(len(CLIPS))),
    }
    for kind, text in files.items():
        (directory / f"RD_{kind}.txt").write_text(text)


def run_hdtf(work: Path, metadata: Path, raw: Path) -> Cost:
    out = work / "hdtf_out"
    shutil.rmtree(out, ignore_errors=True)
    cost = Cost()
    cost.run([sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--metadata-dir",
                     str(metadata), "--subsets", "RD", "--videos", "Radio1", "--raw-dir", str(raw), "--no-progress"])
    made = sorted(p.name for p in (out / "clips").glob("*.mp4"))
    if len(made) != len(CLIPS):
        sys.exit(f"hdtf prepare made {made}, expected {len(CLIPS)} clips")
    return cost


def run_seeds(work: Path, src: Path) -> Cost:
    x, y, w, h = CROP
    cost = Cost()
    for k, (start, end) in enumerate(CLIPS):
        inter, final = work / f"seeds_{k}_crop.mp4", work / f"seeds_{k}.mp4"
        cost.run([*FFMPEG, "-i", str(src), "-ss", str(start), "-to", str(end), "-filter:v",
                  f"crop={w}:{h}:{x}:{y}", str(inter)])
        cost.run([*FFMPEG, "-i", str(inter), "-vf", "scale=512:512", "-r", "25", "-ar", "16000", "-ac", "1",
                  str(final)])
    return cost


def run_floor(src: Path) -> Cost:
    cost = Cost()
    for start, end in CLIPS:
        cost.run([*FFMPEG, "-ss", str(start), "-i", str(src), "-t", str(end - start), "-f", "null", "-"])
    return cost


def quality(work: Path, src: Path) -> str:
    """SSIM and PSNR of the first hdtf clip against a lossless encode of the same filter chain."""
    from hdtf.media import video_filter_chain
    from hdtf.records import CropBox

    start, end = CLIPS[0]
    reference = work / "reference.mkv"
    chain = video_filter_chain(CropBox(*CROP), 512, 25, False)
    subprocess.run([*FFMPEG, "-ss", str(start), "-t", str(end - start), "-i", str(src), "-vf", chain, "-an",
                    "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", str(reference)], check=True)
    clip = next((work / "hdtf_out" / "clips").glob("*_000.mp4"))
    done = subprocess.run(["ffmpeg", "-nostdin", "-i", str(clip), "-i", str(reference), "-lavfi",
                           "[0:v][1:v]ssim;[0:v][1:v]psnr", "-f", "null", "-"], capture_output=True, text=True,
                          check=False)
    ssim = re.search(r"SSIM .*All:([0-9.]+)", done.stderr)
    psnr = re.search(r"PSNR .*average:([0-9.inf]+)", done.stderr)
    return f"SSIM {ssim.group(1) if ssim else '?'}  PSNR {psnr.group(1) if psnr else '?'} dB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "hdtf-bench-prepare")
    args = parser.parse_args()
    src = make_source(args.cache)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        work = Path(tmp)
        raw, metadata = work / "raw", work / "metadata"
        raw.mkdir()
        (raw / "RD_Radio1.mp4").symlink_to(src)
        write_metadata(metadata)
        costs: dict[str, list[Cost]] = {"hdtf": [], "seeds": [], "floor": []}
        for round_ in range(args.rounds):
            costs["hdtf"].append(run_hdtf(work, metadata, raw))
            costs["seeds"].append(run_seeds(work, src))
            costs["floor"].append(run_floor(src))
            print(f"round {round_ + 1}: " + "  ".join(
                f"{k} {v[-1].wall:.2f}s (cpu {v[-1].cpu:.2f}s)" for k, v in costs.items()), flush=True)
        for measure in ("wall", "cpu"):
            med = {k: statistics.median(getattr(c, measure) for c in v) for k, v in costs.items()}
            print(f"{measure} median of {args.rounds}: " + "  ".join(f"{k} {v:.2f}s" for k, v in med.items()))
            print(f"  seeds/hdtf {med['seeds'] / med['hdtf']:.2f} (target >= 2.5)   "
                  f"hdtf/floor {med['hdtf'] / med['floor']:.2f} (target <= 1.6)")
        print(f"hdtf clip quality vs lossless: {quality(work, src)}")


if __name__ == "__main__":
    main()
