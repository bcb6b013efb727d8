"""CSIM: identity preservation as the cosine similarity of dlib face-recognition embeddings.

dlib's ResNet (``dlib_face_recognition_resnet_model_v1.dat``, 128-d, trained so that one person's faces lie within
Euclidean 0.6) embeds a face aligned by the 68-point shape predictor; both files ship in ``face_recognition_models``
and are loaded by :func:`hdtf.face.models.face_recogniser`. The face is the one :mod:`hdtf.metrics.faces` observes;
dlib aligns it from the 68 landmarks, and the descriptor is computed without jitter, so it is deterministic.
"""

from __future__ import annotations

import numpy as np

from hdtf.face.models import FACE_RECOGNITION
from hdtf.metrics.base import NO_FACE, Clip, Column, Frame, FrameMean
from hdtf.metrics.faces import FaceObservation, observe_face


def face_descriptor(image: np.ndarray, face: FaceObservation | None = None) -> np.ndarray | None:
    """128-d dlib embedding of the largest face in an (H,W,3) uint8 RGB image; None when no face is found.

    Pass ``face`` when the frame was already observed, to skip a second detection.
    """
    face = face if face is not None else observe_face(image)
    if face is None:
        return None
    from hdtf.face.models import face_recogniser, import_dlib

    dlib = import_dlib()
    x0, y0, x1, y1 = (int(round(v)) for v in face.box)
    shape = dlib.full_object_detection(
        dlib.rectangle(x0, y0, x1 - 1, y1 - 1), [dlib.point(int(round(x)), int(round(y))) for x, y in face.points]
    )
    image = np.ascontiguousarray(image, dtype=np.uint8)
    return np.asarray(face_recogniser().compute_face_descriptor(image, shape), dtype=np.float64)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def csim(image_a: np.ndarray, image_b: np.ndarray) -> float:
    """Cosine similarity of the identities in two RGB images (1 = same embedding); ValueError without a face."""
    found = [face_descriptor(image_a), face_descriptor(image_b)]
    for name, d in zip(("first", "second"), found):
        if d is None:
            raise ValueError(f"CSIM: no face found in the {name} image")
    return cosine(found[0], found[1])


class CSIM(FrameMean):
    """Cosine similarity between the source image's identity and each observed generated frame's."""

    columns = (Column("csim", "CSIM", "higher"),)
    faces = "generated"
    no_value = NO_FACE
    backend = "dlib face_recognition_resnet_model_v1 (128-d descriptors, no jitter)"
    bundled = (FACE_RECOGNITION,)

    def start(self, clip: Clip) -> None:
        super().start(clip)
        face = clip.source_face
        self._source = face_descriptor(clip.source, face) if face is not None else None

    def measure(self, frame: Frame) -> dict[str, float]:
        if self._source is None or frame.face is None:
            return {}
        return {"csim": cosine(self._source, face_descriptor(frame.generated, frame.face))}
