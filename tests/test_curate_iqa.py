"""The IQA score with small ONNX models made here (onnx.helper): known weights, so the expected score is computed
independently from the decoded frames of a real-face video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures.talking_face import talking_face_factory, talking_face_small  # noqa: F401
from hdtf.curate.base import run_accumulators
from hdtf.curate.iqa import IMAGENET_MEAN, IMAGENET_STD, IQAModel, IQAScore, key_frames
from hdtf.decode import stream_frames
from hdtf.errors import HDTFError

WEIGHTS = np.array([[30.0], [-12.0], [20.0]])  # score = channel means . WEIGHTS + BIAS
BIAS = 41.5


def linear_iqa(path: Path, side: int | str = "W") -> Path:
    """An IQA stand-in: per-channel mean of the normalised input, then a 3 -> 1 linear layer; output (N, 1)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dims = ["N", 3, side, side] if isinstance(side, int) else ["N", 3, "H", "W"]
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "w"], ["projected"]),
         helper.make_node("Add", ["projected", "b"], ["score"])],
        "iqa_standin",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(WEIGHTS.astype(np.float32), "w"),
         numpy_helper.from_array(np.array([BIAS], np.float32), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def expected_score(frame: np.ndarray, crop: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> float:
    h, w = frame.shape[:2]
    top, left = round((h - crop) / 2), round((w - crop) / 2)
    part = frame[top:top + crop, left:left + crop].astype(np.float64) / 255.0
    channel_means = (part.reshape(-1, 3).mean(0) - np.array(mean)) / np.array(std)
    return float(channel_means @ WEIGHTS[:, 0] + BIAS)


@pytest.fixture(scope="module")
def frames(talking_face_small):
    return list(stream_frames(talking_face_small.path))


def test_clip_score_is_the_mean_over_first_middle_and_last_frames(tmp_path, frames):
    model = IQAModel(linear_iqa(tmp_path / "iqa.onnx"))
    n = len(frames)
    want = [expected_score(frames[i]) for i in (0, n // 2, n - 1)]
    assert len({round(v, 3) for v in want}) == 3  # the three frames do differ (the head moves)
    for known in (n, None):  # told the frame count, or finding the middle frame without it
        got = run_accumulators([IQAScore(model)], frames, None, 25.0, num_frames=known)["iqa"]
        assert got["iqa_frames"] == [0, n // 2, n - 1]
        assert got["iqa_frame_scores"] == pytest.approx(want, abs=1e-3)
        assert got["iqa"] == pytest.approx(np.mean(want), abs=1e-3)


def test_only_the_centre_crop_counts(tmp_path, frames):
    model = IQAModel(linear_iqa(tmp_path / "iqa.onnx"))
    frame = frames[0].copy()
    before = model.scores([frame])[0]
    frame[:, :100] = 255  # outside the 224x224 centre of a 640x360 frame
    frame[:60] = 0
    assert model.scores([frame])[0] == pytest.approx(before, abs=1e-6)
    frame[180, 320] = 0  # inside
    assert model.scores([frame])[0] != pytest.approx(before, abs=1e-6)


def test_normalisation_and_crop_are_options_and_a_fixed_input_sets_the_crop(tmp_path, frames):
    flat = IQAModel(linear_iqa(tmp_path / "iqa.onnx"), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), crop=128)
    assert flat.scores([frames[3]])[0] == pytest.approx(
        expected_score(frames[3], 128, (0.5,) * 3, (0.5,) * 3), abs=1e-3)
    fixed = IQAModel(linear_iqa(tmp_path / "fixed.onnx", side=96))
    assert fixed.crop == 96
    assert fixed.scores([frames[3]])[0] == pytest.approx(expected_score(frames[3], 96), abs=1e-3)
    with pytest.raises(HDTFError, match="takes 96x96 crops, not 224"):
        IQAModel(tmp_path / "fixed.onnx", crop=224)
    resized = IQAModel(tmp_path / "iqa.onnx", resize=256)  # 640x360 -> 455x256, then the 224 centre
    import cv2

    small = cv2.resize(frames[3], (455, 256), interpolation=cv2.INTER_AREA)
    assert resized.scores([frames[3]])[0] == pytest.approx(expected_score(small), abs=1e-3)


def test_bad_weights_fail_in_one_clear_line(tmp_path):
    with pytest.raises(HDTFError, match="file not found"):
        IQAModel(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(HDTFError, match="not a loadable ONNX model"):
        IQAModel(tmp_path / "junk.onnx")


def test_key_frames():
    assert key_frames(1) == (0,) and key_frames(2) == (0, 1) and key_frames(7) == (0, 3, 6) and key_frames(0) == ()
