"""HDTFGenerator: one photo + speech (or a driving video) → a talking-face video, in one directory of weights.

A pipeline of components in the diffusers style: each is saved by its own ``save_pretrained`` and loaded by its
own ``from_pretrained``, and ``generator_config.json`` records each one's class and place. The components are
declared once, in ``components.GENERATOR_COMPONENTS``; today's directory::

    generator_config.json          written last: its presence marks a complete model directory
    feature_extractor/             HDTFFeatureExtractor (preprocessor_config.json)
    audio2animation/               HDTFAudioToAnimation (config.json + model.safetensors)
    animation2video/               HDTFAnimationToVideo (config.json + model.safetensors)
                                   + HDTFFaceProcessor (preprocessor_config.json: the photo framing it expects)
    expression_basis.safetensors   ExpressionBasis the coefficients refer to
    README.md                      model card

Directories written before components were recorded (format version 1) load with today's classes and a default
for each optional component (the face processor). Classes are looked up in the declared components, never imported
by a name from a config.

Generation: landmarks of the reference face are moved by per-frame pose/expression deltas (predicted from audio, or
measured on a driving video relative to its first frame), turned into a dense sampling grid by Fapp, and rendered
by the animation-to-video network, in batches of frames.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hdtf import atomic, hub
from hdtf.errors import HDTFError

from . import components as declared
from .animation_params import ExpressionBasis, animate_points, pose_delta
from .model_card import build_model_card, generator_origin, write_model_card
from .presets import preset
from .processing_hdtf import prepare_reference

__all__ = ["CONFIG_FILE", "STAGES", "HDTFGenerator", "HDTFGeneratorOutput", "prepare_reference", "replace_directory"]

CONFIG_FILE = "generator_config.json"
FORMAT = "hdtf-generator"
VERSION = 2  # 1: no component records (today's fixed classes and places, no face processor)
STAGES = ("audio2animation", "animation2video")  # the trainable networks, in pipeline order
REFERENCE_SAMPLING = ("even", "pose")  # how references_from_video picks frames


@dataclass
class HDTFGeneratorOutput:
    """What a generation produced. Arrays are numpy; pixel coordinates refer to the output frames.

    ``landmarks`` (T, 68, 2) are the driving landmarks each frame was rendered from; ``expression`` (T, K) and
    ``pose`` (T, 6) are the deltas from the reference. ``reference_image``/``reference_landmarks`` are the first
    (identity) reference's; ``reference_images`` (R, H, W, 3) all R references. ``flows`` (T, H, W, 2) sampling
    grids, ``warped`` frames and the masks (T, H, W) are kept only with ``return_intermediates=True`` (the last three
    are the network's 1/4-scale maps, resized to the frames; with several references, the first one's).
    """

    frames: np.ndarray
    landmarks: np.ndarray
    reference_image: np.ndarray
    reference_landmarks: np.ndarray
    expression: np.ndarray
    pose: np.ndarray
    fps: float
    audio: np.ndarray | None
    sampling_rate: int
    flows: np.ndarray | None = None
    warped: np.ndarray | None = None
    foreground_mask: np.ndarray | None = None
    matting_mask: np.ndarray | None = None
    reference_images: np.ndarray | None = None


def _fill_missing(points: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Landmarks of frames without a face copied from the nearest frame with one (held, not invented)."""
    idx = np.flatnonzero(found)
    nearest = idx[np.abs(idx[None, :] - np.arange(len(found))[:, None]).argmin(1)]
    return points[nearest]


