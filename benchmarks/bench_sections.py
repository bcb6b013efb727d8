"""Whole-video download vs yt-dlp time sections, through the real per-video job (prints one run's ratios).

Each scenario serves a source over the loopback server, paced at ``--rate`` MB/s per connection (default 8 =
64 Mbit/s, so that transfer cost is what is measured), and runs ``hdtf.job.process_video`` twice into fresh
folders, once downloading the whole video and once only the clips' time ranges (``sections=True``): download, probe
and two 512x512 25 fps clips. It reports wall time, the bytes the server sent (an upper bound for sections: ffmpeg
drops connections after seeking) and the clips' frame counts, which must agree.

- ``hdtf``: 60 s 1280x720 H.264 (about 2 Mbit/s) + AAC; two 5 s clips (10-15 s, 40-45 s) with a metadata window.
- ``talkinghead-1kh``: MINUTES minutes of 640x360 (about 1 Mbit/s, B-frames, a keyframe every 2-5 s) + AAC; two
  tubes of one chunk (chunk 2), as TalkingHead-1KH tubes cover parts of long videos.

    python benchmarks/bench_sections.py [--source hdtf|talkinghead-1kh|both] [--minutes 5] [--rate 8]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from hdtf.loopback import serve_directory
from hdtf.job import process_video
from hdtf.options import PrepareOptions
from hdtf.records import ClipSpec, CropBox, VideoSpec
from hdtf.sources.talkinghead_1kh import parse_data_list

HDTF_CLIPS = ((10.0, 15.0), (40.0, 45.0))
YOUTUBE_ID = "-benchVid01"
TUBES = [(2, 30, 400, (400, 100, 880, 620)), (2, 900, 1400, (300, 80, 900, 680))]  # in a 1280x720 reference


def render(path: Path, seconds: int, size: str, bitrate: str, keyframes: list[str]) -> None:
    """A testsrc2 + sine source, H.264 (B-frames) + AAC, with the given keyframe options."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}", "-c:v", "libx264",
         "-preset", "ultrafast", "-bf", "2", "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "4M", *keyframes,
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart",
         str(path.absolute())],
        check=True,
    )


def hdtf_scenario(root: Path, minutes: int) -> tuple[VideoSpec, str, str]:
    render(root / "served" / "Bench.mp4", 60, "1280x720", "2M", ["-g", "50"])
    clips = tuple(
        ClipSpec(id=f"RD_Bench_{i:03d}", source="hdtf", subset="RD", video_name="Bench", clip_index=i,
                 youtube_id=None, url=None, start=start, end=end, resolution=720, crop=CropBox(500, 150, 400, 400),
                 crop_ratio=1.2)
        for i, (start, end) in enumerate(HDTF_CLIPS)
    )
    video = VideoSpec("hdtf", "RD", "Bench", None, None, 720, clips)
    return video, "/{name}.mp4", "60 s 1280x720; two 5 s clips"


def talkinghead_scenario(root: Path, minutes: int) -> tuple[VideoSpec, str, str]:
    keyframes = ",".join(f"{t:g}" for t in _irregular(minutes * 60))
    render(root / "served" / f"{YOUTUBE_ID}.mp4", minutes * 60, "640x360", "1M",
           ["-g", "1000", "-sc_threshold", "0", "-force_key_frames", keyframes])
    data_list = root / "data_list"
    data_list.mkdir()
    (data_list / "small_video_ids.txt").write_text(f"{YOUTUBE_ID}\n")
    lines = [f"{YOUTUBE_ID}_{c:04d}, 720, 1280, {s}, {e}, " + ", ".join(map(str, box)) for c, s, e, box in TUBES]
    (data_list / "small_video_tubes.txt").write_text("\n".join(lines) + "\n")
    (video,), _ = parse_data_list(data_list, "small")
    return video, "/{youtube_id}.mp4", f"{minutes} min 640x360; 2 tubes in chunk 2"


def _irregular(seconds: int) -> list[float]:
    times, t, step = [], 0.0, 0
    while t < seconds:
        times.append(round(t, 2))
        step += 1
        t += 2.0 + (step * 7 % 4) * 0.77
    return times


SCENARIOS = {"hdtf": hdtf_scenario, "talkinghead-1kh": talkinghead_scenario}


def one(video: VideoSpec, served: Path, template: str, work: Path, sections: bool, rate: float | None):
    requests: list = []
    with serve_directory(served, requests, rate=rate) as base:
        options = PrepareOptions(output_dir=work, url_template=base + template, sections=sections)
        began = time.perf_counter()
        result = process_video(video, options)
        took = time.perf_counter() - began
    assert result.status == "done", result
    return took, sum(r.bytes_sent for r in requests), [c["num_frames"] for c in result.clips]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=(*SCENARIOS, "both"), default="both")
    parser.add_argument("--minutes", type=int, default=5, help="length of the talkinghead-1kh source")
    parser.add_argument("--rate", type=float, default=8.0, help="link speed in MB/s per connection (0: unlimited)")
    args = parser.parse_args()
    link = f"{args.rate:g} MB/s per connection" if args.rate else "unlimited"
    for name in SCENARIOS if args.source == "both" else (args.source,):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "served").mkdir()
            video, template, what = SCENARIOS[name](root, args.minutes)
            size = sum(f.stat().st_size for f in (root / "served").iterdir())
            print(f"{name}: {what}, {size / 1e6:.1f} MB; loopback link {link}")
            figures = {}
            for mode in ("whole", "sections"):
                figures[mode] = one(video, root / "served", template, root / mode, mode == "sections",
                                    args.rate * 1e6 or None)
                took, sent, frames = figures[mode]
                print(f"  {mode:9s} download + cut {took:6.2f} s  served {sent / 1e6:6.2f} MB  clip frames {frames}")
            (w_t, w_b, w_f), (s_t, s_b, s_f) = figures["whole"], figures["sections"]
            print(f"  sections/whole: time {s_t / w_t:.2f}x, bytes {s_b / w_b:.2f}x; same frame counts: {w_f == s_f}")


if __name__ == "__main__":
    main()
