"""examples/train.py under ``accelerate launch`` (1 CPU process) on a dataset made by the real ``hdtf prepare``.

One run of the animation2video stage with the discriminator switched on part-way, a resume from the latest complete
checkpoint that must reproduce the interrupted run's steps exactly, then the saved generator must load and render
frames closer to the targets than the untrained one. Short ``--stage audio2animation`` and ``--stage all`` runs
are resumed the same way and must log identical values.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures.prepared_faces import SIZE, prepared_faces  # noqa: F401

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "train.py"
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT)]


def _train(data: Path | list[str], out: Path, *extra: str) -> subprocess.CompletedProcess:
    source = ["--train_data_dir", str(data)] if isinstance(data, Path) else data
    args = [*LAUNCH, *source, "--output_dir", str(out), "--model_preset", "tiny",
            "--train_batch_size", "4", "--samples_per_clip", "32", "--seed", "0", *extra]
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


A2V = ("--stage", "animation2video", "--checkpointing_steps", "10", "--checkpoints_total_limit", "2",
       "--validation_steps", "15", "--adversarial_start_step", "20", "--learning_rate", "1e-3")


@pytest.fixture(scope="module")
def first_run(prepared_faces, tmp_path_factory):  # noqa: F811 - the imported fixture is this one's argument
    out = tmp_path_factory.mktemp("train") / "run"
    _train(prepared_faces.root, out, *A2V, "--max_train_steps", "30")
    return prepared_faces.root, out, _log(out)


def test_loss_falls_and_everything_is_logged(first_run):
    _, _, log = first_run
    assert [r["step"] for r in log] == list(range(1, 31))
    assert {"loss", "l1", "ms_l1_ssim", "warp", "flow_smoothness", "lr"} <= set(log[0])
    assert "adversarial" not in log[18] and {"adversarial", "feature_matching", "discriminator"} <= set(log[20])
    assert [r["step"] for r in log if "val_l1" in r] == [15, 30] and log[-1]["val_l1"] < log[14]["val_l1"]
    early = np.mean([r["l1"] for r in log[:5]])
    late = np.mean([r["l1"] for r in log[-5:]])
    assert late < 0.8 * early, f"L1 did not fall: {early:.4f} -> {late:.4f}"


def test_checkpoints_validation_and_model_card(first_run):
    from PIL import Image

    _, out, _ = first_run
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-20", "checkpoint-30"]
    assert not list(out.glob(".checkpoint-*")), "no temporary checkpoint folder is left behind"
    grids = sorted((out / "validation").glob("*.png"))
    assert [g.name for g in grids] == ["step-000015.png", "step-000030.png"]
    assert Image.open(grids[-1]).size == (4 * SIZE, 4 * SIZE), "4 rows of reference | driving | Fapp | synthetic"
    card = (out / "README.md").read_text()
    assert "## Training" in card and "30 optimisation steps" in card and "discriminator" in card
    trained_on = json.loads((out / "training_data.json").read_text())  # what hdtf evaluate checks overlap against
    assert trained_on["clips"] == ["RD_Speaker_000"] and trained_on["persons"] == ["Speaker"]
    assert trained_on["split"] == {"name": "train", "version": "v1"}  # --split train, the default
    assert trained_on["splits"]["v1"] == {"train": 1, "test": 0, "other": 0}
    assert "- Data split: `train` of HDTF's standard split v1 (`hdtf.splits`): 1 train clip(s), 0 test" in card
    assert "Trained on" not in card


def test_resume_from_latest_continues_exactly(first_run, tmp_path):
    data, out, log = first_run
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    shutil.rmtree(resumed / "checkpoint-30")  # as if the run had died between its checkpoints 20 and 30
    (resumed / ".checkpoint-30.partial").mkdir()  # ... while writing checkpoint 30: never picked as "latest"
    done = _train(data, resumed, *A2V, "--max_train_steps", "34", "--resume_from_checkpoint", "latest")
    assert "resumed from" in done.stderr and "checkpoint-20 at step 20" in done.stderr
    again = _log(resumed)
    assert [r["step"] for r in again] == list(range(1, 35)), "the log continues from the checkpoint's step"
    for before, after in zip(log[20:30], again[20:30], strict=True):
        assert after["loss"] == pytest.approx(before["loss"], rel=1e-5), f"step {after['step']} differs after resume"


def test_saved_generator_loads_and_renders_better_than_untrained(first_run):
    from hdtf.modeling.generator import HDTFGenerator

    from hdtf.data import AnimationPairDataset

    data, out, _ = first_run
    trained = HDTFGenerator.from_pretrained(out)
    assert trained.config["trained"] and trained.config["training"]["steps"] == 30
    untrained = HDTFGenerator.from_preset("tiny", seed=0)
    item = AnimationPairDataset(data, samples_per_clip=4, seed=123, build_fapp=False)[2]
    reference = (item["reference_image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    target = item["driving_image"].permute(1, 2, 0).numpy() * 255

    def error(generator) -> float:
        frames = generator.render(reference, item["reference_points"].numpy(), item["driving_points"][None].numpy())
        assert frames["frames"].shape == (1, SIZE, SIZE, 3) and frames["frames"].dtype == np.uint8
        return float(np.abs(frames["frames"][0].astype(np.float32) - target).mean())

    assert error(trained) < 0.7 * error(untrained)


def _resume_reproduces(data: Path | list[str], out: Path, tmp_path: Path, args: tuple[str, ...], total: int,
                       lost: int) -> None:
    """Resume a copy of the run in ``out`` as if it had died before writing ``checkpoint-{lost}`` (from the latest
    checkpoint before it) and require every re-run step's logged values to be identical."""
    log = _log(out)
    resumed = tmp_path / f"{out.name}-resumed"
    shutil.copytree(out, resumed)
    shutil.rmtree(resumed / f"checkpoint-{lost}")
    _train(data, resumed, *args, "--max_train_steps", str(total), "--resume_from_checkpoint", "latest")
    again = _log(resumed)
    assert [r["step"] for r in again] == [r["step"] for r in log]
    first = min(int(p.name.split("-")[1]) for p in resumed.glob("checkpoint-*"))
    for before, after in zip(log[first:], again[first:], strict=True):
        assert after == before, f"step {after['step']} differs after resume"


