"""TalkingHead-1KH end to end: ``hdtf prepare --source talkinghead-1kh`` downloads over loopback with yt-dlp (an id
that begins with '-'), cuts the tubes from the whole video, runs the curation stages on them (a tube of a real-face
video among them), and ``load_dataset("talkinghead_1kh")`` reads them back.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hdtf.cli import main
from hdtf.loopback import serve_directory
from fixtures.stage_outputs import check_stage_outputs
from fixtures.talking_face import talking_face_factory, talking_face_small  # noqa: F401
from fixtures.talkinghead import make_counter_video, official_chunks, official_clip, read_counters
from hdtf import media
from hdtf.sources import talkinghead_1kh as th

DASH_ID = "-aB3_xY9zQk"
TUBES = [(0, 10, 60, (80, 40, 240, 200)), (1, 5, 40, (90, 60, 230, 192)), (2, 3, 28, (80, 40, 240, 200))]
KEYFRAMES = (0, 7.3, 33.0, 59.8, 61.7, 88.0, 120.0)
# A tube of a real-face video (hdtf.synthetic, 640x360, 2 s at 25 fps): frames 0..49 of its first chunk, the box
# around the face in its own pixels, so the curation stages find a face on every frame of the 96 px clip.
FACE_ID, FACE_TUBE = "Face_Tube01", (0, 0, 49, (240, 70, 420, 250))
STAGE_FLAGS = ["--scene-cuts", "--aligned", "256", "--measures", "--masks", "--face-json"]


@pytest.fixture(scope="module")
def served(tmp_path_factory, talking_face_small):  # noqa: F811
    root = tmp_path_factory.mktemp("th1kh_e2e")
    web = root / "web"
    web.mkdir()
    raw = make_counter_video(web / f"{DASH_ID}.mp4", 126, KEYFRAMES)
    shutil.copyfile(talking_face_small.path, web / f"{FACE_ID}.mp4")
    lines = [f"{DASH_ID}_{c:04d}, 240, 320, {s}, {e}, " + ", ".join(map(str, box)) for c, s, e, box in TUBES]
    chunk, s, e, box = FACE_TUBE
    lines.append(f"{FACE_ID}_{chunk:04d}, 360, 640, {s}, {e}, " + ", ".join(map(str, box)))
    archive = root / "data_list.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data_list/small_video_ids.txt", f"{DASH_ID}\n{FACE_ID}\n")
        zf.writestr("data_list/small_video_tubes.txt", "\n".join(lines + ["garbage line"]) + "\n")
    return root, raw, archive, official_chunks(raw, root / "chunks", DASH_ID)


def test_prepare_cli_then_load_dataset(served, tmp_path, capsys):
    root, raw, archive, chunks = served
    out = tmp_path / "out"
    with serve_directory(raw.parent) as base:
        code = main(["prepare", "--source", "talkinghead-1kh", "--data-list", str(archive), "--split", "small",
                     "--output", str(out), "--url-template", base + "/{youtube_id}.mp4", "--fps", "10",
                     "--size", "96", "--no-progress", *STAGE_FLAGS])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "metadata: 1 issue(s)" in printed and "expected 9 comma-separated fields" in printed

    manifest = json.loads((out / "manifest.json").read_text())
    done = {c["id"]: c for c in manifest["clips"] if c["status"] == "done"}
    assert len(done) == len(TUBES) + 1
    # The curation stages ran on the tubes as cut: on the face's, every output made of its face; on the counters'
    # (no face), the view and the measures that need none, the face measures null.
    chunk, s, e, box = FACE_TUBE
    face = done[th.clip_stem(f"{FACE_ID}_{chunk:04d}", s, e, box)]
    assert (face["num_frames"], face["width"], face["scene_cuts"], face["filtered"]) == (20, 96, [], None)
    check_stage_outputs(out, face, 256)
    assert manifest["options"]["aligned"] == 256 and manifest["options"]["face_json"] is True
    for counters in (c for c in done.values() if c is not face):
        assert counters["face_px"] is None and 0 < counters["brightness"] < 255 and counters["motion"] > 0
        assert (out / counters["aligned_path"]).is_file() and (out / counters["face_json_path"]).is_file()
    for chunk, s, e, box in TUBES:
        stem = th.clip_stem(f"{DASH_ID}_{chunk:04d}", s, e, box)
        entry = done[stem.lstrip("-")]
        crop = th.scale_box(box, (320, 240), (160, 120)).as_tuple()
        official = read_counters(official_clip(chunks[chunk], tmp_path / f"{stem}.mp4", s, e, crop), crop)
        ours = read_counters(out / entry["path"], tuple(entry["applied_crop"]))
        assert ours == official and len(official) == e - s + 1, stem
        assert entry["num_frames"] == len(official) and entry["fps"] == pytest.approx(10)
        assert (out / entry["audio_path"]).is_file()

    import datasets

    ds = datasets.load_dataset(
        "talkinghead_1kh", "clips", data_list=str(archive), splits=["small"], split="small", fps=10, size=96,
        output_dir=str(out), url_template="http://127.0.0.1:9/unreachable/{youtube_id}.mp4",
        cache_dir=str(tmp_path / "hf"), scene_cuts=True, aligned=256, measures=True, masks=True, face_json=True,
    )
    assert sorted(ds["id"]) == sorted(done)  # made from the finished clips: the unreachable URL is never asked
    row = next(r for r in ds if r["video_name"] == f"{DASH_ID}_0001")
    assert row["subset"] == "small" and row["youtube_id"] == DASH_ID and row["num_frames"] == 36
    assert row["video"]["bytes"] == (out / done[row["id"]]["path"]).read_bytes()
    assert np.asarray(row["audio"]).shape[0] == pytest.approx(36 / 10 * 16000, rel=0.05)
    face_row = next(r for r in ds if r["id"] == face["id"])
    assert face_row["face_px"] == pytest.approx(face["face_px"]) and face_row["mask_paths"] == face["mask_paths"]

    meta = datasets.load_dataset("talkinghead_1kh", data_list=str(archive), splits="small", split="small",
                                 cache_dir=str(tmp_path / "hf"))
    assert meta.num_rows == len(TUBES) + 1 and set(meta["source"]) == {"talkinghead_1kh"}

    # Exported, the clips keep their release split and the card its licence (CC BY 3.0 by the videos' authors).
    import yaml

    from hdtf.export import export

    result = export(out, tmp_path / "export", to="parquet")
    assert [p.name for p in result.files] == ["small-00000-of-00001.parquet"]
    card = result.card.read_text()
    front = yaml.safe_load(card.split("---\n", 2)[1])
    assert front["license"] == "cc-by-3.0" and "license_name" not in front
    assert front["configs"][0]["data_files"] == [{"split": "small", "path": "data/small-*.parquet"}]
    assert front["dataset_info"]["splits"][0]["name"] == "small" and "One-Shot Free-View" in card
    back = datasets.load_dataset(str(tmp_path / "export"), split="small", cache_dir=str(tmp_path / "hf2"))
    assert sorted(back["id"]) == sorted(done)


def test_section_download_gives_the_official_frames(served, tmp_path):
    """Tubes of chunks 1-2 only: yt-dlp fetches 55 s..125 s, and the chunk starts are placed on the source timeline."""
    root, raw, _, chunks = served
    tubes = [(1, 0, 40, (80, 40, 240, 200)), (1, 590, 640, (80, 40, 240, 200)), (2, 3, 28, (80, 40, 240, 200))]
    data_list = tmp_path / "data_list"
    data_list.mkdir()
    (data_list / "val_video_ids.txt").write_text(f"{DASH_ID}\n")
    (data_list / "val_video_tubes.txt").write_text(
        "".join(f"{DASH_ID}_{c:04d}, 240, 320, {s}, {e}, " + ", ".join(map(str, box)) + "\n" for c, s, e, box in tubes))
    out = tmp_path / "out"
    with serve_directory(raw.parent) as base:
        code = main(["prepare", "--source", "talkinghead-1kh", "--data-list", str(data_list), "--split", "val",
                     "--output", str(out), "--url-template", base + "/{youtube_id}.mp4", "--fps", "10",
                     "--size", "96", "--no-progress", "--sections"])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["clips"][0]["status"] == "done"
    assert any("section download" in note for note in manifest["clips"][0]["adjustments"])
    for entry, (chunk, s, e, box) in zip(manifest["clips"], tubes):
        crop = th.scale_box(box, (320, 240), (160, 120)).as_tuple()
        official = read_counters(official_clip(chunks[chunk], tmp_path / f"{entry['id']}.mp4", s, e, crop), crop)
        assert read_counters(out / entry["path"], tuple(entry["applied_crop"])) == official, entry["id"]


def test_builder_errors_are_one_line(served, tmp_path):
    import datasets

    from hdtf.errors import HDTFError

    _, _, archive, _ = served
    with pytest.raises(HDTFError, match="needs data_list="):
        datasets.load_dataset("talkinghead_1kh", split="small", cache_dir=str(tmp_path))
    with pytest.raises(HDTFError, match="name them"):
        datasets.load_dataset("talkinghead_1kh", "clips", data_list=str(archive), split="small",
                              cache_dir=str(tmp_path))


def test_metadata_config_is_read_again_when_the_data_list_changes(tmp_path):
    """The cache id hashes the data_list's contents, not its path: an edited tubes file gives the new tubes."""
    import datasets

    data_list = tmp_path / "data_list"
    data_list.mkdir()
    (data_list / "val_video_ids.txt").write_text(f"{DASH_ID}\n")

    def tubes(lines: list[tuple[int, int, int]]) -> dict[str, str]:
        (data_list / "val_video_tubes.txt").write_text(
            "".join(f"{DASH_ID}_{c:04d}, 240, 320, {s}, {e}, 80, 40, 240, 200\n" for c, s, e in lines))
        ds = datasets.load_dataset("talkinghead_1kh", data_list=str(data_list), splits="val", split="val",
                                   cache_dir=str(tmp_path / "hf"))
        return dict(zip(ds["video_name"], (i.split("_S", 1)[1] for i in ds["id"]), strict=True))

    assert tubes([(0, 10, 60)]) == {f"{DASH_ID}_0000": "10_E60_L80_T40_R240_B200"}
    assert tubes([(0, 10, 50), (1, 0, 40)]) == {f"{DASH_ID}_0000": "10_E50_L80_T40_R240_B200",
                                                f"{DASH_ID}_0001": "0_E40_L80_T40_R240_B200"}


def test_probe_reads_a_path_that_begins_with_a_dash(served, tmp_path, monkeypatch):
    """The official chunk names begin with the id; relative paths must not be read as options."""
    _, _, _, chunks = served
    monkeypatch.chdir(chunks[0].parent)
    info = media.probe(Path(chunks[1].name))
    assert info.video_start == pytest.approx(59.8 + 0.2) and info.video_decode_delay == pytest.approx(0.2)
