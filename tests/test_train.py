"""examples/train.py under ``accelerate launch`` (1 CPU process) on a dataset made by the real ``hdtf prepare``.

One run of the animation2video stage with the discriminator switched on part-way, a resume from the latest complete
checkpoint that must reproduce the interrupted run's steps exactly, then the saved generator must load and render
frames closer to the targets than the untrained one. A short ``--stage all`` run covers the audio stage.
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


def test_stage_all_trains_both_networks_from_dataset_rows(prepared_faces, tmp_path):  # noqa: F811
    """Rows of the hdtf 'clips' schema (here a parquet file, as ``hdtf export`` writes) via --dataset_name."""
    import datasets

    from hdtf.manifest import done_clips
    from hdtf.rows import clip_features, clip_row

    rows = [clip_row(prepared_faces.root, entry) for entry in done_clips(prepared_faces.root)]
    datasets.Dataset.from_list(rows, features=clip_features()).to_parquet(str(tmp_path / "clips.parquet"))
    kwargs = json.dumps({"data_files": str(tmp_path / "clips.parquet"), "cache_dir": str(tmp_path / "hf")})
    out = tmp_path / "all"
    _train(["--dataset_name", "parquet", "--dataset_kwargs", kwargs], out, "--stage", "all", "--max_train_steps", "4", "--checkpointing_steps", "4",
           "--validation_steps", "4", "--audio_window_frames", "16", "--train_batch_size", "2")
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
