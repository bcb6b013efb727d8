"""hdtf.synthetic: the real-face talking video generator that tests, benchmarks and the demo rely on."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest
from fixtures.distractors import EMBLEM, speaker_with_distractors  # noqa: F401
from fixtures.talking_face import no_face_video, talking_face_factory, talking_face_small  # noqa: F401

from hdtf.face.detect import NoFaceError, detect_faces, landmarks
from hdtf.synthetic import make_talking_face_video


def _decode(path: Path) -> tuple[list[np.ndarray], float, float]:
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        audio_seconds = float(audio.duration * audio.time_base) if audio.duration else 0.0
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        return frames, float(container.streams.video[0].average_rate), audio_seconds


def test_video_has_frames_audio_and_truth(talking_face_small):
    video = talking_face_small
    frames, fps, audio_seconds = _decode(video.path)
    assert (len(frames), fps) == (video.num_frames, 25.0) == (50, 25.0)
    assert frames[0].shape == (360, 640, 3)
    assert audio_seconds == pytest.approx(2.0, abs=0.05)
    assert video.landmarks.shape == (50, 68, 2) and video.landmarks.dtype == np.float32
    x, y, w, h = video.face_box
    assert 0 <= x and 0 <= y and x + w <= 640 and y + h <= 360
    # The face is at HDTF-like scale: its landmark box is about a third of the frame height.
    assert 0.28 < np.ptp(video.landmarks[0, :, 1]) / 360 < 0.42


def test_mouth_and_head_move(talking_face_small):
    pts = talking_face_small.landmarks
    gap = np.linalg.norm(pts[:, 66] - pts[:, 62], axis=1)  # inner-lip opening per frame
    iod = np.linalg.norm(pts[:, 36:42].mean(1) - pts[:, 42:48].mean(1), axis=1)
    assert np.ptp(gap / iod) > 0.1, "mouth opening should follow the speech"
    assert np.ptp(pts[:, 30, 0]) > 5, "head should move"


def test_same_seed_same_bytes_other_seed_other_motion(tmp_path):
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    a = make_talking_face_video(tmp_path / "a.mp4", seconds=1.0, size=(320, 180), seed=3)
    b = make_talking_face_video(tmp_path / "b.mp4", seconds=1.0, size=(320, 180), seed=3)
    c = make_talking_face_video(tmp_path / "c.mp4", seconds=1.0, size=(320, 180), seed=4)
    assert digest(a.path) == digest(b.path)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert not np.allclose(a.landmarks, c.landmarks)
    assert not list(tmp_path.glob(".*partial*")), "no temporary file may be left behind"


def test_given_wav_is_used(tmp_path):
    import soundfile as sf

    rate = 16000
    t = np.arange(int(0.5 * rate)) / rate
    bursts = (np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    sf.write(tmp_path / "speech.wav", bursts, rate)
    video = make_talking_face_video(tmp_path / "v.mp4", audio=tmp_path / "speech.wav", seconds=1.2, size=(320, 180))
    _, _, audio_seconds = _decode(video.path)
    assert audio_seconds == pytest.approx(1.2, abs=0.05)  # 0.5 s of audio looped to the video length
    gap = np.linalg.norm(video.landmarks[:, 66] - video.landmarks[:, 62], axis=1)
    assert gap.max() - gap.min() > 2.0


def test_no_face_video_has_no_face(no_face_video):
    frames, _, _ = _decode(no_face_video.path)
    assert len(frames) == no_face_video.num_frames and no_face_video.face_box is None
    assert detect_faces(frames[0], upsample=1) == []


def test_photo_without_face_fails_naming_it(tmp_path):
    from PIL import Image

    photo = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(photo)
    with pytest.raises(NoFaceError, match="wall.png"):
        make_talking_face_video(tmp_path / "v.mp4", photo=photo, seconds=1.0, size=(320, 180))
    assert not (tmp_path / "v.mp4").exists()


def test_overlays_are_where_their_truth_says(speaker_with_distractors):
    """The poster (a real face) is detected where its ground truth is; the emblem has no truth, appears on time and
    is detected as a face (the point of it); the speaker's own truth still matches dlib's fit on the frame."""
    video = speaker_with_distractors
    poster, emblem = video.overlay_landmarks
    assert np.isnan(emblem).all() and np.isfinite(poster).all() and np.isfinite(video.landmarks).all()
    start = int(EMBLEM.start * video.fps)
    with av.open(str(video.path)) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(start + 1), container.decode(video=0))]
    for k, truth in ((0, poster[0]), (0, video.landmarks[0]), (start, video.landmarks[start])):
        boxes = detect_faces(frames[k], upsample=1)
        box = min(boxes, key=lambda b: np.hypot(*(np.array(b.center) - truth.mean(0))))
        iod = np.linalg.norm(truth[36:42].mean(0) - truth[42:48].mean(0))
        assert np.linalg.norm(landmarks(frames[k], box) - truth, axis=1).mean() / iod < 0.1
    emblem_centre = np.array(EMBLEM.centre) * [video.width, video.height]
    on_emblem = [[b for b in detect_faces(frames[k]) if np.hypot(*(np.array(b.center) - emblem_centre)) < 100]
                 for k in (start - 1, start)]
    assert not on_emblem[0] and on_emblem[1]
