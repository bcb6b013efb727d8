"""``hdtf convert-checkpoint``: the released animation-to-video .pth -> an RGB HDTFAnimationToVideo directory,
optionally pushed to the Hub."""

from __future__ import annotations

import argparse
from pathlib import Path

from hdtf.commands import add_push_arguments, check_push

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
    add_push_arguments(parser, "OUTPUT_DIR as a model")


def run(args: argparse.Namespace) -> int:
    from hdtf.modeling.convert_original import convert_original_checkpoint

    check_push(args)
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
    if args.push_to_hub:
        from hdtf import hub

        url = hub.upload_folder(args.output_dir, args.push_to_hub, private=args.private,
                                commit_message="Upload HDTFAnimationToVideo (hdtf convert-checkpoint)")
        print(f"pushed to {url}")
    return 0
