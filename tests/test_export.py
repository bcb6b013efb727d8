"""``hdtf export``: parquet and webdataset shards of a real prepared folder, read back; the dataset card."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile

import numpy as np
import pytest
import yaml
from fixtures.hdtf_clips import hdtf_clips  # noqa: F401
from fixtures.sources import hdtf_sources  # noqa: F401

import hdtf  # noqa: F401
from hdtf.cli import main
from hdtf.decode import decode_clip
from hdtf.errors import HDTFError
from hdtf.export import MANIFEST, export
from hdtf.rows import clip_features

datasets = pytest.importorskip("datasets")

IDS = ["RD_Alpha_000", "RD_Alpha_001", "RD_Beta_000"]


def _front_matter(readme) -> dict:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


@pytest.fixture(scope="module")
def parquet_export(hdtf_clips, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("parquet")
    return export(hdtf_clips.prepared, out, to="parquet", shard_size=2), out


def test_parquet_shards_read_back_as_the_builder_rows(parquet_export, hdtf_clips, tmp_path):  # noqa: F811
    result, out = parquet_export
    assert [p.name for p in result.files] == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert result.num_examples == 3 and [p.name for p in out.rglob(".*")] == [MANIFEST], "no scratch or partial files"
    back = datasets.load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train",
                                 cache_dir=str(tmp_path))
    assert back.features == clip_features()
    assert back["id"] == IDS
    ref = hdtf_clips.dataset
    assert back["video"] == ref["video"]
    assert np.array_equal(np.asarray(back[2]["audio"]), np.asarray(ref[2]["audio"]))
    clip = decode_clip(back[2])
    assert clip.frames.shape == (100, 512, 512, 3) and clip.sample_rate == 16000 and clip.fps == 25.0


def test_export_folder_loads_by_its_card(parquet_export, tmp_path):
    _, out = parquet_export
    back = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path))
    assert back.features == clip_features() and back["id"] == IDS


def test_card_yaml_lists_features_configs_and_licence(parquet_export):
    result, out = parquet_export
    meta = _front_matter(result.card)
    # The clips are not CC BY: only HDTF's metadata is. The YAML says "other" and links the licence file.
    assert meta["license"] == "other" and meta["license_name"] == "hdtf-youtube-clips"
    assert meta["license_link"] == "LICENSE.md" and meta["task_categories"] == ["image-to-video"]
    assert meta["configs"][0]["data_files"][0] == {"split": "train", "path": "data/train-*.parquet"}
    info = meta["dataset_info"]
    assert datasets.Features._from_yaml_list(info["features"]) == clip_features()
    assert {"name": "video", "dtype": {"video": {"decode": False}}} in info["features"]
    assert [f["name"] for f in info["features"]][:3] == ["id", "source", "subset"]
    size = sum(p.stat().st_size for p in result.files)
    assert info["splits"] == [{"name": "train", "num_examples": 3, "num_bytes": size}]
    assert info["download_size"] == info["dataset_size"] == size
    text = result.card.read_text()
    assert "Flow-Guided One-Shot Talking Face Generation" in text and "CVPR" in text
    assert "| `size` | `512` |" in text and "| `crop_method` | `fixed` |" in text
    assert "no crop window" in text and "unavailable" in text, "the card says which clips are missing and why"
    # Availability of the sources when they were prepared: Gamma answered 404 (unavailable), Delta has no window.
    assert "4 source video(s) were selected (2 done, 1 skipped, 1 unavailable)" in text
    assert "1 could not be had when tried (20" in text
    assert "| `train` | 3 |" in text, "the split table: clips per split"
    licence = (out / "LICENSE.md").read_text()
    assert "CC BY 4.0" in licence and "belong to their uploaders" in licence and "not covered" in licence
    assert "CC BY 4.0" in text and "belong to their uploaders" in text
    assert 'load_dataset("path/to/this/folder", split="train")' in text and "decode_clip" in text
    assert str(out) not in text and "/tmp/" not in text, "no local paths in a shareable card"


def test_card_states_the_recorded_audio_rate_and_the_sync_columns():
    """The card's description follows the recorded options (clips made with --sample-rate 22050 are not 16 kHz) and
    its column table names every column of the rows."""
    from hdtf.card import Availability, DatasetFacts, SplitFacts, dataset_card

    def card(options):
        return dataset_card(DatasetFacts(layout="parquet", features=clip_features(), sources=["hdtf"],
                                         splits=[SplitFacts("train", "data/train-*.parquet", 1, 10, 0.01)],
                                         options=options, skipped={}, availability=Availability()))

    assert "with the audio as 16 kHz mono" in card({"sample_rate": 16000})
    assert "with the audio as 22.05 kHz mono" in card({"sample_rate": 22050}) and "16 kHz" not in card(
        {"sample_rate": 22050})
    assert "with the audio as mono at the source's sample rate" in card({"sample_rate": None})
    assert "16 kHz" not in card({}), "no rate is claimed when the options were not recorded"
    text = card({"sample_rate": 16000})
    assert all(f"`{name}`" in text for name in clip_features()), "every column of the rows is described"


def test_reexport_with_another_shard_size_leaves_no_stale_shards(hdtf_clips, tmp_path):  # noqa: F811
    export(hdtf_clips.prepared, tmp_path, to="parquet", shard_size=1)
    assert len(list((tmp_path / "data").glob("*.parquet"))) == 3
    result = export(hdtf_clips.prepared, tmp_path, to="parquet", shard_size=5)
    assert sorted((tmp_path / "data").iterdir()) == list(result.files)
    assert [p.name for p in result.files] == ["train-00000-of-00001.parquet"]


def test_webdataset_shards(hdtf_clips, tmp_path):  # noqa: F811
    prepared = tmp_path / "prepared"
    shutil.copytree(hdtf_clips.prepared, prepared)
    # Landmarks of one clip, as the faces stage writes them, to see them travel into the shard.
    points = np.random.default_rng(0).uniform(0, 512, (100, 68, 2)).astype(np.float32)
    found = np.arange(100) % 7 != 0
    np.savez(prepared / "clips" / "RD_Beta_000.landmarks.npz", points=points, found=found)
    status = prepared / "status" / "RD_Beta.json"
    data = json.loads(status.read_text())
    data["clips"][0]["landmarks_path"] = "clips/RD_Beta_000.landmarks.npz"
    status.write_text(json.dumps(data))

    out = tmp_path / "wds"
    assert main(["export", str(prepared), "--to", "webdataset", "--output", str(out), "--shard-size", "2"]) == 0
    shards = sorted(out.glob("*.tar"))
    assert [p.name for p in shards] == ["train-00000-of-00002.tar", "train-00001-of-00002.tar"]
    members = {}
    for shard in shards:
        with tarfile.open(shard) as tar:
            for info in tar.getmembers():
                members[info.name] = tar.extractfile(info).read()
    assert sorted(members) == sorted(
        [f"{i}.{ext}" for i in IDS for ext in ("mp4", "wav", "json")] + ["RD_Beta_000.landmarks.npy"])
    meta = json.loads(members["RD_Beta_000.json"])
    assert meta["id"] == "RD_Beta_000" and meta["num_frames"] == 100 and meta["applied_crop"] == [700, 200, 360, 360]
    assert meta["landmarks_found"] == found.tolist()
    assert np.array_equal(np.load(io.BytesIO(members["RD_Beta_000.landmarks.npy"])), points)
    assert members["RD_Alpha_000.mp4"] == (prepared / "clips" / "RD_Alpha_000.mp4").read_bytes()

    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    for name in ("RD_Beta_000.mp4", "RD_Beta_000.wav"):
        (unpacked / name).write_bytes(members[name])
    clip = decode_clip(unpacked / "RD_Beta_000.mp4")
    assert clip.frames.shape == (100, 512, 512, 3) and clip.sample_rate == 16000
    assert abs(len(clip.audio) - 4 * 16000) < 800

    meta = _front_matter(out / "README.md")
    assert meta["configs"][0]["data_files"][0]["path"] == "train-*.tar"
    assert "RD_Beta_000" not in (out / "README.md").read_text()

    # The same landmarks in the parquet/builder row, and through decode_clip.
    from hdtf.manifest import done_clips
    from hdtf.rows import clip_row

    row = clip_row(prepared, next(e for e in done_clips(prepared) if e["id"] == "RD_Beta_000"))
    decoded = decode_clip(row)
    assert np.array_equal(decoded.landmarks, points) and np.array_equal(decoded.landmarks_found, found)


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err
    (tmp_path / "empty").mkdir()
    with pytest.raises(HDTFError, match="no finished clips"):
        export(tmp_path / "empty", tmp_path / "o2")
    with pytest.raises(HDTFError, match="shard size"):
        export(tmp_path / "empty", tmp_path / "o2", shard_size=0)


@pytest.fixture(scope="module")
def webdataset_export(hdtf_clips, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("webdataset")
    return export(hdtf_clips.prepared, out, to="webdataset", shard_size=2), out


def _mp4(value) -> bytes:
    assert set(value) == {"bytes", "path"}, f"not a Video(decode=False) value: {type(value)}"
    return value["bytes"]


@pytest.mark.parametrize("to", ["parquet", "webdataset"])
def test_export_folder_loads_with_plain_datasets_as_a_video_feature(to, parquet_export, webdataset_export,
                                                                    hdtf_clips, tmp_path):  # noqa: F811
    """load_dataset(folder) on a CPU-only install (no torchcodec): the card's declared features, a Video column with
    the prepared mp4 bytes, and the rows decode_clip reads."""
    import importlib.util

    assert importlib.util.find_spec("torchcodec") is None, "this is about working without torchcodec"
    _, out = parquet_export if to == "parquet" else webdataset_export
    back = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path))
    column = "video" if to == "parquet" else "mp4"
    assert back.features[column] == datasets.Video(decode=False)
    keys = back["id"] if to == "parquet" else back["__key__"]
    assert keys == IDS
    for key, row in zip(keys, back, strict=True):
        assert _mp4(row[column]) == (hdtf_clips.prepared / "clips" / f"{key}.mp4").read_bytes()
        assert row[column]["path"] == f"{key}.mp4"
    ref = hdtf_clips.dataset[2]
    clip = decode_clip(back[2])
    assert clip.frames.shape == (100, 512, 512, 3) and clip.sample_rate == 16000 and clip.fps == 25.0
    np.testing.assert_allclose(clip.audio, np.asarray(ref["audio"], dtype=np.float32), atol=1 / 32768)
    if to == "webdataset":
        assert back.features["wav"] == datasets.Value("binary") and back[2]["json"]["num_frames"] == 100
        assert back[2]["json"]["applied_crop"] == ref["applied_crop"]
    # The ecosystem's Video type: cast to a decoding Video (torchcodec's business) and back, nothing lost.
    cast = back.cast_column(column, datasets.Video())
    assert cast.features[column] == datasets.Video()
    again = cast.cast_column(column, datasets.Video(decode=False))
    assert _mp4(again[0][column]) == _mp4(back[0][column])


def test_webdataset_export_card_declares_its_columns(webdataset_export):
    from hdtf.rows import sample_features

    result, out = webdataset_export
    meta = _front_matter(result.card)
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "train-*.tar"}]
    info = meta["dataset_info"]
    assert datasets.Features._from_yaml_list(info["features"]) == sample_features()
    assert info["splits"] == [{"name": "train", "num_examples": 3,
                               "num_bytes": sum(p.stat().st_size for p in result.files)}]
    assert meta["license"] == "other" and (out / "LICENSE.md").is_file()
    assert "streaming=True" in result.card.read_text()


def test_webdataset_export_reads_with_the_webdataset_library(webdataset_export, hdtf_clips):  # noqa: F811
    wds = pytest.importorskip("webdataset")
    result, _ = webdataset_export
    samples = list(wds.WebDataset([str(p) for p in result.files], shardshuffle=False))
    assert [s["__key__"] for s in samples] == IDS
    assert samples[0]["mp4"] == (hdtf_clips.prepared / "clips" / "RD_Alpha_000.mp4").read_bytes()
    assert json.loads(samples[2]["json"])["num_frames"] == 100
    clip = decode_clip(samples[2])  # raw members, as the library gives them without decoders
    assert clip.frames.shape == (100, 512, 512, 3) and clip.sample_rate == 16000


def test_export_to_another_format_replaces_the_shards(hdtf_clips, tmp_path):  # noqa: F811
    export(hdtf_clips.prepared, tmp_path, to="parquet", shard_size=1)
    result = export(hdtf_clips.prepared, tmp_path, to="webdataset", shard_size=5)
    assert not list(tmp_path.glob("data/*.parquet")), "the card describes the tars only: no parquet shards stay"
    assert sorted(tmp_path.glob("*.tar")) == list(result.files)


# ---- an export writes and removes only its own files ----------------------------------------------------------------


def _manifest_files(out) -> dict:
    return json.loads((out / MANIFEST).read_text())["files"]


def _tree(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_non_empty_folder_that_is_no_export_is_refused_untouched(hdtf_clips, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "mine"
    (out / "data").mkdir(parents=True)
    (out / "train-00000-of-00001.tar").write_bytes(b"my own tar")
    (out / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 my own parquet")
    before = _tree(out)
    assert main(["export", str(hdtf_clips.prepared), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(out) in err and "not empty" in err and MANIFEST in err
    assert _tree(out) == before and sorted(p.name for p in out.iterdir()) == ["data", "train-00000-of-00001.tar"]


def test_reexport_replaces_only_its_own_files(hdtf_clips, tmp_path):  # noqa: F811
    out = tmp_path / "export"
    first = export(hdtf_clips.prepared, out, to="parquet", shard_size=1)
    assert sorted(_manifest_files(out)) == sorted([*(f"data/train-0000{i}-of-00003.parquet" for i in range(3)),
                                                    "LICENSE.md", "README.md"])
    # Files someone else put into the export folder, named like shards of another export, and an unrelated one.
    foreign = {"other-00000-of-00001.tar": b"someone's tar", "data/other-00000-of-00001.parquet": b"PAR1 theirs",
               "notes.txt": b"my notes\n"}
    for name, data in foreign.items():
        (out / name).write_bytes(data)
    result = export(hdtf_clips.prepared, out, to="webdataset", shard_size=5)
    tree = _tree(out)
    for name, data in foreign.items():
        assert tree[name] == data, f"{name} was not the export's: it must survive byte for byte"
    assert not any(p.exists() for p in first.files), "the earlier export's own shards are replaced"
    assert [p.name for p in result.files] == ["train-00000-of-00001.tar"] and result.left == ()
    files = _manifest_files(out)
    assert sorted(files) == ["LICENSE.md", "README.md", "train-00000-of-00001.tar"]
    for name, record in files.items():
        assert record == {"size": len(tree[name]), "sha256": hashlib.sha256(tree[name]).hexdigest()}
    assert sorted(tree) == sorted([*foreign, *files, MANIFEST])


def test_a_foreign_file_with_a_new_shard_name_stops_the_export_before_any_work(hdtf_clips, tmp_path):  # noqa: F811
    out = tmp_path / "export"
    export(hdtf_clips.prepared, out, to="parquet", shard_size=5)
    (out / "train-00000-of-00001.tar").write_bytes(b"not the export's")
    before = _tree(out)
    with pytest.raises(HDTFError, match=r"train-00000-of-00001\.tar not written by the earlier export"):
        export(hdtf_clips.prepared, out, to="webdataset", shard_size=5)
    assert _tree(out) == before


def test_a_changed_file_of_the_earlier_export_is_left_and_disowned(hdtf_clips, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "export"
    export(hdtf_clips.prepared, out, to="parquet", shard_size=1)
    edited = out / "data" / "train-00002-of-00003.parquet"
    edited.write_bytes(b"PAR1 edited by hand")
    (out / "README.md").write_text("my own card\n")
    with pytest.raises(HDTFError, match="README.md not written by the earlier export"):
        export(hdtf_clips.prepared, out, to="parquet", shard_size=5)
    (out / "README.md").unlink()
    assert main(["export", str(hdtf_clips.prepared), "--output", str(out), "--shard-size", "5"]) == 0
    assert "left 1 file(s) of the earlier export that changed since" in capsys.readouterr().out
    assert edited.read_bytes() == b"PAR1 edited by hand"
    assert "data/train-00002-of-00003.parquet" not in _manifest_files(out)
    assert sorted(p.name for p in (out / "data").iterdir()) == ["train-00000-of-00001.parquet",
                                                                "train-00002-of-00003.parquet"]


# ---- the standard split ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split_prepared(hdtf_clips, tmp_path_factory):  # noqa: F811
    """The prepared clips with Beta's video renamed Radio35 (a person of HDTF's test split v1; its clip is
    RD_Radio35_000, a listed test clip), and Gamma's reason as a re-run records it (with a CLI hint)."""
    prepared = tmp_path_factory.mktemp("split") / "prepared"
    shutil.copytree(hdtf_clips.prepared, prepared)
    beta = prepared / "status" / "RD_Beta.json"
    data = json.loads(beta.read_text())
    data["video"].update(name="Radio35", key="RD_Radio35")
    for clip in data["clips"]:
        clip.update(id=f"RD_Radio35_{clip['clip_index']:03d}", video_name="Radio35")
    (prepared / "status" / "RD_Radio35.json").write_text(json.dumps(data))
    beta.unlink()
    gamma = prepared / "status" / "RD_Gamma.json"
    data = json.loads(gamma.read_text())
    data["reason"] = f"{data['reason']} (recorded earlier; --retry-unavailable to try again)"
    gamma.write_text(json.dumps(data))
    return prepared


