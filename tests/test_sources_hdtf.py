"""HDTF metadata parsing on the real files and on hand-written broken ones; HDTF's clip rules; metadata download."""

from __future__ import annotations

import http.server
import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest

from hdtf.errors import HDTFError
from hdtf.media import MediaInfo
from hdtf.records import ClipSpec, CropBox
from hdtf.sources import get_source
from hdtf.sources.hdtf import (
    SUBSETS,
    fetch_metadata,
    metadata_files,
    parse_metadata,
    parse_time,
    resolve_clip,
    youtube_id,
)


@pytest.fixture(scope="module")
def parsed(metadata_dir: Path):
    return parse_metadata(metadata_dir)


def _clips(videos):
    return [clip for video in videos for clip in video.clips]


def _issues(report, text: str):
    return [issue for issue in report.issues if text in issue.reason or text in issue.text]


def test_real_counts_per_subset(parsed):
    videos, _ = parsed
    clips = _clips(videos)
    assert len(clips) == 436
    assert sum(c.crop is not None for c in clips) == 421
    by_subset = Counter(c.subset for c in clips)
    with_crop = Counter(c.subset for c in clips if c.crop is not None)
    assert (by_subset["RD"], with_crop["RD"]) == (66, 64)
    assert (by_subset["WDA"], with_crop["WDA"]) == (195, 189)
    assert (by_subset["WRA"], with_crop["WRA"]) == (175, 168)
    assert {360, 700, 714, 2160} <= {c.resolution for c in clips}
    ids = [c.id for c in clips]
    assert len(set(ids)) == len(ids)
    assert all(c.end > c.start and c.source == "hdtf" for c in clips)


def test_real_clip_fields(parsed):
    videos, _ = parsed
    clips = {c.id: c for c in _clips(videos)}
    clip = clips["WRA_AdamKinzinger2_002"]
    assert (clip.video_name, clip.clip_index, clip.start, clip.end) == ("AdamKinzinger2", 2, 210.0, 230.0)
    radio10 = clips["RD_Radio10_000"]
    assert radio10.crop == CropBox(x=483, y=0, w=390, h=390)
    assert radio10.crop_ratio == 1.0 and radio10.resolution == 720
    assert clips["RD_Radio11_001"].crop == CropBox(x=557, y=0, w=478, h=478)
    assert clips["RD_Radio11_001"].crop_ratio == 1.2
    assert clips["RD_Radio15_000"].crop is None and clips["RD_Radio15_000"].crop_ratio is None


def test_bom_entry_keeps_its_url(parsed):
    videos, report = parsed
    carolyn = next(v for v in videos if v.name == "CarolynMaloney2")
    assert carolyn.url and carolyn.url.startswith("https://www.youtube.com/watch?v=")
    assert carolyn.youtube_id and len(carolyn.youtube_id) == 11
    assert [i.action for i in report.issues if "byte order mark" in i.reason] == ["repaired"]


def test_url_with_time_parameter(parsed):
    videos, _ = parsed
    radio2 = next(v for v in videos if v.subset == "RD" and v.name == "Radio2")
    assert radio2.url == "https://www.youtube.com/watch?v=uBWJJvynXpA&t=6s"
    assert radio2.youtube_id == "uBWJJvynXpA"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=uBWJJvynXpA",
        "https://www.youtube.com/watch?v=uBWJJvynXpA&t=6s",
        "https://youtube.com/watch?feature=share&v=uBWJJvynXpA",
        "https://youtu.be/uBWJJvynXpA?t=3",
        "https://www.youtube.com/embed/uBWJJvynXpA",
        "https://m.youtube.com/shorts/uBWJJvynXpA?si=x",
        "https://www.youtube-nocookie.com/embed/uBWJJvynXpA",
    ],
)
def test_youtube_id_forms(url):
    assert youtube_id(url) == "uBWJJvynXpA"


@pytest.mark.parametrize("url", ["https://example.com/watch?v=uBWJJvynXpA", "https://www.youtube.com/watch?v=short",
                                 "https://notyoutube.com/watch?v=uBWJJvynXpA"])
