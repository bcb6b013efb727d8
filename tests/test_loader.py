"""The ``datasets`` builder (``load_dataset("hdtf", ...)``) and ``decode_clip``, on real metadata and real clips."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures.hdtf_clips import hdtf_clips  # noqa: F401
from fixtures.sources import ALPHA, BETA, hdtf_sources  # noqa: F401

import hdtf  # noqa: F401 - registers the builder
from hdtf.decode import decode_clip
from hdtf.errors import HDTFError
from hdtf.rows import clip_features, metadata_features

datasets = pytest.importorskip("datasets")


def test_metadata_config_has_every_annotated_clip(metadata_dir, tmp_path, monkeypatch):
    # From an empty working directory: load_dataset must not search it for data files (EmptyDatasetError before).
    monkeypatch.chdir(tmp_path)
    ds = datasets.load_dataset("hdtf", "metadata", metadata_dir=str(metadata_dir), cache_dir=str(tmp_path / "c"),
                               split="all")  # train + test (hdtf.splits)
    assert ds.features == metadata_features()
    assert len(ds) == 436
    assert sum(x is not None for x in ds["crop_x"]) == 421
    first = ds[0]
    assert first["id"] == "RD_Radio1_000" and (first["start"], first["end"]) == (20.0, 95.0)
    without = [row for row in ds if row["crop_x"] is None]
    assert all(row["crop_y"] is None and row["crop_w"] is None and row["crop_ratio"] is None for row in without)
    assert set(ds["subset"]) == {"RD", "WDA", "WRA"}


def test_metadata_selection_and_unknown_video(metadata_dir, tmp_path):
    ds = datasets.load_dataset("hdtf", "metadata", metadata_dir=str(metadata_dir), cache_dir=str(tmp_path),
                               videos=["Radio11", "WRA_AdamKinzinger2"], split="train")
    assert ds["id"] == ["RD_Radio11_000", "RD_Radio11_001", "WRA_AdamKinzinger2_000", "WRA_AdamKinzinger2_001",
                        "WRA_AdamKinzinger2_002"]
    with pytest.raises(HDTFError, match="NoSuchVideo"):
        datasets.load_dataset("hdtf", "metadata", metadata_dir=str(metadata_dir), cache_dir=str(tmp_path),
                              videos=["NoSuchVideo"], split="train")


def test_without_metadata_dir_offline_says_what_to_pass(tmp_path, monkeypatch):
    # Offline (as conftest sets it), the pinned lists cannot be fetched, and the error says so in one line.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(HDTFError, match="pass metadata_dir="):
        datasets.load_dataset("hdtf", "metadata", cache_dir=str(tmp_path), split="train")


def test_config_kwargs_key_the_cache(metadata_dir, tmp_path, monkeypatch):
    def builder(**kwargs):
        return datasets.load_dataset_builder("hdtf", "clips", cache_dir=str(tmp_path), **kwargs)

    base = {"metadata_dir": str(metadata_dir)}
    plain = builder(**base)
    variants = [builder(**base, size=256), builder(**base, fps=30.0), builder(**base, landmarks=True),
                builder(**base, subsets=["RD"]), builder(**base, url_template="http://x/{name}.mp4"),
                builder(metadata_dir=str(tmp_path))]
    dirs = {b.cache_dir for b in [plain, *variants]}
    assert len(dirs) == 1 + len(variants)
    # The same choices spelled differently share one entry; raw_dir (where raw videos are found) changes no row.
    monkeypatch.chdir(metadata_dir.parent)
    same = builder(metadata_dir=f"./{metadata_dir.name}/", raw_dir=str(tmp_path))
    assert same.cache_dir == plain.cache_dir
    assert builder(**base, subsets=["WRA", "RD"]).cache_dir == builder(**base, subsets=["RD", "WRA"]).cache_dir
    # Prepared clips are keyed by what changes a clip, not by the selection.
    assert plain.prepare_options().output_dir == builder(**base, subsets=["RD"]).prepare_options().output_dir
    assert plain.prepare_options().output_dir != variants[0].prepare_options().output_dir
    assert Path(tmp_path) in plain.prepare_options().output_dir.parents
    assert variants[0].prepare_options().size == 256 and plain.prepare_options().size == 512


def test_clips_rows(hdtf_clips):  # noqa: F811
    ds = hdtf_clips.dataset
    assert ds.features == clip_features()
    assert ds["id"] == ["RD_Alpha_000", "RD_Alpha_001", "RD_Beta_000"]
    assert importlib.util.find_spec("torchcodec") is None, "these checks are about working without torchcodec"
    row = ds[0]
    assert ds.features["video"] == datasets.Video(decode=False)
    assert row["video"]["path"] == "RD_Alpha_000.mp4" and row["video"]["bytes"][4:8] == b"ftyp"
    assert row["video"]["bytes"] == (hdtf_clips.prepared / "clips" / "RD_Alpha_000.mp4").read_bytes()
    assert (row["width"], row["height"], row["fps"], row["sample_rate"]) == (512, 512, 25.0, 16000)
    assert (row["source_width"], row["source_height"]) == (ALPHA.width, ALPHA.height)
    assert row["applied_crop"] == list(ALPHA.window)  # metadata window (720p) scaled to the 360p source
    assert (row["crop_x"], row["crop_w"]) == ALPHA.meta_window[::2]
    assert row["landmarks_found"] is None
    beta = ds[2]
    assert beta["applied_crop"] == list(BETA.window) and beta["num_frames"] == 100


@pytest.mark.parametrize("index", [0, 2])
def test_decode_clip_of_a_row(hdtf_clips, index):  # noqa: F811
    row = hdtf_clips.dataset[index]
    clip = decode_clip(row)
    seconds = row["end"] - row["start"]
    assert clip.frames.dtype == np.uint8 and clip.frames.shape == (row["num_frames"], 512, 512, 3)
    assert clip.fps == 25.0 and len(clip.frames) == round(seconds * 25)
    assert clip.sample_rate == 16000 and clip.audio.dtype == np.float32
    assert abs(len(clip.audio) - seconds * 16000) < 0.05 * 16000
    assert abs(_dominant_hz(clip.audio, clip.sample_rate) - 440) < 5, "the sources' 440 Hz tone must be there"
    assert clip.landmarks is None and clip.landmarks_found is None
    centre = clip.frames[:, 256, 256].astype(int)
    assert (centre[0, 0] > 200) and centre[0, 1] < 60, "the first frame's centre is the red core of the window"


def _dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[int(np.argmax(spectrum))])


def test_decode_clip_of_a_file_with_and_without_its_wav(hdtf_clips, tmp_path):  # noqa: F811
    entry_mp4 = hdtf_clips.prepared / "clips" / "RD_Beta_000.mp4"
    with_wav = decode_clip(entry_mp4)
    assert with_wav.frames.shape == (100, 512, 512, 3) and with_wav.sample_rate == 16000
    alone = tmp_path / "RD_Beta_000.mp4"
    shutil.copy(entry_mp4, alone)
    from_mp4 = decode_clip(alone)  # audio decoded from the AAC track with PyAV
    assert from_mp4.sample_rate == 16000
    assert abs(len(from_mp4.audio) - len(with_wav.audio)) < 0.05 * 16000
    assert np.array_equal(from_mp4.frames, with_wav.frames)
    with pytest.raises(HDTFError, match="no such video"):
        decode_clip(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(HDTFError, match="junk.mp4"):
        decode_clip(tmp_path / "junk.mp4")


def test_skipped_clips_are_summarised_in_one_line(hdtf_clips):  # noqa: F811
    lines = [line for line in hdtf_clips.log if line.startswith("hdtf:")]
    assert len(lines) == 1
    assert "3 of 5 clips prepared, 2 left out" in lines[0]
    assert "unavailable" in lines[0] and "no crop window" in lines[0]
    assert str(hdtf_clips.prepared / "manifest.json") in lines[0]
    assert (hdtf_clips.prepared / "manifest.json").is_file()


def test_second_load_is_served_from_the_cache(hdtf_clips):  # noqa: F811
    before = len(hdtf_clips.served)
    again = datasets.load_dataset("hdtf", "clips", split="train", cache_dir=str(hdtf_clips.cache_dir),
                                  **hdtf_clips.kwargs)
    assert len(hdtf_clips.served) == before
    assert again["id"] == hdtf_clips.dataset["id"]


def test_num_proc_2_gives_the_same_rows(hdtf_clips, tmp_path):  # noqa: F811
    kwargs = {k: v for k, v in hdtf_clips.kwargs.items() if k != "output_dir"}  # default: inside the cache dir
    ds = datasets.load_dataset("hdtf", "clips", split="train", cache_dir=str(tmp_path), num_proc=2, **kwargs)
    ref = hdtf_clips.dataset
    assert ds["id"] == ref["id"]
    assert ds["video"] == ref["video"]
    for a, b in zip(ds.select_columns(["num_frames", "applied_crop", "duration"]),
                    ref.select_columns(["num_frames", "applied_crop", "duration"])):
        assert a == b
    assert np.allclose(ds[1]["audio"], ref[1]["audio"], atol=1e-4)
    assert any((tmp_path / "hdtf_prepared").rglob("RD_Alpha_000.mp4")), "default output_dir is in the cache dir"
    # Each shard's run records its videos' workers in the one manifest (written under its lock).
    (found,) = (tmp_path / "hdtf_prepared").rglob("manifest.json")
    manifest = json.loads(found.read_text())
    assert manifest["run"]["executor"] == "serial" and all(v["worker"]["executor"] == "serial"
                                                            for v in manifest["videos"])


def test_process_executor_gives_the_same_rows_in_list_order(hdtf_clips, tmp_path):  # noqa: F811
    kwargs = {**hdtf_clips.kwargs, "output_dir": str(tmp_path / "prepared")}
    ds = datasets.load_dataset("hdtf", "clips", split="train", cache_dir=str(tmp_path / "cache"), executor="process",
                               workers=2, **kwargs)
    assert ds["id"] == hdtf_clips.dataset["id"] and ds["video"] == hdtf_clips.dataset["video"]
    # One orchestration (hdtf.run): the builder's manifest records how and where its jobs ran, as hdtf prepare's does.
    manifest = json.loads((tmp_path / "prepared" / "manifest.json").read_text())
    assert manifest["run"] == {"executor": "process", "workers": 2, "video_timeout": None}
    workers = {v["key"]: v.get("worker") for v in manifest["videos"]}
    assert sorted(workers) == ["RD_Alpha", "RD_Beta", "RD_Delta", "RD_Gamma"]
    assert all(w["executor"] == "process" and isinstance(w["pid"], int) and w["pid"] != os.getpid()
               for w in workers.values())
    assert manifest["metadata"]["lists"] == "folder" and manifest["options"]["url_template"]


def test_download_options_reach_yt_dlp_and_key_no_cache_entry(hdtf_sources, tmp_path):  # noqa: F811
    """``cookies=``, ``cookies_from_browser=``, ``js_runtime=``, ``proxy=`` and ``rate_limit=`` say how videos are
    fetched: the builder hands them to the download (the cookie reaches the server), they change no cache id, and the
    manifest names the cookies file without its folder."""
    import json

    from fixtures.scripted_server import ScriptedServer

    cookies = tmp_path / "secret" / "cookies.txt"
    cookies.parent.mkdir()
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t4102444800\tSID\tsigned-in\n")
    server = ScriptedServer(hdtf_sources.served, [])
    base = {"metadata_dir": str(hdtf_sources.metadata), "subsets": ["RD"]}
    with server.serving() as url:
        ds = datasets.load_dataset(
            "hdtf", "clips", split="train", cache_dir=str(tmp_path / "cache"), output_dir=str(tmp_path / "out"),
            videos=["Beta"], size=64, cookies=str(cookies), rate_limit="50M", url_template=url + "/{subset}_{name}.mp4",
            **base)
    assert ds["id"] == ["RD_Beta_000"] and ds[0]["num_frames"] > 0
    assert server.seen and all(cookie == "SID=signed-in" for _, cookie in server.seen)
    recorded = json.loads((tmp_path / "out" / "manifest.json").read_text())["options"]
    assert recorded["cookies"] == "cookies.txt" and recorded["rate_limit"] == "50M"

    def cache_dir(**extra) -> str:
        return datasets.load_dataset_builder("hdtf", "clips", cache_dir=str(tmp_path / "c2"), **base, **extra).cache_dir

    plain = cache_dir()
    for extra in ({"cookies": str(cookies)}, {"cookies_from_browser": "firefox"}, {"js_runtime": "deno"},
                  {"proxy": "http://user:pw@127.0.0.1:9"}, {"rate_limit": "2M"}):
        assert cache_dir(**extra) == plain, extra


def test_a_selection_of_test_persons_declares_only_the_test_split(metadata_dir, tmp_path):
    """Radio35 is in HDTF's test split v1: without splits= the builder declares `test` alone (no empty `train`,
    which load_dataset cannot read); with splits=["train"] it is one line naming splits=."""
    rows = datasets.load_dataset("hdtf", "metadata", metadata_dir=str(metadata_dir), cache_dir=str(tmp_path / "a"),
                                 videos=["Radio35"])
    assert list(rows) == ["test"] and rows["test"]["id"] == ["RD_Radio35_000"]
    both = datasets.load_dataset("hdtf", "metadata", metadata_dir=str(metadata_dir), cache_dir=str(tmp_path / "b"),
                                 videos=["Radio35", "Radio11"])
    assert {name: part["id"] for name, part in both.items()} == {
        "train": ["RD_Radio11_000", "RD_Radio11_001"], "test": ["RD_Radio35_000"]}
    with pytest.raises(HDTFError, match=r"unknown video name\(s\) Radio35 .*; splits= chose train: a video of another "
                                        r"split is named there"):
        datasets.load_dataset("hdtf", "metadata", metadata_dir=str(metadata_dir), cache_dir=str(tmp_path / "c"),
                              videos=["Radio35"], splits=["train"])
