"""HDTFAnimationToVideo: shapes, the documented data flow, HF plumbing (save/load/Auto*), training and GPU paths."""

from __future__ import annotations

import json

import pytest
import torch

from hdtf.modeling import HDTFAnimationToVideo, HDTFAnimationToVideoConfig, identity_grid
from hdtf.modeling.convert_original import BGR_TO_RGB, hdtf_to_original, original_forward, probe_inputs
from hdtf.modeling.model_card import build_model_card, write_model_card

TINY = dict(
    block_expansion=8,
    max_features=32,
    hourglass_num_blocks=2,
    hourglass_block_expansion=8,
    hourglass_max_features=32,
    num_bottleneck_blocks=1,
    image_size=32,
)


def tiny_model(seed: int = 0, **overrides) -> HDTFAnimationToVideo:
    torch.manual_seed(seed)
    model = HDTFAnimationToVideo(HDTFAnimationToVideoConfig(**{**TINY, **overrides}))
    with torch.no_grad():  # non-trivial BatchNorm statistics, as a trained model has
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_default_config_is_the_released_layout():
    config = HDTFAnimationToVideoConfig()
    assert config.model_type == "hdtf_animation2video"
    assert (config.feature_channels, config.antialias_kernel_size, config.size_multiple) == (256, 13, 128)
    with pytest.raises(ValueError, match="matting_scale"):
        HDTFAnimationToVideoConfig(matting_scale=0.5)
    with pytest.raises(ValueError, match="norm_type"):
        HDTFAnimationToVideoConfig(norm_type="layer")


def test_forward_shapes_ranges_and_tuple_output():
    model = tiny_model()
    image, flow = probe_inputs(32, batch=2)
    with torch.no_grad():
        out = model(image, flow)
        as_tuple = model(image, flow, return_dict=False)
    # the matting branch works at 1/4 scale, as the released code does (issue 14: it used to warp at full size)
    assert out.synthetic_image.shape == (2, 3, 32, 32) and out.warped_image.shape == (2, 3, 8, 8)
    assert out.foreground_mask.shape == (2, 1, 8, 8) and out.matting_mask.shape == (2, 1, 8, 8)
    assert out.dense_flow_foreground.shape == (2, 8, 8, 2)
    assert 0 <= out.synthetic_image.min() and out.synthetic_image.max() <= 1
    torch.testing.assert_close(as_tuple[0], out.synthetic_image)
    # the foreground flow blends the (blurred, subsampled) flow with "stay put" by the foreground mask, at 1/4 scale
    branch = model.foreground_matting
    small_flow = branch.down_sample_flow(flow.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    small_image = branch.down_sample_image(image)
    mask = out.foreground_mask.permute(0, 2, 3, 1)
    torch.testing.assert_close(out.dense_flow_foreground, mask * small_flow + (1 - mask) * identity_grid(8))
    torch.testing.assert_close(out.warped_image, torch.nn.functional.grid_sample(small_image, small_flow, align_corners=False))


def test_other_resolutions_and_clear_size_errors():
    model = tiny_model()
    image, flow = probe_inputs(48)
    with torch.no_grad():
        assert model(image, flow).synthetic_image.shape == (1, 3, 48, 48)
        wide = model(torch.rand(1, 3, 32, 64), identity_grid(32, width=64)[None])
    assert wide.synthetic_image.shape == (1, 3, 32, 64)
    with pytest.raises(ValueError, match="multiple of 16"):
        model(torch.rand(1, 3, 40, 40), identity_grid(40)[None])
    with pytest.raises(ValueError, match="dense_flow"):
        model(torch.rand(1, 3, 32, 32), identity_grid(16)[None])
    with pytest.raises(ValueError, match="reference_image"):
        model(torch.rand(1, 4, 32, 32), identity_grid(32)[None])


def test_matches_documented_original_forward_after_colour_swap():
    """The module tree computes what the functional original (BGR) computes on the same weights, at a small size."""
    model = tiny_model(seed=1)
    image, flow = probe_inputs(32, seed=3)
    original = hdtf_to_original(model.state_dict())
    with torch.no_grad():
        ours = model(image, flow)
        theirs = original_forward(original, image[:, BGR_TO_RGB], flow)
    torch.testing.assert_close(ours.synthetic_image, theirs["synthetic_image"][:, BGR_TO_RGB], atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.matting_mask, theirs["matting_mask"], atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.foreground_mask, theirs["foreground_mask"], atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.warped_image, theirs["warped_image"][:, BGR_TO_RGB], atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.dense_flow_foreground, theirs["dense_flow_foreground"], atol=1e-5, rtol=0)


def test_save_load_safetensors_and_auto_classes(tmp_path):
    from transformers import AutoConfig, AutoModel

    model = tiny_model(seed=2)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "hdtf_animation2video"
    image, flow = probe_inputs(32)
    with torch.no_grad():
        expected = model(image, flow).synthetic_image
        loaded = AutoModel.from_pretrained(tmp_path).eval()
        assert isinstance(loaded, HDTFAnimationToVideo)
        torch.testing.assert_close(loaded(image, flow).synthetic_image, expected, atol=0, rtol=0)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), HDTFAnimationToVideoConfig)


