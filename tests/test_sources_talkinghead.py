"""TalkingHead-1KH: the data list parser, and frames equal to the official split-then-trim procedure.

The frame tests run the release's procedure for real (segment muxer with stream copy, then trim + crop) on a raw
video whose frames show their own number, and compare with hdtf's single cut from the whole video.
"""

from __future__ import annotations

import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from hdtf import media
from hdtf.errors import HDTFError
from hdtf.records import CropBox
from hdtf.sources import get_source
from hdtf.sources import talkinghead_1kh as th
from fixtures.talkinghead import (
    FPS,
    HEIGHT,
    WIDTH,
    make_counter_video,
    official_chunks,
    official_clip,
    read_counters,
)

DASH_ID = "--Y9imYnfBw"  # a real-looking id that an argument parser would read as an option
# Reference frame of the tubes: the official download was 320x240, ours is 160x120 (boxes scale by 1/2).
REF_W, REF_H = 320, 240


def write_data_list(root: Path, split: str, ids: list[str], tubes: list[str]) -> Path:
    folder = root / "data_list"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / th.id_file(split)).write_text("".join(f"{i}\n" for i in ids))
    (folder / th.tube_file(split)).write_text("".join(f"{t}\n" for t in tubes))
    return folder


def tube(name: str, s: int, e: int, box: tuple[int, int, int, int], ref=(REF_H, REF_W)) -> str:
    return ", ".join(str(v) for v in (name, *ref, s, e, *box))


# ------------------------------------------------------------------------------------------------ parsing


def test_parse_takes_good_lines_and_reports_each_bad_one(tmp_path):
    other = "abcdefghijk"
    lines = [
        tube(f"{DASH_ID}_0000", 0, 30, (80, 40, 240, 200)),
        "--Y9imYnfBw_0001, 240, 320, 5, 40, 90, 60, 230",  # 8 fields
        tube(f"{DASH_ID}_0001", 5, 12, (90, 60, 230, 192)),  # 8 frames: short
        tube(f"{DASH_ID}_0001", 40, 5, (90, 60, 230, 192)),  # E before S
        tube(f"{DASH_ID}_0001", 5, 40, (230, 60, 90, 192)),  # R left of L
        tube(f"{DASH_ID}_1", 5, 40, (90, 60, 230, 192)),  # chunk not 4 digits
        "--Y9imYnfBw_0002, 240, 320, x, 40, 90, 60, 230, 192",  # not a number
        tube(f"{DASH_ID}_0002", 3, 50, (90, 60, 230, 192)),
        tube(f"{DASH_ID}_0002", 3, 50, (90, 60, 230, 192)),  # duplicate
        tube("zzzzzzzzzzz_0000", 0, 99, (0, 0, 10, 10)),  # id not listed
        tube(f"{other}_0003", 0, 99, (300, 0, 400, 100)),  # box beyond the frame: warning, kept
        "",
    ]
    write_data_list(tmp_path, "small", [DASH_ID, other, "bad id", DASH_ID, "nothingHere"], lines)
    videos, report = th.parse_data_list(tmp_path, "small")

    assert [v.youtube_id for v in videos] == [DASH_ID, other]
    video = videos[0]
    assert video.url == f"https://www.youtube.com/watch?v={DASH_ID}"  # yt-dlp gets a URL, never a bare '-' id
    assert not video.key.startswith("-") and video.source == "talkinghead_1kh" and video.resolution == REF_H
    assert [c.id for c in video.clips] == [
        "Y9imYnfBw_0000_S0_E30_L80_T40_R240_B200", "Y9imYnfBw_0002_S3_E50_L90_T60_R230_B192"]
    assert all(not c.id.startswith("-") for c in video.clips)
    clip = video.clips[1]
    assert clip.extra["official_name"] == f"{DASH_ID}_0002_S3_E50_L90_T60_R230_B192.mp4"
    assert (clip.extra["chunk"], clip.extra["first_frame"], clip.extra["last_frame"]) == (2, 3, 50)
    assert clip.crop == CropBox(90, 60, 140, 132) and clip.resolution == REF_H and clip.clip_index == 1
    assert (clip.start, clip.end) == (115.0, 185.0)  # the minute with a margin; resolve_clip finds the frames

    reasons = [(i.line, i.action, i.reason) for i in report.issues]
    tubes_file = [r for i, r in zip(report.issues, reasons) if i.file.endswith("small_video_tubes.txt")]
    assert [(line, action) for line, action, _ in tubes_file] == [
        (2, "skipped"), (3, "skipped"), (4, "skipped"), (5, "skipped"), (6, "skipped"), (7, "skipped"),
        (9, "skipped"), (10, "skipped"), (11, "warning")]
    texts = " | ".join(r for _, _, r in tubes_file)
    for expected in ("expected 9", "8 frames, fewer than 25", "empty or negative", "4 digits", "whole numbers",
                     "duplicate tube (first on line 8)", "not in small_video_ids.txt", "outside the 320x240"):
        assert expected in texts
    ids_file = [(i.line, i.reason) for i in report.issues if i.file.endswith("small_video_ids.txt")]
    assert [line for line, _ in ids_file] == [3, 4, 5]
    assert "not an 11-character" in ids_file[0][1] and "duplicate id" in ids_file[1][1]
    assert "no usable tube" in ids_file[2][1]


