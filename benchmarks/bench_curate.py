"""A curated dataset in one command vs LatentSync's preprocessing chain, on the same raw videos, in one run.

hdtf: ``hdtf prepare --scene-cuts --aligned 256`` (one ffmpeg pass cuts the HDTF window, scales it to 512 and
resamples to 25 fps / 16 kHz; then ONE decode of each clip feeds the scene-cut detector, the landmark tracker and
the aligned-view writer). The quality filters of the time are added with ``--extra`` (e.g.
``--extra=--min-face-px=100``).

LatentSync's chain (bytedance/LatentSync ``preprocess/data_processing_pipeline.py``), pass by pass as it runs:

1. resample (``resample_fps_hz.py``): the WHOLE downloaded frame, no crop: ``ffmpeg -i IN -r 25 -ar 16000 -q:a 0
   OUT`` (ffmpeg's default libx264 settings), or ``-c:v copy`` instead of ``-r 25`` when the video is already at
   25 fps;
2. shot detection (``detect_shot.py``): ``scenedetect detect-adaptive --threshold 2`` on a decode of the resampled
   video -- here hdtf's own detector (:mod:`hdtf.curate.scenes`: PySceneDetect's AdaptiveDetector with the CLI's
   settings, fed by a full-resolution decode, as the CLI decodes);
3. ``split-video``: every shot re-encoded by ffmpeg -- PySceneDetect's own ``split_video_ffmpeg`` with its defaults
   (``-c:v libx264 -preset veryfast -crf 22 -c:a aac``), called as a library function;
4. segment (``segment_videos.py``): ``ffmpeg -map 0 -c:v copy -segment_time 5 -f segment -reset_timestamps 1
   -q:a 0`` (a stream copy);
5. affine (``affine_transform.py``): each segment decoded at full resolution; on EVERY frame a face detection on
   the frame scaled to fit 512 (insightface at ``det_size`` 512, ``latentsync/utils/face_detector.py``) and
   landmarks; the largest face's similarity to a template, smoothed, warped to 256 and encoded with the audio.

Each pass is modelled with hdtf's own parts where a model is needed (dlib's detector through
``hdtf.face.detect.detect_faces(frame, scale=512/max(w, h))`` and its 68 landmarks; hdtf's ``AlignedWriter``), so
the ratio measures passes and tracking, not libraries (insightface on a GPU is faster than dlib, but so would be
hdtf's tracker with it). Simplified, each in the chain's favour: pass 5 encodes once (veryfast, the audio copied)
where LatentSync encodes twice (imageio's libx264 at CRF 13, then ffmpeg again with libx264 to mux the audio,
after extracting the audio to a wav); its frames stream instead of being read whole into memory; a frame without a
face is kept (LatentSync drops the segment). LatentSync's remaining passes (broken-video check, SyncNet, visual
quality) are left out on both sides.

Raw videos: ``hdtf.synthetic`` talking faces (a real face, moving, speaking) at an HDTF-typical size: 1280x720 (the
HDTF lists' reference heights are 720 or 1080: 166 and 199 videos; 720 is the cheaper one for the chain), 30 fps
(YouTube's US speeches, most of WDA/WRA; ``--fps 25`` shows LatentSync's stream-copy resample), and a window like
the lists' (``crop_wh``): a square of 0.68 of the frame height at the top, centred across (the median window),
which hdtf scales to 512. The annotation covers the whole video, so both sides process the same seconds.

Prints CPU seconds per pass of each side (this process and its ffmpeg children: resource.getrusage, so a busy
shared machine distorts it less than wall time), their ratio (target >= 3x) and curated frames per CPU-second.
Defaults (2 videos x 8 s) run in about a minute on 2 shared cores; ``--videos`` / ``--seconds`` make it larger.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

WINDOW = 0.68  # the median HDTF crop_wh window side, as a fraction of the reference height
DETECT_SIDE = 512  # LatentSync's insightface det_size: the frame is scaled to fit 512 x 512 for detection
SEGMENT_SECONDS = 5  # segment_videos.py's -segment_time


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    use = resource.getrusage(who)
    return use.ru_utime + use.ru_stime


def _cpu_all() -> float:
    return _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)


@contextmanager
def _timed(spent: dict[str, float], name: str) -> Iterator[None]:
    """Add the CPU seconds (self + reaped children) the block takes to ``spent[name]``."""
    start = _cpu_all()
    try:
        yield
    finally:
        spent[name] = spent.get(name, 0.0) + _cpu_all() - start


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def _sources(root: Path, videos: int, seconds: float, width: int, height: int, fps: float) -> tuple[Path, Path]:
    """Raw talking-face videos (hdtf.synthetic: real faces, moving, speaking) and HDTF lists with an HDTF-like
    window (``crop_wh`` is ``x width y height``)."""
    from hdtf.synthetic import make_talking_face_video

    raw, metadata = root / "raw", root / "metadata"
    raw.mkdir(parents=True)
    metadata.mkdir()
    names = [f"Speaker{k}" for k in range(videos)]
    for k, name in enumerate(names):
        make_talking_face_video(raw / f"RD_{name}.mp4", seconds=seconds, size=(width, height), fps=fps, seed=k,
                                motion=1.5)
    side = round(WINDOW * height)
    x = (width - side) // 2
    end = f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"
    lines = {"video_url": [f"{n} https://www.youtube.com/watch?v={chr(65 + k) * 11}" for k, n in enumerate(names)],
             "resolution": [f"{n}.mp4 {height}" for n in names],
             "annotion_time": [f"{n}.mp4 00:00-{end}" for n in names],
             "crop_wh": [f"{n}_0.mp4 {x} {side} 0 {side}" for n in names],
             "crop_ratio": [f"{n}_0.mp4 1.0" for n in names]}
    for kind, text in lines.items():
        (metadata / f"RD_{kind}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    return raw, metadata


def _hdtf(raw: Path, metadata: Path, out: Path, extra: list[str], spent: dict[str, float]) -> int:
    """The curated run; the number of curated frames. ``spent``: its CPU split into the ffmpeg subprocesses (the
    cut pass and the aligned view's encode) and this process (the one decode and what it feeds)."""
    from hdtf.cli import main
    from hdtf.manifest import done_clips

    own, kids = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    code = main(["prepare", "--metadata-dir", str(metadata), "--subsets", "RD", "--raw-dir", str(raw), "--output",
                 str(out), "--size", "512", "--no-progress", "--scene-cuts", "--aligned", "256", *extra])
    spent["ffmpeg: cut to 512 at 25 fps + 256 encode"] = _cpu(resource.RUSAGE_CHILDREN) - kids
    spent["one decode: scene cuts + tracking + warp"] = _cpu(resource.RUSAGE_SELF) - own
    if code != 0:
        raise SystemExit(f"hdtf prepare failed ({code})")
    return sum(c["num_frames"] for c in done_clips(out) if c.get("aligned_path"))


def _resample(source: Path, out: Path) -> Path:
    """Pass 1 (resample_fps_hz.py): the whole frame to 25 fps / 16 kHz, ffmpeg's default libx264 settings."""
    import av

    with av.open(str(source)) as container:
        rate = container.streams.video[0].average_rate
    video = ["-c:v", "copy"] if rate == 25 else ["-r", "25"]
    resampled = out / "resampled" / source.name
    resampled.parent.mkdir(exist_ok=True)
    _ffmpeg("-i", str(source), *video, "-ar", "16000", "-q:a", "0", str(resampled))
    return resampled


def _split(resampled: Path, cuts: tuple[int, ...], num_frames: int, fps: float, out: Path) -> list[Path]:
    """Pass 3 (scenedetect ... split-video): every shot re-encoded with PySceneDetect's default ffmpeg arguments;
    with no cut the one shot is the whole video, as the CLI makes it."""
    from scenedetect import FrameTimecode, split_video_ffmpeg

    edges = [0, *cuts, num_frames]
    scenes = [(FrameTimecode(a, fps=fps), FrameTimecode(b, fps=fps))
              for a, b in zip(edges[:-1], edges[1:], strict=True)]
    folder = out / "shot"
    template = f"{resampled.stem}_shot_$SCENE_NUMBER.mp4"
    if split_video_ffmpeg(str(resampled), scenes, output_dir=folder, output_file_template=template) != 0:
        raise SystemExit(f"split-video failed on {resampled}")
    return sorted(folder.glob(f"{resampled.stem}_shot_*.mp4"))


def _segment(shot: Path, out: Path) -> list[Path]:
    """Pass 4 (segment_videos.py): 5-second segments by stream copy (cut at key frames)."""
    folder = out / "segmented"
    folder.mkdir(exist_ok=True)
    _ffmpeg("-i", str(shot), "-map", "0", "-c:v", "copy", "-segment_time", str(SEGMENT_SECONDS), "-f", "segment",
            "-reset_timestamps", "1", "-q:a", "0", str(folder / f"{shot.stem}_%03d.mp4"))
    return sorted(folder.glob(f"{shot.stem}_*.mp4"))


class _PerFrameAffine:
    """Pass 5 (affine_transform.py) as an accumulator: on every full-resolution frame a detection on the frame
    scaled to fit 512, the largest face's landmarks, and the warp to 256 (hdtf's writer, one encode)."""

    def __init__(self, segment: Path, out: Path) -> None:
        from hdtf.curate.aligned import AlignedWriter

        folder = out / "affine_transformed"
        folder.mkdir(exist_ok=True)
        self.writer = AlignedWriter(folder / segment.name, folder / f"{segment.stem}.npz", 256, audio_from=segment)
        self.scale = 1.0

    def begin(self, fps: float, size: tuple[int, int]) -> None:
        self.scale = DETECT_SIDE / max(size)
        self.writer.begin(fps, size)

    def frame(self, index: int, rgb: np.ndarray) -> None:
        from hdtf.face.detect import detect_faces, landmarks, to_gray

        gray = to_gray(rgb)  # once for both models (in the chain's favour: insightface converts per model)
        found = detect_faces(gray, scale=self.scale)
        largest = max(found, key=lambda b: b.width * b.height, default=None)
        self.writer.frame(index, rgb, None if largest is None else landmarks(gray, largest))

    def end(self) -> int:
        return self.writer.end().num_frames

    def abort(self) -> None:
        self.writer.abort()


def _chain(raw: Path, out: Path, spent: dict[str, float]) -> int:
    """LatentSync's chain on the same raw videos, pass by pass (CPU per pass added to ``spent``); the number of
    aligned frames."""
    from hdtf.curate.scenes import detect_cuts
    from hdtf.curate.stream import run_on_file

    out.mkdir()
    frames = 0
    for source in sorted(raw.glob("RD_*.mp4")):
        with _timed(spent, "1 resample: whole frame to 25 fps, 16 kHz"):
            resampled = _resample(source, out)
        with _timed(spent, "2 detect-adaptive: a full-size decode"):
            cuts = detect_cuts(resampled)
        with _timed(spent, "3 split-video: each shot re-encoded"):
            shots = _split(resampled, cuts.frames, cuts.num_frames, cuts.fps, out)
        with _timed(spent, "4 segment: 5 s, stream copy"):
            segments = [segment for shot in shots for segment in _segment(shot, out)]
        with _timed(spent, "5 affine: decode, detect@512 + landmarks per frame, 256"):
            for segment in segments:
                (made,) = run_on_file(segment, [_PerFrameAffine(segment, out)])
                frames += made
    return frames


def _report(title: str, spent: dict[str, float], wall: float) -> float:
    total = sum(spent.values())
    print(f"{title}: {total:.1f} CPU-s ({wall:.1f} s wall)")
    for name, seconds in spent.items():
        print(f"    {name:<58} {seconds:5.1f} CPU-s")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=float, default=30.0, help="the raw videos' frame rate (25: LatentSync's "
                                                                "resample copies the video stream)")
    parser.add_argument("--extra", action="append", default=[], help="more hdtf prepare flags (filters)")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg not found on PATH")

    with tempfile.TemporaryDirectory(prefix="bench-curate-") as tmp:
        root = Path(tmp)
        raw, metadata = _sources(root, args.videos, args.seconds, args.width, args.height, args.fps)
        # Imports and models loaded, untimed.
        warm, warm_meta = _sources(root / "warm", 1, 1.0, args.width, args.height, args.fps)
        _hdtf(warm, warm_meta, root / "warm" / "hdtf", args.extra, {})
        _chain(warm, root / "warm" / "chain", {})
        hdtf_spent: dict[str, float] = {}
        wall = time.perf_counter()
        curated = _hdtf(raw, metadata, root / "hdtf", args.extra, hdtf_spent)
        hdtf_wall = time.perf_counter() - wall
        chain_spent: dict[str, float] = {}
        wall = time.perf_counter()
        chained = _chain(raw, root / "chain", chain_spent)
        chain_wall = time.perf_counter() - wall
    side = round(WINDOW * args.height)
    print(f"{args.videos} video(s) x {args.seconds:g} s at {args.width}x{args.height}, {args.fps:g} fps, window "
          f"{side}x{side}: {curated} curated frames (chain: {chained})")
    hdtf_cpu = _report("hdtf prepare --scene-cuts --aligned 256", hdtf_spent, hdtf_wall)
    chain_cpu = _report("LatentSync's chain (5 passes)", chain_spent, chain_wall)
    print(f"ratio: {chain_cpu / hdtf_cpu:.2f}x less CPU (target >= 3x); curated frames per CPU-second: "
          f"{curated / hdtf_cpu:.1f} (chain: {chained / chain_cpu:.1f})")


if __name__ == "__main__":
    main()
