"""The standard HDTF split (hdtf.splits v1): the shipped list is the rule's output on the real metadata, no person is in
both splits, assignments survive metadata changes, and the builder and ``hdtf prepare --split`` use it."""

from __future__ import annotations

import hashlib
import shutil
from collections import defaultdict
from importlib import resources

import pytest

from hdtf.errors import HDTFError
from hdtf.sources.hdtf import Options, list_videos, parse_metadata, selected_splits
from hdtf.splits import (
    availability, listed_test_ids, parse_clip_id, person, render_test_list, rule, split_of, split_of_clip,
)


@pytest.fixture(scope="module")
def real_clips(metadata_dir):
    videos, _ = parse_metadata(metadata_dir)
    return [(clip.id, clip.subset, clip.video_name) for video in videos for clip in video.clips]


def test_the_shipped_list_is_what_the_rule_gives_on_the_real_metadata(real_clips):
    shipped = resources.files("hdtf.splits").joinpath("hdtf_v1_test.txt").read_text(encoding="utf-8")
    assert render_test_list(real_clips) == shipped
    test = [c for c in real_clips if split_of(c[1], c[2]) == "test"]
    assert listed_test_ids() == tuple(sorted(c[0] for c in test))
    # About 5 % of the 436 clips, drawn from all three subsets.
    assert (len(test), len(real_clips)) == (22, 436)
    assert len({(s, n) for _, s, n in test}) == 16 and len({person(s, n) for _, s, n in test}) == 11
    assert {s for _, s, _ in test} == {"RD", "WDA", "WRA"}


def test_no_person_is_in_both_splits(real_clips):
    splits_of_person = defaultdict(set)
    for _, subset, name in real_clips:
        splits_of_person[person(subset, name)].add(split_of(subset, name))
    assert all(len(s) == 1 for s in splits_of_person.values())
    assert len(splits_of_person) == 276
    # One person, several videos: the trailing digits go; RD's RadioN are separate programmes.
    assert person("WDA", "AmyKlobuchar0") == person("WDA", "AmyKlobuchar1") == "AmyKlobuchar"
    assert person("WDA", "BennieThompson1") == person("WDA", "BennieThompson") == "BennieThompson"
    assert person("RD", "Radio35") == "Radio35" != person("RD", "Radio3")
    assert split_of("WRA", "BobGoodlatte0") == split_of("WRA", "BobGoodlatte7") == "test"


def test_the_rule_is_the_documented_hash():
    def fraction(who: str) -> float:
        return int.from_bytes(hashlib.sha256(f"hdtf-split-v1:{who}".encode()).digest()[:8], "big") / 2**64

    for subset, name in (("RD", "Radio35"), ("WDA", "JoeNeguse"), ("RD", "Radio1"), ("WRA", "AdamKinzinger2")):
        expected = "test" if fraction(person(subset, name)) < 0.035 else "train"
        assert split_of(subset, name) == expected
    assert rule("v1").threshold == 0.035
    with pytest.raises(ValueError, match="unknown HDTF split version"):
        rule("v0")
    assert parse_clip_id("WDA_LucilleRoybal-Allard_000") == ("WDA", "LucilleRoybal-Allard")
    assert parse_clip_id("abcdefghijk_0001_S0_E9") is None and split_of_clip("not-hdtf") is None


def test_assignments_survive_videos_added_and_removed(metadata_dir, tmp_path):
    """Edit a copy of the real lists (drop videos, add a new person): no remaining clip changes split."""
    edited = tmp_path / "metadata"
    shutil.copytree(metadata_dir, edited)
    times = edited / "WRA_annotion_time.txt"
    lines = times.read_text(encoding="utf-8").splitlines()
    dropped = {line.split()[0].removesuffix(".mp4") for line in lines[::3]}
    kept = [line for line in lines if line.split()[0].removesuffix(".mp4") not in dropped]
    times.write_text("\n".join(kept + ["TomCotton7.mp4 00:10-00:40", "NewSpeaker.mp4 00:00-00:30"]) + "\n",
                     encoding="utf-8")
    before, after = {}, {}
    for folder, found in ((metadata_dir, before), (edited, after)):
        for split in ("train", "test"):
            videos, _ = list_videos(Options(metadata_dir=folder), split, fetch_dir=tmp_path / "fetch")
            found.update({clip.id: split for video in videos for clip in video.clips})
    common = before.keys() & after.keys()
    assert len(common) == 436 - sum(1 for c in before if c.startswith("WRA_") and parse_clip_id(c)[1] in dropped)
    assert all(before[c] == after[c] for c in common)
    assert after["WRA_TomCotton7_000"] == "test"  # a new video of a test person joins that person's split
    report = availability([(c, None, None) for c in after])
    assert report.listed == 22 and report.unlisted == 1 and report.available + len(report.missing) == 22


def test_split_option_and_builder_splits(metadata_dir, tmp_path):
    datasets = pytest.importorskip("datasets")
    import hdtf  # noqa: F401 - registers the builders

    assert selected_splits(Options()) == ["train", "test"] == selected_splits(Options(splits=["all"]))
    assert selected_splits(Options(splits="test")) == ["test"]
    with pytest.raises(HDTFError, match="not HDTF splits"):
        selected_splits(Options(splits=["val"]))
    kwargs = {"metadata_dir": str(metadata_dir), "cache_dir": str(tmp_path)}
    both = datasets.load_dataset("hdtf", "metadata", **kwargs)
    assert {name: len(part) for name, part in both.items()} == {"train": 414, "test": 22}
    assert tuple(sorted(both["test"]["id"])) == listed_test_ids()
    persons = {name: {person(s, v) for s, v in zip(part["subset"], part["video_name"])} for name, part in both.items()}
    assert not persons["train"] & persons["test"]
    only_test = datasets.load_dataset("hdtf", "metadata", splits=["test"], **kwargs)
    assert list(only_test) == ["test"] and len(only_test["test"]) == 22


def test_prepare_split_test_takes_only_the_test_videos(metadata_dir, tmp_path, capsys):
    from hdtf.cli import main
    from hdtf.layout import Layout
    from hdtf.loopback import serve_directory

    (tmp_path / "empty").mkdir()
    with serve_directory(tmp_path / "empty") as base:  # every download is a 404: only the selection matters here
        code = main(["prepare", "--metadata-dir", str(metadata_dir), "--split", "test", "--output",
                     str(tmp_path / "out"), "--url-template", base + "/{subset}_{name}.mp4", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1 and "16 video(s), 22 clip(s) selected" in out
    issues = len(parse_metadata(metadata_dir)[1].issues)
    assert issues > 0 and f"metadata: {issues} issue(s)" in out  # the lists' report once, not once per split
    ids = {clip["id"] for status in Layout(tmp_path / "out").statuses() for clip in status["clips"]}
    assert tuple(sorted(ids)) == listed_test_ids()
