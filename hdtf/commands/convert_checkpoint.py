"""``hdtf convert-checkpoint``: the released animation-to-video .pth -> an RGB HDTFAnimationToVideo directory,
optionally pushed to the Hub."""

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
    parser.add_argument("--push-to-hub", metavar="REPO", default=None,
                        help="afterwards upload OUTPUT_DIR to this Hub model repo (needs network and a write token, "
                             "checked first)")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")


def run(args: argparse.Namespace) -> int:
    from hdtf.modeling.convert_original import convert_original_checkpoint

    if args.push_to_hub:  # no token, offline: say so now, not after the conversion
        from hdtf.hub import check_can_push

        check_can_push(args.push_to_hub)
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
