"""Hallo's masks and MuseTalk's face JSON from the ground-truth landmarks of a real-face video (hdtf.synthetic)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fixtures.talking_face import talking_face_factory, talking_face_small  # noqa: F401
from hdtf.curate.base import run_accumulators
from hdtf.curate.face_json import MuseTalkFaceJSON
from hdtf.curate.masks import HalloMasks, box_mask
from hdtf.decode import stream_frames


@pytest.fixture(scope="module")
def clip(talking_face_small):
    return list(stream_frames(talking_face_small.path)), talking_face_small.landmarks


def test_lip_mask_covers_every_frames_lips_and_nothing_above_the_nose(clip):
    frames, points = clip
    masks = HalloMasks(per_frame=True)
    got = run_accumulators([masks], frames, points, 25.0)["masks"]
    lip, face = masks.artifacts["lip_mask"], masks.artifacts["face_mask"]
    h, w = frames[0].shape[:2]
    assert lip.shape == face.shape == (h, w) and lip.dtype == np.uint8 and set(np.unique(lip)) == {0, 255}
    inner = np.rint(points[:, 60:68].reshape(-1, 2)).astype(int)  # inner-lip points of every frame: inside
    assert (lip[inner[:, 1], inner[:, 0]] == 255).all()
    eyes = np.rint(points[:, 36:48].reshape(-1, 2)).astype(int)  # eyes and nose bridge: outside the lips ...
    bridge = np.rint(points[:, 27:30].reshape(-1, 2)).astype(int)
    assert (lip[eyes[:, 1], eyes[:, 0]] == 0).all() and (lip[bridge[:, 1], bridge[:, 0]] == 0).all()
    assert (face[eyes[:, 1], eyes[:, 0]] == 255).all()  # ... but inside the face
    ys, xs = np.nonzero(lip)  # the lip mask is the union rectangle of all frames' outer lips
    outer = points[:, 48:60]
    assert xs.min() == round(outer[..., 0].min()) and ys.max() + 1 == round(outer[..., 1].max())
    assert lip.sum() < face.sum() / 5 and face[0, 0] == 0 and face[-1, -1] == 0
    assert len(got["frame_lip_boxes"]) == len(frames) and got["frames_with_face"] == len(frames)
    one = box_mask(got["frame_lip_boxes"][7], (w, h))  # a frame's own lips, drawn on demand
    assert (one[inner[8 * 7:8 * 8, 1], inner[8 * 7:8 * 8, 0]] == 255).all() and one.sum() <= lip.sum()


def test_blurred_masks_split_the_picture_like_hallo(clip):
    frames, points = clip
    masks = HalloMasks()
    run_accumulators([masks], frames, points, 25.0)
    a = masks.artifacts
    for name in ("sep_lip_mask", "sep_face_mask", "sep_pose_mask"):
        assert a[name].shape == (64, 64) and a[name].dtype == np.uint8
    h, w = frames[0].shape[:2]
    lip_centre = points[:, 48:60].reshape(-1, 2).mean(0) * [64 / w, 64 / h]
    eye_centre = points[:, 36:48].reshape(-1, 2).mean(0) * [64 / w, 64 / h]
    lx, ly = np.rint(lip_centre).astype(int)
    ex, ey = np.rint(eye_centre).astype(int)
    lips, face, pose = a["sep_lip_mask"], a["sep_face_mask"], a["sep_pose_mask"]
    assert lips[ly, lx] > 200 and lips[ey, ex] < lips[ly, lx] / 4 and lips[0, 0] == 0
    assert face[ey, ex] > face[ly, lx]  # the face mask has the lips taken out
    assert pose[0, 0] == 255 and pose[ey, ex] < 64  # the pose mask is what lies outside the face
    assert lips.max() == 255


def test_musetalk_json_has_its_fields_and_stops_at_the_first_faceless_frame(clip):
    frames, points = clip
    full = run_accumulators([MuseTalkFaceJSON()], frames, points, 25.0)["face_json"]
    json.dumps(full)
    h, w = frames[0].shape[:2]
    n = len(frames)
    assert full["video_size"] == [h, w] and full["frames"] == n and full["isvalid"] is True
    assert np.array(full["landmark_list"]).shape == (n, 68, 2)
    assert np.array(full["landmark_list"]) == pytest.approx(np.rint(points), abs=0)
    x1, y1, x2, y2 = full["face_list"][5]
    assert (x1, y1, x2, y2) == (round(points[5, :, 0].min()), round(points[5, :, 1].min()),
                                round(points[5, :, 0].max()), round(points[5, :, 1].max()))
    assert full["face_size"] == [full["face_list"][0][3] - full["face_list"][0][1],
                                 full["face_list"][0][2] - full["face_list"][0][0]]
    gap = [None if i == 10 else p for i, p in enumerate(points)]
    broken = run_accumulators([MuseTalkFaceJSON()], frames, gap, 25.0)["face_json"]
    assert broken["isvalid"] is False and broken["first_invalid_frame"] == 10 and broken["frames"] == n
    assert len(broken["face_list"]) == len(broken["landmark_list"]) == 10
