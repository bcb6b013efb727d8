"""``hdtf init-model``: write an untrained generator directory (tiny for tests, base = paper scale) offline."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "create an untrained HDTFGenerator model directory (--preset tiny|base)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="model directory to write (created; existing parts replaced)")
    parser.add_argument("--preset", choices=("tiny", "base"), default="tiny",
                        help="tiny: 128x128, few channels, fast on CPU; base: 512x512, the paper's hyper-parameters")
    parser.add_argument("--basis", type=Path,
                        help="expression_basis.safetensors to use (default: the built-in procedural basis)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random initial weights (default 0)")


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from hdtf.errors import HDTFError
    from hdtf.modeling.animation_params import ExpressionBasis
    from hdtf.modeling.generator import HDTFGenerator

    basis = None
    if args.basis is not None:
        if not args.basis.is_file():
            raise HDTFError(f"{args.basis}: expression basis file not found")
        basis = ExpressionBasis.load(args.basis)
    hf_logging.disable_progress_bar()
    generator = HDTFGenerator.from_preset(args.preset, basis=basis, seed=args.seed)
    path = generator.save_pretrained(args.directory)
    params = sum(p.numel() for p in generator.audio2animation.parameters())
    params += sum(p.numel() for p in generator.animation2video.parameters())
    print(f"{path}: untrained {args.preset} generator, {generator.image_size}x{generator.image_size}, "
          f"{params / 1e6:.2f} M parameters, {generator.expression_basis.num_components} expression components")
    return 0
