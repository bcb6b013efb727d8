"""Who is who across detection frames: one identity per person (or face-like thing) the detector has seen.

A clip is about one person, but frames can hold others: a second person, a face on a poster, a channel's emblem
that dlib's HOG detector scores like a real face. Each detection is checked (landmark plausibility), described
(a small aligned grey patch of brows, eyes and nose) and attached to the identity it continues: the same place and
size as that identity's last sighting and a similar look, or, after a longer absence, a look alike enough to
recognise it anywhere. Identities gather evidence (size x centrality x detector confidence, per frame of video
they were seen over), which says which one a clip is about. The rules for *following* one of them are the
tracker's (:mod:`hdtf.face.track`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdtf.face.align import alignment_transform
from hdtf.face.detect import FaceBox, prominence

MAX_STEP = 0.35  # from one frame to the next a face moves less than this many face sizes ...
STEP_SIZE = (0.7, 1.4)  # ... and its size changes by less than this factor
PATCH = 24  # side of the aligned appearance patch (the eyes end up ~6 px apart)
_PATCH_ROWS = 15  # its top 62%: brows, eyes and nose; the mouth and jaw move with speech
SAME_PLACE = 0.5  # a face within this many face sizes of an identity's last sighting may be it ...
DRIFT = 0.05  # ... plus this much per frame since that sighting (people move while unseen) ...
MAX_DRIFT = 1.5  # ... up to this much: farther away, only the look can tell
SIZE_RATIO = 1.5  # ... at a size within this factor of it
LOOK_ALIKE = 0.5  # ... if it looks at least this alike (patch correlation: same face ~0.95, another ~0.4)
SAME_LOOK = 0.8  # a face this alike is the identity wherever it is (re-found after leaving the shot)


@dataclass
class Face:
    """One detection on one frame: its box, its 68 landmarks and its appearance descriptor."""

    box: FaceBox
    points: np.ndarray
    look: np.ndarray


@dataclass
class Identity:
    """A person (or face-like thing) seen on one or more detection frames."""

    key: int
    face: Face  # the latest sighting
    frame: int  # the frame of that sighting
    look: np.ndarray  # running mean of the appearance descriptors (unit norm)
    evidence: float = 0.0  # sum of prominence x frames each sighting stands for

    @property
    def size(self) -> float:
        return face_size(self.face.points)

    def affinity(self, face: Face, frame: int) -> float | None:
        """How well ``face`` on ``frame`` continues this identity (higher is better), None when it cannot be it."""
        size = self.size
        distance = float(np.linalg.norm(face_centre(face.points) - face_centre(self.face.points))) / size
        ratio = face_size(face.points) / size
        alike = float(self.look @ face.look)
        if frame - self.frame <= 1 and continues(self.face.points, face.points):
            return 2.0 - distance  # the very next frame, hardly moved: continuity alone decides
        reach = SAME_PLACE + min(DRIFT * (frame - self.frame), MAX_DRIFT)
        near = distance <= reach and 1 / SIZE_RATIO <= ratio <= SIZE_RATIO
        if near and alike >= LOOK_ALIKE:
            return 1.0 + alike - distance
        if alike >= SAME_LOOK and 0.5 <= ratio <= 2.0:
            return alike - 1.0
        return None

    def update(self, face: Face, frame: int, weight: float) -> None:
        self.face, self.frame = face, frame
        self.look = _unit(0.8 * self.look + 0.2 * face.look)
        self.evidence += weight


class Identities:
    """Every identity seen so far in a video; :meth:`sight` files a detection frame's faces under them."""

    def __init__(self) -> None:
        self.all: list[Identity] = []

    def sight(self, faces: list[Face], frame: int, previous: int | None, width: int, height: int) -> list[Identity]:
        """Attach each face to the identity it continues (greedy, best affinity first) or to a new one.

        Each sighting adds its prominence times the frames it stands for to the identity's evidence: all frames
        since the ``previous`` detection frame when the identity was seen then (or followed since), else one.
        Returns the identities seen, in the order of ``faces``."""
        pairs = []
        for i, face in enumerate(faces):
            for identity in self.all:
                score = identity.affinity(face, frame)
                if score is not None:
                    pairs.append((score, i, identity.key))
        taken: dict[int, Identity] = {}
        used: set[int] = set()
        for _, i, key in sorted(pairs, key=lambda p: -p[0]):
            if i not in taken and key not in used:
                taken[i] = self.all[key]
                used.add(key)
        seen = []
        for i, face in enumerate(faces):
            identity = taken.get(i)
            if identity is None:
                identity = Identity(len(self.all), face, frame, face.look)
                self.all.append(identity)
                span = 1
            else:
                span = frame - previous if previous is not None and identity.frame >= previous else 1
            identity.update(face, frame, prominence(face.box, width, height) * span)
            seen.append(identity)
        return seen


