"""Image-quality score from the user's ONNX weights (a HyperIQA export, say), as LatentSync filters its data.

LatentSync (bytedance/LatentSync ``preprocess/filter_visual_quality.py``) scores a clip by the mean of its model's
predictions on three frames: the first, the middle (index ``len // 2``) and the last; each frame is scaled to
[0, 1], centre-cropped to 224x224 (no resize: it runs on the 256x256 aligned clips) and normalised with the ImageNet
mean and std, RGB, NCHW; clips scoring >= 40 (0-100, higher is better) are kept. :class:`IQAModel` does the same
with any ONNX model taking one ``(N, 3, H, W)`` float input: the crop size comes from the model when its input has a
fixed size, the normalisation is an option (``mean``/``std`` per channel on the [0, 1] scale), and an optional
``resize`` (shorter side, px) comes before the crop for frames larger than the model was trained on. A frame's score
is the mean of the model's outputs for it. The weights are never downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hdtf.errors import HDTFError
from hdtf.onnx_session import onnx_session

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CROP = 224
LATENTSYNC_MIN_SCORE = 40.0


class IQAModel:
    """An ONNX image-quality model run with onnxruntime (CPU unless ``device`` is ``cuda...`` and available)."""

    def __init__(self, weights: str | Path, *, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, crop: int | None = None, resize: int | None = None,
                 device: str = "cpu") -> None:
        path = Path(weights)
        self.session = onnx_session(path, "IQA", "an ONNX image-quality model", "the IQA score", device)
        inputs = self.session.get_inputs()
        shape = list(inputs[0].shape)
        if len(inputs) != 1 or len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise HDTFError(f"IQA weights {path}: expected one input of shape (N, 3, H, W), "
                            f"found {[list(i.shape) for i in inputs]}")
        fixed = [d for d in shape[2:] if isinstance(d, int)]
        if len(fixed) == 2 and fixed[0] != fixed[1]:
            raise HDTFError(f"IQA weights {path}: expected a square input, found {shape}")
        if fixed and crop is not None and crop != fixed[0]:
            raise HDTFError(f"IQA weights {path}: the model takes {fixed[0]}x{fixed[0]} crops, not {crop}")
        self.crop = fixed[0] if fixed else (crop or DEFAULT_CROP)
        self.input_name = inputs[0].name
        self.input_type = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
        self.resize = resize

    def centre_crop(self, rgb: np.ndarray) -> np.ndarray:
        """The (crop, crop, 3) uint8 part of one (H, W, 3) uint8 RGB frame the model sees (after any resize)."""
        image = np.asarray(rgb, dtype=np.uint8)
        if self.resize:
            import cv2

            h, w = image.shape[:2]
            scale = self.resize / min(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        h, w = image.shape[:2]
        if min(h, w) < self.crop:
            raise HDTFError(f"IQA: a {w}x{h} frame is smaller than the model's {self.crop}x{self.crop} crop "
                            "(give a resize)")
        # torchvision's CenterCrop (what LatentSync uses) rounds the margin with Python's round().
        top, left = int(round((h - self.crop) / 2.0)), int(round((w - self.crop) / 2.0))
        return np.array(image[top:top + self.crop, left:left + self.crop], copy=True)

    def scores(self, frames: Sequence[np.ndarray], *, cropped: bool = False) -> np.ndarray:
        """One score per RGB frame (``cropped``: frames already through :meth:`centre_crop`): the mean of the
        model's outputs for it (float64)."""
        crops = frames if cropped else [self.centre_crop(f) for f in frames]
        batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        batch = (batch - self.mean) / self.std
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=self.input_type)})[0]
        out = np.asarray(out, dtype=np.float64).reshape(len(frames), -1)
        return out.mean(axis=1)


def key_frames(num_frames: int) -> tuple[int, ...]:
    """The frames LatentSync scores: first, middle (``num_frames // 2``) and last, without repeats."""
    if num_frames <= 0:
        return ()
    return tuple(sorted({0, num_frames // 2, num_frames - 1}))


class IQAScore:
    """The clip's image-quality score as a frame accumulator named ``iqa``: the model's mean score over the first,
    middle and last frames.

    ``end()`` returns ``{"iqa": score or None, "iqa_frames": [indices], "iqa_frame_scores": [scores]}``. Without
    ``num_frames`` at ``begin`` the middle frame is not known in advance: the crops of the second half of the frames
    seen so far are kept (their 224x224 crops, 150 kB a frame; bounded by half the clip) until the end.
    """

    name = "iqa"

    def __init__(self, model: IQAModel) -> None:
        self.model = model

    def begin(self, fps: float, size: tuple[int, int], num_frames: int | None = None) -> None:
        self.num_frames = num_frames
        self.wanted = set(key_frames(num_frames)) if num_frames else None
        self.kept: dict[int, np.ndarray] = {}
        self.seen = 0

    def frame(self, index: int, rgb: np.ndarray, landmarks: np.ndarray | None) -> None:
        self.seen = index + 1
        if self.wanted is not None:
            if index in self.wanted:
                self.kept[index] = self.model.centre_crop(rgb)
            return
        self.kept[index] = self.model.centre_crop(rgb)
        # Frames before the middle of what has been seen can no longer be the middle (or the last) frame.
        for old in [i for i in self.kept if 0 < i < (index + 1) // 2]:
            del self.kept[old]

    def end(self) -> dict[str, Any]:
        indices = [i for i in key_frames(self.seen) if i in self.kept]
        if not indices:
            return {"iqa": None, "iqa_frames": [], "iqa_frame_scores": []}
        scores = self.model.scores([self.kept[i] for i in indices], cropped=True)
        self.kept = {}
        return {"iqa": float(scores.mean()), "iqa_frames": indices, "iqa_frame_scores": [float(s) for s in scores]}
