"""TalkingHead-1KH: whole-video download vs time sections through the real per-video job (prints one run's ratios).

Source: MINUTES minutes of 640x360 H.264 (about 1 Mbit/s, B-frames, a keyframe every 2-5 s) + AAC, served by the
loopback server paced at ``--rate`` MB/s. Tubes: two tubes of one chunk (chunk 2), as TalkingHead-1KH tubes cover
parts of long videos. Each mode runs ``hdtf.pipeline.process_video`` into a fresh folder (download, probe, keyframes,
two clips at 512x512 25 fps) and reports wall time and the bytes the server sent (an upper bound for sections: ffmpeg
drops connections after seeking). Both modes must give clips of the same frames: the script checks the frame counts.

    python benchmarks/bench_sections.py [--minutes 5] [--rate 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from hdtf.loopback import serve_directory
from hdtf.pipeline import PrepareOptions, process_video
from hdtf.sources.talkinghead_1kh import parse_data_list

YOUTUBE_ID = "-benchVid01"
TUBES = [(2, 30, 400, (400, 100, 880, 620)), (2, 900, 1400, (300, 80, 900, 680))]  # in a 1280x720 reference


def render(path: Path, minutes: int) -> None:
    seconds = minutes * 60
    keyframes = ",".join(f"{t:g}" for t in _irregular(seconds))
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}", "-c:v", "libx264",
         "-preset", "ultrafast", "-bf", "2", "-b:v", "1M", "-maxrate", "1M", "-bufsize", "2M", "-g", "1000",
         "-sc_threshold", "0", "-force_key_frames", keyframes, "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
         "-shortest", "-movflags", "+faststart", str(path.absolute())],
        check=True,
    )


def _irregular(seconds: int) -> list[float]:
    times, t, step = [], 0.0, 0
    while t < seconds:
        times.append(round(t, 2))
        step += 1
        t += 2.0 + (step * 7 % 4) * 0.77
    return times


def write_data_list(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "small_video_ids.txt").write_text(f"{YOUTUBE_ID}\n")
    lines = [f"{YOUTUBE_ID}_{c:04d}, 720, 1280, {s}, {e}, " + ", ".join(map(str, box)) for c, s, e, box in TUBES]
    (folder / "small_video_tubes.txt").write_text("\n".join(lines) + "\n")


def one(sections: bool, served: Path, data_list: Path, work: Path, rate: float | None) -> tuple[float, int, list]:
    (video,), _ = parse_data_list(data_list, "small")
    requests: list = []
    with serve_directory(served, requests, rate=rate) as base:
        options = PrepareOptions(output_dir=work, url_template=base + "/{youtube_id}.mp4", sections=sections)
        began = time.perf_counter()
        result = process_video(video, options)
        took = time.perf_counter() - began
    assert result.status == "done", result
    manifest = json.loads(next((work / "status").glob("*.json")).read_text())
    frames = [c["num_frames"] for c in manifest["clips"]]
    return took, sum(r.bytes_sent for r in requests), frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--rate", type=float, default=8.0, help="link speed in MB/s per connection (0: unlimited)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        served = root / "served"
        served.mkdir()
        render(served / f"{YOUTUBE_ID}.mp4", args.minutes)
        write_data_list(root / "data_list")
        size = (served / f"{YOUTUBE_ID}.mp4").stat().st_size
        link = f"{args.rate:g} MB/s per connection" if args.rate else "unlimited"
        print(f"source: {args.minutes} min 640x360, {size / 1e6:.1f} MB; 2 tubes in chunk 2; loopback link {link}")
        figures = {}
        for name, sections in (("whole", False), ("sections", True)):
            took, sent, frames = one(sections, served, root / "data_list", root / name, args.rate * 1e6 or None)
            figures[name] = (took, sent, frames)
            print(f"{name:9s} prepare {took:6.2f} s  served {sent / 1e6:6.2f} MB  clip frames {frames}")
        (w_t, w_b, w_f), (s_t, s_b, s_f) = figures["whole"], figures["sections"]
        print(f"sections/whole: time {s_t / w_t:.2f}x, bytes {s_b / w_b:.2f}x; same frame counts: {w_f == s_f}")


if __name__ == "__main__":
    main()