A2A = ("--stage", "audio2animation", "--checkpointing_steps", "2", "--validation_steps", "3",
       "--audio_window_frames", "16", "--train_batch_size", "2")


def test_audio2animation_resume_continues_exactly(prepared_faces, tmp_path):  # noqa: F811
    """Dropout and the pose noise draw from torch's global RNG: a resumed run must draw the same numbers."""
    out = tmp_path / "a2a"
    _train(prepared_faces.root, out, *A2A, "--max_train_steps", "4")
    assert {"landmark", "velocity", "pose", "expression", "val_loss"} <= set(_log(out)[2])
    _resume_reproduces(prepared_faces.root, out, tmp_path, A2A, total=4, lost=4)


@pytest.fixture(scope="module")
def stage_all_run(prepared_faces, tmp_path_factory):  # noqa: F811
    """Rows of the hdtf 'clips' schema (here a parquet file, as ``hdtf export`` writes) via --dataset_name."""
    import datasets

    from hdtf.manifest import done_clips
    from hdtf.rows import clip_features, clip_row

    tmp_path = tmp_path_factory.mktemp("all")
    rows = [clip_row(prepared_faces.root, entry) for entry in done_clips(prepared_faces.root)]
    datasets.Dataset.from_list(rows, features=clip_features()).to_parquet(str(tmp_path / "clips.parquet"))
    kwargs = json.dumps({"data_files": str(tmp_path / "clips.parquet"), "cache_dir": str(tmp_path / "hf")})
    source = ["--dataset_name", "parquet", "--dataset_kwargs", kwargs]
    args = ("--stage", "all", "--checkpointing_steps", "2", "--validation_steps", "4", "--audio_window_frames", "16",
            "--train_batch_size", "2")
    out = tmp_path / "all"
    _train(source, out, *args, "--max_train_steps", "4")
    return source, args, out