def describe(gray: np.ndarray, box: FaceBox, points: np.ndarray) -> Face:
    """A :class:`Face` with its appearance descriptor: the face aligned by its eyes and mouth into a
    ``PATCH`` square (downscaled first with area averaging, so large faces do not alias), top rows only,
    zero-mean and unit-norm, so that the dot product of two descriptors is their normalised correlation."""
    import cv2

    lo, hi = points.min(0), points.max(0)
    side = float((hi - lo).max())
    height, width = gray.shape
    x0, y0 = int(np.clip(lo[0] - 0.3 * side, 0, width - 1)), int(np.clip(lo[1] - 0.3 * side, 0, height - 1))
    x1, y1 = int(np.clip(hi[0] + 0.3 * side, x0, width - 1)) + 1, int(np.clip(hi[1] + 0.3 * side, y0, height - 1)) + 1
    roi, local = gray[y0:y1, x0:x1], points - [x0, y0]
    factor = 2.0 * PATCH / max(side, 1.0)
    if factor < 1.0:
        size = (max(1, round(roi.shape[1] * factor)), max(1, round(roi.shape[0] * factor)))
        roi = cv2.resize(roi, size, interpolation=cv2.INTER_AREA)
        local = (local + 0.5) * [size[0] / (x1 - x0), size[1] / (y1 - y0)] - 0.5
    matrix = alignment_transform(local, PATCH)
    patch = cv2.warpAffine(roi, matrix, (PATCH, PATCH), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    vector = patch[:_PATCH_ROWS].astype(np.float32).ravel()
    return Face(box, points, _unit(vector - vector.mean()))


def plausible(points: np.ndarray, box: FaceBox) -> bool:
    """Geometric sanity of a 68-point fit: an upright-ish face (eye line within 60 degrees of level), eyes above
    the nose tip above the mouth, face proportions of a real face, and the landmarks where the detector's box is.

    dlib's shape predictor always returns 68 points, even on a wall; a fit failing these is not a face to follow.
    """
    p = np.asarray(points, dtype=np.float64)
    if not np.isfinite(p).all():
        return False
    left, right, mouth, nose = p[36:42].mean(0), p[42:48].mean(0), p[48:68].mean(0), p[30]
    iod = float(np.linalg.norm(right - left))
    lo, hi = p.min(0), p.max(0)
    w, h = hi - lo
    if iod < 2.0 or w < 4.0 or not 0.25 <= iod / w <= 0.7 or not 0.6 <= h / w <= 1.6:
        return False
    across = (right - left) / iod
    if across[0] < 0.5:  # eye line tilted more than 60 degrees (or the eyes swapped)
        return False
    down = np.array([-across[1], across[0]])  # perpendicular to the eye line, pointing to the chin
    middle = (left + right) / 2
    if not 0.15 < (nose - middle) @ down / iod < (mouth - middle) @ down / iod < 2.0:
        return False
    cx, cy = (lo + hi) / 2
    inside = box.left - 0.25 * box.width <= cx <= box.right + 0.25 * box.width and \
        box.top - 0.25 * box.height <= cy <= box.bottom + 0.25 * box.height
    return inside and 0.5 <= max(w, h) / max(box.size, 1.0) <= 2.0


def continues(previous: np.ndarray, points: np.ndarray) -> bool:
    """Whether ``points`` on a frame can be the face that had ``previous`` on the frame before (a small step)."""
    size = face_size(previous)
    moved = float(np.linalg.norm(face_centre(points) - face_centre(previous))) / size
    return moved <= MAX_STEP and STEP_SIZE[0] < face_size(points) / size < STEP_SIZE[1]


def face_size(points: np.ndarray) -> float:
    """Face size of a landmark set: the larger side of its bounding box."""
    return float(np.max(points.max(0) - points.min(0)))


def face_centre(points: np.ndarray) -> np.ndarray:
    return (points.min(0) + points.max(0)) / 2


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