def test_youtube_id_rejects(url):
    assert youtube_id(url) is None


def test_real_quirks_reported(parsed):
    videos, report = parsed
    assert not any(v.name == "Radio24" for v in videos)
    radio24 = _issues(report, "Radio24")
    assert len(radio24) == 1 and radio24[0].action == "skipped" and radio24[0].file == "RD_video_url.txt"
    zero = _issues(report, "KevinMcCarthy1' read as unknown")
    assert len(zero) == 1 and zero[0].file == "WRA_resolution.txt"
    kevin = [c for c in _clips(videos) if c.video_name == "KevinMcCarthy1"]
    assert len(kevin) == 2 and all(c.resolution is None and c.crop is not None for c in kevin)
    assert len([i for i in report.issues if "has no line in" in i.reason]) == 15
    assert len(_issues(report, "trailing whitespace")) == 7
    assert {i.file for i in _issues(report, "no newline at the end")} == {
        "WDA_annotion_time.txt", "WDA_video_url.txt", "WRA_video_url.txt"}
    assert _issues(report, "MittRomney overlaps")


def test_missing_subset_file_skips_subset_with_warning(metadata_dir: Path, tmp_path: Path):
    for file in metadata_dir.iterdir():
        shutil.copy(file, tmp_path / file.name)
    (tmp_path / "WDA_crop_ratio.txt").unlink()
    with pytest.warns(UserWarning, match="subset WDA skipped"):
        videos, report = parse_metadata(tmp_path)
    assert {v.subset for v in videos} == {"RD", "WRA"}
    assert len(_clips(videos)) == 66 + 175
    skipped = [i for i in report.issues if i.file == "WDA_crop_ratio.txt"]
    assert len(skipped) == 1 and skipped[0].action == "skipped"


def test_subset_selection_and_unknown_subset(metadata_dir: Path):
    videos, _ = parse_metadata(metadata_dir, ["RD"])
    assert len(_clips(videos)) == 66
    with pytest.raises(HDTFError, match="XYZ"):
        parse_metadata(metadata_dir, ["XYZ"])
    with pytest.raises(HDTFError, match="does not exist"):
        parse_metadata(metadata_dir / "nope")


def _write_subset(directory: Path, subset: str, contents: dict[str, str]) -> None:
    for kind, file in metadata_files(subset).items():
        (directory / file).write_text(contents.get(kind, ""), encoding="utf-8")


