"""HDTFAudioToAnimation: shapes, seeded head motion, style conditioning, losses that train, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hdtf.modeling.animation_params import (
    clip_targets,
    default_basis,
    procedural_landmarks,
)
from hdtf.modeling.configuration_audio2animation import HDTFAudioToAnimationConfig
from hdtf.modeling.losses import audio2animation_losses, decode_normalised_landmarks
from hdtf.modeling.modeling_audio2animation import HDTFAudioToAnimation

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def basis():
    return default_basis()


def _model(basis, **kw) -> HDTFAudioToAnimation:
    torch.manual_seed(0)
    cfg = HDTFAudioToAnimationConfig(
        feature_size=40, window_length=20, num_expression=basis.num_components, conv_channels=[8, 16],
        hidden_size=32, num_layers=1, style_dim=8, noise_dim=4, dropout=0.0, **kw,
    )
    model = HDTFAudioToAnimation(cfg)
    model.set_basis(basis)
    return model


def _targets(basis, batch: int, frames: int):
    pairs = [clip_targets(basis, c) for c in procedural_landmarks(batch, frames, seed=21)]
    return torch.tensor(np.stack([e for e, _ in pairs])), torch.tensor(np.stack([p for _, p in pairs]))


def test_shapes_and_seeded_noise(basis):
    model = _model(basis).eval()
    x = torch.randn(2, 30, 20, 40)
    with torch.no_grad():
        a = model(x, generator=torch.Generator().manual_seed(5))
        b = model(x, generator=torch.Generator().manual_seed(5))
        c = model(x, generator=torch.Generator().manual_seed(6))
    assert a.expression.shape == (2, 30, basis.num_components) and a.pose.shape == (2, 30, 6)
    assert torch.equal(a.pose, b.pose) and torch.equal(a.expression, b.expression)
    assert not torch.equal(a.pose, c.pose)
    assert torch.equal(a.expression, c.expression)  # lip motion does not depend on the head-motion noise
    assert a.loss is None


def test_style_changes_pose_only(basis):
    model = _model(basis, num_styles=3).eval()
    x = torch.randn(1, 20, 20, 40)
    noise = torch.zeros(1, 20, 4)
    motion = torch.randn(1, 16, 6) * 0.1
    with torch.no_grad():
        plain = model(x, noise=noise)
        by_clip = model(x, noise=noise, style_motion=motion)
        by_id = model(x, noise=noise, style_id=torch.tensor([2]))
    assert not torch.allclose(plain.pose, by_clip.pose) and not torch.allclose(plain.pose, by_id.pose)
    assert torch.equal(plain.expression, by_clip.expression)
    with pytest.raises(ValueError, match="num_styles"):
        _model(basis)(x, style_id=torch.tensor([0]))


def test_pose_follows_audio_energy(basis):
    """The pose branch sees prosody: loud vs silent input changes head motion even with fixed noise."""
    model = _model(basis).eval()
    noise = torch.zeros(1, 20, 4)
    quiet, loud = torch.zeros(1, 20, 20, 40), torch.zeros(1, 20, 20, 40)
    loud[:, ::4] = 3.0
    prosody = HDTFAudioToAnimation.prosody(loud)
    assert prosody.shape == (1, 20, 3) and prosody[0, 0, 0] > prosody[0, 1, 0]
    with torch.no_grad():
        assert not torch.allclose(model(quiet, noise=noise).pose, model(loud, noise=noise).pose)


def test_losses_and_a_few_steps_reduce_them(basis):
    model = _model(basis)
    expr_t, pose_t = _targets(basis, 2, 16)
    expr_t, pose_t = expr_t + 0.3, pose_t + 0.2  # an offset the heads can learn in a few steps
    x = torch.randn(2, 16, 20, 40)
    mask = torch.ones(2, 16)
    mask[1, 12:] = 0
    kwargs = {"frame_mask": mask, "expression_target": expr_t, "pose_target": pose_t, "noise": torch.zeros(2, 16, 4)}
    out = model(x, **kwargs)
    assert set(out.losses) == {"landmark", "velocity", "pose", "expression", "loss"}
    assert out.loss.ndim == 0
    first = out.loss.item()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(10):
        opt.zero_grad()
        model(x, **kwargs).loss.backward()
        opt.step()
    assert model(x, **kwargs).loss.item() < 0.6 * first


def test_padding_does_not_change_real_frames(basis):
    model = _model(basis).eval()
    x, noise = torch.randn(1, 12, 20, 40), torch.randn(1, 12, 4)
    padded = torch.cat([x, torch.randn(1, 5, 20, 40)], 1)
    padded_noise = torch.cat([noise, torch.randn(1, 5, 4)], 1)
    mask = torch.cat([torch.ones(1, 12), torch.zeros(1, 5)], 1)
    with torch.no_grad():
        alone = model(x, noise=noise)
        batched = model(torch.cat([padded, padded]), noise=torch.cat([padded_noise, padded_noise]),
                        frame_mask=torch.cat([mask, torch.ones(1, 17)]))
    torch.testing.assert_close(batched.expression[0, :12], alone.expression[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched.pose[0, :12], alone.pose[0], atol=1e-5, rtol=1e-5)


def test_loss_is_zero_for_perfect_prediction_and_masks_padding(basis):
    expr_t, pose_t = _targets(basis, 1, 10)
    b = [torch.tensor(v, dtype=torch.float32) for v in (basis.mean, basis.components, basis.out_of_plane)]
    losses = audio2animation_losses(expr_t, pose_t, expr_t, pose_t, *b)
    assert losses["loss"].item() == pytest.approx(0.0, abs=1e-7)
    wrong = pose_t.clone()
    wrong[:, 5:] += 1.0
    mask = torch.ones(1, 10)
    mask[:, 5:] = 0
    masked = audio2animation_losses(expr_t, wrong, expr_t, pose_t, *b, frame_mask=mask)
    assert masked["loss"].item() == pytest.approx(0.0, abs=1e-7)


def test_torch_decode_matches_numpy_basis(basis):
    rng = np.random.default_rng(0)
    expr, pose = rng.normal(0, 0.05, (4, basis.num_components)), rng.normal(0, 0.05, (4, 6))
    ours = decode_normalised_landmarks(
        *(torch.tensor(v) for v in (expr, pose, basis.mean, basis.components, basis.out_of_plane))
    )
    np.testing.assert_allclose(ours.numpy(), basis.decode(pose, expr), atol=1e-10)


def test_save_load_round_trip(tmp_path, basis):
    model = _model(basis).eval()
    model.save_pretrained(tmp_path)
    from transformers import AutoModel

    loaded = HDTFAudioToAnimation.from_pretrained(tmp_path).eval()
    assert type(AutoModel.from_pretrained(tmp_path)) is HDTFAudioToAnimation
    assert torch.equal(loaded.basis_components, model.basis_components)
    x, noise = torch.randn(1, 12, 20, 40), torch.randn(1, 12, 4)
    with torch.no_grad():
        assert torch.equal(model(x, noise=noise).pose, loaded(x, noise=noise).pose)
