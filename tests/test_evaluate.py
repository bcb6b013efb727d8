"""Evaluation: the streaming clip scorer on a real-face clip, clip discovery, crop recovery, and ``hdtf evaluate``."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

pytest.importorskip("dlib")
torch = pytest.importorskip("torch")

from hdtf.errors import HDTFError  # noqa: E402
from hdtf.evaluate import find_clips, reference_window  # noqa: E402
from hdtf.metrics.base import Column, Metric  # noqa: E402
from hdtf.metrics.video import MetricSet, iter_frames, score_clip  # noqa: E402

from fixtures.prepared_faces import prepared_faces  # noqa: E402,F401 (session fixture shared across modules)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, speech_wav) -> Path:
    """A prepared dataset (status file + manifest, clips/{id}.mp4 + .wav): a 1.2 s, 256x256, 25 fps talking-face
    clip of a real photo, and a clip without a face that evaluation must report and skip."""
    import soundfile as sf

    from hdtf.manifest import write_manifest
    from hdtf.atomic import write_json as write_json_atomic
    from hdtf.layout import STATUS_VERSION
    from hdtf.synthetic import make_no_face_video, make_talking_face_video

    root = tmp_path_factory.mktemp("prepared")
    make_talking_face_video(root / "clips" / "WRA_Test_000.mp4", audio=speech_wav, seconds=1.2, size=(256, 256))
    make_no_face_video(root / "clips" / "WRA_Test_001.mp4", seconds=0.4, size=(128, 128))
    audio, rate = sf.read(speech_wav, dtype="float32")
    clips = []
    for name, seconds in (("WRA_Test_000", 1.2), ("WRA_Test_001", 0.4)):
        sf.write(root / "clips" / f"{name}.wav", audio[: int(seconds * rate)], rate)
        clips.append({"id": name, "status": "done", "path": f"clips/{name}.mp4", "audio_path": f"clips/{name}.wav"})
    video = {"source": "hdtf", "subset": "WRA", "name": "Test", "key": "WRA_Test"}
    status = {"version": STATUS_VERSION, "video": video, "status": "done", "reason": None, "clips": clips}
    write_json_atomic(root / "status" / "WRA_Test.json", status)
    write_manifest(root)
    return root


@pytest.fixture(scope="module")
def clip(prepared) -> Path:
    return prepared / "clips" / "WRA_Test_000.mp4"


@pytest.fixture(scope="module")
def user_weights(tmp_path_factory) -> tuple[Path, Path]:
    """Stand-ins for the user's files in the real formats: a TorchScript feature extractor, a SyncNet state dict."""
    from hdtf.metrics.sync import build_syncnet

    class Pool(torch.nn.Module):
        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)

    root = tmp_path_factory.mktemp("weights")
    with pytest.warns(DeprecationWarning):
        torch.jit.script(Pool()).save(str(root / "inception.pt"))
    torch.manual_seed(0)
    torch.save(build_syncnet().state_dict(), root / "syncnet_v2.model")
    return root / "inception.pt", root / "syncnet_v2.model"