def test_min_frames_one_keeps_every_tube_like_the_official_script(tmp_path):
    write_data_list(tmp_path, "val", [DASH_ID], [tube(f"{DASH_ID}_0000", 7, 7, (0, 0, 100, 100))])
    videos, report = th.parse_data_list(tmp_path / "data_list", "val", min_frames=1)
    assert [c.extra["last_frame"] for c in videos[0].clips] == [7] and not report.issues
    assert th.parse_data_list(tmp_path, "val")[0] == []


def test_zip_is_read_in_place_and_bad_inputs_are_one_line_errors(tmp_path):
    folder = write_data_list(tmp_path / "x", "train", [DASH_ID], [tube(f"{DASH_ID}_0000", 0, 40, (0, 0, 100, 100))])
    archive = tmp_path / "data_list.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in folder.iterdir():
            zf.write(file, f"data_list/{file.name}")
    videos, _ = th.parse_data_list(archive, "train")
    assert videos[0].clips[0].extra["official_name"] == f"{DASH_ID}_0000_S0_E40_L0_T0_R100_B100.mp4"
    with pytest.raises(HDTFError, match="has no small_video_ids.txt"):
        th.parse_data_list(archive, "small")
    with pytest.raises(HDTFError, match="not one of small, train, val"):
        th.parse_data_list(archive, "test")
    with pytest.raises(HDTFError, match="not found"):
        th.parse_data_list(tmp_path / "missing", "train")
    with pytest.raises(HDTFError, match=r"\['abcdefghijk'\] are not in"):
        th.parse_data_list(archive, "train", ids=["abcdefghijk"])
    (tmp_path / "notzip").write_text("x")
    with pytest.raises(HDTFError, match="neither a folder nor a zip"):
        th.parse_data_list(tmp_path / "notzip", "train")


