"""Head pose (yaw, pitch, roll in degrees) from 68 iBUG landmarks, by fitting a generic 3D face to six of them.

Method: ``cv2.solvePnP`` (iterative Levenberg-Marquardt) finds the rotation that projects a fixed, average 3D face
onto the nose tip (30), chin (8), outer eye corners (36, 45) and mouth corners (48, 54) through a pinhole camera
whose focal length is the frame's larger side and whose centre is the frame centre (no lens distortion). The 3D
points are the generic six-point face popularised by LearnOpenCV's head-pose tutorial (S. Mallick, 2016; arbitrary
units, nose tip at the origin), written here in OpenCV camera axes: x right, y down, z away from the camera.

The rotation is split as R = Rz(roll) . Ry(yaw) . Rx(pitch) (camera axes), so for a face looking into the camera all
three are near 0; signs: yaw > 0 when the face turns towards the image's left (the subject's right), pitch > 0 when
it tilts up, roll > 0 when it leans clockwise on screen (the subject's left ear towards the shoulder). A generic
face fits no real one exactly: pitch is the least certain (a smiling frontal portrait, mouth corners raised, reads
about 25 degrees down; yaw and roll stay within a few degrees of the truth), so use the angles for filtering (Hallo:
"rotation angle of less than 30°"), not as ground truth; ``away`` (yaw and pitch as one angle off the line of
sight) is what a "facing forward" filter compares.
"""

from __future__ import annotations

import numpy as np

POSE_LANDMARKS = (30, 8, 36, 45, 48, 54)
# (x, y, z) in camera axes: the tutorial's model (x right, y up, z towards the viewer) with y and z negated.
GENERIC_FACE_3D = np.array([
    [0.0, 0.0, 0.0],  # nose tip
    [0.0, 330.0, 65.0],  # chin
    [-225.0, -170.0, 135.0],  # outer corner of the eye on the image's left (subject's right eye)
    [225.0, -170.0, 135.0],  # outer corner of the eye on the image's right
    [-150.0, 150.0, 125.0],  # mouth corner on the image's left
    [150.0, 150.0, 125.0],  # mouth corner on the image's right
])


def head_pose(points68: np.ndarray, size: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """(yaw, pitch, roll, away) in degrees of the face with those landmarks in a ``size`` = (width, height) frame;
    None when the fit fails or the landmarks hold NaN. ``away`` is the angle between the face's forward direction and
    the line of sight (yaw and pitch together; roll, a turn within the picture, does not count)."""
    import cv2

    image = np.asarray(points68, dtype=np.float64)[list(POSE_LANDMARKS)]
    if not np.isfinite(image).all():
        return None
    width, height = size
    focal = float(max(width, height))
    camera = np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])
    ok, rvec, _ = cv2.solvePnP(GENERIC_FACE_3D, image, camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    away = float(np.degrees(np.arccos(np.clip(rotation[2, 2], -1.0, 1.0))))  # forward (0,0,-1) vs (0,0,-1)
    return (*euler_angles(rotation), away)


def euler_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) degrees of R = Rz(roll) . Ry(yaw) . Rx(pitch), signed as the module docstring says."""
    r = np.asarray(rotation, dtype=np.float64)
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    yaw = np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
    roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    # With y pointing down, a positive Rx tilts the face's normal downwards: negate it so that looking up is positive.
    return float(yaw), float(-pitch), float(roll)
