"""The curation stages (hdtf.stages.measures, features, filters) on a real prepared run: two clips of a real-face
talking video, cut with tracked landmarks by ``hdtf prepare``. Each test works on its own copy of the run and adds
the stages with ``hdtf prepare`` flags: nothing is downloaded or cut again, the values and files are checked against
what is computed here from the clips' own frames, landmarks and audio."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fixtures.arcface_onnx import random_arcface
from fixtures.prepared_faces import build_prepared_faces
from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips
from test_curate_embeddings import wav2vec2_dir  # noqa: F401 - a tiny random wav2vec2 saved to a folder
from test_curate_iqa import BIAS, WEIGHTS, linear_iqa

SIZE = 128


@pytest.fixture(scope="module")
def run_two(tmp_path_factory):
    return build_prepared_faces(tmp_path_factory.mktemp("curated"), times="00:00-00:02 00:02-00:04")


class Run:
    """A copy of the prepared run, with the command line that prepares it again (serving the raw video)."""

    def __init__(self, built, tmp_path: Path) -> None:
        self.out = tmp_path / "run"
        shutil.copytree(built.root, self.out)
        self.served, self.metadata = built.source.parent, built.root.parent / "metadata"
        self.requests: list = []

    def prepare(self, *flags: str) -> int:
        from hdtf.cli import main

        with serve_directory(self.served, self.requests) as base:
            return main(["prepare", "--output", str(self.out), "--metadata-dir", str(self.metadata), "--subsets", "RD",
                         "--url-template", base + "/{subset}_{name}.mp4", "--crop-method", "landmarks",
                         "--size", str(SIZE), "--no-progress", *flags])

    def records(self) -> dict[str, dict]:
        return {r["id"]: r for r in done_clips(self.out)}

    def stamps(self) -> dict[str, tuple[int, bytes]]:
        return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((self.out / "clips").glob("*.mp4"))}


def _frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _landmarks(out: Path, record: dict) -> tuple[np.ndarray, np.ndarray]:
    with np.load(out / record["landmarks_path"]) as npz:
        return npz["points"].astype(np.float64), npz["found"]


def _face_px(out: Path, record: dict) -> float:
    points, found = _landmarks(out, record)
    p = points[found]
    return float(np.median(p[..., 0].max(1) - p[..., 0].min(1)))


def _counting_decodes(monkeypatch) -> list[int]:
    """Count the shared decodes the stage pipeline makes (a spy on hdtf's own function, not a stand-in)."""
    from hdtf.stages import pipeline

    calls: list[int] = []
    real = pipeline.decode

    def counted(video):
        calls.append(1)
        return real(video)

    monkeypatch.setattr(pipeline, "decode", counted)
    return calls


def test_filters_added_to_a_finished_run_measure_once_and_a_new_threshold_rejudges(run_two, tmp_path, monkeypatch,
                                                                                   capsys):
    run = Run(run_two, tmp_path)
    before = run.stamps()
    records = run.records()
    assert len(records) == 2 and all(not r.get("face_px") for r in records.values())
    widths = {i: _face_px(run.out, r) for i, r in records.items()}
    small, large = sorted(widths, key=widths.get)
    assert widths[large] - widths[small] > 0.01, "the two clips' faces must differ for the filter to split them"
    threshold = round((widths[small] + widths[large]) / 2, 3)

    assert run.prepare("--min-face-px", str(threshold), "--max-head-angle", "89") == 0
    assert run.requests == [], "measures added to finished clips need no download"
    assert run.stamps() == before, "no clip was cut again (same bytes, same mtime)"
    measured = run.records()
    for clip_id, record in measured.items():
        assert record["face_px"] == pytest.approx(widths[clip_id], abs=1e-3)
        frames = _frames(run.out / record["path"])
        grey = [0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2] for f in frames]
        assert record["brightness"] == pytest.approx(float(np.mean(grey)), abs=0.5)
        assert record["motion"] == pytest.approx(0.0, abs=30) and record["motion"] > 0  # a talking, moving head
        for key in ("face_share", "head_away", "yaw", "pitch", "roll", "sharpness"):
            assert isinstance(record[key], float), key
        assert 0.2 < record["face_share"] < 0.8 and record["head_away"] < 89 and record["sharpness"] > 0
        assert (run.out / record["path"]).is_file(), "a filtered clip stays on disk"
    assert measured[large]["filtered"] is None
    assert measured[small]["filtered"] == [{"stage": "face_px_filter", "value": measured[small]["face_px"],
                                            "reason": f"face_px {measured[small]['face_px']:g} is below "
                                                      f"{threshold:g} (--min-face-px)"}]

    # hdtf status: what each filter rejected, and the measured ranges to choose thresholds from.
    from hdtf.cli import main

    capsys.readouterr()
    assert main(["status", str(run.out)]) == 0
    shown = capsys.readouterr().out
    assert "filtered by face_px_filter: 1 of 2 done clip(s)" in shown
    assert "measured face_px: " in shown and "measured head_away: " in shown

    # Exports leave the filtered clip out unless asked; rows carry the measured values and the reason.
    import pyarrow.parquet as pq

    from hdtf.export import export

    plain = export(run.out, tmp_path / "plain")
    assert plain.num_examples == 1
    every = export(run.out, tmp_path / "every", include_filtered=True)
    rows = {r["id"]: r for f in every.files for r in pq.read_table(f).to_pylist()}
    assert set(rows) == set(widths)
    assert rows[small]["face_px"] == pytest.approx(widths[small], abs=1e-2) and rows[small]["filtered"][0].startswith(
        "face_px_filter: face_px ")
    assert rows[large]["filtered"] == []

    # Another threshold: the filters run again on the recorded values alone (no decode, same measures).
    decodes = _counting_decodes(monkeypatch)
    assert run.prepare("--min-face-px", str(round(widths[small] - 1, 3)), "--max-head-angle", "89") == 0
    again = run.records()
    assert decodes == [] and run.requests == [] and run.stamps() == before
    assert all(r["filtered"] is None for r in again.values())
    for clip_id, record in again.items():
        assert record["stages"]["measures"] == measured[clip_id]["stages"]["measures"]
        assert {k: record[k] for k in ("face_px", "sharpness", "head_away")} == {
            k: measured[clip_id][k] for k in ("face_px", "sharpness", "head_away")}

    # Without the thresholds and --measures the values leave the records; the clips stay as they were.
    assert run.prepare() == 0
    plain_records = run.records()
    assert all("face_px" not in r and r["filtered"] is None for r in plain_records.values())
    assert run.stamps() == before