def test_stage_all_trains_both_networks_from_dataset_rows(prepared_faces, stage_all_run):  # noqa: F811
    _, _, out = stage_all_run
    assert sorted(p.name for p in (out / "data_cache" / "clips").iterdir()) == ["RD_Speaker_000.mp4", "RD_Speaker_000.wav"]
    log = _log(out)
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert {"animation2video/l1", "audio2animation/landmark", "audio2animation/velocity", "loss"} <= set(log[-1])
    assert log[-1]["loss"] == pytest.approx(log[-1]["animation2video/loss"] + log[-1]["audio2animation/loss"], rel=1e-5)
    from hdtf.modeling.generator import HDTFGenerator

    trained, initial = HDTFGenerator.from_pretrained(out), HDTFGenerator.from_preset("tiny", seed=0)
    for name in ("animation2video", "audio2animation"):
        a = dict(getattr(trained, name).named_parameters())
        changed = [k for k, p in getattr(initial, name).named_parameters() if not torch.equal(p, a[k])]
        assert changed, f"{name} was not trained"
    _check_stage_mismatch_is_refused(prepared_faces.root, out)


def test_stage_all_resume_continues_exactly(stage_all_run, tmp_path):
    source, args, out = stage_all_run
    _resume_reproduces(source, out, tmp_path, args, total=4, lost=4)


def test_new_expression_basis_marks_the_trained_audio_stage_untrained(prepared_faces, stage_all_run, tmp_path):  # noqa: F811
    """fit-expression-basis on a trained model: config and card keep the training record and say the audio stage no
    longer holds; generation warns about that stage only."""
    from hdtf.cli import main
    from hdtf.modeling.generator import HDTFGenerator

    _, _, out = stage_all_run
    model = tmp_path / "model"
    shutil.copytree(out, model, ignore=shutil.ignore_patterns("checkpoint-*", "data_cache"))
    before = HDTFGenerator.from_pretrained(model)
    assert before.trained_stages == ["audio2animation", "animation2video"] and before.untrained_warning() is None
    assert main(["fit-expression-basis", str(prepared_faces.root), str(model)]) == 0
    config = json.loads((model / "generator_config.json").read_text())
    assert config["trained_stages"] == ["animation2video"] and config["trained"] is True
    assert "fit-expression-basis" in config["untrained_reasons"]["audio2animation"]
    assert config["training"]["steps"] == 4 and config["expression_basis"]["clips"] == 1
    card = (model / "README.md").read_text()
    assert "Weights: trained except audio2animation." in card and "Stage audio2animation: untrained" in card
    assert "## Training" in card and "4 optimisation steps" in card
    after = HDTFGenerator.from_pretrained(model)
    assert not np.array_equal(after.expression_basis.components, before.expression_basis.components)
    basis = torch.as_tensor(after.expression_basis.components, dtype=torch.float32)
    assert torch.equal(after.audio2animation.basis_components, basis), "the audio model's buffers hold the new basis"
    warning = after.untrained_warning()
    assert warning.startswith("the audio2animation (") and "animation2video" not in warning.split(")")[-1]
    assert after.untrained_warning(driving_video=True) is None