def _blur(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [np.clip(np.rint(gaussian_filter(f.astype(float), (2, 2, 0))), 0, 255).astype(np.uint8) for f in frames]


def test_identical_clip_scores_perfectly_and_a_degraded_one_does_not(clip):
    real = list(iter_frames(clip))
    assert len(real) == 30
    real = real[:10]  # dlib's face recogniser costs ~0.3 s a frame on a busy CPU: score a third of the clip
    tools = MetricSet(frozenset({"psnr", "ssim", "cpbd", "lmd", "csim"}))
    same = score_clip(iter(real), iter(real), tools, source=real[0])
    assert same["frames"] == 10
    assert same["psnr"] == math.inf and same["ssim"] == pytest.approx(1.0)
    assert same["m_lmd"] == 0.0 and same["f_lmd_iod"] == 0.0
    assert same["csim"] > 0.95 and same["no_face_generated"] == 0
    assert same["cpbd"] == same["cpbd_real"]

    # A generator 5 frames out of step: same face, but lips and head disagree with the real clip.
    late = [real[(k + 5) % len(real)] for k in range(len(real))]
    every_other = MetricSet(tools.names, face_every=2)
    shifted = score_clip(iter(late), iter(real), every_other, source=real[0])
    assert 15 < shifted["psnr"] < 60 and shifted["ssim"] < 1.0
    assert shifted["m_lmd"] > 0.5 and shifted["csim"] > 0.95

    blurred = score_clip(iter(_blur(real)), iter(real), MetricSet(frozenset({"cpbd"})))
    assert blurred["cpbd"] < blurred["cpbd_real"]


def test_shorter_side_bounds_the_comparison_and_sizes_must_match(clip):
    real = list(iter_frames(clip))
    row = score_clip(iter(real[:5]), iter(real), MetricSet(frozenset({"psnr"})))
    assert row["frames"] == 5
    with pytest.raises(HDTFError, match="differ in size"):
        score_clip(iter([real[0][:100]]), iter(real), MetricSet(frozenset({"ssim"})))
    with pytest.raises(HDTFError, match="unknown metric"):
        MetricSet(frozenset({"niqe"}))


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_fid_and_lse_run_with_user_weights(clip, user_weights):
    from hdtf.metrics.fid import fid_from_stats

    tools = MetricSet(frozenset({"fid", "lse"}), weights={"fid": user_weights[0], "syncnet": user_weights[1]})
    fid = tools.active["fid"]
    import soundfile as sf

    real = list(iter_frames(clip))[:12]
    audio, _ = sf.read(clip.with_suffix(".wav"), dtype="float32")
    row = score_clip(iter(real), iter(real), tools, source=real[0], audio=audio)
    assert fid.generated.n == fid.real.n == 12
    assert fid_from_stats(fid.generated, fid.real) == pytest.approx(0.0, abs=1e-6)
    assert np.isfinite(row["lse_d"]) and row["lse_c"] >= 0 and -15 <= row["lse_offset"] <= 15
    assert (row["lse_d_real"], row["lse_c_real"]) == (row["lse_d"], row["lse_c"])  # same frames, same scores


def test_find_clips_reads_folders_and_names_bad_input(prepared, clip, tmp_path):
    found = find_clips(prepared)
    assert [c.id for c in found] == ["WRA_Test_000", "WRA_Test_001"] and found[0].audio.suffix == ".wav"
    assert [c.id for c in find_clips(prepared, limit=1)] == ["WRA_Test_000"]
    assert find_clips(clip)[0].video == clip
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "a.mp4").write_bytes(clip.read_bytes())
    assert [(c.id, c.audio.name) for c in find_clips(tmp_path / "loose")] == [("a", "a.mp4")]
    with pytest.raises(HDTFError, match=r"no manifest.json, no data/\*.parquet and no .mp4"):
        find_clips(tmp_path)


def test_reference_window_recovers_the_generator_crop(face_photo):
    from hdtf.face.detect import read_image
    from hdtf.modeling.generator import prepare_reference

    image = read_image(face_photo)
    canvas = np.full((700, 900, 3), 40, np.uint8)
    canvas[100:612, 250:762] = image  # the face well inside a larger frame: the generator crops a square around it
    crop, points = prepare_reference(canvas, 128)
    x, y, side = reference_window(canvas, points, 128)
    again = next(iter([canvas[y : y + side, x : x + side]]))
    from PIL import Image

    resized = np.asarray(Image.fromarray(again).resize((128, 128), Image.LANCZOS))
    assert np.abs(resized.astype(int) - crop.astype(int)).max() <= 1


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from hdtf.modeling.generator import HDTFGenerator

    return HDTFGenerator.from_preset("tiny", seed=0).save_pretrained(tmp_path_factory.mktemp("model") / "tiny")


def test_a_clip_that_fails_is_reported_without_local_paths(tiny_model, tmp_path):
    """A report is shared: the reason a clip was not scored names the clip's file, not where it lies here."""
    from hdtf.evaluate import EvaluationOptions, evaluate
    from hdtf.video_io import write_video

    write_video(tmp_path / "loose" / "odd.mp4", [np.zeros((64, 64, 3), np.uint8)] * 4, fps=10)
    summary = evaluate(tiny_model, tmp_path / "loose", tmp_path / "report", EvaluationOptions(metrics=("psnr",)))
    assert summary["scored"] == 0 and summary["failed"][0]["reason"] == (
        "odd.mp4: 10 fps, but the model works at 25 fps")
    for shared in ("metrics.json", "per_clip.csv", "report.md"):
        assert str(tmp_path) not in (tmp_path / "report" / shared).read_text(), shared


