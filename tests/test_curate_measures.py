"""Filter measures on real faces: a small and a large face, a turned and a leaning head, a blurred span, a dark
span, a still and a moving head. Frames are decoded from real-face videos (hdtf.synthetic) or made from photos;
landmarks are the videos' ground truth or dlib's on the photos."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from fixtures.posed_faces import leaning_face, turned_face
from fixtures.talking_face import talking_face_factory, talking_face_small  # noqa: F401
from hdtf.curate.base import run_accumulators, summarise
from hdtf.curate.measures import ClipMeasures
from hdtf.curate.pose import head_pose
from hdtf.decode import stream_frames
from hdtf.face.detect import MultipleFacesWarning, landmarks_for_image
from hdtf.synthetic import default_photo


def measure(frames, landmarks, fps=25.0, **kwargs):
    return run_accumulators([ClipMeasures(**kwargs)], frames, landmarks, fps)["measures"]


def detected(image: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleFacesWarning)
        return landmarks_for_image(image)


@pytest.fixture(scope="module")
def photo():
    image = default_photo()
    return image, detected(image)


def test_small_and_large_faces_measure_their_size_and_share(talking_face_factory):
    small = talking_face_factory(seconds=1.0, size=(640, 360), face_height=0.2, motion=0.0)
    large = talking_face_factory(seconds=1.0, size=(640, 360), face_height=0.6, motion=0.0)
    got = {}
    for name, video in (("small", small), ("large", large)):
        got[name] = measure(stream_frames(video.path), video.landmarks)
        truth = video.landmarks  # (T, 68, 2): the mouth opens and the jaw drops with the speech
        width = truth[..., 0].max(1) - truth[..., 0].min(1)
        side = np.maximum(width, truth[..., 1].max(1) - truth[..., 1].min(1))
        assert got[name]["frames"] == got[name]["frames_with_face"] == video.num_frames
        assert got[name]["face_px"]["p50"] == pytest.approx(np.median(width), abs=0.5)
        assert got[name]["face_share"]["p50"] == pytest.approx(np.median(side) / 360, abs=0.002)
        assert got[name]["face_share"]["max"] == pytest.approx(side.max() / 360, abs=0.002)
    assert got["large"]["face_px"]["min"] > 2.5 * got["small"]["face_px"]["max"]
    assert got["small"]["face_share"]["max"] < 0.25 < 0.5 < got["large"]["face_share"]["min"]
    json.dumps(got)  # JSON-safe as promised


def test_turned_head_reads_a_large_yaw_and_a_frontal_one_a_small_yaw(photo):
    image, points = photo
    size = (image.shape[1], image.shape[0])
    frontal = measure([image] * 2, [points] * 2)
    assert abs(frontal["yaw"]["mean"]) < 12
    assert abs(frontal["roll"]["mean"]) < 5
    left = head_pose(detected(turned_face(image, points, 35)), size)
    right = head_pose(detected(turned_face(image, points, -35)), size)
    assert left[0] > 20 and right[0] < -25  # yaw signs follow the turn
    assert left[0] - frontal["yaw"]["mean"] > 25 and frontal["yaw"]["mean"] - right[0] > 20
    assert right[3] > frontal["head_away"]["mean"] + 10  # turning away raises the angle off the line of sight


@pytest.mark.parametrize("degrees", [-20, 20])
def test_leaning_head_reads_its_roll(photo, degrees):
    image, _ = photo
    yaw, _, roll, _ = head_pose(detected(leaning_face(image, degrees)), (image.shape[1], image.shape[0]))
    assert roll == pytest.approx(degrees, abs=4)
    assert abs(yaw) < 12


def test_a_blurred_span_drops_the_sharpness_of_those_frames_only(talking_face_small):
    import cv2

    video = talking_face_small
    frames = list(stream_frames(video.path))
    blurred = set(range(20, 30))
    frames = [cv2.GaussianBlur(f, (0, 0), 3.0) if i in blurred else f for i, f in enumerate(frames)]
    got = measure(frames, video.landmarks, keep_frames=True, cpbd_every=5)
    face = got["per_frame"]["sharpness"]
    inside = [face[i] for i in blurred]
    outside = [v for i, v in enumerate(face) if i not in blurred]
    assert max(inside) < 0.5 * min(outside)
    whole = got["per_frame"]["frame_sharpness"]
    assert max(whole[i] for i in blurred) < min(v for i, v in enumerate(whole) if i not in blurred)
    cpbd = got["per_frame"]["cpbd"]
    assert [i for i, v in enumerate(cpbd) if v is not None] == list(range(0, len(frames), 5))
    assert max(cpbd[20], cpbd[25]) < min(cpbd[i] for i in (0, 5, 10, 15, 30, 35, 40, 45))
    assert got["sharpness"]["min"] == pytest.approx(min(face))


def test_brightness_and_motion_follow_the_pictures(talking_face_small):
    video = talking_face_small
    frames = list(stream_frames(video.path))
    dark = [(f // 4).astype(np.uint8) for f in frames]
    lit, dimmed = measure(frames, video.landmarks), measure(dark, video.landmarks)
    assert dimmed["brightness"]["mean"] == pytest.approx(lit["brightness"]["mean"] / 4, abs=1.0)
    assert lit["brightness"]["mean"] == pytest.approx(np.mean([f.mean() for f in frames]), abs=1.0)
    still = measure([frames[0]] * 10, [video.landmarks[0]] * 10)
    assert still["motion"]["max"] == 0 and still["landmark_motion"]["max"] == 0
    assert lit["motion"]["mean"] > 0.2 and lit["landmark_motion"]["mean"] > 0.005
    assert still["motion"]["count"] == 9  # a difference needs two frames


def test_frames_without_a_face_count_but_have_no_face_measures(talking_face_small):
    video = talking_face_small
    frames = list(stream_frames(video.path))[:10]
    points = [None if i % 2 else video.landmarks[i] for i in range(10)]
    got = measure(frames, points, keep_frames=True)
    assert got["frames"] == 10 and got["frames_with_face"] == 5
    assert got["per_frame"]["face_px"][1] is None and got["per_frame"]["face_px"][0] > 0
    assert got["brightness"]["count"] == 10
    assert got["landmark_motion"]["count"] == 0  # no two consecutive frames with a face


def test_summaries_skip_missing_values_and_report_none_when_empty():
    assert summarise([1.0, float("nan"), 3.0]) == {"count": 2, "mean": 2.0, "min": 1.0, "max": 3.0, "p10": 1.2,
                                                    "p50": 2.0, "p90": 2.8}
    assert summarise([])["mean"] is None