def test_gradient_checkpointing_gives_the_same_gradients():
    image, flow = probe_inputs(32, batch=2)
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(seed=4, norm_type="instance").train()
        if checkpointing:
            model.activation_checkpointing_enable()
            assert model.gradient_checkpointing
        model(image, flow).synthetic_image.mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0])


def test_channels_last_and_bf16_autocast_paths():
    model = tiny_model(seed=5)
    image, flow = probe_inputs(32)
    with torch.no_grad():
        reference = model(image, flow).synthetic_image
        bf16 = model(image, flow, autocast_dtype=torch.bfloat16).synthetic_image
        model.to(memory_format=torch.channels_last)
        nhwc = model(image, flow).synthetic_image
    assert bf16.dtype == torch.float32 and (bf16 - reference).abs().max() < 0.05
    torch.testing.assert_close(nhwc, reference, atol=1e-5, rtol=0)


def test_model_card(tmp_path):
    text = build_model_card(
        "T",
        "summary here",
        HDTFAnimationToVideoConfig(),
        usage="x = 1",
        parameters=2_000_000,
        notes=["a note"],
        tags=["talking-face"],
    )
    assert text.startswith("---\nlibrary_name: transformers\n") and "- talking-face" in text
    assert "| `hourglass_num_blocks` | `5` |" in text and "Parameters: 2.0 M." in text and "- a note" in text
    assert write_model_card(tmp_path, text).read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]


@pytest.mark.parametrize("channels_last", [False, True])
def test_upsample_conv_equals_nearest_upsample_then_conv(channels_last):
    from hdtf.modeling.modeling_animation2video import upsample_conv3x3

    torch.manual_seed(0)
    x, weight, bias = torch.rand(2, 5, 9, 7), torch.randn(4, 5, 3, 3), torch.randn(4)
    expected = torch.nn.functional.conv2d(torch.nn.functional.interpolate(x, scale_factor=2.0), weight, bias, padding=1)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(upsample_conv3x3(x, weight, bias), expected, atol=1e-5, rtol=0)


def test_one_reference_is_the_one_shot_model_bit_for_bit():
    """A reference axis of length 1, or encoder features computed beforehand, change nothing (issue 25)."""
    model = tiny_model(seed=6)
    image, flow = probe_inputs(32, batch=2, seed=4)
    with torch.no_grad():
        one_shot = model(image, flow)
        several = model(image[:, None], flow[:, None])
        cached = model(image, flow, reference_features=model.encode(image))
    for name in ("synthetic_image", "warped_image", "foreground_mask", "matting_mask", "dense_flow_foreground"):
        torch.testing.assert_close(getattr(several, name)[:, 0] if name != "synthetic_image" else several[name],
                                   getattr(one_shot, name), atol=0, rtol=0)
    torch.testing.assert_close(cached.synthetic_image, one_shot.synthetic_image, atol=0, rtol=0)
    assert one_shot.reference_weights is None and (several.reference_weights == 1).all()
    assert not any("confidence" in k for k in model.state_dict())  # the released layout: 143 tensors, no new head


@pytest.mark.parametrize("fusion", ["confidence", "mean"])
def test_several_references_are_fused_per_pixel(fusion):
    torch.manual_seed(0)
    model = HDTFAnimationToVideo(HDTFAnimationToVideoConfig(**TINY, num_references=3, reference_fusion=fusion)).eval()
    assert ("foreground_matting.confidence.weight" in model.state_dict()) == (fusion == "confidence")
    images, flows = torch.rand(2, 3, 3, 32, 32), identity_grid(32)[None, None].repeat(2, 3, 1, 1, 1)
    flows[:, 1] += 0.05
    with torch.no_grad():
        out = model(images, flows)
    assert out.synthetic_image.shape == (2, 3, 32, 32)
    assert out.warped_image.shape == (2, 3, 3, 8, 8) and out.dense_flow_foreground.shape == (2, 3, 8, 8, 2)
    weights = out.reference_weights
    assert weights.shape == (2, 3, 1, 8, 8)
    torch.testing.assert_close(weights.sum(1), torch.ones(2, 1, 8, 8))
    if fusion == "mean":
        assert (weights == 1 / 3).all()
    else:
        assert weights.std() > 0  # learned logits differ between references and pixels
    # Each reference matters: changing one changes the frame; the same references in another order do not.
    with torch.no_grad():
        other = images.clone()
        other[:, 2] = 1 - other[:, 2]
        assert (model(other, flows).synthetic_image - out.synthetic_image).abs().max() > 1e-4
        order = [2, 0, 1]
        swapped = model(images[:, order], flows[:, order]).synthetic_image
    torch.testing.assert_close(swapped, out.synthetic_image, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="dense_flow"):
        model(images, flows[:, :2])


def test_reference_config_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="reference_fusion"):
        HDTFAnimationToVideoConfig(reference_fusion="max")
    with pytest.raises(ValueError, match="num_references"):
        HDTFAnimationToVideoConfig(num_references=0)
    model = HDTFAnimationToVideo(HDTFAnimationToVideoConfig(**TINY, num_references=4)).eval()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["num_references"], saved["reference_fusion"]) == (4, "confidence")
    loaded = HDTFAnimationToVideo.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.foreground_matting.confidence.weight, model.foreground_matting.confidence.weight)
