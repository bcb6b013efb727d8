"""CSIM with ArcFace: the 5-point alignment onto insightface's template, what the ONNX model is fed, the metric."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("dlib")

from fixtures.arcface_onnx import channel_means, random_arcface  # noqa: E402

from hdtf.errors import HDTFError  # noqa: E402
from hdtf.metrics.arcface import (  # noqa: E402
    TEMPLATE_112, ArcFaceCSIM, ArcFaceModel, align_face, alignment_matrix, five_points,
)
from hdtf.metrics.video import MetricSet, score_clip  # noqa: E402


@pytest.fixture(scope="module")
def arcface_onnx(tmp_path_factory):
    return random_arcface(tmp_path_factory.mktemp("arcface") / "w600k_standin.onnx")


def _landmarks_with(five: np.ndarray) -> np.ndarray:
    """68 points whose eye centres, nose tip and mouth corners are ``five`` (the rest far away, unused)."""
    points = np.full((68, 2), -1000.0)
    points[36:42], points[42:48], points[30], points[48], points[54] = five
    return points


def test_alignment_puts_the_five_points_where_the_template_says():
    # Five dots placed by a known similarity (x2.3, rotated 17 degrees, shifted) of the template: aligning must undo it
    # pixel for pixel, whatever the image looked like.
    angle, scale, shift = np.deg2rad(17), 2.3, np.array([150.0, 90.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    five = TEMPLATE_112 @ rotation.T + shift
    image = np.zeros((480, 480, 3), np.uint8)
    for x, y in five:
        cv2.circle(image, (int(round(x * 16)), int(round(y * 16))), 5 * 16, (255, 255, 255), -1, cv2.LINE_AA, 4)
    crop = align_face(image, _landmarks_with(five))
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    count, labels, stats, centres = cv2.connectedComponentsWithStats((crop[..., 0] > 60).astype(np.uint8))
    assert count == 6  # background + the five dots
    found = centres[1:][np.argsort(centres[1:, 0] + 1000 * (centres[1:, 1] > 80))]  # eyes and nose, then the mouth
    expected = TEMPLATE_112[np.argsort(TEMPLATE_112[:, 0] + 1000 * (TEMPLATE_112[:, 1] > 80))]
    np.testing.assert_allclose(found, expected, atol=0.35)
    np.testing.assert_allclose(alignment_matrix(_landmarks_with(five))[:, :2], np.linalg.inv(rotation), atol=1e-9)


def test_alignment_of_a_real_face_is_the_same_after_rotating_the_photo(face_photo):
    from hdtf.face.detect import landmarks_for_image, read_image

    image = read_image(face_photo)
    turn = cv2.getRotationMatrix2D((256, 256), 15, 1.0)
    turned = cv2.warpAffine(image, turn, (512, 512), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    points = landmarks_for_image(image)
    straight, tilted = align_face(image, points), align_face(turned, landmarks_for_image(turned))
    eyes = np.c_[five_points(points)[:2], np.ones(2)] @ alignment_matrix(points).T
    np.testing.assert_allclose(eyes, TEMPLATE_112[:2], atol=3.0)  # least squares over five points: ~2 px off
    # Eyes land on the template's eyes: the brightness profile of both crops agrees, the photo's rotation is gone.
    centre = (slice(20, 100), slice(20, 92))
    diff = np.abs(straight[centre].astype(float) - tilted[centre].astype(float)).mean()
    unaligned = np.abs(straight[centre].astype(float) - np.rot90(straight)[centre].astype(float)).mean()
    assert diff < 12 and diff < unaligned / 3


def test_the_model_gets_rgb_normalised_to_plus_minus_one(tmp_path):
    model = ArcFaceModel(channel_means(tmp_path / "means.onnx"))
    red = np.zeros((1, 112, 112, 3), np.uint8)
    red[..., 0] = 255
    # (x - 127.5) / 127.5 in RGB order, then L2-normalised: [1, -1, -1] / sqrt(3) (BGR would give [-1, -1, 1]).
    np.testing.assert_allclose(model.embed(red)[0, :4], np.array([1, -1, -1, 0]) / np.sqrt(3), atol=1e-6)


def test_same_face_scores_one_and_a_different_frame_less(arcface_onnx, face_photo):
    from hdtf.face.detect import read_image

    image = read_image(face_photo)
    tools = MetricSet(["csim", "csim_arcface"], weights={"arcface": arcface_onnx})
    same = score_clip(iter([image, image]), iter([image, image]), tools, source=image)
    assert same["csim_arcface"] == pytest.approx(1.0, abs=1e-9) and same["csim"] == pytest.approx(1.0, abs=1e-9)
    moved = np.roll(image, (9, -13), axis=(0, 1))
    darker = (image * 0.6).astype(np.uint8)
    other = score_clip(iter([moved, darker]), iter([image, image]), tools, source=image)
    assert other["no_face_generated"] == 0 and 0.0 < other["csim_arcface"] < 1.0 - 1e-6
    assert MetricSet(["csim_arcface"]).summarise([])["csim_arcface"] == "n/a (weights not provided: --arcface-weights)"


def test_unusable_models_are_named(tmp_path):
    with pytest.raises(HDTFError, match="file not found"):
        ArcFaceModel(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(HDTFError, match="not a loadable ONNX model"):
        ArcFaceModel(tmp_path / "junk.onnx")
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Flatten", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 224, 224])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 150528])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "wrong.onnx"))
    with pytest.raises(HDTFError, match=r"expected one input of shape \(N, 3, 112, 112\)"):
        ArcFaceModel(tmp_path / "wrong.onnx")
    with pytest.raises(HDTFError, match="--arcface-weights"):
        ArcFaceCSIM(None)