def test_a_clip_whose_generated_frames_would_not_fit_names_the_max_seconds_that_do(prepared, tiny_model, tmp_path,
                                                                                    monkeypatch):
    """Generation holds its frames: past the memory bound a clip fails in one line (the run goes on) naming the
    --max-seconds that fits, and with that setting it is scored."""
    from hdtf import evaluate as evaluation

    frame = 128 * 128 * 3  # the tiny model's frames
    monkeypatch.setattr(evaluation, "MAX_GENERATED_BYTES", 21 * frame)  # 0.84 s at 25 fps; the clip is 1.2 s
    options = evaluation.EvaluationOptions(metrics=("psnr",), compare=0, limit=1)
    summary = evaluation.evaluate(tiny_model, prepared, tmp_path / "whole", options)
    assert summary["scored"] == 0 and summary["failed"][0]["reason"] == (
        "WRA_Test_000.mp4: 1.2 s at 25 fps and 128x128 would hold 0.0 GiB of generated frames (more than 0.0 GiB); "
        "pass --max-seconds 0.8 or less to evaluate the start of each clip")
    options = evaluation.EvaluationOptions(metrics=("psnr",), compare=0, limit=1, max_seconds=0.8)
    summary = evaluation.evaluate(tiny_model, prepared, tmp_path / "start", options)
    assert summary["scored"] == 1 and summary["frames"] == 20


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_hdtf_evaluate_audio_protocol_with_user_weights(prepared, tiny_model, user_weights, tmp_path, capsys):
    from hdtf.cli import main

    out = tmp_path / "report"
    code = main(["evaluate", "--model", str(tiny_model), "--data", str(prepared), "--protocol", "audio",
                 "--metrics", "psnr,ssim,lmd,fid,lse", "--face-every", "5", "--output", str(out), "--compare", "1",
                 "--fid-weights", str(user_weights[0]), "--syncnet-weights", str(user_weights[1])])
    assert code == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["protocol"] == "audio" and summary["clips"] == 2 and summary["scored"] == 1
    assert summary["failed"][0]["id"] == "WRA_Test_001" and "no face" in summary["failed"][0]["reason"]
    assert "WRA_Test_001: failed" in capsys.readouterr().out
    metrics = summary["metrics"]
    assert 0 < metrics["psnr"] < 60 and -1 <= metrics["ssim"] <= 1
    # An untrained model may draw no face at all; then LMD says so instead of a number.
    assert metrics["m_lmd"] == "n/a (no face found in the generated frames)" or metrics["m_lmd"] >= 0
    assert metrics["fid"] > 0 and np.isfinite(metrics["lse_d"]) and metrics["lse_c"] >= 0
    assert np.isfinite(metrics["lse_d_real"]) and metrics["lse_d"] != metrics["lse_d_real"]
    rows = (out / "per_clip.csv").read_text().splitlines()
    assert rows[0].startswith("id,status,reason") and len(rows) == 3
    for shared in ("metrics.json", "per_clip.csv", "report.md"):  # reports are shared: no local paths in them
        text = (out / shared).read_text()
        assert str(prepared) not in text and str(tiny_model) not in text and str(tmp_path) not in text, shared
    frames = list(iter_frames(out / "comparisons" / "WRA_Test_000.mp4"))
    assert len(frames) == 30 and frames[0].shape == (128, 4 * 128, 3)
    assert (out / "comparisons" / "grid.png").is_file()
    # The real panel is the generator's reference crop of the real clip: frame 0 equals the source panel.
    source, real = frames[0][:, :128].astype(int), frames[0][:, 256:384].astype(int)
    assert np.abs(source - real).mean() < 3.0