def test_a_zip_bomb_or_an_oversized_list_is_refused_in_bounded_memory(tmp_path):
    """A data_list.zip whose tubes file inflates ~1000 times (a few hundred KB -> 300 MB) is refused from the
    archive's sizes, without inflating it; an extracted list file beyond any real one is refused unread."""
    import tracemalloc

    archive = tmp_path / "data_list.zip"
    line = (tube(f"{DASH_ID}_0000", 0, 40, (0, 0, 100, 100)) + "\n").encode()
    block = line * (2**20 // len(line))
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data_list/train_video_ids.txt", DASH_ID + "\n")
        with zf.open("data_list/train_video_tubes.txt", "w", force_zip64=True) as entry:
            for _ in range(300):
                entry.write(block)
    assert archive.stat().st_size < 2 * 2**20
    tracemalloc.start()
    began = time.monotonic()
    try:
        with pytest.raises(HDTFError) as refused:
            th.parse_data_list(archive, "train")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - began < 5 and peak < 8 * 2**20, peak
    message = str(refused.value)
    assert "\n" not in message and "data_list/train_video_tubes.txt in" in message and "zip bomb" in message

    folder = write_data_list(tmp_path / "x", "train", [DASH_ID], [tube(f"{DASH_ID}_0000", 0, 40, (0, 0, 100, 100))])
    with (folder / "train_video_tubes.txt").open("r+b") as f:
        f.truncate(th.MAX_LIST_BYTES + 1)  # sparse: as large as it looks, nothing written
    tracemalloc.start()
    try:
        with pytest.raises(HDTFError, match="more than a TalkingHead-1KH list file"):
            th.parse_data_list(folder, "train")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_box_scales_like_the_official_script_then_becomes_a_square():
    # int(T / H * h) truncates: 59/240*120 = 29.5 -> 29, 191/240*120 = 95.5 -> 95; x: 89/320*160 = 44.5 -> 44.
    assert th.scale_box((89, 59, 231, 191), (320, 240), (160, 120)) == CropBox(44, 29, 71, 66)
    assert th.scale_box((89, 59, 231, 191), (320, 240), (1280, 960)) == CropBox(356, 236, 568, 528)
    write = th.parse_tube(tube(f"{DASH_ID}_0000", 0, 40, (89, 59, 231, 191)))
    clip = th._clip("small", "u", 0, write, "clip")
    crop, notes = th._window(clip, 160, 120)
    assert crop == CropBox(44, 26, 71, 71)  # centred square of the longer side, still holding the whole box
    assert "scaled to (44, 29, 71, 66) in 160x120" in notes[0] and "71x71 square" in notes[1]
    wide = th.parse_tube(tube("abcdefghijk_0000", 0, 40, (0, 0, 320, 200)))
    crop, notes = th._window(th._clip("small", "u", 0, wide, "clip"), 160, 120)
    assert crop == CropBox(20, 0, 120, 120)  # wider than the frame is high: the largest square, centred


# ------------------------------------------------------------------------------------------------ chunks


@pytest.fixture(scope="module")
def raws(tmp_path_factory):
    """Two raw videos and their official chunks.

    ``bframes``: B-frames delay the muxer's clock by 0.2 s, so the keyframe at 59.8 s lands exactly on the 60 s
    boundary and starts chunk 1, and 120.0 s starts chunk 2 (119.5 s does not). ``gap``: no B-frames and no
    keyframe between 59.8 s and 125 s, so chunk 1 starts at 125 s and chunk 2 at the next keyframe, 127.5 s.
    """
    root = tmp_path_factory.mktemp("th1kh")
    made = {}
    for name, keyframes, b_frames in (
        ("bframes", (0, 7.3, 19.1, 33.0, 52.2, 59.8, 61.7, 88.0, 119.5, 120.0), 2),
        ("gap", (0, 13.0, 59.8, 125.0, 127.5), 0),
    ):
        raw = make_counter_video(root / f"{name}.mp4", 130, keyframes, b_frames=b_frames)
        made[name] = (raw, official_chunks(raw, root / f"{name}_chunks", DASH_ID), media.keyframe_times(raw))
    # ``offset``: the bframes video moved to start at 1.87 s, with its audio starting earlier (1.436 s), so that
    # -ss counts from the audio's start while the chunks count from the video's.
    raw = root / "offset.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-itsoffset", "0.37", "-i", str(made["bframes"][0]),
                    "-i", str(made["bframes"][0]), "-map", "0:v", "-map", "1:a", "-c", "copy",
                    "-output_ts_offset", "1.5", str(raw)], check=True)
    made["offset"] = (raw, official_chunks(raw, root / "offset_chunks", DASH_ID), media.keyframe_times(raw))
    return made


def _first_frames(chunks: list[Path]) -> list[int]:
    firsts, total = [], 0
    for chunk in chunks:
        firsts.append(total)
        total += media.probe(chunk, count_frames=True).nb_frames
    return firsts


@pytest.mark.parametrize("name, expected", [
    ("bframes", [0.0, 59.8, 120.0]), ("gap", [0.0, 125.0, 127.5]), ("offset", [1.87, 61.67, 121.87])])
def test_chunk_starts_match_the_segment_muxer(raws, name, expected):
    raw, chunks, keyframes = raws[name]
    info = media.probe(raw)
    starts = th.chunk_starts(keyframes, info.video_start,
                             info.video_start - info.video_decode_delay, count=10)
    assert starts == pytest.approx(expected, abs=1e-4)
    assert [round((t - info.video_start) * FPS) for t in starts] == _first_frames(chunks)


TUBES = {  # (chunk, S, E, box in 320x240), on top of a 160x120 download
    "bframes": [(0, 0, 30, (80, 40, 240, 200)), (1, 5, 40, (90, 60, 230, 192)), (1, 570, 640, (80, 40, 240, 200)),
                (2, 3, 50, (80, 40, 240, 200))],
    "gap": [(1, 0, 24, (80, 40, 240, 200)), (2, 0, 40, (90, 60, 230, 192))],
    "offset": [(0, 0, 30, (80, 40, 240, 200)), (1, 3, 30, (90, 60, 230, 192))],
}