def _run_in_process(args: list[str]) -> tuple[int, str]:
    """The script's main() in this process (no launcher needed for a failure): (exit status, stderr)."""
    from contextlib import redirect_stderr
    from io import StringIO

    spec = importlib.util.spec_from_file_location("hdtf_train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    err = StringIO()
    with redirect_stderr(err):
        status = module.main(args)
    return status, err.getvalue()


def test_push_to_hub_offline_fails_at_once_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    status, err = _run_in_process(["--train_data_dir", str(tmp_path), "--output_dir", str(tmp_path / "out"),
                                   "--push_to_hub"])
    assert status == 2 and "--push_to_hub: HF_HUB_OFFLINE is set" in err and len(err.strip().splitlines()) == 1


def _check_stage_mismatch_is_refused(data: Path, out: Path) -> None:
    args = ["--stage", "audio2animation", "--train_data_dir", str(data), "--output_dir", str(out),
            "--resume_from_checkpoint", "latest", "--audio_window_frames", "16"]
    status, err = _run_in_process(args)
    assert status == 2
    assert "checkpoint was made by --stage all, not --stage audio2animation" in err
    assert len(err.strip().splitlines()) == 1


def test_losses_are_zero_exactly_when_they_should_be():
    import torch.nn.functional as F
    from hdtf.modeling import losses as L
    from hdtf.modeling.fapp import identity_grid

    torch.manual_seed(0)
    image, other = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert float(L.ssim(image, image)) == pytest.approx(1.0, abs=1e-5) and float(L.ssim(image, other)) < 0.2
    assert float(L.multiscale_l1_ssim_loss(image, image)) == pytest.approx(0.0, abs=1e-5)
    assert float(L.multiscale_l1_ssim_loss(image, other)) > 0.2
    still = identity_grid(32).expand(2, -1, -1, -1)
    assert float(L.flow_smoothness_loss(still)) == pytest.approx(0.0, abs=1e-6)
    assert float(L.flow_smoothness_loss(still + 0.05 * torch.randn(2, 32, 32, 2))) > 0.01
    disc = L.MultiScalePatchDiscriminator(num_scales=2, base_channels=8, max_channels=32)
    with torch.no_grad():
        real, fake = disc(F.interpolate(image, scale_factor=2)), disc(F.interpolate(other, scale_factor=2))
    assert len(real) == 2 and real[1][0].shape[-1] < real[0][0].shape[-1], "the second scale sees a smaller image"
    assert float(L.feature_matching_loss(real, real)) == 0.0 and float(L.feature_matching_loss(real, fake)) > 0
    assert float(L.discriminator_loss(real, fake)) > 0 and float(L.generator_adversarial_loss(fake)) > 0


def test_animation2video_losses_are_the_weighted_parts():
    from hdtf.modeling.fapp import identity_grid
    from hdtf.modeling.losses import ANIMATION2VIDEO_LOSS_WEIGHTS, animation2video_losses

    torch.manual_seed(0)
    image, other = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    still = identity_grid(32).expand(2, -1, -1, -1)
    same = animation2video_losses(image, image, image, still)
    assert float(same["l1"]) == 0.0 and float(same["ms_l1_ssim"]) == pytest.approx(0.0, abs=1e-5)
    assert float(same["flow_smoothness"]) == pytest.approx(0.0, abs=1e-6)
    parts = animation2video_losses(other, image, other, still + 0.05 * torch.randn(2, 32, 32, 2))
    assert set(parts) == {"l1", "ms_l1_ssim", "warp", "flow_smoothness", "loss"} and float(parts["warp"]) > 0.1
    weighted = sum(w * parts[k] for k, w in ANIMATION2VIDEO_LOSS_WEIGHTS.items())
    assert float(parts["loss"]) == pytest.approx(float(weighted), rel=1e-6)


TEST_PERSON = "Radio35"  # in the test split v1 of hdtf.splits (RD_Radio35_000 is on the shipped list)


@pytest.fixture(scope="module")
def test_person_export(prepared_faces, tmp_path_factory):  # noqa: F811
    """The prepared clip as one exported parquet shard (``data/*.parquet``, as ``hdtf export`` writes it), its rows
    naming a person of the test split: the clip of a test person."""
    import datasets

    from hdtf.manifest import done_clips
    from hdtf.rows import clip_features, clip_row
    from hdtf.splits import listed_test_ids

    assert f"RD_{TEST_PERSON}_000" in listed_test_ids()
    folder = tmp_path_factory.mktemp("test_person") / "export"
    (folder / "data").mkdir(parents=True)
    rows = [{**clip_row(prepared_faces.root, entry), "id": f"RD_{TEST_PERSON}_000", "video_name": TEST_PERSON}
            for entry in done_clips(prepared_faces.root)]
    shard = folder / "data" / "train-00000-of-00001.parquet"
    datasets.Dataset.from_list(rows, features=clip_features()).to_parquet(str(shard))
    kwargs = json.dumps({"data_files": str(shard), "cache_dir": str(folder.parent / "hf")})
    return folder, ["--dataset_name", "parquet", "--dataset_kwargs", kwargs]


def test_training_takes_the_train_split_unless_told_and_says_so_when_it_took_test_clips(test_person_export, tmp_path):
    """Default --split train leaves the test person's clip out (one line naming --split); --split all trains on it,
    and the card, training_data.json and an hdtf evaluate report on the test split all say so."""
    from hdtf.cli import main

    folder, source = test_person_export
    status, err = _run_in_process([*source, "--output_dir", str(tmp_path / "refused"), "--stage", "animation2video"])
    (line,) = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("train.py:")]  # no progress bars
    assert status == 2 and "none of its 1 clip(s) is in the train split of HDTF's standard split v1" in line
    assert "choose another with --split" in line
    out = tmp_path / "all"
    done = _train(source, out, "--split", "all", "--stage", "animation2video", "--max_train_steps", "2",
                  "--validation_steps", "2", "--checkpointing_steps", "100")
    assert "1 clip(s) of split all" in done.stderr
    recorded = json.loads((out / "training_data.json").read_text())
    assert recorded["split"] == {"name": "all", "version": "v1"} and recorded["clips"] == [f"RD_{TEST_PERSON}_000"]
    assert recorded["splits"]["v1"] == {"train": 0, "test": 1, "other": 0}
    card = (out / "README.md").read_text()
    assert "- Data split: `all` of HDTF's standard split v1" in card
    assert "- **Trained on 1 clip(s) of the HDTF test split v1**: scores of this model on that split are not" in card
    report = tmp_path / "report"
    assert main(["evaluate", "--model", str(out), "--data", str(folder), "--split", "test", "--protocol",
                 "reconstruction", "--metrics", "psnr", "--compare", "0", "--max-seconds", "0.4",
                 "--output", str(report)]) == 0
    summary = json.loads((report / "metrics.json").read_text())
    line = "the model was trained on 1 clip(s) of the HDTF test split v1 (trained with --split all): its scores on"
    assert any(w.startswith(line) for w in summary["warnings"]), summary["warnings"]
    assert summary["training_data"]["split"] == "all" and summary["training_data"]["test_clips"] == 1
    text = (report / "report.md").read_text()
    assert line in text and "1 clips recorded (split all, 1 of them test clips)" in text