@pytest.mark.parametrize("to", ["parquet", "webdataset"])
def test_export_carries_the_standard_split(split_prepared, tmp_path, to):
    from hdtf.splits import listed_test_ids, split_of

    assert split_of("RD", "Radio35") == "test" and "RD_Radio35_000" in listed_test_ids()
    assert split_of("RD", "Alpha") == "train"
    out = tmp_path / to
    result = export(split_prepared, out, to=to, shard_size=5)
    meta = _front_matter(result.card)
    pattern = {"parquet": "data/{}-*.parquet", "webdataset": "{}-*.tar"}[to]
    assert meta["configs"][0]["data_files"] == [{"split": s, "path": pattern.format(s)} for s in ("train", "test")]
    assert [(s["name"], s["num_examples"]) for s in meta["dataset_info"]["splits"]] == [("train", 2), ("test", 1)]
    ids = {}
    for split in ("train", "test"):
        back = datasets.load_dataset(str(out), split=split, cache_dir=str(tmp_path / "cache"))
        ids[split] = back["id"] if to == "parquet" else back["__key__"]
    assert ids == {"train": ["RD_Alpha_000", "RD_Alpha_001"], "test": ["RD_Radio35_000"]}
    if to == "webdataset":
        with tarfile.open(out / "test-00000-of-00001.tar") as tar:
            assert tar.getnames() == ["RD_Radio35_000.mp4", "RD_Radio35_000.wav", "RD_Radio35_000.json"]
            mp4 = tar.extractfile("RD_Radio35_000.mp4").read()
        assert mp4 == (split_prepared / "clips" / "RD_Beta_000.mp4").read_bytes()
    text = result.card.read_text()
    assert "standard split v1" in text and "no one is in both" in text and "hdtf_v1_test.txt" in text
    assert "This export holds 1 of the 22 listed clips of HDTF's test split v1." in text


