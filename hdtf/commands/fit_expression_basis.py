"""``hdtf fit-expression-basis``: fit the landmark expression basis from a prepared dataset's landmark tracks."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "fit the expression basis (PCA of pose-normalised landmarks) from DATA_DIR/clips/*.landmarks.npz"


def _data(text: str) -> str | Path:
    """A prepared run as typed: a storage URL stays text (``Path`` would make ``s3://b/p`` ``s3:/b/p``)."""
    from hdtf.storage import is_url

    return text if is_url(text) else Path(text)


def _counts(text: str) -> dict[str, int]:
    counts = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise argparse.ArgumentTypeError(f"expected region=count pairs such as mouth=12,eyebrows=4, got {item!r}")
        counts[name.strip()] = int(value)
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", type=_data,
                        help="prepared dataset folder (with clips/*.landmarks.npz), or a prepared run's URL "
                             "(s3://bucket/run: the landmark files of its finished clips)")
    parser.add_argument("output", type=Path,
                        help="a .safetensors file to write, or a model directory (its expression_basis.safetensors "
                             "and its audio2animation basis buffers are replaced; a trained audio stage is then "
                             "marked untrained in its config and card: do this before training)")
    parser.add_argument("--components", type=_counts,
                        help="components per region, e.g. mouth=12,eyebrows=4,eyelids=2 (the default)")
    parser.add_argument("--max-frames-per-clip", type=int, default=256, help="frames sampled per clip (default 256)")


def _landmark_files(data: str | Path) -> list[Path]:
    """The landmark files of a folder's ``clips/``, or those of a run on a store's finished clips (fetched into its
    scratch folder: numpy reads files)."""
    from hdtf.layout import Layout
    from hdtf.manifest import done_clips

    layout = Layout.for_output(data)
    if isinstance(data, Path):
        return layout.clip_paths("landmarks")
    return [layout.file(c["landmarks_path"]) for c in done_clips(layout) if c.get("landmarks_path")]


def _load_tracks(data_dir: str | Path) -> tuple[list, list[str]]:
    import numpy as np

    from hdtf.errors import HDTFError

    files = _landmark_files(data_dir)
    if not files:
        raise HDTFError(f"{data_dir}: no clips/*.landmarks.npz (prepare the dataset with --landmarks)")
    tracks, problems = [], []
    for path in files:
        try:
            with np.load(path) as data:
                points = np.asarray(data["points"], dtype=np.float64)
                found = np.asarray(data["found"], dtype=bool) if "found" in data else np.ones(len(points), bool)
        except (OSError, KeyError, ValueError) as exc:
            problems.append(f"{path.name}: unreadable ({exc})")
            continue
        if points.ndim != 3 or points.shape[1:] != (68, 2) or len(found) != len(points):
            problems.append(f"{path.name}: points of shape {points.shape} (expected (T, 68, 2))")
            continue
        if found.sum() < 2:
            problems.append(f"{path.name}: fewer than two frames with a face")
            continue
        tracks.append(points[found])
    return tracks, problems


def run(args: argparse.Namespace) -> int:
    import sys

    from hdtf.errors import HDTFError
    from hdtf.modeling.animation_params import BASIS_FILE, ExpressionBasis
    from hdtf.redact import shareable_name

    tracks, problems = _load_tracks(args.data_dir)
    for line in problems:
        print(f"skipped {line}", file=sys.stderr)
    if not tracks:
        raise HDTFError(f"{args.data_dir}: no usable landmark tracks ({len(problems)} skipped)")
    basis = ExpressionBasis.fit(tracks, components=args.components, max_frames_per_clip=args.max_frames_per_clip)
    if args.output.is_dir():
        data = args.data_dir.resolve() if isinstance(args.data_dir, Path) else args.data_dir
        path = _into_model(args.output, basis, shareable_name(data), len(tracks))
    else:
        path = basis.save(args.output if args.output.suffix else args.output.with_suffix(".safetensors"))
    groups = ", ".join(f"{name} {b - a}" for name, (a, b) in basis.groups.items())
    print(f"{path}: expression basis from {len(tracks)} clips ({groups} components; {BASIS_FILE})")
    return 0


def _into_model(directory: Path, basis, data: str, clips: int) -> Path:
    """Store the basis in a model directory and in its audio2animation buffers (component counts must match).

    The audio model's coefficients refer to the basis, so a trained audio stage stops being trained: the config
    and the model card say so (and why), and ``hdtf generate`` warns until it is retrained.
    """
    import sys

    from transformers.utils import logging as hf_logging

    from hdtf.errors import HDTFError
    from hdtf.modeling.animation_params import BASIS_FILE
    from hdtf.modeling.generator import CONFIG_FILE, HDTFGenerator

    if not (directory / CONFIG_FILE).is_file():
        raise HDTFError(f"{directory}: not an hdtf model directory (no {CONFIG_FILE})")
    hf_logging.disable_progress_bar()
    generator = HDTFGenerator.from_pretrained(directory)
    expected = generator.audio2animation.config.num_expression
    if expected != basis.num_components:
        raise HDTFError(
            f"{directory}: its audio2animation model expects {expected} expression components, "
            f"the fitted basis has {basis.num_components} (choose --components to match, or init-model --basis)"
        )
    generator.expression_basis = basis
    generator.audio2animation.set_basis(basis)
    generator.config["expression_basis"] = {"data": data, "clips": clips}
    if "audio2animation" in generator.trained_stages:
        generator.mark_untrained("audio2animation", "trained for an expression basis since replaced by "
                                 "hdtf fit-expression-basis; retrain it with examples/train.py --stage audio2animation")
        print(f"{directory}: its trained audio2animation stage referred to the old basis: now marked untrained "
              "(retrain it with examples/train.py --stage audio2animation)", file=sys.stderr)
    generator.save_pretrained(directory)
    return directory / BASIS_FILE