def test_train_and_fit_expression_basis_read_a_run_on_a_store(prepared_faces, tmp_path):  # noqa: F811
    """``--train_data_dir s3://...`` (argparse's Path would make it ``s3:/...``) and ``hdtf fit-expression-basis
    s3://...``, against the prepared folder uploaded as it is to moto's S3 server through the real s3fs: the same
    clip is trained on, the same basis fitted, and nothing is written to the run."""
    pytest.importorskip("s3fs", reason="runs on S3 need s3fs (pip install 'hdtf[s3]')")
    pytest.importorskip("moto", reason="the S3 stand-in is moto's server (pip install 'moto[server]')")
    import os
    import tempfile

    import fsspec
    from fixtures.s3_server import serve_s3

    from hdtf.cli import main
    from hdtf.modeling.animation_params import ExpressionBasis

    assert main(["fit-expression-basis", str(prepared_faces.root), str(tmp_path / "here.safetensors")]) == 0
    with serve_s3() as s3, pytest.MonkeyPatch.context() as env:
        for key, value in s3.env.items():
            env.setenv(key, value)
        env.setattr(tempfile, "tempdir", str(tmp_path))  # the run's default scratch folder goes under it
        s3.create_bucket("runs")
        fsspec.filesystem("s3", skip_instance_cache=True).put(f"{prepared_faces.root}/", "runs/faces/", recursive=True)
        before = len(s3.log)
        assert main(["fit-expression-basis", "s3://runs/faces", str(tmp_path / "there.safetensors")]) == 0
        out = tmp_path / "model"
        launch = subprocess.run(
            [*LAUNCH, "--train_data_dir", "s3://runs/faces", "--output_dir", str(out), "--model_preset", "tiny",
             "--stage", "animation2video", "--train_batch_size", "2", "--samples_per_clip", "4",
             "--max_train_steps", "2", "--validation_steps", "2", "--checkpointing_steps", "100"],
            env={**os.environ, "TMPDIR": str(tmp_path)}, capture_output=True, text=True, timeout=300)
        writes = [r for r in s3.log[before:] if r.method in ("PUT", "POST", "DELETE")]
    assert launch.returncode == 0, launch.stderr[-3000:]
    here, there = (ExpressionBasis.load(tmp_path / f"{n}.safetensors") for n in ("here", "there"))
    np.testing.assert_array_equal(here.components, there.components)
    assert json.loads((out / "training_data.json").read_text())["clips"] == ["RD_Speaker_000"]
    config = json.loads((out / "generator_config.json").read_text())
    assert config["training"]["data"] == "s3://runs/faces" and config["training"]["clips"] == 1
    assert writes == [], "reading a run writes nothing to it"
    assert not (Path.cwd() / "s3:").exists()


