"""The list formats of CelebV-HQ, AVSpeech and a CSV list of your own (EMTD's as it is): the release-format samples of
../shared/source_samples parse to the counts the reference states, malformed entries are reported and skipped (never
fatal), ids come from each entry's own content and stay when the list grows or is reordered, splits keep a person
(or video) in one split, and ``hdtf prepare --source NAME --help`` / ``load_dataset(NAME, "metadata", metadata=...)``
follow from the modules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hdtf.cli import main
from hdtf.errors import HDTFError
from hdtf.sources import avspeech, celebv_hq, csv_clips, get_source
from hdtf.sources.common import seconds

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "source_samples"
if not SAMPLES.is_dir():
    SAMPLES = Path("/work/shared/source_samples")


def parse(module, path: Path, **options):
    """(every video of every split, the parse report) of ``path``."""
    opts = module.Options(metadata=path, **options)
    videos, report = [], None
    for split in module.selected_splits(opts):
        part, report = module.list_videos(opts, split, fetch_dir=path.parent)
        videos += part
    return videos, report


def clips_of(videos):
    return {clip.id: clip for video in videos for clip in video.clips}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/source_samples is not here")
def test_the_release_samples_parse_to_the_stated_counts():
    videos, report = parse(celebv_hq, SAMPLES / "celebvhq_sample.json")
    clips = clips_of(videos)
    assert len(clips) == 5 and "bad_bbox" not in clips
    assert {c.youtube_id for c in clips.values()} == {"AAAAAAAAAAA", "BBBBBBBBBBB", "CCCCCCCCCCC", "DDDDDDDDDDD"}
    (issue,) = report.issues
    assert issue.action == "skipped" and issue.text == "bad_bbox" and "bbox" in issue.reason
    two = clips["cl_AAAAAAAAAAA_1"]
    assert (two.start, two.end, two.box) == (7.2, 11.0, (0.12, 0.62, 0.38, 0.66))
    assert two.fields["appearance"][0] == 1 and two.fields["action"][1] == 1
    assert two.fields["emotion"] == [{"label": "happy", "start": 0.0, "end": pytest.approx(3.8)}]
    assert clips["cl_BBBBBBBBBBB_0"].fields["emotion"] == [{"label": "neutral", "start": 0.0, "end": 1.5},
                                                          {"label": "surprised", "start": 1.5, "end": 3.04}]

    videos, report = parse(avspeech, SAMPLES / "avspeech_sample.csv")
    clips = clips_of(videos)
    assert len(clips) == 6 and len({c.youtube_id for c in clips.values()}) == 4  # DDDDDDDDDDD's one line is bad
    assert "-BBBBBBBBBB" in {c.youtube_id for c in clips.values()}
    (issue,) = report.issues
    assert issue.line == 5 and issue.action == "skipped" and "DDDDDDDDDDD" in issue.text
    clip = clips["CCCCCCCCCCC_0030030_0034200"]
    assert (clip.start, clip.end, clip.face_at) == (30.03, 34.2, (0.526, 0.565))
    assert clip.fields == {"face_x": 0.526, "face_y": 0.565} and clip.crop is None

    videos, report = parse(csv_clips, SAMPLES / "emtd_style.csv")
    clips = clips_of(videos)
    assert not report.issues and len(clips) == 3
    assert sorted((c.youtube_id, c.start, c.end) for c in clips.values()) == [
        ("AAAAAAAAAAA", 1.0, 6.0), ("BBBBBBBBBBB", 62.5, 69.0), ("CCCCCCCCCCC", 0.0, 4.04)]
    assert all(c.url.startswith("https://www.youtube.com/watch?v=") and c.crop is None for c in clips.values())


def test_malformed_entries_are_reported_and_skipped_never_fatal(tmp_path):
    good = {"ytb_id": "AAAAAAAAAAA", "duration": {"start_sec": 1.0, "end_sec": 3.0},
            "bbox": {"top": 0.1, "bottom": 0.5, "left": 0.2, "right": 0.6},
            "attributes": {"appearance": [0, 1], "action": [1], "emotion": {"sep_flag": False, "labels": "sad"}}}
    info = {"meta_info": {}, "clips": {
        "ok": good,
        "not_an_object": [1, 2],
        "bad_id": {**good, "ytb_id": "short"},
        "no_duration": {k: v for k, v in good.items() if k != "duration"},
        "backwards": {**good, "duration": {"start_sec": 5.0, "end_sec": 2.0}},
        "outside": {**good, "bbox": {"top": 0.1, "bottom": 1.4, "left": 0.2, "right": 0.6}},
        "text_box": {**good, "bbox": {"top": "0.1", "bottom": 0.5, "left": 0.2, "right": 0.6}},
        "no_attributes": {k: v for k, v in good.items() if k != "attributes"},
    }}
    (tmp_path / "info.json").write_text(json.dumps(info))
    videos, report = parse(celebv_hq, tmp_path / "info.json")
    assert sorted(clips_of(videos)) == ["no_attributes", "ok"]
    skipped = sorted(i.text for i in report.issues if i.action == "skipped")
    assert skipped == ["backwards", "bad_id", "no_duration", "not_an_object", "outside", "text_box"]
    warned = [i for i in report.issues if i.action == "warning"]
    assert len(warned) == 3 and {i.text for i in warned} == {"no_attributes"}  # appearance, action, emotion
    assert clips_of(videos)["no_attributes"].fields == {"appearance": None, "action": None, "emotion": None}

    (tmp_path / "av.csv").write_text("AAAAAAAAAAA,1.0,4.0,0.5,0.5\n"
                                     "AAAAAAAAAAA,1.0,4.0\n"              # 3 fields
                                     "\n"                                  # blank
                                     "bad id,1.0,4.0,0.5,0.5\n"
                                     "BBBBBBBBBBB,one,4.0,0.5,0.5\n"
                                     "BBBBBBBBBBB,1.0,4.0,1.5,0.5\n"       # face outside the frame
                                     "AAAAAAAAAAA,1.0,4.0,0.4,0.4\n"       # the same segment again
                                     "CCCCCCCCCCC, 2.0 ,5.0,0.5,0.5\n")   # spaces: taken, repaired
    videos, report = parse(avspeech, tmp_path / "av.csv")
    assert sorted(clips_of(videos)) == ["AAAAAAAAAAA_0001000_0004000", "CCCCCCCCCCC_0002000_0005000"]
    assert [(i.line, i.action) for i in report.issues] == [
        (2, "skipped"), (3, "skipped"), (4, "skipped"), (5, "skipped"), (6, "skipped"), (7, "skipped"),
        (8, "repaired")]
    assert "duplicate segment (first on line 1)" in report.issues[5].reason

    (tmp_path / "own.csv").write_text(
        "url,start,end,top,bottom,left,right,person,split,caption\n"
        "https://www.youtube.com/watch?v=AAAAAAAAAAA,00:00:01,00:00:04.5,0.1,0.6,0.2,0.7,ann,,hello\n"
        "https://www.youtube.com/watch?v=AAAAAAAAAAA,00:00:01,00:61:00,0.1,0.6,0.2,0.7,ann,,bad minutes\n"
        "https://example.org/talk.mp4,5,9,,,,,bob,test,no window\n"
        "https://example.org/talk.mp4,5,9,,,,,bob,holdout,unknown split\n"
        "https://example.org/x.mp4,5,9,0.1,0.6,0.8,0.7,bob,,left after right\n"
        ",1,2,,,,,bob,,no video\n"
        "https://example.org/x.mp4,5,9\n")
    videos, report = parse(csv_clips, tmp_path / "own.csv")
    clips = clips_of(videos)
    assert len(clips) == 2 and [i.line for i in report.issues] == [3, 5, 6, 7, 8]
    yt = clips["AAAAAAAAAAA_0001000_0004500"]
    assert yt.box == (0.1, 0.6, 0.2, 0.7) and yt.fields == {"person": "ann", "fields": '{"caption": "hello"}'}
    (talk,) = [c for c in clips.values() if c.youtube_id is None]
    assert talk.subset == "test" and talk.url == "https://example.org/talk.mp4" and talk.video_name.startswith("url-")


def test_a_csv_header_that_cannot_describe_clips_is_one_clear_line(tmp_path):
    for header, words in (("url,begin,end", "no start column"), ("name,start,end", "no url or youtube_id"),
                          ("youtube_id,start,end,x,y,w", "needs all of x,y,w,h"),
                          ("youtube_id,start,end,x,y,w,h", "--reference-height"),
                          ("youtube_id,start,Start,end", "names column 'start' twice")):
        (tmp_path / "l.csv").write_text(header + "\n")
        csv_clips.parse_list.cache_clear()
        with pytest.raises(HDTFError, match=words):
            parse(csv_clips, tmp_path / "l.csv")


def test_timecodes_and_seconds():
    assert seconds("00:01:02.5") == 62.5 and seconds("01:00:00") == 3600 and seconds("1:05") == 65
    assert seconds("12.25") == 12.25 and seconds(" 3 ") == 3
    for bad in ("00:60:00", "1:2:3:4", "-1", "abc", "nan", "00:00:61"):
        with pytest.raises(ValueError):
            seconds(bad)


def _ids(module, path: Path):
    module.parse_list.cache_clear() if hasattr(module, "parse_list") else module.parse_info.cache_clear()
    videos, _ = parse(module, path)
    return {(c.youtube_id, c.start, c.end): (c.id, c.subset, video.key) for video in videos for c in video.clips}


def test_ids_and_splits_stay_when_the_list_grows_or_is_reordered(tmp_path):
    rows = [f"{chr(65 + k) * 11},{k}.0,{k + 3}.5,0.5,0.5" for k in range(8)]
    path = tmp_path / "av.csv"
    path.write_text("\n".join(rows) + "\n")
    before = _ids(avspeech, path)
    grown = ["-ZZZZZZZZZZ,1.0,4.0,0.5,0.5", "AAAAAAAAAAA,40.0,44.0,0.5,0.5", *reversed(rows)]
    path.write_text("\n".join(grown) + "\n")
    after = _ids(avspeech, path)
    assert len(after) == 10 and all(after[key] == value for key, value in before.items())

    own = tmp_path / "own.csv"
    lines = [f"https://youtu.be/{chr(65 + k) * 11},{k},{k + 2},p{k % 3}" for k in range(12)]
    own.write_text("url,start,end,person\n" + "\n".join(lines) + "\n")
    before = _ids(csv_clips, own)
    own.write_text("url,start,end,person\n" + "\n".join(["https://youtu.be/QQQQQQQQQQQ,7,9,p9", *lines[::-1]]) + "\n")
    after = _ids(csv_clips, own)
    assert all(after[key] == value for key, value in before.items())
    by_person: dict[str, set[str]] = {}
    for k, line in enumerate(lines):
        by_person.setdefault(f"p{k % 3}", set()).add(after[(chr(65 + k) * 11, float(k), float(k + 2))][1])
    assert all(len(splits) == 1 for splits in by_person.values()), "a person is in one split"

    info = {"clips": {f"c{k}": {"ytb_id": chr(65 + k) * 11, "duration": {"start_sec": 1, "end_sec": 2},
                                "bbox": {"top": 0, "bottom": 1, "left": 0, "right": 1}} for k in range(6)}}
    (tmp_path / "i.json").write_text(json.dumps(info))
    before = _ids(celebv_hq, tmp_path / "i.json")
    info["clips"] = {"new": {**info["clips"]["c0"], "duration": {"start_sec": 0, "end_sec": 0.5}},
                     **dict(reversed(list(info["clips"].items())))}
    (tmp_path / "i.json").write_text(json.dumps(info))
    after = _ids(celebv_hq, tmp_path / "i.json")
    assert len(after) == 7 and all(after[key] == value for key, value in before.items())


@pytest.mark.parametrize(("source", "flags", "absent"), [
    ("celebv-hq", ("--metadata", "celebvhq_info.json"), ("--reference-height", "--metadata-dir", "--data-list")),
    ("avspeech", ("--metadata", "avspeech_train.csv"), ("--reference-height", "--metadata-dir", "celebvhq")),
    ("csv", ("--metadata", "--reference-height", "Start Timecode"), ("--metadata-dir", "--data-list", "celebvhq")),
])
def test_prepare_help_of_a_source_lists_its_flags_alone(source, flags, absent, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["prepare", "--source", source, "--help"])
    helped = capsys.readouterr().out
    assert stop.value.code == 0
    assert all(f in helped for f in flags) and not any(a in helped for a in absent)
    assert get_source(source).CARD.licence


def test_prepare_without_the_list_names_the_flag(tmp_path, capsys):
    assert main(["prepare", "--source", "celebv-hq", "--output", str(tmp_path / "o")]) == 2
    assert "--source celebv-hq needs --metadata" in capsys.readouterr().err


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/source_samples is not here")
def test_the_metadata_config_is_instant_and_carries_each_sources_columns(tmp_path):
    datasets = pytest.importorskip("datasets")
    cache = str(tmp_path / "cache")
    cv = datasets.load_dataset("celebv_hq", "metadata", metadata=str(SAMPLES / "celebvhq_sample.json"),
                               cache_dir=cache)
    rows = {row["id"]: row for split in cv.values() for row in split}
    assert len(rows) == 5 and rows["cl_AAAAAAAAAAA_1"]["emotion"] == [{"label": "happy", "start": 0.0,
                                                                       "end": pytest.approx(3.8)}]
    assert rows["cl_AAAAAAAAAAA_1"]["box"] == [0.12, 0.62, 0.38, 0.66] and rows["cl_AAAAAAAAAAA_1"]["action"][1] == 1
    assert "non-commercial research only" in next(iter(cv.values())).info.license

    av = datasets.load_dataset("avspeech", "metadata", metadata=str(SAMPLES / "avspeech_sample.csv"),
                               cache_dir=cache)
    rows = {row["id"]: row for split in av.values() for row in split}
    assert len(rows) == 6 and rows["AAAAAAAAAAA_0001000_0005500"]["face_x"] == pytest.approx(0.512)
    assert set(av) <= {"train", "test"} and "CC BY 4.0" in next(iter(av.values())).info.license

    own = datasets.load_dataset("csv_clips", "metadata", metadata=str(SAMPLES / "emtd_style.csv"), cache_dir=cache)
    rows = [row for split in own.values() for row in split]
    assert sorted(r["start"] for r in rows) == [0.0, 1.0, 62.5] and all(r["fields"] is None for r in rows)
