"""``hdtf convert-checkpoint``: the released animation-to-video .pth -> an RGB HDTFAnimationToVideo directory."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert the original checkpoint_animation2video.pth (BGR) to a save_pretrained model directory (RGB)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="original checkpoint (torch file with state_dict/net_g)")
    parser.add_argument(
        "output_dir", type=Path, help="model directory to write (config.json, model.safetensors, README.md)"
    )
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip running the original forward and the converted model side by side on a probe",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT_DIR if it exists and is not empty")


def run(args: argparse.Namespace) -> int:
    from hdtf.modeling.convert_original import convert_original_checkpoint

    summary = convert_original_checkpoint(
        args.checkpoint, args.output_dir, verify=args.verify, overwrite=args.overwrite
    )
    check = (
        "not verified" if summary["max_abs_diff"] is None else f"max |diff| vs original {summary['max_abs_diff']:.2e}"
    )
    print(
        f"{summary['output_dir']}: {summary['tensors']} tensors, "
        f"{summary['parameters'] / 1e6:.1f} M parameters, {check}"
    )
    return 0
