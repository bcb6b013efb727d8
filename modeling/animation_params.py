"""Animation parameters from 68 facial landmarks: head pose + expression coefficients, without a licensed 3DMM.

The paper drives its flow generator with 3DMM parameters (mouth and eyebrow expression, head pose). We obtain the
same split from 2-D landmarks alone:

* **Head pose** ``(log_scale, roll, tx, ty, yaw, pitch)``. The first four are the similarity transform that best maps
  the mean shape onto the frame's *rigid* landmarks (nose, eye corners, jaw tops), so mouth and brow motion never
  move the estimated head. ``yaw``/``pitch`` are out-of-plane proxies: the coefficients of two displacement fields
  that a small rotation of a generic face-depth template produces (``x += z·sin(yaw)``, ``y += z·sin(pitch)``),
  i.e. the nose sliding against the eye corners and the near/far face halves changing width.
* **Expression** coefficients on a PCA basis of pose-normalised landmark motion, fitted block-wise per region
  (mouth+jaw, eyebrows, eyelids). Each block component is zero on the rigid landmarks, which makes pose and
  expression exactly separable: ``encode(decode(pose, expr)) == (pose, expr)`` up to float rounding.

Points are ``(…, 68, 2)`` in the iBUG-68 order dlib produces. Only numpy here: data loaders can use it without torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdtf import atomic

NUM_LANDMARKS = 68
POSE_NAMES = ("log_scale", "roll", "tx", "ty", "yaw", "pitch")
POSE_DIM = len(POSE_NAMES)

# Landmarks that move with the skull, not with expression: nose, eye corners, the jaw points next to the ears.
RIGID = np.array([0, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])
# Expression regions (disjoint from RIGID): the mouth drags the lower jaw line, brows and lids move on their own.
REGIONS: dict[str, np.ndarray] = {
    "mouth": np.r_[1:16, 48:68],
    "eyebrows": np.r_[17:27],
    "eyelids": np.array([37, 38, 40, 41, 43, 44, 46, 47]),
}
MOUTH = np.r_[48:68]
DEFAULT_COMPONENTS = {"mouth": 12, "eyebrows": 4, "eyelids": 2}
BASIS_FILE = "expression_basis.safetensors"


def template_shape() -> np.ndarray:
    """A generic frontal 68-point face (x right, y down, face width ~2), the seed for procedural data and GPA."""
    pts = np.zeros((NUM_LANDMARKS, 2))
    u = np.linspace(0.0, np.pi, 17)
    pts[0:17] = np.stack([-np.cos(u), -0.3 + 1.25 * np.sin(u)], 1)
    t = np.linspace(0.0, 1.0, 5)
    pts[17:22] = np.stack([-0.8 + 0.65 * t, -0.62 - 0.12 * np.sin(np.pi * t)], 1)
    pts[22:27] = np.stack([0.15 + 0.65 * t, -0.62 - 0.12 * np.sin(np.pi * t)], 1)
    pts[27:31] = np.stack([np.zeros(4), np.linspace(-0.45, 0.05, 4)], 1)
    pts[31:36] = np.stack([np.linspace(-0.2, 0.2, 5), [0.15, 0.18, 0.2, 0.18, 0.15]], 1)
    for start, cx in ((36, -0.42), (42, 0.42)):
        w, h = 0.3, 0.1
        pts[start : start + 6] = [
            (cx - w / 2, -0.35),
            (cx - w / 6, -0.35 - h / 2),
            (cx + w / 6, -0.35 - h / 2),
            (cx + w / 2, -0.35),
            (cx + w / 6, -0.35 + h / 2),
            (cx - w / 6, -0.35 + h / 2),
        ]
    a = np.r_[np.pi - np.arange(7) * np.pi / 6, -np.arange(1, 6) * np.pi / 6]
    pts[48:60] = np.stack([0.4 * np.cos(a), 0.5 - np.where(np.sin(a) > 0, 0.12, 0.15) * np.sin(a)], 1)
    b = np.r_[np.pi - np.arange(5) * np.pi / 4, -np.arange(1, 4) * np.pi / 4]
    pts[60:68] = np.stack([0.28 * np.cos(b), 0.5 - 0.03 * np.sin(b)], 1)
    return pts


def template_depth() -> np.ndarray:
    """Generic depth (towards the camera) per landmark, same units as ``template_shape``: nose out, jaw sides back."""
    z = np.zeros(NUM_LANDMARKS)
    u = np.linspace(0.0, np.pi, 17)
    z[0:17] = 0.1 - 0.7 * np.cos(u) ** 2
    z[17:27] = 0.05
    z[27:31] = np.linspace(0.15, 0.5, 4)
    z[31:36] = [0.3, 0.35, 0.4, 0.35, 0.3]
    z[36:48] = -0.05
    z[48:68] = 0.2
    return z


def _similarity_fields(mean: np.ndarray) -> np.ndarray:
    """The 4 infinitesimal similarity motions of ``mean`` (tx, ty, scale, rotation) as (4, 68, 2) fields."""
    tx = np.zeros_like(mean)
    tx[:, 0] = 1
    ty = np.zeros_like(mean)
    ty[:, 1] = 1
    rot = np.stack([-mean[:, 1], mean[:, 0]], 1)
    return np.stack([tx, ty, mean, rot])


def _remove_rigid_similarity(field: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Subtract from ``field`` the similarity motion that best explains it on the rigid landmarks.

    A field with no rigid-point similarity part leaves the rigid Procrustes fit untouched, which is what keeps
    pose and shape parameters from leaking into each other.
    """
    sim = _similarity_fields(mean)
    a = sim[:, RIGID].reshape(4, -1).T
    coef, *_ = np.linalg.lstsq(a, field[RIGID].reshape(-1), rcond=None)
    return field - np.tensordot(coef, sim, axes=1)


