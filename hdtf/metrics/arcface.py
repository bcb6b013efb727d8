"""CSIM with ArcFace: the identity similarity papers report, from the user's ONNX face-recognition model.

Published CSIM numbers come from ArcFace-style recognisers (insightface models such as ``w600k_r50.onnx`` of the
``buffalo_l`` pack, 512-d). dlib's recogniser (:mod:`hdtf.metrics.identity`) puts different people at cosine
~0.85-0.9, so its CSIM cannot be compared with those numbers; this metric reports ``csim_arcface`` beside it.

What the model gets, as insightface's ``ArcFaceONNX.get_feat`` gives it to such models:

- the face aligned to 112x112 by the similarity transform (rotation, uniform scale, shift; least squares, as
  ``skimage.transform.SimilarityTransform``) that maps five points onto the standard ArcFace template
  (:data:`TEMPLATE_112`), bilinear, black outside the image. The five points come from the 68 dlib landmarks every
  face metric shares: the two eye centres (means of points 36-41 and 42-47), the nose tip (30) and the mouth
  corners (48, 54). insightface takes them from its own detector (SCRFD), so crops differ by a pixel or two;
- **RGB** channel order (insightface reads BGR images with OpenCV and swaps them to RGB in ``blobFromImages``),
  NCHW float32, normalised as ``(x - 127.5) / 127.5``.

The model must take ``(N, 3, 112, 112)`` float32 and return ``(N, D)`` embeddings; they are L2-normalised and
compared by cosine. The weights are never downloaded: ``--arcface-weights FILE`` (an insightface ONNX model; its
licence is insightface's, non-commercial research for the released packs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hdtf.errors import HDTFError
from hdtf.onnx_session import onnx_session
from hdtf.metrics.base import NO_FACE, Clip, Column, Frame, FrameMean
from hdtf.metrics.identity import cosine
from hdtf.metrics.registry import missing_weights

SIZE = 112
# insightface's arcface_dst: subject's right eye (image left), left eye, nose tip, right and left mouth corners.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
INPUT_MEAN = INPUT_STD = 127.5


def five_points(points68: np.ndarray) -> np.ndarray:
    """(5, 2) ArcFace keypoints from 68 iBUG landmarks: eye centres, nose tip, mouth corners (template order)."""
    p = np.asarray(points68, dtype=np.float64)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def alignment_matrix(points68: np.ndarray) -> np.ndarray:
    """2x3 matrix taking image pixels to the 112x112 ArcFace crop (least-squares similarity onto the template)."""
    from skimage.transform import SimilarityTransform

    source = five_points(points68)
    if not np.isfinite(source).all():
        raise ValueError("ArcFace alignment: landmarks contain NaN")
    return SimilarityTransform.from_estimate(source, TEMPLATE_112).params[:2]


def align_face(image: np.ndarray, points68: np.ndarray) -> np.ndarray:
    """The (112, 112, 3) uint8 ArcFace crop of the face with those landmarks in an RGB image."""
    import cv2

    image = np.ascontiguousarray(image, dtype=np.uint8)
    return cv2.warpAffine(image, alignment_matrix(points68), (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class ArcFaceModel:
    """An ONNX face-recognition model run with onnxruntime; :meth:`embed` takes aligned RGB crops."""

    def __init__(self, weights: str | Path, device: str = "cpu") -> None:
        path = Path(weights)
        self.session = onnx_session(path, "ArcFace", "an ONNX model such as w600k_r50.onnx", "the ArcFace CSIM",
                                    device)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = list(inputs[0].shape)
        if len(inputs) != 1 or len(shape) != 4 or [_dim(d) for d in shape[1:]] not in ([3, SIZE, SIZE], [None] * 3):
            raise HDTFError(f"ArcFace weights {path}: expected one input of shape (N, 3, {SIZE}, {SIZE}), "
                            f"found {[list(i.shape) for i in inputs]}")
        if len(outputs[0].shape) != 2:
            raise HDTFError(f"ArcFace weights {path}: expected an (N, D) embedding output, found {outputs[0].shape}")
        self.input_name = inputs[0].name

    def features(self, crops: np.ndarray) -> np.ndarray:
        """The model's raw outputs ``(N, D)`` float32 for ``(N, 112, 112, 3)`` RGB uint8 crops: what insightface
        calls a face's ``embedding`` (Hallo stores these, not the normalised ones)."""
        x = (np.asarray(crops, dtype=np.float32).transpose(0, 3, 1, 2) - INPUT_MEAN) / INPUT_STD
        return np.asarray(self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[0], dtype=np.float32)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings ``(N, D)`` float64 of ``(N, 112, 112, 3)`` RGB uint8 crops."""
        out = self.features(crops).astype(np.float64)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _dim(value: Any) -> int | None:
    return value if isinstance(value, int) else None


class ArcFaceCSIM(FrameMean):
    """Cosine similarity of ArcFace embeddings: the source image's face and each observed generated frame's."""

    columns = (Column("csim_arcface", "CSIM (ArcFace)", "higher"),)
    faces = "generated"
    weights = "arcface"
    no_value = NO_FACE
    backend = "onnxruntime, user's ONNX ArcFace model on 112x112 5-point-aligned RGB crops"
    packages = ("onnxruntime", "opencv-python-headless", "scikit-image")

    def __init__(self, weights: Path | None = None, device: str = "cpu") -> None:
        if weights is None:
            raise HDTFError(f"CSIM (ArcFace): {missing_weights('arcface')}")
        self.model = ArcFaceModel(weights, device)

    def start(self, clip: Clip) -> None:
        super().start(clip)
        face = clip.source_face
        self._source = None if face is None else self.model.embed(align_face(clip.source, face.points)[None])[0]

    def measure(self, frame: Frame) -> dict[str, float]:
        if self._source is None or frame.face is None:
            return {}
        embedding = self.model.embed(align_face(frame.generated, frame.face.points)[None])[0]
        return {"csim_arcface": cosine(self._source, embedding)}
