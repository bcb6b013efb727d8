"""Pose/expression decomposition of 68 landmarks: exact round trips, separation of pose and expression, fitting."""

from __future__ import annotations

import numpy as np
import pytest
from hdtf.modeling.animation_params import (
    MOUTH,
    REGIONS,
    RIGID,
    ExpressionBasis,
    animate_points,
    apply_pose_delta,
    clip_targets,
    default_basis,
    pose_delta,
    procedural_landmarks,
)


@pytest.fixture(scope="module")
def basis() -> ExpressionBasis:
    return default_basis()


def test_default_basis_groups_and_orthonormal(basis):
    assert set(basis.groups) == {"mouth", "eyebrows", "eyelids"}
    flat = basis.components.reshape(basis.num_components, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(basis.num_components), atol=1e-6)
    a, b = basis.groups["mouth"]
    outside = np.setdiff1d(np.arange(68), REGIONS["mouth"])
    assert np.abs(basis.components[a:b][:, outside]).max() == 0  # mouth components touch only mouth + jaw
    assert np.abs(basis.components[:, RIGID]).max() == 0  # expression never moves the rigid points
    assert basis.explained_variance[a] >= basis.explained_variance[a + 1]  # sorted within a block
    # The strongest mouth component is jaw opening: the lower lip moves down against the upper lip.
    first = basis.components[a]
    assert np.sign(first[57, 1] - first[51, 1]) != 0 and abs(first[57, 1]) > abs(first[51, 1])


def test_encode_decode_exact(basis):
    clip = procedural_landmarks(1, 20, seed=7)[0]
    pose, expr, residual = basis.encode(clip)
    np.testing.assert_allclose(basis.decode(pose, expr, residual), clip, atol=1e-8)
    # Without the residual the decode is a parameter fixed point: encode(decode(p, e)) == (p, e), residual 0.
    pose2, expr2, res2 = basis.encode(basis.decode(pose, expr))
    np.testing.assert_allclose(pose2, pose, atol=1e-9)
    np.testing.assert_allclose(expr2, expr, atol=1e-9)
    assert np.abs(res2).max() < 1e-9


def test_similarity_pose_is_recovered(basis):
    shape = basis.decode(np.zeros(6), np.zeros(basis.num_components))
    scale, roll, t = 80.0, 0.3, np.array([200.0, 150.0])
    c, s = np.cos(roll), np.sin(roll)
    moved = shape @ np.array([[c, s], [-s, c]]) * scale + t
    pose, expr, _ = basis.encode(moved)
    np.testing.assert_allclose(pose, [np.log(scale), roll, *t, 0, 0], atol=1e-9)
    np.testing.assert_allclose(expr, 0, atol=1e-9)


def test_mouth_opening_is_expression_not_pose(basis):
    shape = basis.decode(np.array([np.log(100.0), 0, 256, 256, 0, 0]), np.zeros(basis.num_components))
    opened = shape.copy()
    opened[[56, 57, 58, 65, 66, 67], 1] += 12.0
    opened[6:11, 1] += 8.0
    p0, e0, _ = basis.encode(shape)
    p1, e1, _ = basis.encode(opened)
    np.testing.assert_allclose(p1[:4], p0[:4], atol=1e-9)  # the rigid points did not move: same head pose
    a, b = basis.groups["mouth"]
    assert np.abs(e1[a:b] - e0[a:b]).sum() > 10 * np.abs(e1[b:] - e0[b:]).sum()


def test_yaw_proxy_follows_nose_shift(basis):
    base = basis.decode(np.array([np.log(100.0), 0, 256, 256, 0, 0]), np.zeros(basis.num_components))
    turned = basis.decode(np.array([np.log(100.0), 0, 256, 256, 0.2, 0]), np.zeros(basis.num_components))
    assert turned[30, 0] - turned[27:36].mean(0)[0] != pytest.approx(base[30, 0] - base[27:36].mean(0)[0])
    assert basis.encode(turned)[0][4] == pytest.approx(0.2)


