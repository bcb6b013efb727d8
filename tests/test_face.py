"""hdtf.face: dlib models, detection, landmarks, video tracking and alignment, on real faces (no mocks)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from fixtures.talking_face import talking_face, talking_face_factory, talking_face_small  # noqa: F401

from hdtf.errors import HDTFError
from hdtf.face import (
    LANDMARKS_68,
    MultipleFacesWarning,
    NoFaceError,
    alignment_transform,
    detect_faces,
    landmarks_for_image,
    model_path,
    read_video_gray,
    track_video,
)
from hdtf.synthetic import default_photo


def _iod(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[..., 36:42, :].mean(-2) - points[..., 42:48, :].mean(-2), axis=-1)


def _error(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame mean point error in inter-ocular distances (the usual 300-W normalisation)."""
    return np.linalg.norm(points - truth, axis=-1).mean(-1) / _iod(truth)


def _decode_rgb(path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_model_files_found_without_importing_face_recognition_models():
    code = ("import sys; from hdtf.face.models import model_path, FACE_RECOGNITION, LANDMARKS_68; "
            "print(model_path(LANDMARKS_68).stat().st_size > 1e6, model_path(FACE_RECOGNITION).is_file(), "
            "'face_recognition_models' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "False"]
    with pytest.raises(HDTFError, match="no_such_model.dat"):
        model_path("no_such_model.dat")
    assert model_path(LANDMARKS_68).name == LANDMARKS_68


def test_landmarks_of_a_photo_and_no_face_error(tmp_path):
    from PIL import Image

    points = landmarks_for_image(default_photo())
    assert points.shape == (68, 2) and points.dtype == np.float32
    # The astronaut's face is at about (175..265, 76..166); the eyes above the mouth, the nose tip in between.
    assert 170 < points[:, 0].mean() < 270 and 75 < points[:, 1].mean() < 175
    assert points[36:48, 1].mean() < points[30, 1] < points[48:68, 1].mean()
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((240, 320, 3), 90, np.uint8)).save(blank)
    with pytest.raises(NoFaceError, match="blank.png: no face"):
        landmarks_for_image(blank)


def _two_faces() -> tuple[np.ndarray, tuple[float, float]]:
    """A 640x360 frame with the astronaut's face twice: large on the left, small on the right (equally off-centre)."""
    import cv2

    face = default_photo()[40:220, 130:310]  # 180x180 around the face
    frame = np.full((360, 640, 3), 120, np.uint8)
    big = cv2.resize(face, (288, 288))
    small = cv2.resize(face, (180, 180))
    frame[36:324, 20:308] = big
    frame[90:270, 640 - 20 - 180 - 54:640 - 20 - 54] = small
    return frame, (20 + 144, 36 + 144)


def test_multiple_faces_warn_and_the_larger_wins():
    frame, big_centre = _two_faces()
    assert len(detect_faces(frame)) == 2
    with pytest.warns(MultipleFacesWarning, match="2 faces"):
        points = landmarks_for_image(frame)
    assert abs(points[:, 0].mean() - big_centre[0]) < 40
    with pytest.warns(MultipleFacesWarning):
        track = track_video([frame] * 4, detect_every=2)
    assert track.found.all() and abs(track.points[:, :, 0].mean() - big_centre[0]) < 40
    assert any("2 faces" in note for note in track.notes)


def test_tracking_follows_a_moving_talking_face(talking_face):
    """Ground truth = dlib's fit on the still photo moved by known transforms, so this measures the tracker (boxes,
    smoothing, downscaled decoding, H.264), not dlib. Measured ~0.02 IOD mean; 0.05 mean / 0.08 worst frame fail
    when the tracker loses a fraction of the face size (0.05 IOD is ~3 px here) while dlib itself is still right."""
    video = talking_face
    track = track_video(video.path, decode_width=640)
    assert (track.width, track.height, len(track)) == (1280, 720, video.num_frames)
    assert track.found.mean() >= 0.98, track.notes
    error = _error(track.points, video.landmarks)
    assert np.nanmean(error) < 0.05 and np.nanmax(error) < 0.08
    mouth_truth = np.linalg.norm(video.landmarks[:, 66] - video.landmarks[:, 62], axis=1)
    mouth_track = np.linalg.norm(track.points[:, 66] - track.points[:, 62], axis=1)
    assert np.corrcoef(mouth_truth, mouth_track)[0, 1] > 0.8, "the tracked mouth should open and close with the truth"


def test_frames_without_face_are_interpolated_never_found(talking_face_small):
    frames = _decode_rgb(talking_face_small.path)
    blank = np.full_like(frames[0], 100)
    frames[:3] = [blank] * 3
    frames[20:25] = [blank] * 5
    frames[-2:] = [blank] * 2
    track = track_video(frames, detect_every=5)  # while lost, look every detect_every // 5 = 1 frame
    expected = np.ones(len(frames), bool)
    expected[:3] = expected[20:25] = expected[-2:] = False
    np.testing.assert_array_equal(track.found, expected)
    assert np.isnan(track.points[:3]).all() and np.isnan(track.points[-2:]).all()
    assert np.isfinite(track.points[3:-2]).all()
    gap = track.points[20:25]
    assert np.all(gap >= np.minimum(track.points[19], track.points[25]) - 1e-3)
    assert np.all(gap <= np.maximum(track.points[19], track.points[25]) + 1e-3)
    assert "no face on 10 of 50 frames" in track.notes


def test_interval_resampled_downscaled_decoding(talking_face_small):
    video = talking_face_small
    frames, size, rate = read_video_gray(video.path, start=0.5, end=1.5, fps=10, width=320)
    frames = list(frames)
    assert size == (640, 360) and rate == 10 and len(frames) == 10 and frames[0].shape == (180, 320)
    track = track_video(video.path, start=0.5, end=1.5, fps=10, decode_width=320)
    source_index = [round((0.5 + k / 10) * 25) for k in range(10)]
    assert track.found.all() and np.nanmean(_error(track.points, video.landmarks[source_index])) < 0.08


def test_unreadable_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(HDTFError, match="broken.mp4"):
        track_video(bad)


def test_alignment_maps_anchors_to_the_template_whatever_the_pose():
    import cv2

    points = landmarks_for_image(default_photo())
    matrix = alignment_transform(points, 256)
    rotated = cv2.transform(points[None], cv2.getRotationMatrix2D((200, 120), 25, 1.3))[0]
    matrix_r = alignment_transform(rotated, 256)
    aligned = cv2.transform(points[None], matrix)[0]
    aligned_r = cv2.transform(rotated[None], matrix_r)[0]
    np.testing.assert_allclose(aligned, aligned_r, atol=1e-3)  # pose removed exactly
    eyes = np.stack([aligned[36:42].mean(0), aligned[42:48].mean(0)])
    assert abs(eyes[0, 1] - eyes[1, 1]) < 4 and 0.2 * 256 < eyes[1, 0] - eyes[0, 0] < 0.32 * 256
    with pytest.raises(ValueError):
        alignment_transform(np.full((68, 2), np.nan), 256)
