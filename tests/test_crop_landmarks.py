"""Crop method 2 (``landmarks``): the window from a face track, alone and inside the per-video job."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.talking_face import no_face_video, talking_face, talking_face_factory  # noqa: F401

from hdtf.face import DEFAULT_CROP_RATIO, LandmarkTrack, NoFaceError, landmark_crop_window
from hdtf.face.window import FACE_CENTRE, FACE_SHARE


def _track(points: np.ndarray, width: int, height: int, found=None) -> LandmarkTrack:
    found = np.ones(len(points), bool) if found is None else found
    return LandmarkTrack(points.astype(np.float32), found, np.full((len(points), 4), np.nan, np.float32), width, height)


def _landmark_side(points: np.ndarray) -> np.ndarray:
    return (points.max(-2) - points.min(-2)).max(-1)


def test_still_face_is_framed_like_hdtf(talking_face):
    """A face that does not move: its landmark box takes FACE_SHARE of the window side, centred at FACE_CENTRE."""
    still = np.repeat(talking_face.landmarks[:1], 5, axis=0)
    box, notes = landmark_crop_window(_track(still, 4000, 4000), 4000, 4000, None)
    assert box.w == box.h and f"used {DEFAULT_CROP_RATIO}" in notes[0]
    side = _landmark_side(still[0])
    assert side / box.w == pytest.approx(FACE_SHARE, rel=0.01)
    centre = (still[0].min(0) + still[0].max(0)) / 2
    assert (centre[1] - box.y) / box.h == pytest.approx(FACE_CENTRE, abs=0.01)
    assert (centre[0] - box.x) / box.w == pytest.approx(0.5, abs=0.01)
    wider, _ = landmark_crop_window(_track(still, 4000, 4000), 4000, 4000, 1.0)
    assert wider.w / box.w == pytest.approx(1.0 / 1.2, rel=0.01)


def test_moving_face_window_contains_the_whole_clip_at_hdtf_scale(talking_face):
    video = talking_face
    box, _ = landmark_crop_window(_track(video.landmarks, 1280, 720), 1280, 720, 1.2)
    assert 0 <= box.x and 0 <= box.y and box.x + box.w <= 1280 and box.y + box.h <= 720 and box.w == box.h
    pts = video.landmarks
    inside = ((pts[..., 0] >= box.x) & (pts[..., 0] < box.x + box.w) & (pts[..., 1] >= box.y)
              & (pts[..., 1] < box.y + box.h))
    assert inside.all(), "every ground-truth landmark of every frame must be inside the window"
    share = np.median(_landmark_side(pts)) / box.w
    # Motion widens the union, so the share is a little below the still-face FACE_SHARE, never far from it.
    assert 0.36 < share <= FACE_SHARE + 0.01
    # HDTF windows are 0.46-0.98 (mean ~0.68) of the frame height; this face is HDTF-sized, so must its window be.
    assert 0.6 < box.h / 720 < 0.95


def test_window_too_big_for_the_frame_is_shrunk_and_noted(talking_face):
    box, notes = landmark_crop_window(_track(talking_face.landmarks, 1280, 720), 1280, 720, 3.0)
    assert box.w == box.h == 720 and any("shrunk" in n for n in notes)


def test_track_without_face_has_no_window():
    nan = np.full((4, 68, 2), np.nan, np.float32)
    with pytest.raises(NoFaceError, match="no face"):
        landmark_crop_window(_track(nan, 640, 360, np.zeros(4, bool)), 640, 360, 1.2)


def test_only_found_frames_count(talking_face):
    pts = talking_face.landmarks[:10].copy()
    found = np.ones(10, bool)
    pts[3] += 400  # an interpolated frame far away must not widen the window
    found[3] = False
    box, notes = landmark_crop_window(_track(pts, 1280, 720, found), 1280, 720, 1.2)
    reference, _ = landmark_crop_window(_track(np.delete(pts, 3, 0), 1280, 720), 1280, 720, 1.2)
    assert box == reference and any("9 of 10" in n for n in notes)


# ------------------------------------------------------------------------------------ inside the per-video job


def _video(name: str, clips: list[tuple[float, float, tuple[int, int, int, int] | None]]):
    from hdtf.records import ClipSpec, CropBox, VideoSpec

    specs = tuple(
        ClipSpec(id=f"RD_{name}_{i}", source="hdtf", subset="RD", video_name=name, clip_index=i, youtube_id=None,
                 url=None, start=start, end=end, resolution=720, crop=None if crop is None else CropBox(*crop),
                 crop_ratio=None)
        for i, (start, end, crop) in enumerate(clips)
    )
    return VideoSpec(source="hdtf", subset="RD", name=name, url=None, youtube_id=None, resolution=720, clips=specs)


@pytest.fixture(scope="module")
def prepared(talking_face, tmp_path_factory):
    """``auto`` over a talking face (clip 0 has a metadata window, clip 1 none) and a faceless video."""
    from hdtf.options import PrepareOptions
    from hdtf.run import prepare
    from hdtf.synthetic import make_no_face_video

    raw = tmp_path_factory.mktemp("raw")
    (raw / "RD_Face.mp4").symlink_to(talking_face.path)
    make_no_face_video(raw / "RD_Blank.mp4", seconds=1.5)
    out = tmp_path_factory.mktemp("prepared")
    options = PrepareOptions(output_dir=out, raw_dir=raw, crop_method="auto", landmarks=True, size=256,
                             url_template="http://127.0.0.1:9/{name}")
    videos = [_video("Face", [(0.0, 1.0, (400, 0, 600, 600)), (1.2, 2.8, None)]), _video("Blank", [(0.2, 1.2, None)])]
    summary = prepare(videos, options, progress=False)
    return out, summary


def test_auto_uses_metadata_window_else_tracks_the_face(prepared, talking_face):
    from hdtf.manifest import done_clips

    out, _ = prepared
    clips = {c["id"]: c for c in done_clips(out)}
    assert clips["RD_Face_0"]["applied_crop"] == [400, 0, 600, 600]
    x, y, w, h = clips["RD_Face_1"]["applied_crop"]
    assert w == h and 0.6 * 720 < w < 0.95 * 720
    lo, hi = talking_face.landmarks[30:70].min((0, 1)), talking_face.landmarks[30:70].max((0, 1))
    assert x <= lo[0] and y <= lo[1] and hi[0] < x + w and hi[1] < y + h, "the tracked window holds the face"


def test_identity_notes_reach_the_clip_records(prepared):
    """How often the face was re-acquired or switched, for the window (tracked clips) and the landmarks file."""
    from hdtf.manifest import done_clips

    out, _ = prepared
    clips = {c["id"]: c["adjustments"] for c in done_clips(out)}
    assert "landmark window: face re-acquired 0×; switched 0×" in clips["RD_Face_1"]
    assert not any(note.startswith("landmark window:") for note in clips["RD_Face_0"]), "metadata window: no tracking"
    for notes in clips.values():
        assert "landmarks: face re-acquired 0×; switched 0×" in notes


def test_landmark_files_have_one_entry_per_output_frame_in_output_pixels(prepared, talking_face):
    from hdtf.manifest import done_clips
    from hdtf.rows import clip_row

    out, _ = prepared
    for entry in done_clips(out):
        with np.load(out / entry["landmarks_path"]) as npz:
            points, found = npz["points"], npz["found"]
        assert points.shape == (entry["num_frames"], 68, 2) and points.dtype == np.float32
        assert found.shape == (entry["num_frames"],) and found.mean() > 0.95
        x, y, w, _ = entry["applied_crop"]
        first = round(entry["start"] * 25)
        truth = (talking_face.landmarks[first:first + len(points)] - [x, y]) * (256 / w)
        iod = np.linalg.norm(truth[:, 36:42].mean(1) - truth[:, 42:48].mean(1), axis=1)
        error = np.linalg.norm(points - truth, axis=2).mean(1) / iod
        assert np.nanmedian(error) < 0.1, f"{entry['id']}: landmarks are not in output pixels at matching frames"
        row = clip_row(out, entry)  # what the ``clips`` dataset rows carry
        assert np.array_equal(row["landmarks"], points, equal_nan=True) and row["landmarks_found"] == found.tolist()


def test_clip_without_face_fails_with_no_face_and_the_run_goes_on(prepared):
    from hdtf.manifest import load_manifest

    out, summary = prepared
    assert summary.clips["done"] == 2 and summary.clips["failed"] == 1
    blank = next(c for c in load_manifest(out)["clips"] if c["id"] == "RD_Blank_0")
    assert blank["status"] == "failed" and blank["reason"] == "no face"
    assert not list((out / "clips").glob("RD_Blank_0*"))


def test_landmarks_crop_turns_landmark_files_on_by_default(tmp_path):
    from hdtf.options import PrepareOptions

    assert PrepareOptions(output_dir=tmp_path, crop_method="landmarks").landmarks is True
    assert PrepareOptions(output_dir=tmp_path, crop_method="landmarks", landmarks=False).landmarks is False
    assert PrepareOptions(output_dir=tmp_path).landmarks is False


def test_clip_without_face_still_gets_an_honest_landmarks_file(no_face_video, tmp_path):
    """With a fixed window and --landmarks, a faceless clip is kept; its file says no frame has a face."""
    import shutil

    from hdtf.face import write_clip_landmarks

    clip = tmp_path / "RD_Blank_0.mp4"
    shutil.copy(no_face_video.path, clip)
    path, notes = write_clip_landmarks(clip)
    assert path == tmp_path / "RD_Blank_0.landmarks.npz" and notes == ["landmarks: no face found in the clip"]
    with np.load(path) as npz:
        assert npz["points"].shape == (no_face_video.num_frames, 68, 2) and np.isnan(npz["points"]).all()
        assert not npz["found"].any()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RD_Blank_0.landmarks.npz", "RD_Blank_0.mp4"]
