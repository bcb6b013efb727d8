"""``hdtf generate``: one face photo + speech (or a driving video) → a talking-face video in the container its
``--output`` extension names (see ``hdtf.video_io.CONTAINERS``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("animate a face photo (or frames of a video of the person) with speech (--audio) or with another face's "
        "motion (--driving-video)")
SAMPLING_RATE = 16000  # speech is decoded at this rate; the model's feature extractor resamples if it differs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model directory (hdtf init-model / training) or Hub repo id")
    person = parser.add_mutually_exclusive_group(required=True)
    person.add_argument("--image", type=Path, help="photo of the face to animate")
    person.add_argument("--reference-video", type=Path,
                        help="a video of the person to animate: --references frames of it are the references")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio", type=Path, help="speech to lip-sync to (any format ffmpeg reads)")
    source.add_argument("--driving-video", type=Path, help="video whose head and face motion to transfer")
    parser.add_argument("--output", type=Path, required=True,
                        help="video to write at 25 fps; its extension picks the container: .mp4/.m4v/.mov/.mkv "
                             "(H.264 + AAC), .webm (VP9 + Opus), .gif (no sound)")
    parser.add_argument("--style-video", type=Path,
                        help="audio mode: a video of someone talking whose head-motion style to imitate")
    parser.add_argument("--references", type=int, default=None, metavar="N",
                        help="with --reference-video: how many frames to take (default: as many as the model was "
                             "trained with)")
    parser.add_argument("--reference-sampling", choices=("even", "pose"), default="even",
                        help="with --reference-video: frames spread evenly in time, or chosen for the spread of head "
                             "pose and mouth shape (default even)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled head motion (default 0)")
    parser.add_argument("--batch-size", type=int, default=8, help="frames rendered per batch (default 8)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--save-intermediates", type=Path, metavar="DIR",
                        help="also write landmarks/Fapp/mask panels (intermediates.mp4) and the animation parameters")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_inputs(args: argparse.Namespace) -> None:
    """Fail on missing files and non-model directories before torch is imported (seconds saved per typo)."""
    from hdtf.errors import HDTFError
    from hdtf.video_io import container_for

    container_for(args.output)  # an extension no container answers to is refused before any work
    model = Path(args.model)
    if model.is_dir() and not (model / "generator_config.json").is_file():
        raise HDTFError(
            f"{model}: not an hdtf model directory (no generator_config.json; create one with hdtf init-model)"
        )
    if args.batch_size < 1:
        raise HDTFError(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.style_video is not None and args.audio is None:
        raise HDTFError("--style-video applies to --audio generation only")
    if args.references is not None and args.reference_video is None:
        raise HDTFError("--references applies to --reference-video only")
    if args.references is not None and args.references < 1:
        raise HDTFError(f"--references must be at least 1, not {args.references}")
    inputs = (("image", args.image), ("reference video", args.reference_video), ("audio", args.audio),
              ("driving video", args.driving_video), ("style video", args.style_video))
    for label, path in inputs:
        if path is not None and not path.is_file():
            raise HDTFError(f"{path}: {label} file not found")


def run(args: argparse.Namespace) -> int:
    _check_inputs(args)
    from hdtf.video_io import container_for, read_audio, write_video

    # Decode the speech before loading torch and the model: unreadable or empty audio fails in a moment.
    speech = None if args.audio is None else read_audio(args.audio, SAMPLING_RATE)

    from transformers.utils import logging as hf_logging

    from hdtf.modeling.generator import HDTFGenerator

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    generator = HDTFGenerator.from_pretrained(args.model, device=_device(args.device))
    style = None if args.style_video is None else generator.style_from_video(args.style_video)
    fps = float(generator.config["fps"])
    out = generator(
        args.image,
        reference_video=args.reference_video,
        num_references=args.references,
        reference_sampling=args.reference_sampling,
        audio=speech,
        sampling_rate=SAMPLING_RATE,
        driving_video=args.driving_video,
        fps=fps,
        seed=args.seed,
        batch_size=args.batch_size,
        style_motion=style,
        return_intermediates=args.save_intermediates is not None,
        progress=not args.no_progress,
    )
    warning = generator.untrained_warning(driving_video=args.driving_video is not None)
    if warning:  # after generation, so that a failing input still gets exactly one line
        print(f"hdtf generate: warning: {args.model}: {warning}", file=sys.stderr)
    write_video(args.output, out.frames, fps, out.audio, out.sampling_rate)
    if args.save_intermediates is not None:
        save_intermediates(args.save_intermediates, out)
    seconds = len(out.frames) / fps
    if out.audio is None:
        sound = ", no audio"
    elif container_for(args.output).audio is None:
        sound = f", no audio ({args.output.suffix} holds no sound)"
    else:
        sound = ", with audio"
    refs = len(out.reference_images)
    print(f"{args.output}: {len(out.frames)} frames, {seconds:.2f} s at {fps:g} fps, "
          f"{out.frames.shape[2]}x{out.frames.shape[1]}{sound}" + (f", {refs} reference frames" if refs > 1 else ""))
    return 0


def _device(name: str):
    """A torch device that exists here, or a one-line error (instead of torch's assertion deep in .to())."""
    import torch

    from hdtf.errors import HDTFError

    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise HDTFError(f"--device {name}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HDTFError(f"--device {name}: CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise HDTFError(f"--device {name}: MPS is not available on this machine")
    return device


def save_intermediates(directory: Path, out) -> None:
    """intermediates.mp4 (generated frame + landmarks | Fapp colour map | warped | foreground | matting mask) and
    animation.npz (landmarks, expression, pose deltas) — what to look at when a result is wrong."""
    import numpy as np

    from hdtf import atomic
    from hdtf.modeling.fapp import flow_to_color, identity_grid
    from hdtf.video_io import write_video

    directory.mkdir(parents=True, exist_ok=True)
    # One colour scale for the whole video (the largest displacement), so brightness is comparable across frames.
    scale = float(np.abs(out.flows - identity_grid(out.flows.shape[1]).numpy()).max()) or 1.0

    def panels():
        for k in range(len(out.frames)):
            overlay = draw_points(out.frames[k], out.landmarks[k])
            colour = flow_to_color(out.flows[k], max_norm=scale)
            masks = [np.repeat((np.clip(m[k], 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
                     for m in (out.foreground_mask, out.matting_mask) if m is not None and len(m)]
            yield np.concatenate([overlay, colour, out.warped[k], *masks], axis=1)

    write_video(directory / "intermediates.mp4", panels(), out.fps)
    with atomic.replacing(directory / "animation.npz") as tmp:
        np.savez(tmp, landmarks=out.landmarks, expression=out.expression, pose=out.pose,
                 reference_landmarks=out.reference_landmarks)


def draw_points(image, points, radius: int = 1, color=(0, 255, 0)):
    """A copy of ``image`` with a small square at each landmark (points outside the image are skipped)."""
    import numpy as np

    canvas = image.copy()
    h, w = canvas.shape[:2]
    for x, y in np.round(points).astype(int):
        if 0 <= x < w and 0 <= y < h:
            canvas[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1] = color
    return canvas
