#!/usr/bin/env python
"""Train the HDTF generator's stages on prepared clips with 🤗 Accelerate.

    accelerate launch examples/train.py --stage animation2video --train_data_dir PREPARED --output_dir OUT \
        --model_preset tiny --max_train_steps 60

Stages: ``animation2video`` (reference frame + Fapp flow -> driving frame), ``audio2animation`` (speech windows ->
expression and head-pose sequences), or ``all``: both in ONE loop, each optimisation step updating both networks
(they share no parameters, so this is two independent objectives stepping together; one global step, one
checkpoint, one log line per step with both sets of losses).

The Accelerator owns devices, DDP, mixed precision, gradient accumulation and checkpoints. ``OUTPUT/checkpoint-N``
is written into a hidden temporary folder and renamed, so a folder with that name is always complete; the global
step is a registered object, and the data position follows from it (items depend only on seed, epoch and index),
so ``--resume_from_checkpoint latest`` continues exactly where step N left off. Every optimisation step appends one
JSON line to ``OUTPUT/train_log.jsonl``; on resume, lines past the checkpoint's step (from the interrupted run) are
dropped first, so the file always describes the weights' history. At the end the whole generator is saved into
``OUTPUT`` (``HDTFGenerator.from_pretrained(OUTPUT)``; the trained stage is also loadable alone from
``OUTPUT/animation2video`` or ``OUTPUT/audio2animation``) with a model card stating what it was trained on.
See docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hdtf import atomic, hub
from hdtf.errors import HDTFError
from hdtf.redact import shareable_name, shareable_path
from hdtf.storage import is_url

logger = logging.getLogger("hdtf.train")
STAGES = ("animation2video", "audio2animation", "all")
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
LOG_FILE = "train_log.jsonl"
STATE_FILE = "train_state.json"  # stage and global step of a checkpoint: JSON, so resuming unpickles nothing of ours
SPLITS = ("train", "test", "all")  # of HDTF's standard split (hdtf.splits); other sources' clips are always taken


def data_location(text: str) -> str | Path:
    """A prepared run as typed: a storage URL stays text (``Path`` would turn ``s3://b/p`` into ``s3:/b/p``), a
    folder becomes a Path."""
    return text if is_url(text) else Path(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=STAGES, default="animation2video")
    p.add_argument("--output_dir", type=Path, required=True)
    model = p.add_mutually_exclusive_group()
    model.add_argument("--model_preset", choices=("tiny", "base"), default=None, help="start from an untrained preset")
    model.add_argument("--model_config", type=Path, help="JSON overrides of a preset: image_size, feature_extractor, "
                       "audio2animation, animation2video (merged over --model_preset's base, default tiny)")
    model.add_argument("--pretrained_model_name_or_path", help="an HDTFGenerator directory or Hub repo to fine-tune")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--train_data_dir", type=data_location,
                      help="an 'hdtf prepare' output (with landmark tracks): a folder or a URL such as s3://bucket/run")
    data.add_argument("--dataset_name", help="a load_dataset name or path with rows of the hdtf 'clips' schema")
    p.add_argument("--split", choices=SPLITS, default="train",
                   help="which clips of HDTF's standard split to train on (default train: test clips stay out; "
                        "'test' or 'all' is recorded in training_data.json and the model card)")
    p.add_argument("--dataset_config_name", default=None)
    p.add_argument("--dataset_kwargs", type=json.loads, default={}, help="JSON builder kwargs for load_dataset")
    p.add_argument("--resolution", type=int, default=None, help="training image side (default: the model's)")
    p.add_argument("--samples_per_clip", type=int, default=64, help="items per clip and epoch")
    p.add_argument("--audio_window_frames", type=int, default=32, help="frames per audio2animation window")
    p.add_argument("--train_batch_size", type=int, default=4)
    p.add_argument("--gradient_accumulation_steps", type=int, default=1)
    p.add_argument("--learning_rate", type=float, default=2e-4)
    p.add_argument("--discriminator_learning_rate", type=float, default=None, help="default: --learning_rate")
    p.add_argument("--lr_scheduler", default="constant", help="a transformers scheduler name (constant, cosine, ...)")
    p.add_argument("--lr_warmup_steps", type=int, default=0)
    p.add_argument("--max_train_steps", type=int, default=None, help="overrides --num_train_epochs")
    p.add_argument("--num_train_epochs", type=int, default=1)
    p.add_argument("--checkpointing_steps", type=int, default=500)
    p.add_argument("--checkpoints_total_limit", type=int, default=None)
    p.add_argument("--resume_from_checkpoint", default=None, help="a checkpoint folder, or 'latest' in --output_dir")
    p.add_argument("--mixed_precision", choices=("no", "fp16", "bf16"), default=None)
    p.add_argument("--gradient_checkpointing", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation_steps", type=int, default=250)
    p.add_argument("--num_validation_images", type=int, default=4)
    p.add_argument("--report_to", default="none", help="none, tensorboard, wandb, ... (train_log.jsonl is always written)")
    p.add_argument("--push_to_hub", action="store_true")
    p.add_argument("--hub_model_id", default=None)
    p.add_argument("--dataloader_num_workers", type=int, default=0)
    p.add_argument("--adversarial_start_step", type=int, default=None,
                   help="step from which the patch discriminator is trained and used (default: never)")
    p.add_argument("--adversarial_weight", type=float, default=0.1)
    p.add_argument("--feature_matching_weight", type=float, default=1.0)
    args = p.parse_args(argv)
    if args.train_batch_size < 1 or args.gradient_accumulation_steps < 1:
        p.error("--train_batch_size and --gradient_accumulation_steps must be at least 1")
    if args.checkpoints_total_limit is not None and args.checkpoints_total_limit < 1:
        p.error("--checkpoints_total_limit must be at least 1")
    return args


# ---- model and data --------------------------------------------------------------------------------------------
def build_generator(args: argparse.Namespace):
    """The HDTFGenerator to train: pretrained, a preset, or a preset with --model_config / --resolution overrides."""
    from hdtf.modeling.generator import HDTFGenerator

    if args.pretrained_model_name_or_path:
        generator = HDTFGenerator.from_pretrained(args.pretrained_model_name_or_path)
        if args.resolution and args.resolution != generator.image_size:
            raise HDTFError(f"--resolution {args.resolution}: the pretrained model works at {generator.image_size}")
        return generator
    overrides = {}
    if args.model_config is not None:
        try:
            overrides = json.loads(args.model_config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise HDTFError(f"{args.model_config}: unreadable model config ({exc})") from None
    if args.resolution:
        overrides["image_size"] = args.resolution
    try:
        return HDTFGenerator.from_preset(args.model_preset or "tiny", seed=args.seed, overrides=overrides)
    except ValueError as exc:  # unknown keys, or values a model config refuses
        raise HDTFError(f"{args.model_config or f'--resolution {args.resolution}'}: {exc}") from None


def load_clips(args: argparse.Namespace, accelerator):
    """PreparedClip records from --train_data_dir, or from --dataset_name rows materialised under OUTPUT/data_cache."""
    from hdtf.data import clips_from_rows, load_prepared_clips

    if args.train_data_dir is not None:
        return load_prepared_clips(args.train_data_dir, split=args.split)
    import datasets

    with accelerator.main_process_first():  # the main process writes the cache; the others then reuse it
        try:
            rows = datasets.load_dataset(args.dataset_name, args.dataset_config_name, **args.dataset_kwargs)
            # The dataset's split of that name when it has one (an export carries the standard split as its
            # splits), else all of its rows; either way the rows are then kept by the standard split's rule.
            rows = datasets.concatenate_datasets([rows[name] for name in ([args.split] if args.split in rows
                                                                          else list(rows))])
        except HDTFError:
            raise
        except Exception as exc:  # noqa: BLE001 - any loading failure is about the user's dataset argument
            raise HDTFError(f"--dataset_name {args.dataset_name}: cannot load ({type(exc).__name__}: {exc})") from None
        missing = {"id", "video", "landmarks", "landmarks_found", "fps", "num_frames", "width"} - set(rows.column_names)
        if missing:
            raise HDTFError(f"--dataset_name {args.dataset_name}: rows lack the columns {sorted(missing)}")
        return clips_from_rows(rows, args.output_dir / "data_cache", split=args.split)


def _seed_worker(worker_id: int) -> None:
    """One intra-op thread per loader worker: workers already run in parallel, more threads only fight."""
    torch.set_num_threads(1)


def _loader(dataset, args: argparse.Namespace) -> torch.utils.data.DataLoader:
    # Sequential on purpose: the dataset shuffles per epoch itself, so accelerate's sharding and batch skipping on
    # resume are exact without any sampler state. The loader draws its workers' base seed on every iter(); its own
    # generator keeps that draw out of torch's global RNG, which the audio model's dropout and pose noise use (a
    # resumed run starts an iterator mid-epoch, where an uninterrupted one does not).
    return torch.utils.data.DataLoader(
        dataset, batch_size=args.train_batch_size, shuffle=False, drop_last=True,
        num_workers=args.dataloader_num_workers, worker_init_fn=_seed_worker if args.dataloader_num_workers else None,
        generator=torch.Generator().manual_seed(args.seed),
    )


def batches(accelerator, loader, first_batch: int):
    """Endless batches from micro-batch ``first_batch`` on (epoch and in-epoch offset follow from it).

    The epoch goes through the prepared loader's ``set_epoch``: it passes it to the dataset on every ``iter()``.
    """
    epoch, skip = divmod(first_batch, len(loader))
    while True:
        current = accelerator.skip_first_batches(loader, skip) if skip else loader
        current.set_epoch(epoch)
        yield from current
        epoch, skip = epoch + 1, 0


# ---- stages ------------------------------------------------------------------------------------------------------
def _per_clip(count: int, clips) -> int:
    """Items per clip so that a validation set has at least ``count`` items."""
    return max(1, -(-count // len(clips)))


def _halves(outputs):
    """Split multi-scale discriminator outputs of a [real; fake] batch into (real outputs, fake outputs)."""
    split = [(logits.chunk(2), [f.chunk(2) for f in feats]) for logits, feats in outputs]
    return tuple([(logits[i], [f[i] for f in feats]) for logits, feats in split] for i in (0, 1))


class AnimationStage:
    """Reference frame + Fapp -> driving frame: reconstruction, warp and smoothness losses, then adversarial."""

    name = "animation2video"

    def __init__(self, generator, clips, args: argparse.Namespace) -> None:
        from hdtf.modeling.losses import MultiScalePatchDiscriminator

        from hdtf.data import AnimationPairDataset

        self.args = args
        self.resolution = args.resolution or generator.image_size
        self.model = generator.animation2video
        if args.gradient_checkpointing:
            getattr(self.model, "activation_checkpointing_enable", self.model.gradient_checkpointing_enable)()
        method = generator.config.get("fapp_method", "nearest")
        self.dataset = AnimationPairDataset(clips, resolution=self.resolution, samples_per_clip=args.samples_per_clip,
                                            seed=args.seed, fapp_method=method)
        self.validation = AnimationPairDataset(clips, resolution=self.resolution, seed=args.seed + 1,
                                               samples_per_clip=_per_clip(args.num_validation_images, clips),
                                               fapp_method=method)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.learning_rate, betas=(0.5, 0.999))
        self.adversarial = args.adversarial_start_step is not None
        self.discriminator = self.d_optimizer = None
        if self.adversarial:
            width = max(16, self.model.config.block_expansion)
            self.discriminator = MultiScalePatchDiscriminator(num_scales=2, base_channels=width, max_channels=8 * width)
            self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), betas=(0.5, 0.999),
                                                lr=args.discriminator_learning_rate or args.learning_rate)

    def prepare(self, accelerator, schedulers) -> None:
        self.loader = _loader(self.dataset, self.args)
        self.model, self.optimizer, self.loader, self.scheduler = accelerator.prepare(
            self.model, self.optimizer, self.loader, schedulers(self.optimizer))
        self.models = [self.model]
        if self.adversarial:
            self.discriminator, self.d_optimizer, self.d_scheduler = accelerator.prepare(
                self.discriminator, self.d_optimizer, schedulers(self.d_optimizer))
            self.models.append(self.discriminator)

    def train_step(self, accelerator, batch: dict, step: int) -> dict[str, torch.Tensor]:
        from hdtf.modeling import losses as L

        reference, target, flow = batch["reference_image"], batch["driving_image"], batch["dense_flow"]
        out = self.model(reference_image=reference, dense_flow=flow)
        synthetic = out.synthetic_image.float()
        parts = L.animation2video_losses(synthetic, target, reference, out.dense_flow_foreground)
        loss = parts.pop("loss")
        use_gan = self.adversarial and step >= self.args.adversarial_start_step
        if use_gan:
            # The generator's adversarial terms go through the bare discriminator with frozen weights, so they add
            # no gradient to it (and no DDP reduction); the discriminator then learns from detached fakes.
            critic = accelerator.unwrap_model(self.discriminator)
            critic.requires_grad_(False)
            real_out, fake_out = _halves(critic(torch.cat([target, synthetic])))
            critic.requires_grad_(True)
            parts["adversarial"] = L.generator_adversarial_loss(fake_out)
            parts["feature_matching"] = L.feature_matching_loss(real_out, fake_out)
            loss = loss + self.args.adversarial_weight * parts["adversarial"]
            loss = loss + self.args.feature_matching_weight * parts["feature_matching"]
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if use_gan:
            # One forward over real and fake together: DDP allows a single forward per backward.
            d_loss = L.discriminator_loss(*_halves(self.discriminator(torch.cat([target, synthetic.detach()]))))
            accelerator.backward(d_loss)
            self.d_optimizer.step()
            self.d_scheduler.step()
            self.d_optimizer.zero_grad(set_to_none=True)
            parts["discriminator"] = d_loss
        parts["loss"] = loss
        return parts

    @torch.no_grad()
    def validate(self, accelerator, step: int, output_dir: Path) -> dict[str, float]:
        """A grid, one row per item: reference | driving | Fapp colour | synthetic; PNG plus tracker image."""
        from hdtf.modeling.fapp import flow_to_color
        from PIL import Image

        count = min(self.args.num_validation_images, len(self.validation))
        items = [self.validation[i] for i in range(count)]
        model = accelerator.unwrap_model(self.model)
        model.eval()
        ref = torch.stack([i["reference_image"] for i in items]).to(accelerator.device)
        drv = torch.stack([i["driving_image"] for i in items]).to(accelerator.device)
        flow = torch.stack([i["dense_flow"] for i in items]).to(accelerator.device)
        synthetic = model(reference_image=ref, dense_flow=flow).synthetic_image.float().clamp(0, 1)
        model.train()

        def rgb(images: torch.Tensor) -> np.ndarray:
            return (images.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)

        colours = flow_to_color(flow.cpu())
        rows = [np.concatenate(cols, axis=1) for cols in zip(rgb(ref), rgb(drv), colours, rgb(synthetic))]
        grid = np.concatenate(rows, axis=0)
        with atomic.replacing(output_dir / "validation" / f"step-{step:06d}.png") as tmp:
            Image.fromarray(grid).save(tmp)
        for tracker in accelerator.trackers:
            if tracker.name == "tensorboard":
                tracker.log_images({"validation": grid}, step=step, dataformats="HWC")
            elif tracker.name == "wandb":
                tracker.log_images({"validation": [Image.fromarray(grid)]}, step=step)
        return {"val_l1": float(F.l1_loss(synthetic, drv))}


class AudioStage:
    """Speech windows -> expression + head-pose deltas with the generator engineer's losses."""

    name = "audio2animation"

    def __init__(self, generator, clips, args: argparse.Namespace) -> None:
        from hdtf.data import AudioAnimationDataset

        self.args = args
        self.model = generator.audio2animation
        # This script feeds no style input (style_motion, style_id), so the style encoder and embeddings would get no
        # gradient; frozen, every trainable parameter is used, and DDP need not search for unused ones each step.
        for part in (self.model.style_encoder, self.model.style_embedding):
            if part is not None:
                part.requires_grad_(False)
        common = {"num_frames": args.audio_window_frames, "feature_extractor": generator.feature_extractor,
                  "expression_basis": generator.expression_basis}
        self.dataset = AudioAnimationDataset(clips, samples_per_clip=args.samples_per_clip, seed=args.seed, **common)
        self.validation = AudioAnimationDataset(clips, samples_per_clip=_per_clip(args.num_validation_images, clips),
                                                seed=args.seed + 1, **common)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.learning_rate)

    def prepare(self, accelerator, schedulers) -> None:
        self.loader = _loader(self.dataset, self.args)
        self.model, self.optimizer, self.loader, self.scheduler = accelerator.prepare(
            self.model, self.optimizer, self.loader, schedulers(self.optimizer))
        self.models = [self.model]

    def _forward(self, model, batch: dict):
        return model(input_features=batch["input_features"], attention_mask=batch["attention_mask"],
                     frame_mask=batch["landmarks_mask"], expression_target=batch["expression_target"],
                     pose_target=batch["pose_target"])

    def train_step(self, accelerator, batch: dict, step: int) -> dict[str, torch.Tensor]:
        out = self._forward(self.model, batch)
        accelerator.backward(out.loss)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {**{k: v for k, v in out.losses.items() if k != "loss"}, "loss": out.loss}

    @torch.no_grad()
    def validate(self, accelerator, step: int, output_dir: Path) -> dict[str, float]:
        count = min(self.args.num_validation_images, len(self.validation))
        batch = torch.utils.data.default_collate([self.validation[i] for i in range(count)])
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        model = accelerator.unwrap_model(self.model)
        model.eval()
        loss = self._forward(model, batch).loss
        model.train()
        return {"val_loss": float(loss)}


