"""Converter: a checkpoint written the original way from the documented layout -> RGB model, exact and checked."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hdtf.cli import main
from hdtf.modeling import HDTFAnimationToVideo, HDTFAnimationToVideoConfig
from hdtf.modeling.convert_original import (
    BGR_TO_RGB,
    config_from_original,
    hdtf_to_original,
    original_forward,
    original_to_hdtf,
    probe_inputs,
)

# Image-channel tensors of the original (dim, permutation), written out here independently of the converter.
HG_PERM = [2, 1, 0, 3, 4, 7, 6, 5]
HEAD_PERM = list(range(64)) + [64 + i for i in HG_PERM]
COLOUR = {
    "encoder.in_conv.conv.weight": (1, BGR_TO_RGB),
    "foreground_matting.down_sample_image.weight": (0, BGR_TO_RGB),
    "foreground_matting.hourglass.encoder.down_blocks.0.conv.weight": (1, HG_PERM),
    "foreground_matting.foreground_mask.weight": (1, HEAD_PERM),
    "foreground_matting.matting_mask.weight": (1, HEAD_PERM),
    "foreground_matting.matting.weight": (1, HEAD_PERM),
    "decoder.out_conv.weight": (0, BGR_TO_RGB),
    "decoder.out_conv.bias": (0, BGR_TO_RGB),
}


def read_layout(path: Path) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in path.read_text().splitlines():
        if line.startswith("module."):
            key, shape = line.split("\t")
            shapes[key] = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
    return shapes


@pytest.fixture(scope="module")
def documented_layout(shared_dir: Path) -> dict[str, tuple[int, ...]]:
    path = shared_dir / "reference" / "animation2video_checkpoint_layout.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return read_layout(path)


@pytest.fixture(scope="module")
def layout(request) -> dict[str, tuple[int, ...]]:
    """The documented layout; without ../shared, the default model's layout in the original names (checked there)."""
    try:
        return request.getfixturevalue("documented_layout")
    except pytest.skip.Exception:
        model = HDTFAnimationToVideo(HDTFAnimationToVideoConfig())
        return {k: tuple(v.shape) for k, v in hdtf_to_original(model.state_dict()).items()}


