"""Lists at their real size: parse time and memory per entry for each list format, and the cost of a no-op re-run.

For each format in :data:`FORMATS` a synthetic list of ``--entries`` clips (default 100,000; ``--full`` for
1,000,000) is written once into the cache folder in the release's exact format, then parsed by the source's own
parser in a fresh process, which reports the wall time and the growth of its peak RSS over the imports (the parse's
memory: the list read, the records made). Per-entry figures are printed, so a full list's cost reads off directly
(VoxCeleb2 dev: 1,092,009 utterances from ~145k videos; AVSpeech ~290k videos). VoxCeleb2 files get ``--rows``
frame rows each (the release averages ~200; the parse reads each file whole but parses only its header and first
and last rows, so its time grows with bytes read, not rows parsed).

The no-op re-run: ``--videos`` videos (default 2,000, one clip each) whose statuses say done, their files there and
stamped (hardlinks of one tiny clip), re-run through ``hdtf.run.prepare`` with 1 worker (serial) and 2 workers
(process): what a resumed run costs per video when every video is settled (target: at most 1 ms).

Adding a format (a source's list) is one line in :data:`FORMATS`: its name, a writer ``(folder, entries) -> path``
and a parser ``path -> videos``.

    python benchmarks/bench_lists.py [--entries N | --full] [--rows R] [--videos V] [--only NAME,...] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAYOUT = "v2"  # the synthetic lists' version, in their cache folders' names (v2: a video's utterances in one folder)
VIDEO_CLIPS = 7  # clips per video in the synthetic lists (VoxCeleb2: 1.09M utterances / 145k videos = 7.5)


def _ids(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct 11-character YouTube-like ids."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "_-"
    ids: dict[str, None] = {}
    while len(ids) < n:
        ids[rng.choice(string.ascii_letters) + "".join(rng.choices(alphabet, k=10))] = None
    return list(ids)


# ------------------------------------------------------------------------------------------------ writers


def write_hdtf(folder: Path, entries: int) -> Path:
    """HDTF's five files per subset (all in RD), ``VIDEO_CLIPS`` intervals per video."""
    videos = max(1, entries // VIDEO_CLIPS)
    names = [f"Speaker{i}" for i in range(videos)]
    ids = _ids(videos)
    intervals = " ".join(f"{k:02d}:00-{k:02d}:30" for k in range(VIDEO_CLIPS))
    files = {
        "RD_video_url.txt": "".join(f"{n} https://www.youtube.com/watch?v={y}\n" for n, y in zip(names, ids)),
        "RD_resolution.txt": "".join(f"{n}.mp4 720\n" for n in names),
        "RD_annotion_time.txt": "".join(f"{n}.mp4 {intervals}\n" for n in names),
        "RD_crop_wh.txt": "".join(f"{n}_{k}.mp4 400 400 100 400\n" for n in names for k in range(VIDEO_CLIPS)),
        "RD_crop_ratio.txt": "".join(f"{n}_{k}.mp4 1.2\n" for n in names for k in range(VIDEO_CLIPS)),
    }
    for subset in ("WDA", "WRA"):
        for kind in ("video_url", "resolution", "annotion_time", "crop_wh", "crop_ratio"):
            files[f"{subset}_{kind}.txt"] = ""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def parse_hdtf(path: Path) -> list:
    from hdtf.sources import hdtf

    return hdtf.parse_metadata(path, ["RD"])[0]


def write_talkinghead(folder: Path, entries: int) -> Path:
    """TalkingHead-1KH's ``train`` id and tube lists, ``VIDEO_CLIPS`` tubes per video."""
    videos = max(1, entries // VIDEO_CLIPS)
    ids = _ids(videos)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_video_ids.txt").write_text("".join(f"{y}\n" for y in ids))
    with (folder / "train_video_tubes.txt").open("w") as f:
        for y in ids:
            for k in range(VIDEO_CLIPS):
                f.write(f"{y}_{k:04d}, 720, 1280, 10, 900, 400, 100, 800, 500\n")
    return folder


def parse_talkinghead(path: Path) -> list:
    from hdtf.sources import talkinghead_1kh

    return talkinghead_1kh.parse_data_list(path, "train")[0]


def _vox_files(entries: int, rows: int):
    """(name, text) of ``entries`` VoxCeleb2 utterance files, ``rows`` frame rows each; as in the release, a video's
    utterances are one speaker's, in one ``SPEAKER/YOUTUBE_ID`` folder (5,994 speakers in dev)."""
    videos = max(1, entries // VIDEO_CLIPS)
    ids = _ids(videos)
    body_cache: dict[int, str] = {}
    for index in range(entries):
        video = ids[index % videos]
        speaker = f"id{index % videos % 5994:05d}"
        first = 25 * (index // videos) * 10
        if first not in body_cache:
            body_cache[first] = "".join(f"{f:06d} \t0.400 \t0.150 \t0.200 \t0.356 \n" for f in range(first, first + rows))
        head = (f"Identity  : \t{speaker}\nReference : \t{video}\nOffset    : \t1\nFV Conf   : \t17.179\t(1)\n"
                f"ASD Conf  : \t4.920\n\nFRAME \tX \tY \tW \tH \n")
        yield f"dev/txt/{speaker}/{video}/{index // videos + 1:05d}.txt", head + body_cache[first]


def write_vox_folder(folder: Path, entries: int, rows: int) -> Path:
    for name, text in _vox_files(entries, rows):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def write_vox_zip(folder: Path, entries: int, rows: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vox2_dev_txt.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in _vox_files(entries, rows):
            archive.writestr(name, text)
    return path


def parse_vox(path: Path) -> list:
    from hdtf.sources import voxceleb2

    return voxceleb2.parse_metadata(path, "dev")[0]


def write_celebv(folder: Path, entries: int) -> Path:
    """CelebV-HQ's ``celebvhq_info.json``: ``VIDEO_CLIPS`` clips per video, each with its box and the release's
    attribute lists (39 appearance and 35 action flags, one emotion label)."""
    videos = max(1, entries // VIDEO_CLIPS)
    ids = _ids(videos)
    attributes = json.dumps({"appearance": [0] * 39, "action": [0] * 35,
                             "emotion": {"sep_flag": False, "labels": "neutral"}})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "celebvhq_info.json"
    with path.open("w") as f:
        f.write('{"meta_info": {"appearance_mapping": [], "action_mapping": [], "emotion_mapping": []}, "clips": {')
        for index in range(entries):
            youtube_id, k = ids[index % videos], index // videos
            f.write(f'{", " if index else ""}"{youtube_id}_{k}": {{"ytb_id": "{youtube_id}", "duration": '
                    f'{{"start_sec": {10.0 * k}, "end_sec": {10.0 * k + 5.5}}}, "bbox": {{"top": 0.1, "bottom": 0.6, '
                    f'"left": 0.4, "right": 0.68}}, "attributes": {attributes}, "version": "v0.1"}}')
        f.write("}}")
    return path


def parse_celebv(path: Path) -> list:
    from hdtf.sources import celebv_hq

    return celebv_hq.parse_info(path)[0]


def write_avspeech(folder: Path, entries: int) -> Path:
    """AVSpeech's header-less CSV (YouTube id, start, end, face x, y), ``VIDEO_CLIPS`` segments per video."""
    videos = max(1, entries // VIDEO_CLIPS)
    ids = _ids(videos)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "avspeech_train.csv"
    with path.open("w") as f:
        for index in range(entries):
            start = 10.0 * (index // videos)
            f.write(f"{ids[index % videos]},{start:.6f},{start + 5.5:.6f},0.512,0.301\n")
    return path


def parse_avspeech(path: Path) -> list:
    from hdtf.sources import avspeech

    return avspeech.parse_list(path)[0]


def write_csv(folder: Path, entries: int) -> Path:
    """A list of your own as EchoMimic v2's EMTD list is (``URL,Start Timecode,End Timecode``)."""
    videos = max(1, entries // VIDEO_CLIPS)
    ids = _ids(videos)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "emtd.csv"
    with path.open("w") as f:
        f.write("URL,Start Timecode,End Timecode\n")
        for index in range(entries):
            minute = index // videos
            f.write(f"https://www.youtube.com/watch?v={ids[index % videos]},00:{minute:02d}:01,00:{minute:02d}:06.5\n")
    return path


def parse_csv(path: Path) -> list:
    from hdtf.sources import csv_clips

    return csv_clips.parse_list(path)[0]


@dataclass(frozen=True)
class Format:
    name: str
    write: Callable[[Path, int, int], Path]  # (folder, entries, rows) -> what the parser takes
    parse: Callable[[Path], list]


# One line per list format.
FORMATS = [
    Format("hdtf", lambda d, n, r: write_hdtf(d, n), parse_hdtf),
    Format("talkinghead_1kh", lambda d, n, r: write_talkinghead(d, n), parse_talkinghead),
    Format("celebv_hq", lambda d, n, r: write_celebv(d, n), parse_celebv),
    Format("voxceleb2-folder", write_vox_folder, parse_vox),
    Format("voxceleb2-zip", write_vox_zip, parse_vox),
    Format("avspeech", lambda d, n, r: write_avspeech(d, n), parse_avspeech),
    Format("csv", lambda d, n, r: write_csv(d, n), parse_csv),
]


def _format(name: str) -> Format:
    return next(f for f in FORMATS if f.name == name)


# ------------------------------------------------------------------------------------------------ measuring


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, path: Path) -> None:
    """In a fresh process: parse ``path`` as format ``name``; print time, peak RSS growth and counts as JSON."""
    import hdtf.options  # noqa: F401 - the imports every parse needs, outside the measured growth
    import hdtf.records  # noqa: F401

    fmt = _format(name)
    base = _rss_mib()
    began = time.perf_counter()
    videos = fmt.parse(path)
    seconds = time.perf_counter() - began
    clips = sum(len(v.clips) for v in videos)
    print(json.dumps({"seconds": seconds, "rss_mib": _rss_mib() - base, "videos": len(videos), "clips": clips}))


def measure_parse(fmt: Format, cache: Path, entries: int, rows: int) -> dict[str, Any]:
    folder = cache / f"{fmt.name}-{entries}-{rows}-{LAYOUT}"
    marker = folder / ".complete"
    if not marker.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        began = time.perf_counter()
        path = fmt.write(folder, entries, rows)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(path))
        print(f"  wrote {fmt.name} ({entries} entries) in {time.perf_counter() - began:.1f}s", file=sys.stderr)
    path = Path(marker.read_text())
    out = subprocess.run([sys.executable, __file__, "--child", fmt.name, str(path)], capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    return {**result, "bytes": size}


def noop_rerun(videos: int, workers: int, scratch: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds (this process) of ``hdtf.run.prepare`` over ``videos`` settled videos, and how many
    videos it reported."""
    import numpy as np

    from hdtf.clip_record import clip_record
    from hdtf.options import PrepareOptions
    from hdtf.records import ClipSpec, CropBox, VideoSpec
    from hdtf.run import prepare

    out = scratch / f"noop-{videos}-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    options = PrepareOptions(output_dir=out, size=64)
    layout = options.layout
    layout.make_dirs()
    seed_mp4, seed_wav = scratch / "seed.mp4", scratch / "seed.wav"
    seed_mp4.write_bytes(np.random.default_rng(0).bytes(40_000))
    seed_wav.write_bytes(np.random.default_rng(1).bytes(20_000))
    specs = []
    settings = options.clip_settings()
    for index, youtube_id in enumerate(_ids(videos)):
        name = f"Speaker{index}"
        url = f"https://www.youtube.com/watch?v={youtube_id}"
        clip = ClipSpec(id=f"RD_{name}_000", source="hdtf", subset="RD", video_name=name, clip_index=0,
                        youtube_id=youtube_id, url=url, start=0.0, end=3.0, resolution=720,
                        crop=CropBox(100, 100, 400, 400), crop_ratio=1.2)
        video = VideoSpec("hdtf", "RD", name, url, youtube_id, 720, (clip,))
        files = layout.clip_files(clip.id)
        for seed, dst in ((seed_mp4, files.video), (seed_wav, files.audio)):
            dst.hardlink_to(seed)
        record = clip_record(clip, "done", None, settings, path=layout.relative(files.video),
                             audio_path=layout.relative(files.audio), fps=25.0, num_frames=75, width=64, height=64,
                             duration=3.0, sample_rate=16000, applied_crop=[100, 100, 400, 400])
        layout.write_status(video, "done", None, [record])
        specs.append(video)
    began, cpu = time.perf_counter(), time.process_time()
    summary = prepare(specs, options, workers=workers, progress=False)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    assert summary.clips["done"] == videos and summary.downloaded == 0, summary.text()
    return seconds, cpu, sum(summary.videos.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 entries per format")
    parser.add_argument("--rows", type=int, default=25, help="frame rows per VoxCeleb2 utterance (default 25)")
    parser.add_argument("--videos", type=int, default=2000, help="settled videos of the no-op re-run (default 2000)")
    parser.add_argument("--only", default=None, help="comma-separated formats (default: all), or 'none'")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "hdtf-bench-lists")
    parser.add_argument("--child", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    entries = 1_000_000 if args.full else args.entries
    chosen = [f for f in FORMATS if args.only is None or f.name in args.only.split(",")]
    print(f"parse: {entries} entries per format ({VIDEO_CLIPS} clips a video; VoxCeleb2 {args.rows} rows a file)")
    print(f"  {'format':18} {'clips':>9} {'videos':>8} {'MB':>7} {'s':>7} {'us/entry':>9} {'peak MiB':>9} "
          f"{'KiB/entry':>9}")
    for fmt in chosen:
        r = measure_parse(fmt, args.cache, entries, args.rows)
        print(f"  {fmt.name:18} {r['clips']:9d} {r['videos']:8d} {r['bytes'] / 1e6:7.1f} {r['seconds']:7.2f} "
              f"{r['seconds'] / max(r['clips'], 1) * 1e6:9.1f} {r['rss_mib']:9.1f} "
              f"{r['rss_mib'] * 1024 / max(r['clips'], 1):9.2f}")
    if args.videos:
        with tempfile.TemporaryDirectory(prefix="hdtf-bench-noop-") as tmp:
            for workers in (1, 2):
                seconds, cpu, ran = noop_rerun(args.videos, workers, Path(tmp))
                print(f"no-op re-run: {ran} settled videos, {workers} worker(s): {seconds:.2f}s wall "
                      f"({seconds / ran * 1e3:.2f} ms/video), {cpu:.2f}s CPU ({cpu / ran * 1e3:.2f} ms/video)")


if __name__ == "__main__":
    main()