def test_reconstruction_protocol_on_hdtf_prepare_output(prepared_faces, tiny_model, tmp_path):
    """The real thing: a folder written by ``hdtf prepare`` (manifest, status, clips with wav and landmarks)."""
    from hdtf.cli import main

    out = tmp_path / "report"
    code = main(["evaluate", "--model", str(tiny_model), "--data", str(prepared_faces.root), "--protocol",
                 "reconstruction", "--metrics", "psnr,ssim,lmd,fid,lse", "--face-every", "4", "--compare", "0",
                 "--max-seconds", "0.6", "--output", str(out)])
    assert code == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["scored"] == summary["clips"] == 1 and summary["frames"] == 15  # the first 0.6 s at 25 fps
    metrics = summary["metrics"]
    assert 0 < metrics["psnr"] < 60
    assert metrics["fid"] == "n/a (weights not provided: --fid-weights)"
    assert metrics["lse_d"] == metrics["lse_c"] == "n/a (weights not provided: --syncnet-weights)"
    assert "| LSE-D | n/a (weights not provided: --syncnet-weights) | lower |" in (out / "report.md").read_text()
    assert not (out / "comparisons").exists()
    # Its metadata is a one-video folder, not HDTF's release: the report never calls its split "HDTF split v1" bare.
    recorded = json.loads((prepared_faces.root / "manifest.json").read_text())["metadata"]
    assert summary["metadata"] == recorded and recorded["lists"] == "folder" and recorded["added"] == 1
    assert summary["warnings"][0].startswith("the data was prepared from edited metadata (1 clip(s) differ from the "
                                             "pinned release): its split v1 is the rule applied to those lists")
    text = (out / "report.md").read_text()
    assert "listed test clips of HDTF split v1 available in the data (prepared from EDITED metadata" in text
    assert f"| metadata | Metadata: EDITED, a user's metadata folder (SHA-256 {recorded['sha256'][:16]}..." in text


def test_a_run_on_a_store_is_evaluated_like_the_same_folder(prepared_faces, tiny_model, tmp_path):  # noqa: F811
    """``--data s3://...`` (a run prepared on a store; here the prepared folder uploaded as it is to moto's S3 server
    through the real s3fs): the same scores as the folder, reading the records once and fetching only the files of
    the clips evaluated."""
    pytest.importorskip("s3fs", reason="runs on S3 need s3fs (pip install 'hdtf[s3]')")
    pytest.importorskip("moto", reason="the S3 stand-in is moto's server (pip install 'moto[server]')")
    import fsspec
    from fixtures.s3_server import serve_s3

    from hdtf.cli import main

    args = ["--model", str(tiny_model), "--protocol", "reconstruction", "--metrics", "psnr,ssim", "--compare", "0",
            "--max-seconds", "0.4"]
    assert main(["evaluate", *args, "--data", str(prepared_faces.root), "--output", str(tmp_path / "here")]) == 0
    with serve_s3() as s3, pytest.MonkeyPatch.context() as env:
        for key, value in s3.env.items():
            env.setenv(key, value)
        env.setattr(tempfile, "tempdir", str(tmp_path))  # under it the run's default scratch folder: fetched clips
        s3.create_bucket("evals")
        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        fs.put(f"{prepared_faces.root}/", "evals/faces/", recursive=True)
        before = len(s3.log)
        assert main(["evaluate", *args, "--data", "s3://evals/faces", "--output", str(tmp_path / "there")]) == 0
        reads = s3.log[before:]
        before = len(s3.log)
        assert main(["evaluate", *args, "--data", "s3://evals/faces", "--output", str(tmp_path / "again")]) == 0
        again = s3.log[before:]
    here, there = (json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("here", "there"))
    assert there["per_clip"] == here["per_clip"] and there["scored"] == 1
    assert there["metrics"] == here["metrics"] and 0 < there["metrics"]["psnr"] < 60
    assert there["data"] == "s3://evals/faces" and here["data"] == prepared_faces.root.name
    record = json.loads((prepared_faces.root / "manifest.json").read_text())["clips"][0]
    gets = sorted(r.key for r in reads if r.method == "GET" and r.key.startswith("faces/clips/"))
    assert gets == sorted(f"faces/{record[k]}" for k in ("audio_path", "path")), "only the evaluated clip's files"
    assert not [r for r in reads if r.method in ("PUT", "POST", "DELETE")], "evaluating writes nothing to the run"
    assert not [r for r in again if r.method == "GET" and "/clips/" in r.key], "unchanged clips are not fetched again"
    scratch = tmp_path / f"hdtf-scratch-{os.getuid()}"
    fetched = sorted(p.name for p in scratch.rglob("*") if p.is_file() and not p.name.endswith(".etag"))
    assert fetched == sorted(Path(record[k]).name for k in ("audio_path", "path"))


