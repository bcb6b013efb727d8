"""Whole-video download vs yt-dlp time sections, over the loopback server (prints one run's figures and ratios).

Source: 60 s, 1280x720, H.264 at about 2 Mbit/s + AAC; clips: two 5 s intervals (10-15 s, 40-45 s). For each mode
the script downloads with ``hdtf.download.download_video`` into a fresh folder and then cuts both clips with
``hdtf.media.cut_clip`` (512x512, 25 fps, 16 kHz), reporting wall time and bytes the server sent. Bytes for the
section mode are an upper bound: ffmpeg drops connections after seeking and the kernel had already buffered data.
The server is paced (``--rate`` MB/s per connection, default 8 = 64 Mbit/s) so that transfer cost is what is measured.

    python benchmarks/bench_download_sections.py [--repeat 2] [--rate 8]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from hdtf import media
from hdtf.download import download_video
from hdtf.loopback import serve_directory
from hdtf.records import CropBox, VideoSpec

CLIPS = [(10.0, 15.0), (40.0, 45.0)]
CROP = CropBox(500, 150, 400, 400)


def render(path: Path) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=60",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=60", "-c:v", "libx264",
         "-preset", "ultrafast", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "4M", "-g", "50", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart", str(path)],
        check=True,
    )


def one(mode: str, served: Path, work: Path, rate: float | None) -> tuple[float, float, int]:
    video = VideoSpec("hdtf", "RD", "Bench", None, None, 720, ())
    requests: list = []
    with serve_directory(served, requests, rate=rate) as base:
        began = time.perf_counter()
        result = download_video(video, work / "raw", url_template=base + "/{name}.mp4",
                                sections=CLIPS if mode == "sections" else None)
        fetched = time.perf_counter() - began
    assert result.status == "done", result.reason
    for i, (start, end) in enumerate(CLIPS):
        if mode == "sections":
            source, offset = result.sections[i].path, result.sections[i].start
        else:
            source, offset = result.path, 0.0
        media.cut_clip(source, work / f"clip{i}.mp4", start=start - offset, end=end - offset, crop=CROP,
                       dst_wav=work / f"clip{i}.wav")
    total = time.perf_counter() - began
    return fetched, total, sum(r.bytes_sent for r in requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rate", type=float, default=8.0, help="link speed in MB/s per connection (0: unlimited)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        served = root / "served"
        served.mkdir()
        render(served / "Bench.mp4")
        size = (served / "Bench.mp4").stat().st_size
        link = f"{args.rate:g} MB/s per connection" if args.rate else "unlimited"
        print(f"source: 60 s 1280x720, {size / 1e6:.1f} MB; clips {CLIPS}; loopback link {link}")
        figures = {}
        for mode in ("whole", "sections"):
            rate = args.rate * 1e6 or None
            runs = [one(mode, served, Path(tempfile.mkdtemp(dir=root)), rate) for _ in range(args.repeat)]
            fetched, total = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            sent = statistics.median(r[2] for r in runs)
            figures[mode] = (fetched, total, sent)
            print(f"{mode:9s} download {fetched:6.2f} s  download+cut {total:6.2f} s  served {sent / 1e6:6.2f} MB")
        w, s = figures["whole"], figures["sections"]
        print(f"sections/whole: download time {s[0] / w[0]:.2f}x, download+cut {s[1] / w[1]:.2f}x, "
              f"bytes {s[2] / w[2]:.2f}x")


if __name__ == "__main__":
    main()