def test_card_states_reasons_without_cli_hints_and_short_durations(split_prepared, tmp_path):
    result = export(split_prepared, tmp_path / "out", to="parquet", shard_size=5)
    text = result.card.read_text()
    assert "Why: Unable to download webpage: HTTP Error 404: File not found (1 video(s))." in text
    assert "--retry-unavailable" not in text and "recorded earlier" not in text
    assert "- 1 clip(s): skipped: no crop window in the metadata\n" in text and "--crop-method" not in text
    assert "| `train` | 2 | 6.0 s |" in text and "| `test` | 1 | 4.0 s |" in text and "0.00" not in text


def test_card_durations_in_the_unit_that_shows_them():
    from hdtf.card import duration_text

    assert [duration_text(h) for h in (5 / 3600, 0.25, 2.5)] == ["5.0 s", "15.0 min", "2.50 h"]


def test_an_export_without_test_clips_says_so(parquet_export):
    result, _ = parquet_export
    text = result.card.read_text()
    assert "This export holds 0 of the 22 listed clips of HDTF's test split v1." in text
    assert "None of its clips is in the test split, so it declares no `test` split." in text


def test_push_needs_a_finished_export_as_it_was_written(hdtf_clips, tmp_path):  # noqa: F811
    """What a push would upload (checked before any network call): the manifest's files, unchanged."""
    from hdtf.export import exported_files, push_to_hub

    with pytest.raises(HDTFError, match="not a finished export"):
        push_to_hub(tmp_path, "tester/x")
    out = tmp_path / "export"
    export(hdtf_clips.prepared, out, to="webdataset", shard_size=5)
    (out / "stray.txt").write_text("not exported\n")
    assert exported_files(out) == ["LICENSE.md", "README.md", "train-00000-of-00001.tar"]
    (out / "LICENSE.md").write_text("edited\n")
    with pytest.raises(HDTFError, match="LICENSE.md changed or went missing since hdtf export wrote them"):
        push_to_hub(out, "tester/x")