def test_exported_parquet_rows_are_streamed_as_clips(clip, tmp_path):
    import datasets
    import soundfile as sf

    from hdtf.evaluate import iter_clips

    audio, rate = sf.read(clip.with_suffix(".wav"), dtype="float32")
    rows = {"id": ["WRA_Row_000", "WRA_Row_001"], "video": [clip.read_bytes()] * 2, "audio": [audio] * 2,
            "sample_rate": [rate] * 2}
    (tmp_path / "data").mkdir()
    datasets.Dataset.from_dict(rows).to_parquet(str(tmp_path / "data" / "train-00000-of-00001.parquet"))
    seen = []
    for item in iter_clips(tmp_path, limit=1):
        frames = list(iter_frames(item.video))
        back, back_rate = sf.read(item.audio, dtype="float32")
        seen.append((item.id, len(frames), back_rate, len(back)))
    assert seen == [("WRA_Row_000", 30, rate, len(audio))]
    assert not item.video.exists()  # the temporary copy is gone once the clip was evaluated


def test_cli_names_bad_input_in_one_line(prepared, tmp_path, capsys):
    from hdtf.cli import main

    base = ["evaluate", "--model", str(tmp_path / "model"), "--data", str(prepared), "--output", str(tmp_path / "r")]
    assert main([*base, "--fid-weights", str(tmp_path / "inception.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hdtf evaluate: error: FID weights") and "file not found" in err and "\n" not in err
    assert main([*base, "--metrics", "psnr"]) == 2
    assert "model directory not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--metrics", "psnr,niqe"])
    assert "unknown metric" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing that looks like a report


class _PSNRAgain(Metric):
    """A metric written in a test: PSNR recomputed from per-frame MSE, plus a per-clip frame count."""

    columns = (Column("toy_psnr", "Toy PSNR (dB)", "higher"),)
    details = ("toy_frames",)
    note = "toy: a metric registered at run time"

    def start(self, clip) -> None:
        self.values: list[float] = []

    def update(self, frame) -> None:
        mse = np.mean((frame.generated.astype(np.float64) - frame.real.astype(np.float64)) ** 2)
        self.values.append(10 * np.log10(255.0**2 / mse))

    def finish(self) -> dict[str, float]:
        return {"toy_psnr": float(np.mean(self.values)), "toy_frames": len(self.values)}


def test_a_metric_registered_at_run_time_flows_into_the_report(prepared, tiny_model, tmp_path, monkeypatch):
    from hdtf.cli import main
    from hdtf.metrics import registry

    monkeypatch.setattr(registry, "METRICS", dict(registry.METRICS))
    registry.register("toy", _PSNRAgain)
    out = tmp_path / "report"
    code = main(["evaluate", "--model", str(tiny_model), "--data", str(prepared), "--metrics", "toy,psnr",
                 "--compare", "0", "--max-seconds", "0.4", "--output", str(out)])
    assert code == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert list(summary["metrics"]) == ["psnr", "toy_psnr"]  # registry order, the toy after the built-ins
    assert summary["metrics"]["toy_psnr"] == pytest.approx(summary["metrics"]["psnr"], rel=1e-12)
    clip_row = summary["per_clip"][0]
    assert clip_row["toy_frames"] == clip_row["frames"] == summary["frames"] == 10
    header = (out / "per_clip.csv").read_text().splitlines()[0].split(",")
    assert header == ["id", "status", "reason", "frames", "psnr", "toy_frames", "toy_psnr"]
    report = (out / "report.md").read_text()
    assert f"| Toy PSNR (dB) | {summary['metrics']['toy_psnr']:.4f} | higher |" in report
    assert "Per-clip means, averaged over clips (toy: a metric registered at run time)." in report