def _iqa_expected(frames: list[np.ndarray]) -> float:
    """The linear stand-in's score computed here: frames scaled to 256, centre 224 crop, ImageNet-normalised channel
    means through the known weights; the mean over the first, middle and last frame."""
    import cv2

    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    scores = []
    for index in sorted({0, len(frames) // 2, len(frames) - 1}):
        big = cv2.resize(frames[index], (256, 256), interpolation=cv2.INTER_LINEAR)
        crop = big[16:240, 16:240].astype(np.float64) / 255.0
        scores.append(float(((crop.mean(axis=(0, 1)) - mean) / std) @ WEIGHTS[:, 0] + BIAS))
    return float(np.mean(scores))


def test_iqa_embeddings_masks_and_face_json_from_one_run(run_two, tmp_path, wav2vec2_dir, monkeypatch):  # noqa: F811
    from hdtf.metrics.arcface import ArcFaceModel, align_face

    run = Run(run_two, tmp_path)
    before = run.stamps()
    iqa = linear_iqa(tmp_path / "iqa.onnx")
    arcface = random_arcface(tmp_path / "arcface.onnx")
    decodes = _counting_decodes(monkeypatch)
    assert run.prepare("--iqa-weights", str(iqa), "--min-iqa", "1e6", "--face-embedding-weights", str(arcface),
                       "--audio-encoder", str(wav2vec2_dir), "--masks", "--face-json") == 0
    assert run.requests == [] and run.stamps() == before
    assert len(decodes) == 2, "IQA and the face embedding share one decode per clip"
    records = run.records()
    model = ArcFaceModel(arcface)
    for clip_id, record in records.items():
        frames = _frames(run.out / record["path"])
        points, found = _landmarks(run.out, record)
        assert len(frames) == record["num_frames"] == len(points)
        # IQA: the score, and the filter it failed (kept on disk).
        assert record["iqa"] == pytest.approx(_iqa_expected(frames), abs=1e-3)
        assert record["filtered"] == [{"stage": "iqa_filter", "value": record["iqa"],
                                       "reason": f"iqa {record['iqa']:g} is below 1e+06 (--min-iqa)"}]
        # Face embedding: the raw ArcFace output of the first frame with a face, float32 (D,).
        assert record["face_embedding_path"] == f"embeddings/{clip_id}.face.npy"
        face = np.load(run.out / record["face_embedding_path"])
        first = int(np.flatnonzero(found)[0])
        assert face.dtype == np.float32 and face.shape == (512,)
        np.testing.assert_allclose(face, model.features(align_face(frames[first], points[first])[None])[0], rtol=1e-5)
        # Audio embeddings: float16, one vector per video frame.
        audio = np.load(run.out / record["audio_embedding_path"])
        assert record["audio_embedding_path"] == f"embeddings/{clip_id}.audio.npy"
        assert audio.dtype == np.float16 and audio.shape == (len(frames), 32) and np.isfinite(audio).all()
        assert record["audio_embedding_layers"] == "last" and np.abs(audio).max() > 0
        # Masks: PNGs under masks/, the lips inside the lip and face unions, a corner outside the lips.
        import cv2

        assert set(record["mask_paths"]) == {"face_mask", "lip_mask", "sep_face_mask", "sep_lip_mask",
                                             "sep_pose_mask"}
        masks = {k: cv2.imread(str(run.out / name), cv2.IMREAD_UNCHANGED) for k, name in record["mask_paths"].items()}
        assert all(name == f"masks/{clip_id}.{k}.png" for k, name in record["mask_paths"].items())
        lips = points[found][:, 48:60]
        lx, ly = (int(round(v)) for v in lips.reshape(-1, 2).mean(0))
        assert masks["face_mask"].shape == masks["lip_mask"].shape == (SIZE, SIZE)
        assert masks["lip_mask"][ly, lx] == 255 and masks["face_mask"][ly, lx] == 255
        assert masks["lip_mask"][0, 0] == 0 and set(np.unique(masks["lip_mask"])) == {0, 255}
        top, bottom = int(np.ceil(lips[..., 1].max())) + 1, int(np.floor(lips[..., 1].min())) - 1
        assert not masks["lip_mask"][top:].any() and not masks["lip_mask"][:max(bottom, 0)].any()
        assert masks["sep_lip_mask"].shape == (64, 64) and masks["sep_lip_mask"].max() == 255
        assert masks["sep_pose_mask"][0, 0] > masks["sep_pose_mask"][ly * 64 // SIZE, lx * 64 // SIZE]
        # Face JSON: MuseTalk's fields, one box and 68 integer points per frame.
        assert record["face_json_path"] == f"faces/{clip_id}.json"
        data = json.loads((run.out / record["face_json_path"]).read_text())
        assert data["video_size"] == [SIZE, SIZE] and data["frames"] == len(frames) and data["isvalid"] is True
        assert len(data["face_list"]) == len(data["landmark_list"]) == len(frames)
        assert data["landmark_list"][3] == np.rint(points[3]).astype(int).tolist()
        assert data["face_list"][3] == [int(np.rint(points[3][:, 0]).min()), int(np.rint(points[3][:, 1]).min()),
                                        int(np.rint(points[3][:, 0]).max()), int(np.rint(points[3][:, 1]).max())]

    # Every hidden state instead of the last: only the audio stage (and the filters) run again, no decode.
    decodes.clear()
    assert run.prepare("--iqa-weights", str(iqa), "--min-iqa", "1e6", "--face-embedding-weights", str(arcface),
                       "--audio-encoder", str(wav2vec2_dir), "--audio-embedding-layers", "all", "--masks",
                       "--face-json") == 0
    assert decodes == []
    for record in run.records().values():
        audio = np.load(run.out / record["audio_embedding_path"])
        assert audio.shape == (record["num_frames"], 4, 32) and record["audio_embedding_layers"] == "all"


def test_task_resources_ask_for_a_gpu_only_where_the_cluster_has_one(tmp_path):
    from hdtf.options import PrepareOptions
    from hdtf.stages import task_resources

    options = PrepareOptions(output_dir=tmp_path, audio_encoder="some/encoder")
    assert task_resources(options) == {"num_cpus": 1, "num_gpus": 1}
    assert task_resources(options, 0) == {"num_cpus": 1}
    assert task_resources(PrepareOptions(output_dir=tmp_path, masks=True, landmarks=True), 4) == {"num_cpus": 1}


def test_curation_flags_need_landmarks_and_weights_in_one_line(tmp_path):
    from hdtf.errors import HDTFError
    from hdtf.options import PrepareOptions
    from hdtf.run import RunOptions, validate

    with pytest.raises(HDTFError, match="--masks needs the clips' landmarks"):
        validate(PrepareOptions(output_dir=tmp_path, masks=True), RunOptions())
    with pytest.raises(HDTFError, match="--min-iqa needs --iqa-weights"):
        validate(PrepareOptions(output_dir=tmp_path, min_iqa=40.0), RunOptions())
    with pytest.raises(HDTFError, match="--max-head-angle 200"):
        validate(PrepareOptions(output_dir=tmp_path, max_head_angle=200.0, landmarks=True), RunOptions())


def test_curation_stages_on_an_s3_output_upload_their_files_with_the_status(run_two, tmp_path, monkeypatch):
    """A fresh run into ``s3://`` with measures, a filter and face JSON (landmarks tracked, then the curation stages
    read them: the measures in the tracking's decode), then masks added to the finished clips on the
    store (their landmarks fetched): every file the stages make is an object, uploaded before the status that names
    it."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    import cv2

    from fixtures.s3_server import serve_s3
    from hdtf.cli import main
    from hdtf.layout import Layout

    with serve_s3() as server, pytest.MonkeyPatch.context() as env:
        for key, value in server.env.items():
            env.setenv(key, value)
        server.create_bucket("curated")
        url = "s3://curated/run"
        with serve_directory(run_two.source.parent) as base:
            common = ["prepare", "--output", url, "--scratch-dir", str(tmp_path / "scratch"), "--metadata-dir",
                      str(run_two.root.parent / "metadata"), "--subsets", "RD", "--url-template",
                      base + "/{subset}_{name}.mp4", "--crop-method", "landmarks", "--size", str(SIZE), "--no-progress",
                      "--min-face-px", "1", "--face-json"]
            decodes = _counting_decodes(monkeypatch)
            assert main(common) == 0
            assert len(decodes) == 2, "per clip one decode: the tracking's, the measures' on the final track in it"
            decodes.clear()
            assert main([*common, "--masks"]) == 0
            assert decodes == [], "masks read the landmarks file alone"
        layout = Layout.for_output(url)
        records = {r["id"]: r for r in done_clips(layout)}
        assert len(records) == 2
        order = [r.key for r in server.log if r.method == "PUT" and r.ok]
        for clip_id, record in records.items():
            assert record["face_px"] > 1 and record["filtered"] is None
            data = json.loads(layout.read_bytes(record["face_json_path"]))
            assert data["frames"] == record["num_frames"] == len(data["landmark_list"])
            lip = cv2.imdecode(np.frombuffer(layout.read_bytes(record["mask_paths"]["lip_mask"]), np.uint8),
                               cv2.IMREAD_UNCHANGED)
            assert lip.shape == (SIZE, SIZE) and lip.max() == 255 and lip[0, 0] == 0
            for name in (record["face_json_path"], *record["mask_paths"].values()):
                first = order.index(f"run/{name}")
                assert "run/status/RD_Speaker.json" in order[first:], f"{name} went up before a status named it"
        assert not list((tmp_path / "scratch").rglob("*.png")), "uploaded files leave the scratch folder"
