"""Convert the released ``checkpoint_animation2video.pth`` (BGR, DataParallel names) to an RGB HDTFAnimationToVideo.

Names: strip ``module.``, ``dense_motion`` -> ``foreground_matting``, ``attention_mask`` -> ``matting_mask``.
Colour: the original read frames with cv2 (BGR); every tensor whose rows or columns are image channels is reordered
so the converted model takes and returns RGB and computes the same numbers. Those tensors are the encoder input conv,
the per-channel anti-alias kernel of the image, the hourglass's first conv (reference image and warped image inputs),
the three matting heads (their last 8 input channels are the hourglass input, concatenated back), and the decoder's
output conv (weight rows and bias).

``original_forward`` is the original data flow written directly over the original state dict (BGR in and out, the
released code's order of operations and ops: full-resolution blur then subsample, the matting branch at 1/4 scale);
the converter uses it to check each conversion.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hdtf import atomic
from hdtf.errors import HDTFError

from .configuration_animation2video import HDTFAnimationToVideoConfig
from .model_card import build_model_card, converted_origin, write_model_card

__all__ = [
    "load_original_state_dict",
    "original_to_hdtf",
    "hdtf_to_original",
    "config_from_original",
    "original_forward",
    "convert_original_checkpoint",
]

_RENAMES = (
    ("dense_motion.", "foreground_matting."),
    ("foreground_matting.attention_mask.", "foreground_matting.matting_mask."),
)
BGR_TO_RGB = [2, 1, 0]
VERIFY_TOLERANCE = 1e-5  # max |converted - original| on the probe; float re-association gives ~1e-7


def _brief(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown} (+{len(names) - limit} more)" if len(names) > limit else shown


def load_original_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)['state_dict']['net_g']``, with one clear HDTFError for each way it can fail."""
    path = Path(path)
    if not path.is_file():
        raise HDTFError(f"{path}: checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle, zip and runtime errors for foreign or damaged files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HDTFError(f"{path}: not a readable PyTorch checkpoint ({reason[:160]})") from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        keys = _brief(sorted(map(str, checkpoint))) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise HDTFError(f"{path}: no 'state_dict' in the checkpoint (found: {keys})")
    net_g = state.get("net_g")
    if not isinstance(net_g, dict):
        raise HDTFError(
            f"{path}: no 'net_g' generator weights under 'state_dict' (found: {_brief(sorted(map(str, state)))})"
        )
    bad = [k for k, v in net_g.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise HDTFError(f"{path}: 'net_g' holds non-tensor entries: {_brief(bad)}")
    return dict(net_g)


def _rename(key: str) -> str:
    key = key.removeprefix("module.")
    for old, new in _RENAMES:
        if key.startswith(old):
            key = new + key[len(old) :]
    return key


def _colour_orders(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, list[int]]]:
    """For each tensor touching image channels (our names): the dim to permute and the permutation BGR <-> RGB."""
    # hourglass input channels: 3 reference image + 2 flow + 3 warped image
    hg_in = state["foreground_matting.hourglass.encoder.down_blocks.0.conv.weight"].shape[1]
    hg_perm = BGR_TO_RGB + [3, 4] + [7, 6, 5]
    if hg_in != 8:
        raise HDTFError(f"hourglass input has {hg_in} channels, expected 8 (3 image + 2 flow + 3 warped image)")
    heads_in = state["foreground_matting.matting.weight"].shape[1]
    head_perm = list(range(heads_in - 8)) + [heads_in - 8 + i for i in hg_perm]
    orders = {
        "encoder.in_conv.conv.weight": (1, BGR_TO_RGB),
        "foreground_matting.down_sample_image.weight": (0, BGR_TO_RGB),
        "foreground_matting.hourglass.encoder.down_blocks.0.conv.weight": (1, hg_perm),
        "decoder.out_conv.weight": (0, BGR_TO_RGB),
        "decoder.out_conv.bias": (0, BGR_TO_RGB),
    }
    for head in ("foreground_mask", "matting_mask", "matting"):
        orders[f"foreground_matting.{head}.weight"] = (1, head_perm)
    return orders


def _swap_colours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Reorder image channels; the permutation is its own inverse, so this maps BGR->RGB and RGB->BGR alike."""
    out = dict(state)
    for key, (dim, perm) in _colour_orders(state).items():
        out[key] = state[key].index_select(dim, torch.tensor(perm)).contiguous()
    return out


def original_to_hdtf(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original (BGR, ``module.dense_motion...``) state dict -> HDTFAnimationToVideo (RGB) state dict."""
    renamed = {_rename(k): v for k, v in original.items()}
    if len(renamed) != len(original):
        raise HDTFError("checkpoint has keys that collide after removing 'module.' and renaming")
    required = (
        "encoder.in_conv.conv.weight",
        "foreground_matting.hourglass.encoder.down_blocks.0.conv.weight",
        "foreground_matting.matting.weight",
        "decoder.out_conv.weight",
        "decoder.out_conv.bias",
    )
    missing = [k for k in required if k not in renamed]
    if missing:
        raise HDTFError(f"not an animation-to-video generator checkpoint: missing {_brief(missing)}")
    return _swap_colours(renamed)


def hdtf_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse: an HDTFAnimationToVideo state dict in the original's names and BGR order (for round trips)."""
    swapped = _swap_colours(state)
    out = {}
    for key, value in swapped.items():
        key = key.replace("foreground_matting.matting_mask.", "foreground_matting.attention_mask.")
        key = key.replace("foreground_matting.", "dense_motion.", 1) if key.startswith("foreground_matting.") else key
        out["module." + key] = value
    return out


def _count(state: dict[str, torch.Tensor], prefix: str) -> int:
    return len({k[len(prefix) :].split(".")[0] for k in state if k.startswith(prefix)})


def _max_features(state: dict[str, torch.Tensor], prefix: str, expansion: int, default: int) -> int:
    """The width cap of a stack of down blocks: visible only where it bites (the widest block is narrower than
    ``expansion * 2**blocks``); otherwise the default, raised when the uncapped widths exceed it."""
    blocks = _count(state, prefix)
    if blocks == 0:
        return default
    widest = state[f"{prefix}{blocks - 1}.conv.weight"].shape[0]
    return widest if widest < expansion * 2**blocks else max(default, widest)


def config_from_original(state: dict[str, torch.Tensor]) -> HDTFAnimationToVideoConfig:
    """Read depth and widths off the converted tensors' shapes (the released checkpoint gives the defaults)."""
    defaults = HDTFAnimationToVideoConfig()
    try:
        in_w = state["encoder.in_conv.conv.weight"]
        hg_last = _count(state, "foreground_matting.hourglass.decoder.up_blocks.") - 1
        hg_expansion = state[f"foreground_matting.hourglass.decoder.up_blocks.{hg_last}.conv.weight"].shape[0]
        return HDTFAnimationToVideoConfig(
            num_channels=in_w.shape[1],
            out_channels=state["decoder.out_conv.weight"].shape[0],
            block_expansion=in_w.shape[0],
            max_features=_max_features(state, "encoder.down_blocks.", in_w.shape[0], defaults.max_features),
            num_down_blocks=_count(state, "encoder.down_blocks."),
            num_bottleneck_blocks=_count(state, "bottleneck.bottleneck."),
            hourglass_num_blocks=_count(state, "foreground_matting.hourglass.encoder.down_blocks."),
            hourglass_block_expansion=hg_expansion,
            hourglass_max_features=_max_features(
                state, "foreground_matting.hourglass.encoder.down_blocks.", hg_expansion,
                defaults.hourglass_max_features,
            ),
            matting_scale=1 / 2 ** _count(state, "encoder.down_blocks."),
            mask_kernel_size=state["foreground_matting.matting.weight"].shape[-1],
        )
    except (KeyError, ValueError) as exc:
        raise HDTFError(f"cannot read the generator's hyper-parameters from the checkpoint: {exc}") from None


def _check_against(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing keys: {_brief(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_brief(unexpected)}")
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if mismatched:
        problems.append(f"shape mismatches (checkpoint vs model): {_brief(mismatched, 3)}")
    if problems:
        raise HDTFError("checkpoint does not match the animation-to-video layout: " + "; ".join(problems))


# ---- the original forward over the original state dict (BGR), used to verify conversions and as the benchmark baseline


def _bn(x: torch.Tensor, s: dict[str, torch.Tensor], p: str) -> torch.Tensor:
    return F.batch_norm(
        x, s[p + "running_mean"], s[p + "running_var"], s[p + "weight"], s[p + "bias"], False, 0.0, 1e-5
    )


def _conv_bn_relu(x: torch.Tensor, s: dict[str, torch.Tensor], p: str) -> torch.Tensor:
    w = s[p + "conv.weight"]
    return F.relu(_bn(F.conv2d(x, w, s[p + "conv.bias"], padding=w.shape[-1] // 2), s, p + "norm."))


def _conv(x: torch.Tensor, s: dict[str, torch.Tensor], p: str) -> torch.Tensor:
    w = s[p + "weight"]
    return F.conv2d(x, w, s[p + "bias"], padding=w.shape[-1] // 2)


def _blur_subsample(x: torch.Tensor, kernel: torch.Tensor, scale: float) -> torch.Tensor:
    """The original anti-aliasing: zero-pad (ka, kb), depthwise gaussian at full resolution, nearest ``scale``."""
    ka = kernel.shape[-1] // 2
    kb = ka - 1 if kernel.shape[-1] % 2 == 0 else ka
    blurred = F.conv2d(F.pad(x, (ka, kb, ka, kb)), kernel, groups=kernel.shape[0])
    return F.interpolate(blurred, scale_factor=(scale, scale))


def _warp(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The original warp: the grid resized bilinearly to the map's size when they differ, then grid_sample."""
    if grid.shape[1:3] != x.shape[2:]:
        grid = F.interpolate(grid.permute(0, 3, 1, 2), size=x.shape[2:], mode="bilinear", align_corners=False)
        grid = grid.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, align_corners=False)


def original_forward(
    state: dict[str, torch.Tensor], image_bgr: torch.Tensor, flow: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The released generator's forward over ``module.``-prefixed original weights, in eval mode, BGR in and out.

    Written from the layout file's account of the original order, independently of ``HDTFAnimationToVideo``:
    encoder; then the matting branch entirely at 1/4 scale (blur + subsample the reference and the flow, warp the
    SMALL reference with the SMALL flow, hourglass over [reference, flow, warped], heads); the foreground flow is
    composed at 1/4 scale with an identity grid ``2 * (i / (n - 1)) - 1`` of that size; the features are warped
    with it and matted; bottleneck; decoder. Masks are returned channels-first (B, 1, h, w).
    """
    s = {k.removeprefix("module."): v for k, v in state.items()}
    n_down = _count(s, "encoder.down_blocks.")
    n_hg = _count(s, "dense_motion.hourglass.encoder.down_blocks.")
    scale = 1 / 2**n_down

    # 1. feature map at 1/4 scale
    x = _conv_bn_relu(image_bgr, s, "encoder.in_conv.")
    for i in range(n_down):
        x = F.avg_pool2d(_conv_bn_relu(x, s, f"encoder.down_blocks.{i}."), 2)

    # 2. matting branch, all at 1/4 scale
    small = _blur_subsample(image_bgr, s["dense_motion.down_sample_image.weight"], scale)
    small_flow = _blur_subsample(flow.permute(0, 3, 1, 2), s["dense_motion.down_sample_flow.weight"], scale)
    small_flow = small_flow.permute(0, 2, 3, 1)
    warped = _warp(small, small_flow)
    skips = [torch.cat([small, small_flow.permute(0, 3, 1, 2), warped], dim=1)]
    for i in range(n_hg):
        skips.append(F.avg_pool2d(_conv_bn_relu(skips[-1], s, f"dense_motion.hourglass.encoder.down_blocks.{i}."), 2))
    out = skips.pop()
    for i in range(n_hg):
        up = F.interpolate(out, scale_factor=2.0)
        out = torch.cat([_conv_bn_relu(up, s, f"dense_motion.hourglass.decoder.up_blocks.{i}."), skips.pop()], dim=1)

    # 3. heads at 1/4 scale; foreground flow with an identity grid built at that scale
    foreground = torch.sigmoid(_conv(out, s, "dense_motion.foreground_mask.")).permute(0, 2, 3, 1)
    h, w = small_flow.shape[1:3]
    xs = 2 * (torch.arange(w).to(small_flow.dtype) / (w - 1)) - 1
    ys = 2 * (torch.arange(h).to(small_flow.dtype) / (h - 1)) - 1
    identity = torch.cat([xs.view(1, -1, 1).repeat(h, 1, 1), ys.view(-1, 1, 1).repeat(1, w, 1)], dim=2)
    flow_fg = small_flow * foreground + (1 - foreground) * identity.unsqueeze(0)
    matting_mask = torch.sigmoid(_conv(out, s, "dense_motion.attention_mask."))
    matting = _conv(out, s, "dense_motion.matting.")

    # 4. warped, matted features; bottleneck; decoder
    x = _warp(x, flow_fg) * matting_mask + (1 - matting_mask) * matting
    for i in range(_count(s, "bottleneck.bottleneck.")):
        p = f"bottleneck.bottleneck.{i}."
        r = F.conv2d(F.relu(_bn(x, s, p + "norm1.")), s[p + "conv1.weight"], s[p + "conv1.bias"], padding=1)
        x = x + F.conv2d(F.relu(_bn(r, s, p + "norm2.")), s[p + "conv2.weight"], s[p + "conv2.bias"], padding=1)
    for i in range(n_down):
        x = _conv_bn_relu(F.interpolate(x, scale_factor=2.0), s, f"decoder.up_blocks.{i}.")
    image = torch.sigmoid(_conv(x, s, "decoder.out_conv."))
    return {
        "synthetic_image": image,
        "warped_image": warped,
        "foreground_mask": foreground.permute(0, 3, 1, 2),
        "matting_mask": matting_mask,
        "dense_flow_foreground": flow_fg,
    }


def probe_inputs(size: int, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth RGB picture and a smooth, non-trivial sampling grid (size x size), deterministic."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, 8, 8, generator=gen)
    image = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    ys = torch.linspace(-1, 1, size)
    grid_y, grid_x = torch.meshgrid(ys, ys, indexing="ij")
    wobble = 0.08 * torch.rand(batch, 2, 4, 4, generator=gen) - 0.04
    offset = F.interpolate(wobble, size=(size, size), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    return image, torch.stack([grid_x, grid_y], dim=-1)[None] + offset


def compare_with_original(model: Any, original: dict[str, torch.Tensor], size: int | None = None) -> float:
    """Largest absolute difference between the converted model (RGB) and the original forward (BGR) on a probe."""
    size = size or 2 * model.config.size_multiple  # 256 for the released layout: hourglass maps down to 8x8
    image, flow = probe_inputs(size)
    with torch.no_grad():
        ours = model(image, flow)
        theirs = original_forward(original, image[:, BGR_TO_RGB], flow)
    diffs = [
        (ours.synthetic_image - theirs["synthetic_image"][:, BGR_TO_RGB]).abs().max(),
        (ours.warped_image - theirs["warped_image"][:, BGR_TO_RGB]).abs().max(),
        (ours.foreground_mask - theirs["foreground_mask"]).abs().max(),
        (ours.matting_mask - theirs["matting_mask"]).abs().max(),
        (ours.dense_flow_foreground - theirs["dense_flow_foreground"]).abs().max(),
    ]
    return float(torch.stack(diffs).max())


def convert_original_checkpoint(
    checkpoint: str | os.PathLike, output_dir: str | os.PathLike, verify: bool = True, overwrite: bool = False
) -> dict[str, Any]:
    """Convert, optionally check against the original forward (<= 1e-5), and write a save_pretrained directory.

    The directory is assembled under a temporary name beside ``output_dir`` and renamed into place, so a failed or
    interrupted conversion never leaves something that looks like a model. Returns a summary dict.
    """
    from .generator import replace_directory
    from .modeling_animation2video import HDTFAnimationToVideo

    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
        raise HDTFError(f"{output_dir}: already exists and is not empty (pass --overwrite to replace it)")
    original = load_original_state_dict(checkpoint)
    state = original_to_hdtf(original)
    config = config_from_original(state)
    model = HDTFAnimationToVideo(config).eval()
    _check_against(model, state)
    model.load_state_dict(state, strict=True)

    max_diff = compare_with_original(model, original) if verify else None
    if max_diff is not None and not max_diff <= VERIFY_TOLERANCE:
        raise HDTFError(
            f"{checkpoint}: converted model differs from the original forward by {max_diff:.3g} (> {VERIFY_TOLERANCE:g})"
        )

    params = sum(p.numel() for p in model.parameters())
    card = build_model_card(
        title="HDTF animation-to-video generator (converted)",
        summary=(
            "Flow-guided one-shot talking-face generator from *Flow-guided One-shot Talking Face Generation with a "
            "High-resolution Audio-visual Dataset* (Zhang et al., CVPR 2021), converted from the released "
            f"`{checkpoint.name}` to RGB input/output."
        ),
        config=config,
        parameters=params,
        usage=(
            "from hdtf.modeling import HDTFAnimationToVideo, construct_fapp\n"
            "model = HDTFAnimationToVideo.from_pretrained(PATH).eval()\n"
            "grid = construct_fapp(reference_points, driving_points, 512)  # (B, 512, 512, 2)\n"
            "frame = model(reference_rgb, grid).synthetic_image  # (B, 3, 512, 512) RGB in [0, 1]"
        ),
        notes=[
            f"Conversion check: max |converted - original| on a probe picture = "
            f"{'not run' if max_diff is None else f'{max_diff:.2e}'}.",
        ],
        tags=["talking-face", "image-to-image", "hdtf"],
        origin=converted_origin(checkpoint.name, max_diff), pipeline_tag="image-to-image",
    )

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".partial", dir=output_dir.parent))
    try:
        model.save_pretrained(staging)
        write_model_card(staging, card)
        atomic.make_shareable(staging)
        replace_directory(staging, output_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return {"output_dir": str(output_dir), "parameters": params, "tensors": len(state), "max_abs_diff": max_diff}
