"""Landmark tracking speed and accuracy on synthetic talking faces (ground truth known).

Prints frames/s of: decoding alone, hdtf.face.track_video, and the naive baseline (full-frame detection + landmarks on
every frame) on a 512x512 clip, their ratio, and the landmark error of each normalised by the inter-ocular distance;
then track_video on 1280x720 raw videos decoded 640 wide, as the landmark crop window tracks them: a 245 px face, a
90 px face, and the 245 px face with a poster and a large face-like emblem beside it (error > 1 IOD = wrong face).
Speeds are frames per CPU-second of this process (time.process_time), so a busy shared machine distorts them
less than wall time; wall-time figures are printed too. Run on one core: taskset -c 0 python benchmarks/bench_face.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _error(points: np.ndarray, truth: np.ndarray) -> float:
    iod = np.linalg.norm(truth[:, 36:42].mean(1) - truth[:, 42:48].mean(1), axis=1)
    return float(np.nanmean(np.linalg.norm(points - truth, axis=2).mean(1) / iod))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--photo", type=Path, default=None, help="face photo (default: scikit-image astronaut)")
    args = parser.parse_args()

    import cv2

    from hdtf.face.detect import detect_faces, landmarks, primary_face
    from hdtf.face.track import read_video_gray, track_video
    from hdtf.synthetic import Overlay, make_talking_face_video

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        video = make_talking_face_video(Path(tmp) / "face.mp4", photo=args.photo, seconds=args.seconds,
                                        size=(args.size, args.size))
        n = video.num_frames
        track_video(video.path, end=0.2)  # load the models outside the timings

        clock = _Clock()
        with clock:
            frames = list(read_video_gray(video.path)[0])
        decode = clock.elapsed

        with clock:
            track = track_video(video.path)
        tracked = clock.elapsed

        naive = np.full((n, 68, 2), np.nan, np.float32)
        with clock:
            for k, gray in enumerate(frames):
                boxes = detect_faces(gray)
                if boxes:
                    naive[k] = landmarks(gray, primary_face(boxes, gray.shape[1], gray.shape[0]))
        baseline = tuple(a + b for a, b in zip(clock.elapsed, decode, strict=True))

    print(f"{n} frames of {args.size}x{args.size}; frames/s per CPU-second (per wall-second)")
    print(f"decode only            {_rate(n, decode)}")
    print(f"track_video            {_rate(n, tracked)}   found {track.found.mean():.3f}   "
          f"error {_error(track.points, video.landmarks):.4f} IOD")
    print(f"detect every frame     {_rate(n, baseline)}   found {np.isfinite(naive[:, 0, 0]).mean():.3f}   "
          f"error {_error(naive, video.landmarks):.4f} IOD")
    print(f"speed-up over naive    {baseline[0] / tracked[0]:8.2f}x CPU   ({baseline[1] / tracked[1]:.2f}x wall)")

    scenes = {
        "245 px face": {},
        "90 px face": {"face_height": 0.125},
        "245 px + poster, emblem": {"face_centre": (0.36, 0.45), "overlays": (
            Overlay(centre=(0.08, 0.16), height=0.14),
            Overlay(centre=(0.72, 0.55), height=0.75, kind="emblem", start=args.seconds / 4))},
    }
    print(f"1280x720 decoded 640 wide, {args.seconds / 2:g} s each; frames/s per CPU-second (per wall-second)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, scene in scenes.items():
            video = make_talking_face_video(Path(tmp) / "raw.mp4", photo=args.photo, seconds=args.seconds / 2,
                                            motion=0.3, **scene)
            with clock:
                track = track_video(video.path, decode_width=640)
            print(f"{name:<24}{_rate(video.num_frames, clock.elapsed)}   found {track.found.mean():.3f}   "
                  f"error {_error(track.points, video.landmarks):.4f} IOD")


class _Clock:
    """Measures (CPU seconds of this process, wall seconds) of a with-block."""

    def __enter__(self) -> None:
        self._start = (time.process_time(), time.perf_counter())

    def __exit__(self, *exc) -> None:
        self.elapsed = (time.process_time() - self._start[0], time.perf_counter() - self._start[1])


def _rate(n: int, elapsed: tuple[float, float]) -> str:
    return f"{n / elapsed[0]:8.1f} ({n / elapsed[1]:6.1f})"


if __name__ == "__main__":
    main()
