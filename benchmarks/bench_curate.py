"""A curated dataset in one command vs a LatentSync-style chain of passes, on the same raw videos, in one run.

hdtf: ``hdtf prepare --scene-cuts --aligned 256`` (one ffmpeg pass cuts, crops to 512 and resamples to 25 fps /
16 kHz; then ONE decode of each clip feeds the scene-cut detector, the landmark tracker and the aligned-view writer).
The quality filters of the time are added with ``--extra`` (e.g. ``--extra=--min-face-px=100``).

LatentSync-style chain (bytedance/LatentSync ``data_processing_pipeline.sh``): each pass decodes again --
1. resample: ffmpeg cuts the same window, crops to 512, resamples to 25 fps / 16 kHz (the same output as hdtf's cut);
2. scene detection: PySceneDetect's adaptive detector, threshold 2, on a decode of the resampled clip;
3. alignment: a decode of the resampled clip, a face detection and 68 landmarks on every frame (as LatentSync's
   ``affine_transform.py`` runs its detector per frame), the same smoothed similarity to the same template, written
   at 256 with the audio.
Both sides use hdtf's own scene detector, landmark model and aligned writer, so the ratio measures what the one
decode and the tracking save, not a difference of libraries.

Prints CPU seconds of each side (this process and its ffmpeg children: resource.getrusage, so a busy shared machine
distorts it less than wall time), their ratio (target >= 3x) and curated frames per CPU-second. Defaults run in
about a minute; ``--videos`` / ``--seconds`` make it larger.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _sources(root: Path, videos: int, seconds: float, width: int, height: int) -> tuple[Path, Path]:
    """Raw talking-face videos (hdtf.synthetic: real faces, moving, speaking) and HDTF lists with a 512 window."""
    from hdtf.synthetic import make_talking_face_video

    raw, metadata = root / "raw", root / "metadata"
    raw.mkdir(parents=True)
    metadata.mkdir()
    names = [f"Speaker{k}" for k in range(videos)]
    for k, name in enumerate(names):
        make_talking_face_video(raw / f"RD_{name}.mp4", seconds=seconds, size=(width, height), seed=k, motion=1.5)
    side = min(height, 512)
    x, y = (width - side) // 2, (height - side) // 2
    end = f"00:{int(seconds):02d}"
    lines = {"video_url": [f"{n} https://www.youtube.com/watch?v={chr(65 + k) * 11}" for k, n in enumerate(names)],
             "resolution": [f"{n}.mp4 {height}" for n in names],
             "annotion_time": [f"{n}.mp4 00:00-{end}" for n in names],
             "crop_wh": [f"{n}_0.mp4 {x} {x + side} {y} {y + side}" for n in names],
             "crop_ratio": [f"{n}_0.mp4 1.0" for n in names]}
    for kind, text in lines.items():
        (metadata / f"RD_{kind}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    return raw, metadata


def _hdtf(raw: Path, metadata: Path, out: Path, extra: list[str]) -> int:
    """The curated run; the number of curated frames."""
    from hdtf.cli import main
    from hdtf.manifest import done_clips

    code = main(["prepare", "--metadata-dir", str(metadata), "--subsets", "RD", "--raw-dir", str(raw), "--output",
                 str(out), "--size", "512", "--no-progress", "--scene-cuts", "--aligned", "256", *extra])
    if code != 0:
        raise SystemExit(f"hdtf prepare failed ({code})")
    return sum(c["num_frames"] for c in done_clips(out) if c.get("aligned_path"))


def _chain(raw: Path, metadata: Path, out: Path) -> int:
    """The LatentSync-style chain on the same videos and windows; the number of aligned frames."""
    import numpy as np

    from hdtf.curate.aligned import AlignedWriter
    from hdtf.curate.scenes import detect_cuts
    from hdtf.curate.stream import run_on_file
    from hdtf.face.detect import detect_faces, landmarks, primary_face

    out.mkdir()
    windows = {}
    for line in (metadata / "RD_crop_wh.txt").read_text().split("\n"):
        if line:
            name, x0, x1, y0, y1 = line.split()
            windows[name.split("_")[0]] = (int(x0), int(x1), int(y0), int(y1))
    frames = 0
    for source in sorted(raw.glob("RD_*.mp4")):
        name = source.stem.split("_", 1)[1]
        x0, x1, y0, y1 = windows[name]
        resampled = out / f"{name}.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source.absolute()),
                        "-vf", f"crop={x1 - x0}:{y1 - y0}:{x0}:{y0},scale=512:512,fps=25", "-c:v", "libx264",
                        "-preset", "ultrafast", "-crf", "18", "-ar", "16000", "-ac", "1", "-c:a", "aac",
                        str(resampled.absolute())], check=True)
        detect_cuts(resampled)  # pass 2: a decode of its own

        class Detected:  # pass 3: per-frame detection + landmarks feeding the same writer
            def __init__(self) -> None:
                self.writer = AlignedWriter(out / f"{name}.aligned.mp4", out / f"{name}.npz", 256,
                                            audio_from=resampled)

            def begin(self, fps: float, size: tuple[int, int]) -> None:
                self.writer.begin(fps, size)

            def frame(self, index: int, rgb: np.ndarray) -> None:
                found = detect_faces(rgb)  # full frame, as a per-frame detector sees it
                points = landmarks(rgb, primary_face(found, rgb.shape[1], rgb.shape[0])) if found else None
                self.writer.frame(index, rgb, points)

            def end(self) -> int:
                return self.writer.end().num_frames

            def abort(self) -> None:
                self.writer.abort()

        (made,) = run_on_file(resampled, [Detected()])
        frames += made
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--width", type=int, default=960)
    parser.add_argument("--height", type=int, default=540)
    parser.add_argument("--extra", action="append", default=[], help="more hdtf prepare flags (filters)")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg not found on PATH")

    with tempfile.TemporaryDirectory(prefix="bench-curate-") as tmp:
        root = Path(tmp)
        raw, metadata = _sources(root, args.videos, args.seconds, args.width, args.height)
        warm, warm_meta = _sources(root / "warm", 1, 1.0, args.width, args.height)  # imports and models, untimed
        _hdtf(warm, warm_meta, root / "warm" / "hdtf", args.extra)
        _chain(warm, warm_meta, root / "warm" / "chain")
        cpu, wall = _cpu(), time.perf_counter()
        curated = _hdtf(raw, metadata, root / "hdtf", args.extra)
        hdtf_cpu, hdtf_wall = _cpu() - cpu, time.perf_counter() - wall
        cpu, wall = _cpu(), time.perf_counter()
        chained = _chain(raw, metadata, root / "chain")
        chain_cpu, chain_wall = _cpu() - cpu, time.perf_counter() - wall
    print(f"{args.videos} video(s) x {args.seconds:g} s at {args.width}x{args.height}: {curated} curated frames "
          f"(chain: {chained})")
    print(f"hdtf prepare --scene-cuts --aligned 256: {hdtf_cpu:.1f} CPU-s ({hdtf_wall:.1f} s wall)")
    print(f"LatentSync-style chain (3 passes)     : {chain_cpu:.1f} CPU-s ({chain_wall:.1f} s wall)")
    print(f"ratio: {chain_cpu / hdtf_cpu:.2f}x less CPU (target >= 3x); curated frames per CPU-second: "
          f"{curated / hdtf_cpu:.1f}")


if __name__ == "__main__":
    main()