def _normalise_mean(shape: np.ndarray) -> np.ndarray:
    """Centre on the rigid centroid and scale to unit RMS over the rigid landmarks."""
    shape = shape - shape[RIGID].mean(0)
    return shape / np.sqrt((shape[RIGID] ** 2).sum(1).mean())


def procrustes(points: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rigid-landmark similarity fit ``points ≈ s·R(θ)·mean + t``: returns (s, θ, t) with shapes (…), (…), (…, 2).

    ``mean`` must be normalised (rigid centroid 0, rigid RMS 1): then the closed form below is exact.
    """
    r = points[..., RIGID, :]
    t = r.mean(-2)
    c = r - t[..., None, :]
    m = mean[RIGID]
    a = (c * m).sum((-1, -2))
    b = (m[:, 0] * c[..., 1] - m[:, 1] * c[..., 0]).sum(-1)
    s = np.hypot(a, b) / len(RIGID)
    return s, np.arctan2(b, a), t


def _rotate(points: np.ndarray, theta: np.ndarray) -> np.ndarray:
    cos, sin = np.cos(theta)[..., None], np.sin(theta)[..., None]
    x, y = points[..., 0], points[..., 1]
    return np.stack([cos * x - sin * y, sin * x + cos * y], -1)


@dataclass
class ExpressionBasis:
    """Mean shape, out-of-plane pose fields and block-PCA expression components of pose-normalised landmarks.

    ``components`` is (K, 68, 2), orthonormal, grouped by region; ``groups`` maps a region name to its coefficient
    indices ``[start, stop)``; ``explained_variance`` is per component (variance of the fitting data along it).
    """

    mean: np.ndarray  # (68, 2) normalised
    components: np.ndarray  # (K, 68, 2)
    explained_variance: np.ndarray  # (K,)
    groups: dict[str, tuple[int, int]]
    out_of_plane: np.ndarray  # (2, 68, 2): yaw and pitch displacement fields

    @property
    def num_components(self) -> int:
        return int(self.components.shape[0])

    def _design(self) -> np.ndarray:
        """Columns = every shape-space direction encode solves for jointly: yaw, pitch, then the K components."""
        return np.concatenate([self.out_of_plane, self.components]).reshape(2 + self.num_components, -1).T

    # ---- encode / decode -------------------------------------------------------------------------------------
    def normalise(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points (…, 68, 2) → (pose-normalised shapes (…, 68, 2), similarity pose (…, 4) = log s, θ, tx, ty)."""
        points = np.asarray(points, dtype=np.float64)
        s, theta, t = procrustes(points, self.mean)
        shapes = _rotate(points - t[..., None, :], -theta) / s[..., None, None]
        return shapes, np.concatenate([np.log(s)[..., None], theta[..., None], t], -1)

    def encode(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points (…, 68, 2) → (pose (…, 6), expression (…, K), identity residual (…, 68, 2)).

        The residual is what neither pose nor the basis explains (mostly the person's face shape); decode with it
        to reproduce the input exactly.
        """
        shapes, sim = self.normalise(points)
        design = self._design()
        offsets = (shapes - self.mean).reshape(*shapes.shape[:-2], -1)
        params = np.linalg.lstsq(design, offsets.reshape(-1, design.shape[0]).T, rcond=None)[0].T
        params = params.reshape(*shapes.shape[:-2], -1)
        residual = offsets - params @ design.T
        pose = np.concatenate([sim, params[..., :2]], -1)
        return pose, params[..., 2:], residual.reshape(shapes.shape)

    def shape_from(
        self, expression: np.ndarray, yaw_pitch: np.ndarray, residual: np.ndarray | None = None
    ) -> np.ndarray:
        """Pose-normalised shape (…, 68, 2) from expression (…, K) and out-of-plane (…, 2) coefficients."""
        params = np.concatenate([yaw_pitch, expression], -1)
        shape = self.mean + np.tensordot(params, np.concatenate([self.out_of_plane, self.components]), axes=1)
        return shape if residual is None else shape + residual

    def decode(self, pose: np.ndarray, expression: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
        """(pose (…, 6), expression (…, K)[, residual]) → image points (…, 68, 2)."""
        pose = np.asarray(pose, dtype=np.float64)
        shape = self.shape_from(np.asarray(expression, dtype=np.float64), pose[..., 4:6], residual)
        scaled = _rotate(shape, pose[..., 1]) * np.exp(pose[..., 0])[..., None, None]
        return scaled + pose[..., None, 2:4]

    # ---- fitting ---------------------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        landmark_arrays: Sequence[np.ndarray],
        components: dict[str, int] | None = None,
        max_frames_per_clip: int = 256,
        iterations: int = 4,
    ) -> ExpressionBasis:
        """Fit from clips of landmarks, each (T, 68, 2) (one talking person per clip).

        Generalised Procrustes on the rigid landmarks gives the mean; each clip's own mean shape is subtracted
        before PCA so the components describe *motion* (speech, brows, blinks), not differences between people.
        """
        counts = dict(DEFAULT_COMPONENTS if components is None else components)
        clips = []
        for arr in landmark_arrays:
            arr = np.asarray(arr, dtype=np.float64).reshape(-1, NUM_LANDMARKS, 2)
            arr = arr[np.isfinite(arr).all((1, 2))]
            if len(arr) >= 2:
                step = max(1, len(arr) // max_frames_per_clip)
                clips.append(arr[::step][:max_frames_per_clip])
        if not clips:
            raise ValueError("ExpressionBasis.fit needs at least one clip with two or more valid landmark frames")
        mean = _normalise_mean(template_shape())
        for _ in range(iterations):
            probe = cls(mean, np.zeros((0, NUM_LANDMARKS, 2)), np.zeros(0), {}, np.zeros((2, NUM_LANDMARKS, 2)))
            aligned = [probe.normalise(c)[0] for c in clips]
            mean = _normalise_mean(np.concatenate(aligned).mean(0))
        depth = template_depth()
        fields = np.zeros((2, NUM_LANDMARKS, 2))
        fields[0, :, 0] = depth
        fields[1, :, 1] = depth
        fields = np.stack([_remove_rigid_similarity(f, mean) for f in fields])
        probe = cls(mean, np.zeros((0, NUM_LANDMARKS, 2)), np.zeros(0), {}, fields)
        motion = []
        for clip in clips:
            _, _, residual = probe.encode(clip)  # shape offsets with the out-of-plane part taken out
            motion.append(residual - residual.mean(0))
        motion = np.concatenate(motion)
        comps, variances, groups = [], [], {}
        for name, idx in REGIONS.items():
            k = int(counts.get(name, 0))
            if k <= 0:
                continue
            block = motion[:, idx].reshape(len(motion), -1)
            _, sv, vt = np.linalg.svd(block, full_matrices=False)
            k = min(k, int((sv > 1e-8 * max(sv[0], 1e-12)).sum()))
            groups[name] = (len(comps), len(comps) + k)
            for j in range(k):
                comp = np.zeros((NUM_LANDMARKS, 2))
                comp[idx] = vt[j].reshape(-1, 2)
                comps.append(comp)
                variances.append(sv[j] ** 2 / max(1, len(motion) - 1))
        return cls(mean, np.array(comps).reshape(-1, NUM_LANDMARKS, 2), np.array(variances), groups, fields)

    # ---- persistence -----------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write a safetensors file (atomically; a directory gets ``expression_basis.safetensors``), group
        boundaries in its metadata."""
        from safetensors.numpy import save_file

        path = Path(path)
        if path.is_dir():
            path = path / BASIS_FILE
        # float64, as computed: a saved and reloaded basis must give bit-identical landmarks.
        tensors = {
            "mean": self.mean.astype(np.float64),
            "components": self.components.astype(np.float64),
            "explained_variance": self.explained_variance.astype(np.float64),
            "out_of_plane": self.out_of_plane.astype(np.float64),
        }
        metadata = {"groups": ";".join(f"{k}:{a}:{b}" for k, (a, b) in self.groups.items()), "format": "hdtf-basis-1"}
        with atomic.replacing(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ExpressionBasis:
        from safetensors import safe_open

        path = Path(path)
        if path.is_dir():
            path = path / BASIS_FILE
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            t = {k: f.get_tensor(k).astype(np.float64) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        groups = {}
        for item in filter(None, meta.get("groups", "").split(";")):
            name, a, b = item.split(":")
            groups[name] = (int(a), int(b))
        return cls(t["mean"], t["components"], t["explained_variance"], groups, t["out_of_plane"])

    # the component interface of a generator directory (``hdtf.modeling.components``)
    save_pretrained = save
    from_pretrained = load

    @classmethod
    def for_generator(cls, options: dict[str, Any], image_size: int, parts: dict[str, Any]) -> ExpressionBasis:
        """A new generator's basis when none is given: the built-in one (``default_basis``)."""
        return default_basis(**options)


# ---- deltas relative to an anchor frame (what the models predict and what video driving transfers) ------------
def pose_delta(pose: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Pose change from ``anchor`` (6,) to ``pose`` (…, 6); translation in units of the anchor's face scale."""
    delta = pose - anchor
    delta[..., 2:4] = delta[..., 2:4] / np.exp(anchor[0])
    return delta


def apply_pose_delta(anchor: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Inverse of ``pose_delta``: the anchor's pose moved by ``delta`` (…, 6)."""
    pose = anchor + np.asarray(delta, dtype=np.float64)
    pose[..., 2:4] = anchor[2:4] + delta[..., 2:4] * np.exp(anchor[0])
    return pose


def clip_targets(basis: ExpressionBasis, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training targets of one clip's landmarks (T, 68, 2): (expression (T, K), pose deltas (T, 6)).

    Both are relative to the clip's rest state, its mean expression and mean pose, which is what the reference
    photo stands for at generation time. Frames with non-finite points should be dropped or masked beforehand.
    """
    pose, expression, _ = basis.encode(points)
    anchor = pose.mean(0)
    return (expression - expression.mean(0)).astype(np.float32), pose_delta(pose, anchor).astype(np.float32)


def animate_points(
    basis: ExpressionBasis,
    reference_points: np.ndarray,
    delta_pose: np.ndarray,
    delta_expression: np.ndarray,
) -> np.ndarray:
    """Landmarks (T, 68, 2) of the reference face moved by per-frame pose and expression deltas.

    The reference keeps its own identity residual, so only motion is applied: the driver's face shape never leaks.
    """
    pose, expression, residual = basis.encode(np.asarray(reference_points)[None])
    poses = apply_pose_delta(pose[0], delta_pose)
    return basis.decode(poses, expression[0] + delta_expression, residual[0])


def procedural_landmarks(num_clips: int = 48, frames: int = 60, seed: int = 0) -> list[np.ndarray]:
    """Synthetic talking-face landmark clips for the built-in default basis (no data needed to init a model).

    Each clip is one "person" (jittered template) doing smooth random jaw opening, lip spreading/rounding, brow
    raises and blinks under a slowly moving head, with a little detection noise.
    """
    rng = np.random.default_rng(seed)
    base = template_shape()
    depth = template_depth()
    jaw_weight = np.sin(np.linspace(0, np.pi, 17))
    clips = []
    for _ in range(num_clips):
        person = base + rng.normal(0, 0.02, base.shape)
        person[48:68, 0] *= rng.uniform(0.85, 1.15)
        person[36:48, 0] += np.sign(person[36:48, 0]) * rng.uniform(-0.05, 0.05)

        def smooth(scale: float, n: int = 1) -> np.ndarray:
            walk = np.cumsum(rng.normal(0, 1, (frames + 20, n)), 0)
            kernel = np.hanning(9) / np.hanning(9).sum()
            sm = np.stack([np.convolve(walk[:, i], kernel, "same") for i in range(n)], 1)[10:-10]
            return scale * np.tanh((sm - sm.mean(0)) / (sm.std(0) + 1e-9))

        opening = 0.15 * (1 + smooth(1.0)[:, 0])
        spread, rounding = smooth(0.06)[:, 0], smooth(0.05)[:, 0]
        brows = smooth(0.06, 2)
        blink = (rng.random((frames, 2)) < 0.04).astype(float) * 0.8
        pose = np.concatenate([smooth(0.1, 2), smooth(0.05, 2), smooth(0.15, 2)], 1)  # roll, yaw/pitch, shift
        clip = np.empty((frames, NUM_LANDMARKS, 2))
        for t in range(frames):
            p = person.copy()
            p[0:17, 1] += opening[t] * jaw_weight * 0.6
            p[55:60, 1] += opening[t]
            p[64:68, 1] += opening[t] * 0.9
            p[60:65, 1] -= opening[t] * 0.05
            mouth_cx = p[48:68, 0].mean()
            p[48:68, 0] = mouth_cx + (p[48:68, 0] - mouth_cx) * (1 + spread[t] - rounding[t])
            p[[48, 54, 60, 64], 1] -= spread[t] * 0.5
            p[48:68, 1] += rounding[t] * np.sign(p[48:68, 1] - 0.5) * 0.5
            p[17:22, 1] -= brows[t, 0]
            p[22:27, 1] -= brows[t, 1]
            for e, start in enumerate((36, 42)):
                p[[start + 1, start + 2], 1] += blink[t, e] * 0.05
                p[[start + 4, start + 5], 1] -= blink[t, e] * 0.03
            p[:, 0] += depth * np.sin(pose[t, 2])
            p[:, 1] += depth * np.sin(pose[t, 3])
            p = _rotate(p, pose[t, 0]) * (100 + 10 * pose[t, 4]) + (256 + 20 * pose[t, 4], 256 + 20 * pose[t, 5])
            clip[t] = p + rng.normal(0, 0.4, p.shape)
        clips.append(clip)
    return clips


def default_basis(seed: int = 0) -> ExpressionBasis:
    """The built-in basis, fitted on ``procedural_landmarks``: lets ``hdtf init-model`` work offline."""
    return ExpressionBasis.fit(procedural_landmarks(seed=seed))
