"""The face-aligned view (hdtf.curate.aligned) on a real render of a moving, turning head: the eyes stay on the
template, smoothing removes a jittered track's shake, the matrices paste a face back, and the mp4 carries every frame
and the clip's own audio."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.curate_clips import moving_face  # noqa: F401

from hdtf.curate.aligned import (
    AlignedWriter, align_video, load_matrices, paste_back, residual_jitter, rigid_anchors, template_points,
)
from hdtf.curate.scenes import SceneCutDetector
from hdtf.curate.stream import run_on_file

SIZE = 256
EYE_BOUND_PX = 3.0  # at 256: how far the eye centres may land from the template's in the aligned view


def _frames(path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _map(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(T, N, 2) points through (T, 2, 3) matrices."""
    m = matrices.astype(np.float64)
    return np.einsum("tij,tnj->tni", m[:, :, :2], points) + m[:, None, :, 2]


def _truth_anchors(video) -> np.ndarray:
    return np.stack([rigid_anchors(p) for p in video.landmarks])


@pytest.fixture(scope="module")
def tracked(moving_face):  # noqa: F811
    from hdtf.face.track import track_video

    return track_video(moving_face.path)


@pytest.fixture(scope="module")
def aligned(moving_face, tracked, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("aligned")
    return align_video(moving_face.path, tracked.points, out / "aligned" / "clip.mp4", out / "aligned" / "clip.npz",
                       SIZE)


def test_the_eyes_stay_on_the_template_while_the_head_moves_and_turns(moving_face, aligned):  # noqa: F811
    truth = _truth_anchors(moving_face)
    eyes = truth[:, :2]
    # The premise: in the clip the head really travels and turns.
    travel = np.ptp(eyes.mean(axis=1), axis=0)
    turn = np.degrees(np.ptp(np.arctan2(*(eyes[:, 1] - eyes[:, 0]).T[::-1])))
    assert travel.max() > 40 and turn > 8, (travel, turn)
    matrices = load_matrices(aligned.matrices)
    assert matrices.shape == (moving_face.num_frames, 2, 3) and matrices.dtype == np.float32
    template = template_points(SIZE)[:2]
    on_view = np.linalg.norm(_map(matrices, eyes) - template, axis=-1)
    assert on_view.max() < EYE_BOUND_PX, on_view.max()
    assert aligned.max_eye_offset_px < EYE_BOUND_PX and aligned.faceless_frames == 0


def test_the_aligned_video_shows_the_eyes_where_the_template_puts_them(aligned):
    """Content, not geometry: dlib's landmarks found on the decoded aligned mp4 put the eyes on the template."""
    from hdtf.face.track import track_video

    found = track_video(aligned.video)
    assert found.found.all() and (found.width, found.height) == (SIZE, SIZE)
    eyes = np.stack([rigid_anchors(p)[:2] for p in found.points])
    assert np.linalg.norm(eyes - template_points(SIZE)[:2], axis=-1).max() < EYE_BOUND_PX


def test_the_aligned_mp4_has_every_frame_and_the_clips_own_audio(moving_face, aligned):  # noqa: F811
    from hdtf.media import probe
    from hdtf.video_io import read_audio

    info = probe(aligned.video, count_frames=True)
    assert (info.width, info.height, info.nb_frames) == (SIZE, SIZE, moving_face.num_frames) == (
        aligned.size, aligned.size, aligned.num_frames)
    assert info.has_audio and info.duration == pytest.approx(moving_face.num_frames / moving_face.fps, abs=0.05)
    # The audio track is copied, not encoded again: the same samples.
    assert np.array_equal(read_audio(aligned.video), read_audio(moving_face.path))
    # Its frames are the clip's frames warped by the saved matrices.
    import cv2

    matrices = load_matrices(aligned.matrices)
    for k, (source, shown) in enumerate(zip(_frames(moving_face.path), _frames(aligned.video), strict=True)):
        if k % 15 == 0:
            expected = cv2.warpAffine(source, matrices[k].astype(np.float64), (SIZE, SIZE), flags=cv2.INTER_LINEAR)
            assert cv2.PSNR(expected, shown) > 32


def test_smoothing_takes_the_shake_out_of_a_jittered_track(moving_face, tmp_path):  # noqa: F811
    rng = np.random.default_rng(0)
    noisy = moving_face.landmarks + rng.normal(0, 1.5, moving_face.landmarks.shape).astype(np.float32)
    raw = align_video(moving_face.path, noisy, tmp_path / "raw.mp4", tmp_path / "raw.npz", SIZE, sigma=0)
    smooth = align_video(moving_face.path, noisy, tmp_path / "smooth.mp4", tmp_path / "smooth.npz", SIZE)
    assert smooth.jitter_px < 0.5 * raw.jitter_px, (smooth.jitter_px, raw.jitter_px)
    # Against the truth: how much the real eyes move in the view from frame to frame.
    eyes = _truth_anchors(moving_face)[:, :2]
    motion = {}
    for name, made in (("raw", raw), ("smooth", smooth)):
        shown = _map(load_matrices(made.matrices), eyes)
        motion[name] = np.sqrt(np.mean(np.sum(np.diff(shown, axis=0) ** 2, axis=-1)))
        assert np.linalg.norm(shown - template_points(SIZE)[:2], axis=-1).max() < 2 * EYE_BOUND_PX
    assert motion["smooth"] < 0.5 * motion["raw"], motion


def test_residual_jitter_is_zero_for_a_steady_crop_and_grows_with_shake():
    steady = np.tile(np.array([[1.0, 0, 5], [0, 1.0, 7]]), (20, 1, 1))
    steady[:, 0, 2] += np.arange(20) * 2.0  # moving steadily: no shake
    points = template_points(SIZE)[:2]
    assert residual_jitter(steady, points) == pytest.approx(0.0, abs=1e-9)
    shaken = steady.copy()
    shaken[::2, 1, 2] += 1.0  # one pixel up and down every other frame
    assert residual_jitter(shaken, points) == pytest.approx(2.0, rel=0.1)


def test_paste_back_round_trip(moving_face, aligned):  # noqa: F811
    import cv2

    frame = _frames(moving_face.path)[30]
    matrix = load_matrices(aligned.matrices)[30].astype(np.float64)
    face = cv2.warpAffine(frame, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    # The aligned face put back where it came from gives the frame again; beyond the face nothing changes.
    back = paste_back(frame, face, matrix)
    cover = cv2.warpAffine(np.ones((SIZE, SIZE), np.float32), matrix, frame.shape[1::-1],
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    inside, outside = cover > 0.999, cover == 0
    assert inside.sum() > 0.1 * inside.size and outside.sum() > 0.1 * outside.size
    assert np.abs(back.astype(int) - frame)[inside].mean() < 3
    assert np.array_equal(back[outside], frame[outside])
    # A generated face (here: the negative) lands on the face: the eye the template names shows it.
    generated = 255 - face
    pasted = paste_back(frame, generated, matrix)
    eye = np.round(_truth_anchors(moving_face)[30, 0]).astype(int)
    assert np.abs(pasted[eye[1], eye[0]].astype(int) - (255 - frame[eye[1], eye[0]].astype(int))).max() < 40
    assert np.array_equal(pasted[outside], frame[outside])


def test_one_decode_feeds_scene_cuts_and_the_aligned_view(moving_face, tmp_path):  # noqa: F811
    """The accumulators as a stage runs them: both fed by one decode, landmarks given per frame."""
    import av

    scenes = SceneCutDetector()
    writer = AlignedWriter(tmp_path / "a.mp4", tmp_path / "a.npz", SIZE, audio_from=moving_face.path)
    with av.open(str(moving_face.path)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        scenes.begin(25.0, size)
        writer.begin(25.0, size)
        for index, frame in enumerate(container.decode(stream)):
            rgb = frame.to_ndarray(format="rgb24")
            scenes.frame(index, rgb)
            writer.frame(index, rgb, moving_face.landmarks[index])
    cuts, made = scenes.end(), writer.end()
    assert cuts.cuts == () and made.num_frames == moving_face.num_frames
    # The same as the file form with the landmarks known ahead.
    (ahead,) = run_on_file(moving_face.path, [AlignedWriter(tmp_path / "b.mp4", tmp_path / "b.npz", SIZE,
                                                            landmarks=moving_face.landmarks)])
    assert np.array_equal(load_matrices(made.matrices), load_matrices(ahead.matrices))


def test_frames_without_a_face_borrow_their_neighbours_and_a_faceless_clip_shows_its_centre(moving_face,  # noqa: F811
                                                                                             tmp_path):
    gappy = moving_face.landmarks.copy()
    gappy[:4] = np.nan
    gappy[30:34] = np.nan
    made = align_video(moving_face.path, gappy, tmp_path / "g.mp4", tmp_path / "g.npz", SIZE)
    assert made.faceless_frames == 8 and made.num_frames == moving_face.num_frames
    matrices = load_matrices(made.matrices)
    # A gap between faces follows the line through both sides: the eyes stay on the template.
    shown = _map(matrices, _truth_anchors(moving_face)[:, :2])
    assert np.linalg.norm(shown[4:] - template_points(SIZE)[:2], axis=-1).max() < EYE_BOUND_PX
    # Before the first face the first face's view is held (never extrapolated).
    assert np.abs(matrices[:4] - matrices[4]).max() < 0.1
    with np.load(made.matrices) as saved:
        assert saved["face"].sum() == moving_face.num_frames - 8 and int(saved["size"]) == SIZE
    none = align_video(moving_face.path, np.full_like(gappy, np.nan), tmp_path / "n.mp4", tmp_path / "n.npz", SIZE)
    centre = load_matrices(none.matrices)
    assert none.faceless_frames == moving_face.num_frames
    # The 512 px frame's centre square, halved: scale 0.5, no turn, no shift.
    assert np.allclose(centre, [[0.5, 0, 0], [0, 0.5, 0]], atol=1e-5)


def test_a_failed_run_leaves_no_aligned_files(moving_face, tmp_path):  # noqa: F811
    short = moving_face.landmarks[:5]
    writer = AlignedWriter(tmp_path / "x.mp4", tmp_path / "x.npz", SIZE, landmarks=short)
    writer.begin(25.0, (512, 512))
    writer.frame(0, np.zeros((512, 512, 3), np.uint8))
    with pytest.raises(ValueError, match="in order"):
        writer.frame(2, np.zeros((512, 512, 3), np.uint8))
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="256, 512"):
        AlignedWriter(tmp_path / "y.mp4", tmp_path / "y.npz", 300)


def test_an_offset_corrected_first_keeps_the_view_frame_for_frame_with_the_corrected_clip(moving_face,  # noqa: F811
                                                                                          tmp_path):
    """A/V correction before the view is written: the view keeps the frames the corrected clip keeps, and its audio
    is the corrected clip's."""
    import shutil

    import soundfile as sf

    from hdtf import sync_check
    from hdtf.media import probe
    from hdtf.video_io import read_audio

    clip, wav = tmp_path / "clip.mp4", tmp_path / "clip.wav"
    shutil.copyfile(moving_face.path, clip)
    sf.write(wav, read_audio(moving_face.path, 16000), 16000, subtype="PCM_16")
    offset = 2  # the audio leads by 2 frames: the first 2 video frames go
    first, _, length = sync_check.shift_plan(moving_face.num_frames, sf.info(str(wav)).frames // 640, offset)
    facts = sync_check.shift_clip(clip, wav, offset)
    assert (first, length) == (2, facts["num_frames"]) == (2, moving_face.num_frames - 2)
    view = align_video(moving_face.path, moving_face.landmarks, tmp_path / "v.mp4", tmp_path / "v.npz", SIZE,
                       keep=(first, first + length), audio_from=clip)
    assert view.num_frames == probe(view.video, count_frames=True).nb_frames == facts["num_frames"]
    assert np.array_equal(read_audio(view.video), read_audio(clip))
    # The kept frames look as they do in the whole view (the smoothing saw every frame) and show clip frame k + 2.
    full_view = align_video(moving_face.path, moving_face.landmarks, tmp_path / "f.mp4", tmp_path / "f.npz", SIZE)
    assert np.array_equal(load_matrices(view.matrices), load_matrices(full_view.matrices)[2:])
    import cv2

    shown, source = _frames(view.video), _frames(full_view.video)
    assert cv2.PSNR(shown[0], source[2]) > 35 and cv2.PSNR(shown[0], source[0]) < cv2.PSNR(shown[0], source[2])


def test_the_syncnet_box_is_where_dlib_finds_the_face_in_the_view(aligned):
    from hdtf.curate.aligned import syncnet_box
    from hdtf.face.detect import detect_faces, primary_face

    box = np.array(syncnet_box(SIZE))
    for k, frame in enumerate(_frames(aligned.video)):
        if k % 10:
            continue
        face = primary_face(detect_faces(frame), SIZE, SIZE)
        found = np.array([face.left, face.top, face.right, face.bottom], dtype=float)
        inter = np.prod(np.clip(np.minimum(box[2:], found[2:]) - np.maximum(box[:2], found[:2]), 0, None))
        union = np.prod(box[2:] - box[:2]) + np.prod(found[2:] - found[:2]) - inter
        assert inter / union > 0.7, (k, found, box)