def _launch(processes: int, *launcher: str, env: dict | None = None, args: list[str]) -> subprocess.CompletedProcess:
    import os

    command = [sys.executable, "-m", "accelerate.commands.launch", *launcher, "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT), *args]
    return subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)


def test_processes_are_logged_and_a_launch_that_started_fewer_says_so(prepared_faces, tmp_path):  # noqa: F811
    """On CPUs: `--num_processes 2` alone starts one process (warned, with the fix); `--multi_gpu` without
    ACCELERATE_USE_CPU starts two that would each train alone (refused); with it, DDP over gloo trains both stages
    with no unused-parameter search (and no DDP warning about one)."""
    from hdtf.modeling.generator import HDTFGenerator

    data = ["--train_data_dir", str(prepared_faces.root), "--model_preset", "tiny", "--audio_window_frames", "16",
            "--train_batch_size", "2", "--samples_per_clip", "8"]
    one = _launch(2, args=[*data, "--output_dir", str(tmp_path / "one"), "--split", "test"])  # stops after the check
    assert "1 process, no DDP" in one.stderr
    assert "accelerate launch was asked for 2 processes, but 1 started: on CPUs, set ACCELERATE_USE_CPU=1" in one.stderr
    alone = _launch(2, "--multi_gpu", args=[*data, "--output_dir", str(tmp_path / "alone")])
    refusals = [ln for ln in alone.stderr.splitlines() if ln.startswith("train.py: 2 processes were started, but each")]
    assert alone.returncode != 0 and len(refusals) == 2, alone.stderr[-3000:]
    assert not (tmp_path / "alone" / "train_log.jsonl").exists()
    out = tmp_path / "ddp"
    ddp = _launch(2, "--multi_gpu", env={"ACCELERATE_USE_CPU": "1"},
                  args=[*data, "--output_dir", str(out), "--stage", "all", "--max_train_steps", "3",
                        "--validation_steps", "3", "--checkpointing_steps", "100"])
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "2 processes, DDP over gloo" in ddp.stderr and "find_unused_parameters" not in ddp.stderr
    assert [r["step"] for r in _log(out)] == [1, 2, 3]
    trained, initial = HDTFGenerator.from_pretrained(out), HDTFGenerator.from_preset("tiny", seed=0)
    style = dict(initial.audio2animation.style_encoder.named_parameters())
    assert all(torch.equal(p, style[k]) for k, p in trained.audio2animation.style_encoder.named_parameters()), \
        "the style encoder gets no input in training: frozen"
    assert not torch.equal(trained.audio2animation.pose_in.weight, initial.audio2animation.pose_in.weight)