def test_malformed_lines_reported_not_crashing(tmp_path: Path):
    _write_subset(
        tmp_path,
        "RD",
        {
            "video_url": "Good https://youtu.be/abcdefghijk\n\nBad\nGood https://youtu.be/zzzzzzzzzzz\n"
            "NoId https://example.com/x\nHours https://www.youtube.com/watch?v=hhhhhhhhhhh\n",
            "resolution": "Good.mp4 720\nNoId.mp4 wide\nHours.mp4 1080\n",
            "annotion_time": "Good.mp4 00:10-00:20 00:30-00:25 banana 01:00-01:30\nNoId.mp4 00:01-00:02\n"
            "Hours.mp4 1:02:03-1:02:33.5 00:61-01:10\nNoUrl.mp4 00:05-00:09\nEmpty.mp4 00:09-00:05\n",
            "crop_wh": "Good_0.mp4 10 100 20 100\nGood_1.mp4 1 2 3\nGood_3.mp4 a b c d\nGood_7.mp4 1 1 1 1\n"
            "Goodx.mp4 1 1 1 1\n",
            "crop_ratio": "Good_0.mp4 1.2\nGood_3.mp4 -1\n",
        },
    )
    videos, report = parse_metadata(tmp_path, ["RD"])
    clips = {c.id: c for c in _clips(videos)}
    assert set(clips) == {"RD_Good_000", "RD_Good_003", "RD_NoId_000", "RD_Hours_000", "RD_NoUrl_000"}
    good = clips["RD_Good_000"]
    assert (good.start, good.end, good.crop, good.crop_ratio) == (10.0, 20.0, CropBox(10, 20, 100, 100), 1.2)
    assert good.youtube_id == "abcdefghijk"
    assert clips["RD_Good_003"].clip_index == 3 and clips["RD_Good_003"].crop is None
    hours = clips["RD_Hours_000"]
    assert (hours.start, hours.end, hours.resolution) == (3723.0, 3753.5, 1080)
    assert clips["RD_NoId_000"].youtube_id is None and clips["RD_NoId_000"].resolution is None
    assert clips["RD_NoUrl_000"].url is None
    expected = {
        ("RD_video_url.txt", 2, "skipped"),  # blank line
        ("RD_video_url.txt", 3, "skipped"),  # one field
        ("RD_video_url.txt", 4, "skipped"),  # duplicate name
        ("RD_video_url.txt", 5, "warning"),  # no YouTube id
        ("RD_resolution.txt", 2, "warning"),  # not an integer
        ("RD_annotion_time.txt", 1, "skipped"),  # ends before start, banana
        ("RD_annotion_time.txt", 3, "skipped"),  # 00:61
        ("RD_annotion_time.txt", 5, "skipped"),  # video without a usable interval
        ("RD_crop_wh.txt", 2, "skipped"),  # 3 numbers
        ("RD_crop_wh.txt", 3, "skipped"),  # not integers
        ("RD_crop_wh.txt", 4, "skipped"),  # clip 7 does not exist
        ("RD_crop_wh.txt", 5, "skipped"),  # no _k
        ("RD_crop_ratio.txt", 2, "skipped"),  # negative
    }
    got = {(i.file, i.line, i.action) for i in report.issues}
    assert expected <= got, report.summary()
    assert len([i for i in report.issues if i.file == "RD_annotion_time.txt" and i.line == 1]) >= 3
    assert _issues(report, "'NoUrl' has no URL")


def test_parse_time():
    assert parse_time("01:35") == 95.0
    assert parse_time("1:02:03") == 3723.0
    assert parse_time("00:01.5") == 1.5
    for bad in ("95", "1:75", "a:b", "-1:00", "1:02:03:04"):
        with pytest.raises(ValueError):
            parse_time(bad)


def _clip(**changes) -> ClipSpec:
    base = ClipSpec(id="RD_X_000", source="hdtf", subset="RD", video_name="X", clip_index=0, youtube_id=None,
                    url=None, start=10.0, end=20.0, resolution=720, crop=CropBox(400, 100, 300, 300))
    return base.with_(**changes)


def _media(width: int, height: int, duration: float = 60.0) -> MediaInfo:
    return MediaInfo(width=width, height=height, fps=25.0, duration=duration, has_audio=True, interlaced=False,
                     codec="h264")


def _no_keyframes() -> list[float]:
    raise AssertionError("HDTF must not ask for keyframes")


def test_resolve_same_resolution_is_verbatim():
    resolved = resolve_clip(_clip(), _media(1280, 720), _no_keyframes)
    assert (resolved.start, resolved.end, resolved.notes) == (10.0, 20.0, ())
    assert resolved.crop == CropBox(400, 100, 300, 300)


def test_resolve_scales_crop_to_download_height():
    resolved = resolve_clip(_clip(), _media(1920, 1080), _no_keyframes)
    assert resolved.crop == CropBox(600, 150, 450, 450)
    assert any("scaled" in note for note in resolved.notes)
    smaller = resolve_clip(_clip(), _media(640, 360), _no_keyframes)
    assert smaller.crop == CropBox(200, 50, 150, 150)


def test_resolve_shifts_window_into_frame():
    resolved = resolve_clip(_clip(crop=CropBox(1100, 500, 300, 300)), _media(1280, 720), _no_keyframes)
    assert resolved.crop == CropBox(980, 420, 300, 300)
    assert any("adjusted" in note for note in resolved.notes)


def test_resolve_makes_window_square():
    resolved = resolve_clip(_clip(crop=CropBox(400, 100, 300, 200)), _media(1280, 720), _no_keyframes)
    assert resolved.crop == CropBox(400, 50, 300, 300)
    too_big = resolve_clip(_clip(crop=CropBox(0, 0, 900, 800)), _media(1280, 720), _no_keyframes)
    assert too_big.crop is not None and too_big.crop.w == too_big.crop.h == 720