def _spread(features: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` rows of ``features`` far apart: the row nearest the mean, then each time the row
    farthest from all picked so far (farthest-point sampling)."""
    picks = [int(np.linalg.norm(features, axis=1).argmin())]
    distance = np.linalg.norm(features - features[picks[0]], axis=1)
    while len(picks) < count:
        picks.append(int(distance.argmax()))
        distance = np.minimum(distance, np.linalg.norm(features - features[picks[-1]], axis=1))
    return np.array(picks)


_USAGE = """from hdtf import HDTFGenerator

generator = HDTFGenerator.from_pretrained("PATH_OR_REPO")
out = generator("face.jpg", audio="speech.wav", seed=0)  # out.frames: (T, H, W, 3) uint8, 25 fps
# command line: hdtf generate --model PATH_OR_REPO --image face.jpg --audio speech.wav --output out.mp4"""


def _model_card(generator: HDTFGenerator) -> str:
    cfg = generator.config
    trained = generator.trained_stages
    if not trained:
        state = "untrained (random initial weights, for tests and as a starting point)"
    else:
        untrained = [stage for stage in STAGES if stage not in trained]
        state = "trained" + (f" except {' and '.join(untrained)}" if untrained else "")
    summary = (
        f"One-shot talking-face generator after the HDTF paper (CVPR 2021): audio or a driving video → landmark "
        f"animation parameters (head pose + {generator.expression_basis.num_components} expression coefficients) → "
        f"Fapp dense flow → flow-guided animation-to-video network. {cfg['image_size']}x{cfg['image_size']}, "
        f"{cfg['fps']:g} fps. Weights: {state}."
    )
    params = sum(p.numel() for m in (generator.audio2animation, generator.animation2video) for p in m.parameters())
    notes = [
        _references_note(generator.references),
        f"Preset: {cfg.get('preset') or 'custom'}. Expression groups: "
        + ", ".join(f"{k} {b - a}" for k, (a, b) in generator.expression_basis.groups.items()) + ".",
    ]
    basis = cfg.get("expression_basis")
    if basis:
        notes.append(f"Expression basis fitted by `hdtf fit-expression-basis` on {basis['clips']} clip(s) of "
                     f"{basis['data']}.")
    notes += [f"Stage {stage}: untrained — {reason}" for stage, reason in sorted(cfg.get("untrained_reasons", {}).items())]
    card = build_model_card(
        "HDTF talking-face generator", summary, cfg, _USAGE, parameters=params, notes=notes,
        tags=["talking-face", "audio-to-video", "image-animation"],
        origin=generator_origin(cfg), library_name="hdtf", pipeline_tag="image-to-video",
    )
    return card + _components_section() + _training_section(cfg.get("training"))


def _components_section() -> str:
    """The model card's table of the directory's parts (``components.GENERATOR_COMPONENTS``)."""
    lead = ("Each part loads on its own with its class's `from_pretrained`; `generator_config.json` records each "
            "one's class and place.")
    return "\n".join(["", "## Components", "", lead, "", declared.component_table(), ""])


def _references_note(references: dict[str, Any]) -> str:
    """The card's line on references: trained with N, and what several given at generation time do."""
    count, fusion = references["num_references"], references["reference_fusion"]
    if count == 1:
        return ("References: trained one-shot (1 reference frame per item). Several references (`images=`, "
                "`--reference-video`) are each warped by their own Fapp flow and their features averaged (no "
                "trained confidence head).")
    how = ("per-pixel softmax of a learned confidence map per reference" if fusion == "confidence"
           else "plain mean (the ablation of the confidence fusion)")
    return (f"References: trained with {count} reference frames per item, each warped by its own Fapp flow and "
            f"fused by {how} (`reference_fusion: {fusion}`).")


def _training_section(facts: dict[str, Any] | None) -> str:
    """The model card's account of the last training run's losses (``examples/train.py`` records
    ``config["training"]``; the run itself — data, steps, hardware — is told by "How the weights were made")."""
    if not facts:
        return ""
    lines = ["", "## Training", ""]
    lines += _split_lines(facts.get("split"))
    lines += [f"- {stage} losses: {text}." for stage, text in facts.get("losses", {}).items()]
    final = facts.get("final_loss") or {}
    if final:
        lines.append("- Final logged losses: " + ", ".join(f"{k} {v:.4f}" for k, v in final.items()) + ".")
    lines += ["- Per-step losses: `train_log.jsonl` (one JSON object per optimisation step).", ""]
    return "\n".join(lines)


def _split_lines(split: dict[str, Any] | None) -> list[str]:
    """What part of HDTF's standard split the run trained on (``examples/train.py --split``), and, in bold, when
    that includes test clips: scores on the test split are then not held-out."""
    if not split:
        return []
    counts, version = split.get("clips") or {}, split.get("version")
    lines = [f"- Data split: `{split.get('name')}` of HDTF's standard split {version} (`hdtf.splits`): "
             f"{counts.get('train', 0)} train clip(s), {counts.get('test', 0)} test clip(s), "
             f"{counts.get('other', 0)} clip(s) of sources without that split."]
    if counts.get("test"):
        lines.append(f"- **Trained on {counts['test']} clip(s) of the HDTF test split {version}**: scores of this "
                     "model on that split are not held-out.")
    return lines


def replace_directory(staging: Path, target: Path) -> None:
    """Put the complete folder ``staging`` in the place of ``target`` (which may exist): two renames, then the old
    one is deleted, so ``target`` is never a mix of both."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)


class HDTFGenerator:
    """Feature extractor + expression basis + audio-to-animation + animation-to-video + face processor, saved as
    one directory (see the module docstring)."""

    def __init__(self, *parts: Any, config: dict[str, Any] | None = None, **named: Any):
        """The components of ``components.GENERATOR_COMPONENTS``, by position in that order or by name (today:
        feature_extractor, expression_basis, audio2animation, animation2video, face_processor); an optional one
        left out or None is built by its class's ``for_generator`` with the defaults. Networks are put in eval mode."""
        order = declared.GENERATOR_COMPONENTS
        given = dict(zip((c.name for c in order), parts, strict=False)) | named
        unknown = set(given) - {c.name for c in order} if len(parts) <= len(order) else {"(extra positional parts)"}
        missing = [c.name for c in order if not c.optional and given.get(c.name) is None]
        if unknown or missing:
            raise TypeError(f"HDTFGenerator: unknown components {sorted(unknown)}, missing {missing}")
        self.config = {"format": FORMAT, "fps": given["feature_extractor"].fps, "fapp_method": "nearest"}
        self.config["image_size"] = int(given["animation2video"].config.image_size)
        self.config.update(config or {})
        self.config["version"] = VERSION
        for component in order:
            part = given.get(component.name)
            if part is None:
                part = component.cls.for_generator({}, self.image_size, given)
            given[component.name] = part.eval() if isinstance(part, torch.nn.Module) else part
            setattr(self, component.name, given[component.name])

    # ---- construction / persistence --------------------------------------------------------------------------
    @classmethod
    def from_preset(
        cls,
        name: str = "tiny",
        basis: ExpressionBasis | None = None,
        seed: int = 0,
        overrides: dict[str, Any] | None = None,
    ) -> HDTFGenerator:
        """An untrained generator of a named size (see ``presets``), its weights drawn from ``seed``.

        ``overrides`` edit the preset first (keys ``image_size`` and the components' preset keys:
        ``feature_extractor``, ``audio2animation``, ``animation2video``; ValueError for others): the one constructor
        of ``hdtf init-model`` and training. Each component is built by its class's ``for_generator``.
        """
        spec = preset(name, overrides)
        parts: dict[str, Any] = {"expression_basis": basis} if basis is not None else {}
        torch.manual_seed(seed)
        for component in declared.GENERATOR_COMPONENTS:  # each sees the parts built before it
            if component.name not in parts:
                options = spec[component.preset_key] if component.preset_key else {}
                parts[component.name] = component.cls.for_generator(options, spec["image_size"], parts)
        label = name if spec == preset(name) else f"{name} (modified)"
        return cls(**parts, config={"preset": label, "trained": False})

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo: str | os.PathLike,
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> HDTFGenerator:
        """Load from a local directory, or a Hub repo id (``snapshot_download``: uses the Hub cache, and only the
        cache when ``HF_HUB_OFFLINE=1``). Each recorded component is loaded by its own ``from_pretrained``."""
        directory = Path(path_or_repo)
        if not directory.exists():
            if not hub.is_repo_id(str(path_or_repo)):
                raise HDTFError(f"{path_or_repo}: model directory not found")
            directory = hub.download(str(path_or_repo), revision=revision, token=token, cache_dir=cache_dir)
        if not directory.is_dir() or not (directory / CONFIG_FILE).is_file():
            raise HDTFError(
                f"{path_or_repo}: not an hdtf model directory (no {CONFIG_FILE}; create one with hdtf init-model)"
            )
        try:
            config = json.loads((directory / CONFIG_FILE).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise HDTFError(f"{directory / CONFIG_FILE}: unreadable generator config ({exc})") from exc
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            found = config.get("format") if isinstance(config, dict) else None
            raise HDTFError(f"{directory / CONFIG_FILE}: not an hdtf generator config (format {found!r})")
        required = declared.version_1_records()  # a directory written before components were recorded holds these
        records = config.pop("components", None) or required
        names = {c.name for c in declared.GENERATOR_COMPONENTS}
        unknown = set(records) - names if isinstance(records, dict) else {"components"}
        if unknown:
            raise HDTFError(f"{directory / CONFIG_FILE}: components {sorted(unknown)} are not HDTFGenerator's")
        missing = sorted(set(required) - set(records))
        if missing:
            raise HDTFError(f"{directory / CONFIG_FILE}: records no {', '.join(missing)} (incomplete model directory)")
        components = {}
        for name, record in records.items():
            component = declared.component_class(record, str(directory / CONFIG_FILE))
            if not (directory / record["path"]).exists():
                raise HDTFError(f"{path_or_repo}: incomplete model directory ({record['path']} is missing)")
            try:
                components[name] = component.from_pretrained(directory / record["path"])
            except OSError as exc:  # a file the component needs is missing or unreadable
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise HDTFError(f"{path_or_repo}: incomplete model directory ({name}: {reason})") from None
        return cls(**components, config=config).to(device=device, dtype=dtype)

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **hub_kwargs) -> Path:
        """Write every component into ``save_directory``; ``generator_config.json``, with the component records,
        goes in last (completeness marker)."""
        target = Path(save_directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            records = {}
            for declaration in declared.GENERATOR_COMPONENTS:
                component = getattr(self, declaration.name)
                component.save_pretrained(staging / declaration.path)
                records[declaration.name] = declared.component_record(component, declaration.path)
            write_model_card(staging, _model_card(self))
            atomic.make_shareable(staging)
            target.mkdir(exist_ok=True)
            (target / CONFIG_FILE).unlink(missing_ok=True)
            for item in sorted(staging.iterdir()):
                dest = target / item.name
                if dest.is_dir():
                    shutil.rmtree(dest)
                os.replace(item, dest)
            config = {**self.config, **self.references, "components": records}
            atomic.write_text(target / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if push_to_hub:
            hub_kwargs.setdefault("commit_message", "Upload HDTFGenerator")
            hub.upload_folder(target, hub_kwargs.pop("repo_id", target.name), **hub_kwargs)
        return target

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | None = None,
        commit_message: str = "Upload HDTFGenerator",
    ) -> str:
        """Save to a temporary directory and upload it to the model repo ``repo_id`` (created if needed)."""
        with tempfile.TemporaryDirectory(prefix="hdtf-push-") as tmp:
            folder = self.save_pretrained(Path(tmp) / "model")
            return hub.upload_folder(folder, repo_id, private=private, token=token, commit_message=commit_message)

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> HDTFGenerator:
        """Move both networks; the audio model stays float32 below float32 dtypes (GRUs are fragile in half)."""
        if device is not None:
            self.audio2animation.to(device)
            self.animation2video.to(device)
        if dtype is not None:
            self.animation2video.to(dtype)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.animation2video.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.animation2video.parameters()).dtype

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def references(self) -> dict[str, Any]:
        """How many reference frames the animation-to-video network was trained with and how it fuses several
        (recorded in ``generator_config.json`` and the card; the network's own config is the source)."""
        config = self.animation2video.config
        return {"num_references": int(config.num_references), "reference_fusion": config.reference_fusion}

    @property
    def trained_stages(self) -> list[str]:
        """The networks whose weights are trained for this pipeline (``STAGES`` order).

        Recorded as ``trained_stages`` by training; older directories say only ``trained`` and the last run's stage.
        """
        cfg = self.config
        if "trained_stages" in cfg:
            recorded = set(cfg["trained_stages"])
        elif cfg.get("trained"):
            stage = (cfg.get("training") or {}).get("stage", "all")
            recorded = set(STAGES) if stage == "all" else {stage}
        else:
            recorded = set()
        return [stage for stage in STAGES if stage in recorded]

    def mark_trained(self, stages: list[str], facts: dict[str, Any]) -> None:
        """Record a training run of ``stages`` (``facts``: what ``_training_section`` prints) on top of earlier ones."""
        trained = set(self.trained_stages) | set(stages)
        reasons = {k: v for k, v in self.config.get("untrained_reasons", {}).items() if k not in trained}
        self.config.update(trained=True, trained_stages=[s for s in STAGES if s in trained], training=facts,
                           untrained_reasons=reasons)

    def mark_untrained(self, stage: str, reason: str) -> None:
        """Record that ``stage``'s training no longer holds (e.g. the expression basis it referred to was replaced)."""
        trained = [s for s in self.trained_stages if s != stage]
        reasons = {**self.config.get("untrained_reasons", {}), stage: reason}
        self.config.update(trained=bool(trained), trained_stages=trained, untrained_reasons=reasons)

    def untrained_warning(self, driving_video: bool = False) -> str | None:
        """One line saying which stage a generation would use untrained, and what that means; None if none."""
        needed = ["animation2video"] if driving_video else list(STAGES)
        missing = [stage for stage in needed if stage not in self.trained_stages]
        if not missing:
            return None
        why = self.config.get("untrained_reasons", {})
        names = " and ".join(stage + (f" ({why[stage]})" if stage in why else "") for stage in missing)
        effects = {"audio2animation": "mouth and head motion will not follow the speech",
                   "animation2video": "frames will not show the face"}
        verb = "stages are" if len(missing) > 1 else "stage is"
        return f"the {names} {verb} untrained: {'; '.join(effects[stage] for stage in missing)}"

    # ---- generation ------------------------------------------------------------------------------------------
    def animate_from_audio(
        self,
        reference_points: np.ndarray,
        audio: np.ndarray,
        sampling_rate: int,
        seed: int = 0,
        style_motion: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(landmarks (T, 68, 2), expression (T, K), pose deltas (T, 6)) for speech, one frame per 1/fps s."""
        feats = self.feature_extractor(audio, sampling_rate=sampling_rate, return_tensors="pt")
        device = next(self.audio2animation.parameters()).device
        style = None if style_motion is None else torch.as_tensor(style_motion, dtype=torch.float32)[None].to(device)
        with torch.no_grad():
            out = self.audio2animation(
                input_features=feats["input_features"].to(device),
                attention_mask=feats["attention_mask"].to(device),
                style_motion=style,
                generator=torch.Generator().manual_seed(int(seed)),
            )
        expression = out.expression[0].double().cpu().numpy()
        pose = out.pose[0].double().cpu().numpy()
        return animate_points(self.expression_basis, reference_points, pose, expression), expression, pose

    def style_from_video(self, video: str | os.PathLike, fps: float = 25.0) -> np.ndarray:
        """A reference motion clip (T, 6) for ``style_motion``: a video's head-pose deltas from its mean pose.

        This is how a speaker's head-motion style (amplitude, rhythm of nods and turns) is given to the audio model.
        """
        points, found = _track(video, fps, "style video", least=2)
        pose, _, _ = self.expression_basis.encode(points[found])
        return pose_delta(pose, pose.mean(0)).astype(np.float32)

    def animate_from_landmarks(
        self, reference_points: np.ndarray, driving_points: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Transfer the driver's motion relative to its first frame: pose and expression deltas, not its shape."""
        pose, expression, _ = self.expression_basis.encode(driving_points)
        d_pose = pose_delta(pose, pose[0])
        d_expr = expression - expression[0]
        return animate_points(self.expression_basis, reference_points, d_pose, d_expr), d_expr, d_pose

    def render(
        self,
        reference_image: np.ndarray,
        reference_points: np.ndarray,
        driving_points: np.ndarray,
        batch_size: int = 8,
        return_intermediates: bool = False,
        progress: bool = False,
    ) -> dict[str, np.ndarray]:
        """Frames (T, S, S, 3) uint8 of the reference image(s) warped to each landmark set (+ intermediates).

        ``reference_image`` (S, S, 3) with ``reference_points`` (68, 2), or R references (R, S, S, 3) with (R, 68, 2):
        each is moved by its own Fapp grid (its landmarks to the driving ones) and the network fuses them. What
        depends on the references alone (their encoder features) is computed once; what depends on a driving frame
        alone (its Voronoi labelling) once per frame. Intermediates show the first reference's flow and maps.
        """
        from tqdm.auto import tqdm

        from .fapp import construct_fapp_references

        device, dtype, size = self.device, self.dtype, self.image_size
        images = np.asarray(reference_image)
        images = images[None] if images.ndim == 3 else images
        refs = torch.from_numpy(np.array(images)).to(device).permute(0, 3, 1, 2).to(dtype) / 255.0  # (R, 3, S, S)
        ref_pts = torch.as_tensor(np.asarray(reference_points), dtype=torch.float64, device=device).reshape(-1, 68, 2)
        if len(ref_pts) != len(refs):
            raise ValueError(f"{len(refs)} reference images but {len(ref_pts)} landmark sets")
        total = len(driving_points)
        keep: dict[str, list[np.ndarray]] = {"frames": []}
        if return_intermediates:
            keep.update(flows=[], warped=[], foreground_mask=[], matting_mask=[])
        method = self.config.get("fapp_method", "nearest")
        with torch.no_grad(), tqdm(total=total, unit="frame", disable=not progress, desc="generate") as bar:
            features = self.animation2video.encode(refs)  # once per reference, not once per frame
            for start in range(0, total, batch_size):
                drv = torch.as_tensor(driving_points[start : start + batch_size], dtype=torch.float64, device=device)
                count = len(drv)
                # 3. Fapp: per reference, the grid that moves its landmarks onto these frames' landmarks.
                grid = construct_fapp_references(ref_pts, drv, size, method=method).to(dtype)  # (b, R, S, S, 2)
                # 4. Render: the animation-to-video network warps each reference by its grid, fuses and completes.
                out = self.animation2video(
                    reference_image=refs.expand(count, -1, -1, -1, -1),
                    dense_flow=grid,
                    reference_features=features.expand(count, -1, -1, -1, -1),
                )
                keep["frames"].append(_to_uint8(out.synthetic_image))
                if return_intermediates:
                    keep["flows"].append(grid[:, 0].float().cpu().numpy())
                    keep["warped"].append(_to_uint8(_resize(out.warped_image[:, 0], size)))
                    keep["foreground_mask"].append(_mask(out.foreground_mask[:, 0], size))
                    keep["matting_mask"].append(_mask(out.matting_mask[:, 0], size))
                bar.update(count)
        return {k: np.concatenate(v) for k, v in keep.items()}

    def references_from_video(
        self, video: str | os.PathLike, count: int, sampling: str = "even"
    ) -> list[np.ndarray]:
        """``count`` RGB frames of a video of the person, for ``images=``: spread evenly over the frames with a face
        (``"even"``), or chosen for the spread of their head pose and mouth shape (``"pose"``: farthest-point
        sampling from the most typical frame, so turns and open mouths the first frame lacks are included)."""
        import decord

        from hdtf.face.track import track_video

        if sampling not in REFERENCE_SAMPLING:
            raise ValueError(f"reference sampling must be one of {REFERENCE_SAMPLING}, not {sampling!r}")
        if count < 1:
            raise HDTFError(f"--references must be at least 1, not {count}")
        if not Path(video).is_file():
            raise HDTFError(f"{video}: reference video not found")
        track = track_video(Path(video))  # the file's own frames, so indices are the decoder's
        found = np.flatnonzero(np.asarray(track.found, dtype=bool))
        if not len(found):
            raise HDTFError(f"{video}: no face found in the reference video")
        if sampling == "even" or len(found) <= count:
            picks = found[np.unique(np.round(np.linspace(0, len(found) - 1, min(count, len(found)))).astype(int))]
        else:
            picks = found[_spread(self._pose_features(np.asarray(track.points, np.float64)[found]), count)]
        reader = decord.VideoReader(str(video), num_threads=1)
        return list(reader.get_batch(sorted(int(k) for k in picks)).asnumpy())

    def _pose_features(self, points: np.ndarray) -> np.ndarray:
        """Per frame: head rotation (roll, yaw, pitch) and mouth coefficients, each scaled to unit spread."""
        pose, expression, _ = self.expression_basis.encode(points)
        a, b = self.expression_basis.groups.get("mouth", (0, 0))
        features = np.concatenate([pose[:, [1, 4, 5]], expression[:, a:b]], axis=1)
        return (features - features.mean(0)) / (features.std(0) + 1e-9)

    def __call__(
        self,
        image: Any = None,
        audio: str | os.PathLike | np.ndarray | None = None,
        driving_video: str | os.PathLike | None = None,
        fps: float = 25.0,
        seed: int = 0,
        sampling_rate: int = 16000,
        batch_size: int = 8,
        style_motion: np.ndarray | None = None,
        return_intermediates: bool = False,
        progress: bool = False,
        *,
        images: Sequence[Any] | None = None,
        reference_video: str | os.PathLike | None = None,
        num_references: int | None = None,
        reference_sampling: str = "even",
    ) -> HDTFGeneratorOutput:
        """Talking-face frames for ``image`` driven by ``audio`` (path or samples at ``sampling_rate``) or by
        ``driving_video`` (a path; motion relative to its first frame, its audio kept when it has any).

        The person is shown by one ``image``, by several ``images`` (the first one sets the identity and the rest
        pose), or by a ``reference_video`` from which ``num_references`` frames are taken (default: as many as the
        network was trained with; ``reference_sampling`` "even" or "pose", see ``references_from_video``).
        Audio mode gives one frame per 1/fps seconds of speech; ``seed`` fixes the sampled head motion.
        """
        if (audio is None) == (driving_video is None):
            raise ValueError("pass exactly one of audio= or driving_video=")
        if sum(x is not None for x in (image, images, reference_video)) != 1:
            raise ValueError("pass exactly one of image=, images= or reference_video=")
        if audio is not None and abs(fps - self.feature_extractor.fps) > 1e-6:
            raise ValueError(f"this model animates at {self.feature_extractor.fps} fps from audio, not {fps}")
        # 1. The reference face(s): each photo in the model's framing, and its 68 landmarks.
        if reference_video is not None:
            count = num_references or self.animation2video.config.num_references
            images = self.references_from_video(reference_video, count, reference_sampling)
        photos = [image] if image is not None else list(images)
        if not photos:
            raise ValueError("images= holds no picture")
        prepared = [self.face_processor(photo) for photo in photos]
        ref_image, ref_points = prepared[0]
        ref_images = np.stack([p[0] for p in prepared])
        ref_landmarks = np.stack([p[1] for p in prepared])
        # 2. Driving signal → animation parameters: pose and expression deltas per frame, and the landmarks they give.
        rate = self.feature_extractor.sampling_rate
        if driving_video is not None:
            points, speech = self._driving_landmarks(driving_video, fps, rate)
            points, expression, pose = self.animate_from_landmarks(ref_points, points)
        else:
            speech = _load_speech(audio, sampling_rate, rate)
            points, expression, pose = self.animate_from_audio(ref_points, speech, rate, seed, style_motion)
        # 3. Fapp (landmarks → dense sampling grid) and 4. rendering, batch by batch in ``render``.
        rendered = self.render(ref_images, ref_landmarks, points, batch_size, return_intermediates, progress)
        # 5. Outputs, the speech cut or padded to the duration of the frames.
        if speech is not None:
            need = round(len(points) / fps * rate)
            speech = np.pad(speech[:need], (0, max(0, need - len(speech))))
        return HDTFGeneratorOutput(
            frames=rendered["frames"],
            landmarks=points.astype(np.float32),
            reference_image=ref_image,
            reference_landmarks=ref_points,
            expression=expression.astype(np.float32),
            pose=pose.astype(np.float32),
            fps=float(fps),
            audio=speech,
            sampling_rate=rate,
            flows=rendered.get("flows"),
            warped=rendered.get("warped"),
            foreground_mask=rendered.get("foreground_mask"),
            matting_mask=rendered.get("matting_mask"),
            reference_images=ref_images,
        )

    def _driving_landmarks(
        self, video: str | os.PathLike, fps: float, rate: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Tracked landmarks of a driving video resampled to ``fps`` (gaps held), and its audio (None without)."""
        from hdtf.video_io import has_audio, read_audio

        points, found = _track(video, fps, "driving video", least=1)
        speech = read_audio(video, rate) if has_audio(video) else None
        return _fill_missing(points, found), speech


def _track(video: str | os.PathLike, fps: float, what: str, least: int) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (T, 68, 2) float64 of a video's face at ``fps`` and where one was found (T,) bool; HDTFError naming
    ``what`` when the file is missing or a face is found on fewer than ``least`` frames."""
    from hdtf.face.track import track_video

    if not Path(video).is_file():
        raise HDTFError(f"{video}: {what} not found")
    track = track_video(Path(video), fps=fps)
    found = np.asarray(track.found, dtype=bool)
    if found.sum() < least:
        raise HDTFError(f"{video}: no face found in the {what}")
    return np.asarray(track.points, dtype=np.float64), found


def _load_speech(audio: str | os.PathLike | np.ndarray, sampling_rate: int, rate: int) -> np.ndarray:
    """Mono float32 speech at ``rate``; HDTFError for empty or unreadable input."""
    from hdtf.video_io import read_audio

    from .feature_extraction_hdtf import to_mono_16k

    if isinstance(audio, (str, os.PathLike)):
        return read_audio(audio, rate)
    samples = to_mono_16k(np.asarray(audio, dtype=np.float32), sampling_rate, rate)
    if samples.size == 0:
        raise HDTFError("audio is empty")
    if not np.isfinite(samples).all():
        raise HDTFError("audio contains NaN or infinite samples")
    return samples


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] → (B, H, W, 3) uint8."""
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, h, w) → (B, C, size, size), bilinear: the network's 1/4-scale intermediates shown beside the frames."""
    if images.shape[-1] == size:
        return images
    return torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)


def _mask(mask: torch.Tensor | None, size: int) -> np.ndarray:
    """A (B, 1|…, h, w) mask as (B, size, size) float32 (resized when the network produces it at lower scale)."""
    if mask is None:
        return np.zeros((0, size, size), np.float32)
    m = mask.float()
    if m.ndim == 3:
        m = m[:, None]
    return _resize(m[:, :1], size)[:, 0].cpu().numpy()