@pytest.mark.parametrize("name", sorted(TUBES))
def test_clip_frames_equal_the_official_procedure(raws, tmp_path, name):
    raw, chunks, keyframes = raws[name]
    lines = [tube(f"{DASH_ID}_{c:04d}", s, e, box) for c, s, e, box in TUBES[name]]
    write_data_list(tmp_path, "small", [DASH_ID], lines)
    (video,), report = th.parse_data_list(tmp_path, "small")
    assert not report.issues
    info = media.probe(raw)
    source = get_source(video.clips[0].source)
    firsts = _first_frames(chunks)
    for clip in video.clips:
        chunk, s, e = clip.extra["chunk"], clip.extra["first_frame"], clip.extra["last_frame"]
        official_crop = th.scale_box(clip.extra["box"], (REF_W, REF_H), (WIDTH, HEIGHT)).as_tuple()
        official = read_counters(official_clip(chunks[chunk], tmp_path / clip.extra["official_name"], s, e,
                                               official_crop), official_crop)
        resolved = source.resolve_clip(clip, info, lambda: keyframes)
        mine = tmp_path / f"{clip.id}.mp4"
        facts = media.cut_clip(raw, mine, start=resolved.start, end=resolved.end, crop=resolved.crop, size=96,
                               fps=None)
        ours = read_counters(mine, resolved.crop.as_tuple())
        last_in_chunk = min(e, (firsts[chunk + 1] if chunk + 1 < len(firsts) else 1300) - firsts[chunk] - 1)
        assert official == list(range(firsts[chunk] + s, firsts[chunk] + last_in_chunk + 1)), clip.id
        assert ours == official, clip.id
        assert facts.num_frames == len(official) and (facts.width, facts.height) == (96, 96)
        assert set(official_crop[:2]) <= set(range(WIDTH))  # the box was scaled into the 160x120 frame
        if last_in_chunk < e:
            assert any("truncated" in note for note in resolved.notes)


def test_resampling_to_25_fps_keeps_the_span(raws, tmp_path):
    """fps=25 from a 10 fps source repeats frames, but the clip still runs from frame S to frame E."""
    raw, _, keyframes = raws["bframes"]
    write_data_list(tmp_path, "small", [DASH_ID], [tube(f"{DASH_ID}_0001", 5, 40, (80, 40, 240, 200))])
    clip = th.parse_data_list(tmp_path, "small")[0][0].clips[0]
    resolved = th.resolve_clip(clip, media.probe(raw), lambda: keyframes)
    out = tmp_path / "c25.mp4"
    facts = media.cut_clip(raw, out, start=resolved.start, end=resolved.end, crop=resolved.crop, size=64, fps=25)
    numbers = read_counters(out, resolved.crop.as_tuple())
    assert facts.fps == 25 and numbers[0] == 598 + 5 and numbers[-1] == 598 + 40
    assert sorted(set(numbers)) == list(range(603, 639))


def test_chunks_and_frames_outside_the_video_are_clip_errors(raws):
    raw, _, keyframes = raws["bframes"]
    info = media.probe(raw)
    make = lambda c, s, e: th._clip("small", "u", 0, th.parse_tube(tube(f"{DASH_ID}_{c:04d}", s, e, (0, 0, 99, 99))),
                                    "clip")
    with pytest.raises(ValueError, match="only 3 one-minute chunk"):
        th.resolve_clip(make(3, 0, 30), info, lambda: keyframes)
    with pytest.raises(ValueError, match="frame 100 is past the end of chunk 2"):
        th.resolve_clip(make(2, 100, 130), info, lambda: keyframes)


def test_tube_names_that_sanitise_alike_get_distinct_ids():
    from hdtf.records import ParseReport

    tubes = {name: [th.Tube(name, name, 0, 240, 320, 0, 40, (0, 0, 99, 99))] for name in ("a(1)_0000", "a[1]_0000")}
    report = ParseReport()
    ids = th._clip_ids(tubes, "tubes.txt", report)
    assert len(set(ids.values())) == 2 and all(i.startswith("a_1__0000_S0_E40") for i in ids.values())
    [issue] = report.issues
    assert issue.action == "repaired" and "a(1)_0000_S0" in issue.reason and "a[1]_0000_S0" in issue.reason