def test_resolve_truncates_end_and_rejects_late_start():
    resolved = resolve_clip(_clip(end=90.0), _media(1280, 720, duration=42.5), _no_keyframes)
    assert resolved.end == 42.5 and any("truncated" in note for note in resolved.notes)
    with pytest.raises(ValueError, match="lasts only"):
        resolve_clip(_clip(start=50.0, end=60.0), _media(1280, 720, duration=42.5), _no_keyframes)
    unknown = resolve_clip(_clip(end=90.0), _media(1280, 720, duration=0.0), _no_keyframes)
    assert unknown.end == 90.0 and "duration unknown" in unknown.notes[0]


def test_resolve_unknown_resolution_and_no_crop():
    unknown = resolve_clip(_clip(resolution=None), _media(1920, 1080), _no_keyframes)
    assert unknown.crop == CropBox(400, 100, 300, 300) and "unknown" in unknown.notes[0]
    assert resolve_clip(_clip(crop=None), _media(1920, 1080), _no_keyframes).crop is None


def test_registered_as_source():
    assert get_source("hdtf").resolve_clip is resolve_clip


def test_fetch_metadata_over_loopback(metadata_dir: Path, tmp_path: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(metadata_dir), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/{{file}}?commit={{commit}}"
        dest = fetch_metadata(tmp_path / "meta", url_template=base)
        names = sorted(p.name for p in dest.iterdir() if not p.name.startswith("."))
        assert names == sorted(f for s in SUBSETS for f in metadata_files(s).values())
        assert (dest / "WDA_video_url.txt").read_bytes() == (metadata_dir / "WDA_video_url.txt").read_bytes()
        assert not list(dest.glob(".*.partial"))
        with pytest.raises(HDTFError, match=r"cannot download HDTF metadata .*RD_video_url\.txt.*404"):
            fetch_metadata(tmp_path / "other", url_template=base.replace("{file}", "missing/{file}"))
    finally:
        server.shutdown()
        server.server_close()
    assert not (tmp_path / "other" / "RD_video_url.txt").exists()


def test_oversized_metadata_is_refused_without_reading_it_whole(metadata_dir: Path, tmp_path: Path):
    """A mirror that serves 256 MiB for a metadata file: the download stops after the cap, one line, nothing kept."""
    import shutil
    import tracemalloc

    from hdtf.loopback import serve_directory
    from hdtf.sources.hdtf import MAX_METADATA_BYTES

    served = tmp_path / "served"
    shutil.copytree(metadata_dir, served)
    with (served / "RD_video_url.txt").open("r+b") as f:
        f.truncate(256 * 2**20)  # sparse: as large as it looks
    requests: list = []
    with serve_directory(served, requests) as base:
        tracemalloc.start()
        try:
            with pytest.raises(HDTFError) as refused:
                fetch_metadata(tmp_path / "meta", url_template=base + "/{file}?commit={commit}")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    message = str(refused.value)
    assert "\n" not in message and "RD_video_url.txt" in message and "more than 4 MiB" in message
    assert peak < 3 * MAX_METADATA_BYTES, peak
    assert not (tmp_path / "meta" / "RD_video_url.txt").exists() and not (tmp_path / "meta" / ".commit").exists()
    big = [r for r in requests if r.path.startswith("/RD_video_url.txt")]
    assert big and all(r.bytes_sent < 64 * 2**20 for r in big), big


def test_fetch_metadata_offline_names_url(tmp_path: Path):
    with pytest.raises(HDTFError, match=r"cannot download HDTF metadata http://127\.0\.0\.1:9/"):
        fetch_metadata(tmp_path, url_template="http://127.0.0.1:9/{commit}/{file}", timeout=5)


def _two_videos(directory: Path, first: str, second: str) -> None:
    _write_subset(directory, "WDA", {
        "video_url": f"{first} https://youtu.be/aaaaaaaaaaa\n{second} https://youtu.be/bbbbbbbbbbb\n",
        "resolution": f"{first}.mp4 720\n{second}.mp4 720\n",
        "annotion_time": f"{first}.mp4 00:01-00:03 00:05-00:07\n{second}.mp4 00:02-00:04\n",
        "crop_wh": f"{first}_0.mp4 1 100 1 100\n{first}_1.mp4 1 100 1 100\n{second}_0.mp4 1 100 1 100\n",
        "crop_ratio": f"{first}_0.mp4 1.2\n{first}_1.mp4 1.2\n{second}_0.mp4 1.2\n",
    })


def test_names_that_sanitise_alike_get_distinct_keys_whatever_the_list_order(tmp_path: Path):
    from hdtf.records import name_digest, safe_name

    assert safe_name("WDA_Foo(1)") == safe_name("WDA_Foo[1]") == "WDA_Foo_1_"
    keys = {}
    for order, (first, second) in enumerate([("Foo(1)", "Foo[1]"), ("Foo[1]", "Foo(1)")]):
        folder = tmp_path / str(order)
        folder.mkdir()
        _two_videos(folder, first, second)
        videos, report = parse_metadata(folder, ["WDA"])
        keys[order] = {v.name: (v.key, tuple(c.id for c in v.clips)) for v in videos}
        [issue] = _issues(report, "sanitise to one file name")
        assert issue.action == "repaired" and issue.line == 1 and issue.file == "WDA_annotion_time.txt"
        assert "'Foo(1)' -> WDA_Foo_1_-" in issue.reason and "'Foo[1]' -> WDA_Foo_1_-" in issue.reason
    assert {n: k for n, (k, _) in keys[0].items()} == {n: k for n, (k, _) in keys[1].items()}, "not on list order"
    paren, bracket = keys[0]["Foo(1)"], keys[0]["Foo[1]"]
    assert paren[0] == f"WDA_Foo_1_-{name_digest('WDA_Foo(1)')}"
    assert bracket[0] == f"WDA_Foo_1_-{name_digest('WDA_Foo[1]')}"
    assert paren[1] == (f"{paren[0]}_000", f"{paren[0]}_001") and bracket[1] == (f"{bracket[0]}_000",)
    assert all(safe_name(key) == key for key, _ in keys[0].values())


def test_a_name_that_is_already_safe_keeps_its_key_beside_a_sanitised_twin(tmp_path: Path):
    _two_videos(tmp_path, "Foo_1_", "Foo(1)")
    videos, report = parse_metadata(tmp_path, ["WDA"])
    keys = {v.name: v.key for v in videos}
    assert keys["Foo_1_"] == "WDA_Foo_1_", "the files an existing run made for it stay its own"
    assert keys["Foo(1)"].startswith("WDA_Foo_1_-") and len(_issues(report, "sanitise to one file name")) == 1
    clips = {c.video_name: c.id for v in videos for c in v.clips if c.clip_index == 0}
    assert clips == {"Foo_1_": "WDA_Foo_1__000", "Foo(1)": f"{keys['Foo(1)']}_000"}


def test_a_long_name_is_capped_with_a_hash_suffix(tmp_path: Path):
    from hdtf.records import MAX_KEY, MAX_NAME, name_digest, safe_name

    long_a, long_b = "A" * 299 + "x", "A" * 299 + "y"  # alike in their first MAX_KEY characters
    _two_videos(tmp_path, long_a, long_b)
    videos, report = parse_metadata(tmp_path, ["WDA"])
    keys = {v.name: v.key for v in videos}
    for name, key in keys.items():
        assert len(key) == MAX_KEY and key.endswith(f"-{name_digest(f'WDA_{name}')}") and key.startswith("WDA_AAA")
    assert len(set(keys.values())) == 2
    ids = [c.id for v in videos for c in v.clips]
    assert len(set(ids)) == 3 and all(len(i) <= MAX_NAME and safe_name(i) == i for i in ids)
    assert len(_issues(report, "longer than")) == 2
    assert len(safe_name("x" * 300)) == MAX_NAME and safe_name("x" * 300) != safe_name("x" * 301)
    assert safe_name("WRA_AdamKinzinger2_002") == "WRA_AdamKinzinger2_002", "normal names do not change"


def test_the_shipped_release_fingerprints_are_those_of_the_real_metadata(metadata_dir: Path):
    """hdtf_release_clips.txt is what the pinned release (../shared/hdtf_metadata, byte-identical to it) gives."""
    from importlib import resources

    from hdtf.sources.hdtf import RELEASE_FILE, render_release_fingerprints

    videos, _ = parse_metadata(metadata_dir)
    shipped = resources.files("hdtf.sources").joinpath(RELEASE_FILE).read_text(encoding="utf-8")
    assert shipped == render_release_fingerprints(videos) and len(shipped.splitlines()) == 1 + 436


def _provenance(folder: Path, tmp_path: Path, **options) -> dict:
    from hdtf.sources.hdtf import Options, list_videos

    _, report = list_videos(Options(metadata_dir=folder, **options), "train", fetch_dir=tmp_path / "fetch")
    return report.provenance


def test_metadata_provenance_release_copy_and_edited_copy(metadata_dir: Path, tmp_path: Path):
    """The fetched release says so by commit; a folder says its content hash and how many clips differ from the
    release (changed, added; missing ones do not make it edited)."""
    from hdtf.sources.hdtf import PINNED_COMMIT, Options, folder_digest, list_videos

    fetched = tmp_path / "fetched"  # as fetch_metadata leaves it: the files and the commit marker (no download)
    shutil.copytree(metadata_dir, fetched)
    (fetched / ".commit").write_text(PINNED_COMMIT + "\n")
    _, report = list_videos(Options(), "test", fetch_dir=fetched, offline=True)
    assert report.provenance == {"source": "hdtf", "lists": "release", "release": "MRzzm/HDTF",
                                 "commit": PINNED_COMMIT}
    copy = tmp_path / "copy"
    shutil.copytree(metadata_dir, copy)
    same = _provenance(copy, tmp_path)
    assert same["lists"] == "folder" and same["sha256"] == folder_digest(metadata_dir) and len(same["sha256"]) == 64
    assert (same["clips"], same["changed"], same["added"], same["missing"], same["differ"]) == (436, 0, 0, 0, 0)
    times = copy / "RD_annotion_time.txt"
    lines = times.read_text().splitlines()
    radio11 = next(k for k, line in enumerate(lines) if line.startswith("Radio11.mp4 "))
    lines[radio11] = "Radio11.mp4 00:01-00:09"  # its clip 0 moved, its clip 1 gone
    lines = [line for line in lines if not line.startswith("Radio12.mp4 ")]  # a whole video gone
    lines.append("Newcomer.mp4 00:01-00:05")  # a clip the release does not have
    times.write_text("\n".join(lines) + "\n")
    (copy / "RD_video_url.txt").write_text((copy / "RD_video_url.txt").read_text().rstrip("\n")
                                           + "\nNewcomer https://www.youtube.com/watch?v=NNNNNNNNNNN\n")
    radio12 = sum(1 for i in parse_metadata(metadata_dir, ["RD"])[0] if i.name == "Radio12" for _ in i.clips)
    edited = _provenance(copy, tmp_path, subsets=["RD"])
    assert edited["sha256"] != same["sha256"]
    assert (edited["changed"], edited["added"], edited["missing"], edited["differ"]) == (1, 1, 1 + radio12, 2)
    assert edited["clips"] == sum(1 for v in parse_metadata(copy, ["RD"])[0] for _ in v.clips)
    # A folder with only some of the release's clips, all unchanged, is the release (a part of it).
    part = tmp_path / "part"
    shutil.copytree(metadata_dir, part)
    kept = [ln for ln in (part / "RD_annotion_time.txt").read_text().splitlines() if not ln.startswith("Radio12.mp4 ")]
    (part / "RD_annotion_time.txt").write_text("\n".join(kept) + "\n")
    fewer = _provenance(part, tmp_path, subsets=["RD"])
    assert (fewer["differ"], fewer["missing"]) == (0, radio12)