# ---- checkpoints and the log -------------------------------------------------------------------------------------
def checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (renamed into place, so never partial), oldest first."""
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := CHECKPOINT.match(p.name))]
    return sorted(found)


def resolve_resume(args: argparse.Namespace) -> Path | None:
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint == "latest":
        done = checkpoints(args.output_dir)
        if not done:
            logger.warning("--resume_from_checkpoint latest: no checkpoint in %s yet; starting from step 0", args.output_dir)
            return None
        return done[-1][1]
    path = Path(args.resume_from_checkpoint)
    if not path.is_absolute() and not path.exists():
        path = args.output_dir / path
    if not path.is_dir():
        raise HDTFError(f"--resume_from_checkpoint {args.resume_from_checkpoint}: no such checkpoint folder")
    return path


def checkpoint_step(path: Path, stage: str) -> int:
    """The global step saved in a checkpoint of this stage; refuses, in one line, any other folder (before
    accelerate loads a model into the wrong network)."""
    try:
        saved = json.loads((path / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        raise HDTFError(f"{path}: not a checkpoint of examples/train.py (no readable {STATE_FILE})") from None
    if saved.get("stage") != stage:
        raise HDTFError(f"{path}: the checkpoint was made by --stage {saved.get('stage')}, not --stage {stage}")
    return int(saved["step"])


def save_checkpoint(accelerator, args: argparse.Namespace, step: int) -> None:
    """``save_state`` into a hidden folder, then rename to checkpoint-{step}; prune to the total limit."""
    final = args.output_dir / f"checkpoint-{step}"
    tmp = args.output_dir / f".checkpoint-{step}.partial"
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps({"stage": args.stage, "step": step}) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if args.checkpoints_total_limit:
            for _, old in checkpoints(args.output_dir)[: -args.checkpoints_total_limit]:
                shutil.rmtree(old)
        logger.info("saved %s", final)
    accelerator.wait_for_everyone()


def trim_log(path: Path, last_step: int) -> None:
    """Drop log lines past ``last_step`` (written by a run that went on after its last checkpoint)."""
    if not path.is_file():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= last_step]
    atomic.write_text(path, "".join(ln + "\n" for ln in lines))


# ---- the end -------------------------------------------------------------------------------------------------------
LOSSES = {
    "animation2video": "L1 + multi-scale L1/SSIM + warp L1 + flow smoothness",
    "audio2animation": "landmark L1 (mouth weighted) + velocity + pose + expression",
}


def save_final(generator, stages, args: argparse.Namespace, step: int, last: dict, clips, elapsed: float) -> None:
    """The whole generator into --output_dir, with training facts in its config (the model card is made from them)."""
    from hdtf.modeling.model_card import describe_hardware
    from hdtf.splits import CURRENT
    from hdtf.training_data import split_counts, write_training_data

    # names, not local paths: the config and the card are shared (hdtf.redact)
    data = shareable_name(args.train_data_dir or args.dataset_name)
    hub_dataset = args.dataset_name if args.dataset_name and not os.path.exists(args.dataset_name) else None
    if args.train_data_dir is None:
        data += f" ({args.dataset_config_name or 'default'})"
    losses = {s.name: LOSSES[s.name] for s in stages}
    if args.adversarial_start_step is not None and "animation2video" in losses:
        losses["animation2video"] += (f" + LSGAN patch discriminator with feature matching from step "
                                      f"{args.adversarial_start_step}")
    facts = {
        "stage": args.stage, "steps": step, "train_batch_size": args.train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps, "learning_rate": args.learning_rate,
        "resolution": args.resolution or generator.image_size, "data": data, "clips": len(clips),
        "final_loss": {k: round(v, 6) for k, v in last.items()}, "seconds": round(elapsed, 1),
        "adversarial_start_step": args.adversarial_start_step, "losses": losses,
        "dataset": hub_dataset, "hardware": describe_hardware(),
        "split": {"name": args.split, "version": CURRENT, "clips": split_counts(c.id for c in clips)[CURRENT]},
    }
    generator.mark_trained([s.name for s in stages], facts)
    generator.save_pretrained(args.output_dir)
    # hdtf evaluate warns when it scores these, or scores the test split of a model trained on test clips
    write_training_data(args.output_dir, [clip.id for clip in clips], split=args.split)


def push(args: argparse.Namespace) -> None:
    """Upload the saved model folder, without checkpoints, caches, logs or validation images."""
    url = hub.upload_folder(args.output_dir, args.hub_model_id or args.output_dir.name,
                            commit_message="Upload HDTFGenerator",
                            ignore_patterns=["checkpoint-*", ".*", "logs/*", "data_cache/*", "validation/*"])
    logger.info("pushed to %s", url)


# ---- main ----------------------------------------------------------------------------------------------------------
def launched_processes() -> int | None:
    """How many processes the launcher was asked for: torchrun's ``WORLD_SIZE``, else the ``--num_processes`` of the
    ``accelerate launch`` that started this process (read from its command line; None without one)."""
    if os.environ.get("WORLD_SIZE", "").isdigit():
        return int(os.environ["WORLD_SIZE"])
    try:
        argv = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:  # no /proc: nothing to compare with
        return None
    if not any("accelerate" in arg for arg in argv[:3]):
        return None
    for index, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in ("--num_processes", "--num-processes"):
            value = value or (argv[index + 1] if index + 1 < len(argv) else "")
            return int(value) if value.isdigit() else None
    return None


def check_processes(accelerator, output_dir: Path) -> None:
    """Say how training runs ("2 processes, DDP over gloo"); refuse copies that would each train alone into one
    folder, and warn when the launcher was asked for more processes than started."""
    started = accelerator.num_processes
    backend = accelerator.state.backend
    logger.info("%d process%s, %s (%s)", started, "es" if started > 1 else "",
                f"DDP over {backend}" if started > 1 else "no DDP", accelerator.device)
    asked = launched_processes()
    if not asked or asked <= started:
        return
    fix = ("on CPUs, set ACCELERATE_USE_CPU=1 and launch with accelerate launch --multi_gpu --num_processes N "
           "(DDP over gloo; docs/training.md)")
    if "WORLD_SIZE" in os.environ:
        raise HDTFError(f"{asked} processes were started, but each would train alone into {output_dir}: {fix}")
    logger.warning("accelerate launch was asked for %d processes, but %d started: %s", asked, started, fix)


def train(args: argparse.Namespace) -> None:
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from transformers import get_scheduler

    if args.push_to_hub and hub.is_offline():
        raise HDTFError("--push_to_hub: HF_HUB_OFFLINE is set, the Hub cannot be reached; unset it or drop --push_to_hub")
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps, mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=str(args.output_dir), logging_dir=str(args.output_dir / "logs")),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per checkpoint is ours to write
    if not accelerator.is_main_process:
        logger.setLevel(logging.WARNING)
    check_processes(accelerator, args.output_dir)
    set_seed(args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    resume = resolve_resume(args)
    step = 0 if resume is None else checkpoint_step(resume, args.stage)

    generator = build_generator(args)
    clips = load_clips(args, accelerator)
    stages = []
    if args.stage in ("animation2video", "all"):
        stages.append(AnimationStage(generator, clips, args))
    if args.stage in ("audio2animation", "all"):
        stages.append(AudioStage(generator, clips, args))
    for stage in stages:
        stage.model.train()

    per_epoch = max(1, min(len(s.dataset) // (args.train_batch_size * accelerator.num_processes) for s in stages)
                    // args.gradient_accumulation_steps)
    max_steps = args.max_train_steps or args.num_train_epochs * per_epoch

    def schedulers(optimizer):
        # Prepared schedulers step once per process per optimisation step (accelerate's convention).
        return get_scheduler(args.lr_scheduler, optimizer, num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
                             num_training_steps=max_steps * accelerator.num_processes)

    for stage in stages:
        stage.prepare(accelerator, schedulers)
    if resume is not None:
        accelerator.load_state(str(resume))
        logger.info("resumed from %s at step %d", resume, step)
    log_path = args.output_dir / LOG_FILE
    if accelerator.is_main_process:
        trim_log(log_path, step)
        config = {k: (shareable_path(v, args.output_dir) if isinstance(v, Path) else v) for k, v in vars(args).items()
                  if isinstance(v, (int, float, str, bool, Path))}  # logs/ sit next to the model: no local paths
        accelerator.init_trackers("hdtf-train", config=config)
    logger.info("stage %s: %d clip(s) of split %s, %d optimisation step(s) per epoch, training to step %d",
                args.stage, len(clips), args.split, per_epoch, max_steps)

    first_batch = step * args.gradient_accumulation_steps
    streams = [batches(accelerator, s.loader, first_batch) for s in stages]
    models = [m for s in stages for m in s.models]
    sums: dict[str, float] = {}
    micro, last, started = 0, {}, time.monotonic()
    with log_path.open("a", encoding="utf-8") if accelerator.is_main_process else open(os.devnull, "w") as log:
        while step < max_steps:
            with accelerator.accumulate(*models):
                parts = {}
                for stage, stream in zip(stages, streams):
                    out = stage.train_step(accelerator, next(stream), step)
                    prefix = "" if len(stages) == 1 else f"{stage.name}/"
                    parts.update({prefix + k: v.detach().float() for k, v in out.items()})
                if len(stages) > 1:
                    parts["loss"] = sum(parts[f"{s.name}/loss"] for s in stages)
            names = sorted(parts)
            values = accelerator.reduce(torch.stack([parts[k] for k in names]), reduction="mean").tolist()
            for k, v in zip(names, values):
                sums[k] = sums.get(k, 0.0) + v
            micro += 1
            if not accelerator.sync_gradients:
                continue
            step += 1
            last = {k: v / micro for k, v in sums.items()}
            sums, micro = {}, 0
            record = {"step": step, **last, "lr": stages[0].scheduler.get_last_lr()[0]}
            validate = step % args.validation_steps == 0 or step == max_steps
            if validate and accelerator.is_main_process:
                for stage in stages:
                    prefix = "" if len(stages) == 1 else f"{stage.name}/"
                    found = stage.validate(accelerator, step, args.output_dir)
                    record.update({prefix + k: v for k, v in found.items()})
            accelerator.log(record, step=step)
            if accelerator.is_main_process:
                log.write(json.dumps(record) + "\n")
                log.flush()
            if step % args.checkpointing_steps == 0:
                save_checkpoint(accelerator, args, step)
            if step % 10 == 0:
                logger.info("step %d/%d loss %.4f", step, max_steps, last["loss"])

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        for stage in stages:
            setattr(generator, stage.name, accelerator.unwrap_model(stage.model).eval())
        save_final(generator, stages, args, step, last, clips, time.monotonic() - started)
        logger.info("saved the generator to %s", args.output_dir)
        if args.push_to_hub:
            push(args)
    accelerator.end_training()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except HDTFError as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
