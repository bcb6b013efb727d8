"""The versioned evaluation protocol: what ``hdtf evaluate`` records about how its numbers were made (protocol and
split versions, test-clip availability, clips, frames, resolution, metric implementations with weight checksums) and
its warning when the model was trained on the clips it scores."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytest.importorskip("dlib")
pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from fixtures.arcface_onnx import random_arcface  # noqa: E402

from hdtf.metrics.base import NO_FACE  # noqa: E402
from hdtf.splits import listed_test_ids  # noqa: E402

TEST_CLIP, TRAIN_CLIP = "WDA_JoeNeguse_001", "WRA_AdamKinzinger2_000"  # HDTF split v1: test and train


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A prepared dataset of two real-face clips: one of the HDTF test split, one of train (ids as hdtf names them)."""
    from hdtf.atomic import write_json
    from hdtf.layout import STATUS_VERSION
    from hdtf.manifest import write_manifest
    from hdtf.synthetic import make_talking_face_video
    from hdtf.video_io import read_audio

    root = tmp_path_factory.mktemp("protocol")
    for clip_id in (TEST_CLIP, TRAIN_CLIP):
        subset, rest = clip_id.split("_", 1)
        name = rest.rsplit("_", 1)[0]
        mp4 = make_talking_face_video(root / "clips" / f"{clip_id}.mp4", seconds=0.6, size=(128, 128)).path
        import soundfile as sf

        sf.write(mp4.with_suffix(".wav"), read_audio(mp4, 16000), 16000)
        clip = {"id": clip_id, "source": "hdtf", "subset": subset, "video_name": name, "status": "done",
                "path": f"clips/{clip_id}.mp4", "audio_path": f"clips/{clip_id}.wav"}
        video = {"source": "hdtf", "subset": subset, "name": name, "key": f"{subset}_{name}"}
        write_json(root / "status" / f"{subset}_{name}.json",
                   {"version": STATUS_VERSION, "video": video, "status": "done", "reason": None, "clips": [clip]})
    write_manifest(root)
    return root


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    """A tiny generator whose directory records that it was trained on the test clip (and another one)."""
    from hdtf.modeling.generator import HDTFGenerator
    from hdtf.training_data import write_training_data

    model = HDTFGenerator.from_preset("tiny", seed=0).save_pretrained(tmp_path_factory.mktemp("model") / "tiny")
    record = write_training_data(model, [TEST_CLIP, "WDA_JoeNeguse_000", "RD_Radio1_000"])
    document = json.loads(record.read_text())
    assert document["persons"] == ["JoeNeguse", "Radio1"] and document["splits"]["v1"] == {
        "train": 1, "test": 2, "other": 0}
    return model


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_records_protocol_split_clips_and_metric_implementations(prepared, trained_model, tmp_path, capsys):
    from hdtf.cli import main
    from hdtf.face.models import LANDMARKS_68, model_path

    arcface = random_arcface(tmp_path / "w600k_standin.onnx")
    out = tmp_path / "report"
    code = main(["evaluate", "--model", str(trained_model), "--data", str(prepared), "--split", "test",
                 "--metrics", "psnr,csim,csim_arcface,lse", "--arcface-weights", str(arcface), "--face-every", "3",
                 "--compare", "0", "--max-seconds", "0.4", "--output", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["protocol"] == "audio" and summary["protocol_version"] == "1"
    # Only the test-split clip is evaluated; the report says how much of the listed test split the data holds.
    assert summary["clip_ids"] == [TEST_CLIP] and summary["clips"] == summary["scored"] == 1
    split = summary["split"]
    assert (split["name"], split["version"], split["listed"], split["available"], split["evaluated"]) == (
        "test", "v1", 22, 1, 1)
    assert split["missing"] == [i for i in listed_test_ids() if i != TEST_CLIP]
    assert summary["frames"] == 10 and summary["resolution"] == {"size": 128, "fps": 25.0}
    assert summary["settings"] == {"max_seconds": 0.4, "face_every": 3, "seed": 0, "limit": None}
    # Every metric names its implementation and the checksum of each weight file it read.
    records = {r["name"]: r for r in summary["implementations"]}
    assert list(records) == ["psnr", "csim", "csim_arcface", "lse"]
    assert records["psnr"]["weights"] == [] and records["psnr"]["version"] == "1"
    predictor = {"file": LANDMARKS_68, "sha256": _sha256(model_path(LANDMARKS_68))}
    assert records["csim_arcface"]["weights"] == [{"file": arcface.name, "sha256": _sha256(arcface)}, predictor]
    assert records["csim"]["weights"][0] == predictor and len(records["csim"]["weights"]) == 2
    assert records["csim_arcface"]["class"] == "hdtf.metrics.arcface:ArcFaceCSIM"
    assert any(p.startswith("onnxruntime ") for p in records["csim_arcface"]["packages"])
    assert records["lse"]["unavailable"] == "n/a (weights not provided: --syncnet-weights)"
    # Beside dlib's CSIM, in its own column (an untrained model may draw no face: then both say so).
    values = summary["metrics"]["csim"], summary["metrics"]["csim_arcface"]
    assert all(isinstance(v, float) and 0 < v <= 1 for v in values) or values == (NO_FACE, NO_FACE)
    # The model was trained on the evaluated clip: one warning line, in the report too. Its record names no --split
    # (written without one) and counts its test-split clips, which a second warning names.
    assert summary["training_data"] == {"recorded_clips": 3, "overlapping_clips": [TEST_CLIP],
                                        "overlapping_persons": ["JoeNeguse"], "split": None, "test_clips": 2}
    assert any(w.startswith("the model was trained on 2 clip(s) of the HDTF test split v1:")
               for w in summary["warnings"])
    overlap = [w for w in summary["warnings"] if "training data" in w]
    assert len(overlap) == 1 and f"1 of 1 clips ({TEST_CLIP})" in overlap[0]
    assert f"warning: {overlap[0]}" in err.splitlines()
    assert "HDTF test split v1: 1 of 22 listed clips available" in err
    report = (out / "report.md").read_text()
    assert "| protocol | audio, hdtf evaluation protocol v1 |" in report
    assert "| split | test; 1 of the 22 listed test clips of HDTF split v1 available in the data |" in (
        report)
    assert "| CSIM (ArcFace) |" in report and "| resolution | 128x128 at 25 fps |" in report and f"`{arcface.name}` {_sha256(arcface)}" in report
    assert "## Warnings" in report and overlap[0] in report


def test_all_clips_without_split_and_without_training_record(prepared, tmp_path):
    from hdtf.cli import main
    from hdtf.modeling.generator import HDTFGenerator

    model = HDTFGenerator.from_preset("tiny", seed=0).save_pretrained(tmp_path / "untracked")
    out = tmp_path / "report"
    assert main(["evaluate", "--model", str(model), "--data", str(prepared), "--metrics", "psnr", "--compare", "0",
                 "--max-seconds", "0.2", "--output", str(out)]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["clip_ids"] == sorted([TEST_CLIP, TRAIN_CLIP]) and summary["split"]["name"] == "all"
    assert summary["split"]["available"] == 1 and summary["training_data"] is None and summary["warnings"] == []
    assert "| training data | not recorded (no training_data.json in the model directory) |" in (
        out / "report.md").read_text()
    # A split that none of the data's clips belongs to is one clear error, before any model work.
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / f"{TRAIN_CLIP}.mp4").write_bytes((prepared / "clips" / f"{TRAIN_CLIP}.mp4").read_bytes())
    assert main(["evaluate", "--model", str(model), "--data", str(lone), "--split", "test", "--output",
                 str(tmp_path / "none")]) == 2
    assert not (tmp_path / "none").exists()