def random_original(layout: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights of the documented shapes, trained-looking BatchNorm statistics, random per-channel blur kernel."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            value = torch.tensor(1234, dtype=torch.long)
        elif key.endswith("running_mean"):
            value = torch.randn(shape, generator=gen) * 0.1
        elif key.endswith("running_var"):
            value = torch.rand(shape, generator=gen) + 0.5
        elif ".norm" in key and key.endswith("weight"):
            value = 1 + 0.1 * torch.randn(shape, generator=gen)
        elif "down_sample" in key:
            value = torch.rand(shape, generator=gen)
            value = value / value.sum(dim=(2, 3), keepdim=True)
        elif key.endswith("weight"):
            bound = 1 / math.sqrt(math.prod(shape[1:]))
            value = (torch.rand(shape, generator=gen) * 2 - 1) * bound * math.sqrt(3)
        else:
            value = torch.randn(shape, generator=gen) * 0.05
        state[key] = value
    return state


@pytest.fixture(scope="module")
def converted(layout, tmp_path_factory):
    """One conversion through the CLI, shared by the checks below (the full-size model is the slow part)."""
    root = tmp_path_factory.mktemp("convert")
    original = random_original(layout)
    checkpoint = root / "checkpoint_animation2video.pth"
    torch.save({"state_dict": {"net_g": original, "net_d": {}}, "epoch": 7}, checkpoint)
    assert main(["convert-checkpoint", str(checkpoint), str(root / "model")]) == 0
    return original, root / "model", checkpoint


def test_model_layout_is_the_documented_one(documented_layout):
    model = HDTFAnimationToVideo(HDTFAnimationToVideoConfig())
    ours = {k: tuple(v.shape) for k, v in hdtf_to_original(model.state_dict()).items()}
    assert ours == documented_layout and len(documented_layout) == 143


def test_every_tensor_converted(converted):
    original, model_dir, _ = converted
    from safetensors.torch import load_file

    saved = load_file(model_dir / "model.safetensors")
    assert len(saved) == len(original) == 143
    for key, value in original.items():
        ours = key.removeprefix("module.").replace("dense_motion.", "foreground_matting.")
        ours = ours.replace("attention_mask", "matting_mask")
        if ours in COLOUR:
            dim, perm = COLOUR[ours]
            value = value.index_select(dim, torch.tensor(perm))
        assert torch.equal(saved[ours], value), key
    card = (model_dir / "README.md").read_text()
    assert "library_name: transformers" in card and "max |converted - original|" in card


def test_converted_output_matches_original_on_swapped_input(converted):
    original, model_dir, _ = converted
    model = HDTFAnimationToVideo.from_pretrained(model_dir).eval()
    assert not model.training
    rgb, flow = probe_inputs(128, seed=5)
    with torch.no_grad():
        ours = model(rgb, flow)
        theirs = original_forward(original, rgb[:, BGR_TO_RGB], flow)
        unswapped = original_forward(original, rgb, flow)
    assert (ours.synthetic_image - theirs["synthetic_image"][:, BGR_TO_RGB]).abs().max() < 1e-4
    assert (ours.foreground_mask - theirs["foreground_mask"]).abs().max() < 1e-4
    assert (ours.matting_mask - theirs["matting_mask"]).abs().max() < 1e-4
    assert (ours.dense_flow_foreground - theirs["dense_flow_foreground"]).abs().max() < 1e-4
    # colour order matters for these weights: feeding the original RGB instead of BGR changes the picture
    assert (ours.synthetic_image - unswapped["synthetic_image"][:, BGR_TO_RGB]).abs().max() > 1e-3


# The released depth (2 encoder blocks, matting at 1/4 scale, a 5-level hourglass) at a quarter of its widths, so that
# 512 px runs in seconds; the full widths are checked at the converter's probe size above.
NARROW = dict(block_expansion=16, max_features=64, hourglass_block_expansion=16, hourglass_max_features=64)


@pytest.mark.parametrize("size", [256, 512])
def test_original_numerics_at_256_and_512(size):
    """Issue 14: random weights with trained-looking BatchNorm statistics (eval mode) give the original forward's
    image, masks and flows to 1e-5; the masks are far from saturated, so the matting branch's order of operations
    shows in every output (warping at full size and up-sampling the mask instead differed by ~4e-2)."""
    narrow = HDTFAnimationToVideo(HDTFAnimationToVideoConfig(**NARROW))
    original = random_original({k: tuple(v.shape) for k, v in hdtf_to_original(narrow.state_dict()).items()}, size)
    model = HDTFAnimationToVideo(HDTFAnimationToVideoConfig(**NARROW)).eval()
    model.load_state_dict(original_to_hdtf(original), strict=True)
    assert model.encoder.in_conv.norm.running_var.min() != 1 and not model.training
    rgb, flow = probe_inputs(size, seed=7)
    with torch.no_grad():
        ours = model(rgb, flow)
        theirs = original_forward(original, rgb[:, BGR_TO_RGB], flow)
    assert ours.foreground_mask.shape == (1, 1, size // 4, size // 4) == theirs["foreground_mask"].shape
    for mask in (theirs["foreground_mask"], theirs["matting_mask"]):
        assert 0.01 < mask.std() and 0.05 < mask.min() and mask.max() < 0.95
    assert (ours.synthetic_image - theirs["synthetic_image"][:, BGR_TO_RGB]).abs().max() <= 1e-5
    assert (ours.warped_image - theirs["warped_image"][:, BGR_TO_RGB]).abs().max() <= 1e-5
    assert (ours.foreground_mask - theirs["foreground_mask"]).abs().max() <= 1e-5
    assert (ours.matting_mask - theirs["matting_mask"]).abs().max() <= 1e-5
    assert (ours.dense_flow_foreground - theirs["dense_flow_foreground"]).abs().max() <= 1e-5


@pytest.mark.parametrize("widths", [
    {},  # the released checkpoint: the defaults
    NARROW,
    dict(block_expansion=16, max_features=24, num_down_blocks=3, hourglass_block_expansion=8,
         hourglass_max_features=32),  # both caps bite
    dict(hourglass_block_expansion=32, hourglass_max_features=1024),  # uncapped widths past the default cap
])
def test_config_is_read_off_the_checkpoint_shapes(widths):
    """Depths, widths and width caps come back from the tensors alone, so narrower or wider checkpoints than the
    released one convert without hand-set hyper-parameters."""
    if "num_down_blocks" in widths:
        widths = {**widths, "matting_scale": 1 / 2 ** widths["num_down_blocks"]}
    made = HDTFAnimationToVideoConfig(**widths)
    state = HDTFAnimationToVideo(made).state_dict()
    read = config_from_original(original_to_hdtf(hdtf_to_original(state)))
    again = HDTFAnimationToVideo(read).state_dict()
    assert {k: v.shape for k, v in again.items()} == {k: v.shape for k, v in state.items()}
    for key in ("block_expansion", "num_down_blocks", "hourglass_num_blocks", "hourglass_block_expansion"):
        assert getattr(read, key) == getattr(made, key), key
    if not widths:
        assert read.to_dict() == made.to_dict()


def _fails(capsys, *argv: str) -> str:
    assert main(["convert-checkpoint", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error:" in err
    return err


def test_wrong_and_corrupt_files(tmp_path, capsys, layout):
    out = tmp_path / "out"
    assert "not found" in _fails(capsys, str(tmp_path / "nope.pth"), str(out))
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    assert "not a readable PyTorch checkpoint" in _fails(capsys, str(text), str(out))
    truncated = tmp_path / "truncated.pth"
    torch.save({"state_dict": {"net_g": {"w": torch.zeros(3)}}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    assert "not a readable PyTorch checkpoint" in _fails(capsys, str(truncated), str(out))
    no_state = tmp_path / "weights.pth"
    torch.save({"model": {}}, no_state)
    assert "no 'state_dict'" in _fails(capsys, str(no_state), str(out))
    no_g = tmp_path / "disc.pth"
    torch.save({"state_dict": {"net_d": {}}}, no_g)
    assert "no 'net_g'" in _fails(capsys, str(no_g), str(out))

    original = {k: torch.zeros(v) for k, v in layout.items()}
    broken = dict(original)
    del broken["module.bottleneck.bottleneck.1.conv2.bias"]
    broken["module.extra.weight"] = torch.zeros(2)
    path = tmp_path / "broken.pth"
    torch.save({"state_dict": {"net_g": broken}}, path)
    err = _fails(capsys, str(path), str(out), "--no-verify")
    assert "missing keys: bottleneck.bottleneck.1.conv2.bias" in err and "unexpected keys: extra.weight" in err
    reshaped = dict(original)
    reshaped["module.decoder.up_blocks.0.conv.weight"] = torch.zeros(128, 256, 5, 5)
    torch.save({"state_dict": {"net_g": reshaped}}, path)
    assert "shape mismatches" in _fails(capsys, str(path), str(out), "--no-verify")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_refuses_to_overwrite(converted, capsys):
    _, model_dir, checkpoint = converted
    assert "already exists" in _fails(capsys, str(checkpoint), str(model_dir))