def test_motion_transfer_keeps_reference_shape(basis):
    clips = procedural_landmarks(2, 12, seed=3)
    driver, reference = clips[0], clips[1][0]
    pose, expr, _ = basis.encode(driver)
    moved = animate_points(basis, reference, pose_delta(pose, pose[0]), expr - expr[0])
    np.testing.assert_allclose(moved[0], reference, atol=1e-8)  # no motion at the driver's first frame
    # The reference's identity residual rides along unchanged in every frame.
    np.testing.assert_allclose(basis.encode(moved)[2], np.repeat(basis.encode(reference[None])[2], 12, 0), atol=1e-8)
    # Mouth motion transfers: the reference's mouth opening changes as the driver's does.
    drv_open = driver[:, 66, 1] - driver[:, 62, 1]
    ref_open = moved[:, 66, 1] - moved[:, 62, 1]
    assert np.corrcoef(drv_open, ref_open)[0, 1] > 0.9


def test_pose_delta_inverse():
    anchor = np.array([np.log(90.0), 0.1, 300.0, 200.0, 0.05, -0.02])
    pose = anchor + np.array([[0.1, -0.05, 20.0, -10.0, 0.1, 0.0]])
    np.testing.assert_allclose(apply_pose_delta(anchor, pose_delta(pose, anchor)), pose)
    assert pose_delta(pose, anchor)[0, 2] == pytest.approx(20.0 / 90.0)


def test_clip_targets_are_centred(basis):
    expr, pose = clip_targets(basis, procedural_landmarks(1, 30, seed=4)[0])
    assert expr.shape == (30, basis.num_components) and pose.shape == (30, 6)
    np.testing.assert_allclose(expr.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(pose[:, [0, 1, 4, 5]].mean(0), 0, atol=1e-5)


def test_fit_save_load(tmp_path):
    clips = procedural_landmarks(6, 30, seed=11)
    basis = ExpressionBasis.fit(clips, components={"mouth": 3, "eyebrows": 2})
    assert basis.groups == {"mouth": (0, 3), "eyebrows": (3, 5)}
    path = basis.save(tmp_path / "b.safetensors")
    loaded = ExpressionBasis.load(path)
    assert loaded.groups == basis.groups
    np.testing.assert_array_equal(loaded.components, basis.components)
    np.testing.assert_array_equal(loaded.mean, basis.mean)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    with pytest.raises(ValueError, match="at least one clip"):
        ExpressionBasis.fit([np.full((5, 68, 2), np.nan)])


def test_mouth_indices():
    assert list(MOUTH) == list(range(48, 68))


def test_fit_expression_basis_command(tmp_path, capsys):
    from hdtf.modeling.generator import HDTFGenerator
    from hdtf.modeling.modeling_audio2animation import HDTFAudioToAnimation

    from hdtf.cli import main

    clips = tmp_path / "data" / "clips"
    clips.mkdir(parents=True)
    for k, track in enumerate(procedural_landmarks(4, 40, seed=9)):
        found = np.ones(len(track), bool)
        found[::7] = False  # frames without a face are left out of the fit
        track[~found] = 0.0
        np.savez(clips / f"clip_{k}.landmarks.npz", points=track.astype(np.float32), found=found)
    (clips / "broken.landmarks.npz").write_bytes(b"not an npz")
    assert main(["fit-expression-basis", str(tmp_path / "data"), str(tmp_path / "basis.safetensors"),
                 "--components", "mouth=4,eyebrows=2"]) == 0
    captured = capsys.readouterr()
    assert "from 4 clips" in captured.out and "broken.landmarks.npz" in captured.err
    assert ExpressionBasis.load(tmp_path / "basis.safetensors").groups == {"mouth": (0, 4), "eyebrows": (4, 6)}

    model = tmp_path / "model"
    HDTFGenerator.from_preset("tiny").save_pretrained(model)
    assert main(["fit-expression-basis", str(tmp_path / "data"), str(model), "--components", "mouth=4"]) == 2
    assert "expects 18 expression components" in capsys.readouterr().err
    assert main(["fit-expression-basis", str(tmp_path / "data"), str(model)]) == 0
    stored = ExpressionBasis.load(model)
    buffers = HDTFAudioToAnimation.from_pretrained(model / "audio2animation").basis_components.numpy()
    np.testing.assert_allclose(buffers, stored.components, atol=1e-6)
    assert not np.allclose(stored.components, default_basis().components)
    assert main(["fit-expression-basis", str(tmp_path / "nothing"), str(tmp_path / "b2.safetensors")]) == 2
