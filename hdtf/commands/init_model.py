"""``hdtf init-model``: write an untrained generator directory (tiny for tests, base = paper scale) offline."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

HELP = "create an untrained HDTFGenerator model directory (--preset tiny|base)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="model directory to create (new, or empty)")
    parser.add_argument("--preset", choices=("tiny", "base"), default="tiny",
                        help="tiny: 128x128, few channels, fast on CPU; base: 512x512, the paper's hyper-parameters")
    parser.add_argument("--basis", type=Path,
                        help="expression_basis.safetensors to use (default: the built-in procedural basis)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random initial weights (default 0)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace DIRECTORY and everything in it (a model, its checkpoints and logs) if it exists")


def _check_target(target: Path, overwrite: bool) -> None:
    """Refuse, before torch is loaded, to write over an existing model (or anything else) without --overwrite."""
    from hdtf.errors import HDTFError

    if target.exists() and not target.is_dir():
        raise HDTFError(f"{target}: exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        held = (target / "generator_config.json").is_file()
        raise HDTFError(f"{target}: {'already holds an hdtf model' if held else 'exists and is not empty'} "
                        "(pass --overwrite to replace it)")


def run(args: argparse.Namespace) -> int:
    _check_target(args.directory, args.overwrite)
    from transformers.utils import logging as hf_logging

    from hdtf.errors import HDTFError
    from hdtf.modeling.animation_params import ExpressionBasis
    from hdtf.modeling.generator import HDTFGenerator, replace_directory

    target = args.directory
    basis = None
    if args.basis is not None:
        if not args.basis.is_file():
            raise HDTFError(f"{args.basis}: expression basis file not found")
        basis = ExpressionBasis.load(args.basis)
    hf_logging.disable_progress_bar()
    generator = HDTFGenerator.from_preset(args.preset, basis=basis, seed=args.seed)
    # Built beside the target and swapped in whole: an overwritten directory keeps nothing of the old model.
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.init-", dir=target.parent) as tmp:
        replace_directory(generator.save_pretrained(Path(tmp) / "model"), target)
    params = sum(p.numel() for p in generator.audio2animation.parameters())
    params += sum(p.numel() for p in generator.animation2video.parameters())
    print(f"{target}: untrained {args.preset} generator, {generator.image_size}x{generator.image_size}, "
          f"{params / 1e6:.2f} M parameters, {generator.expression_basis.num_components} expression components")
    return 0
