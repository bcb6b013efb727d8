"""The readers of the final landmark track (the measures, the face embedding) in the decode that tracks it: a fresh
clip decodes once, each frame handed to them a few frames late with the points the final track holds there
(hdtf.face.track.ProvisionalTrack); when another face comes to lead after frames were handed out, they get a decode
of their own. Either way they compute exactly what they compute from a finished clip's landmarks file.

Three real clips (512x512 raw videos, cut to 256 by ``hdtf prepare`` with a fixed window): the moving astronaut; the
same with her face gone for 40 frames (blurred away); and a clip that shows her for 12 frames, then the Mona Lisa,
small, in the top-left corner (the tracker switches to the newcomer 25 frames after losing the astronaut, and the
newcomer, on more frames, is the face the track keeps)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from fixtures.arcface_onnx import random_arcface
from fixtures.curate_clips import CUT_FRAME, hard_cut, moving_face  # noqa: F401

from hdtf.manifest import done_clips

MEASURES = ("face_share", "face_px", "yaw", "pitch", "roll", "head_away", "sharpness", "brightness", "motion")
GAP = (25, 65)  # frames of the moving face blurred away
FIRST = 12  # frames of the astronaut before the newcomer


def _frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _without_face(frames: list[np.ndarray]) -> list[np.ndarray]:
    """``frames`` with the face gone on the frames of ``GAP`` (a heavy blur: no detector finds a face there)."""
    import cv2

    return [cv2.blur(f, (81, 81)) if GAP[0] <= k < GAP[1] else f for k, f in enumerate(frames)]


def _corner(frame: np.ndarray) -> np.ndarray:
    """``frame`` blurred, with itself at 55 % in the top-left corner: its face small and far from where it was."""
    import cv2

    canvas = cv2.blur(frame, (81, 81))
    canvas[:282, :282] = cv2.resize(frame, (282, 282), interpolation=cv2.INTER_AREA)
    return canvas


@pytest.fixture(scope="module")
def takeover(hard_cut) -> list[np.ndarray]:  # noqa: F811
    """The astronaut for ``FIRST`` frames, then the Mona Lisa in the corner for 40 (hard_cut's two shots)."""
    frames = _frames(hard_cut.path)
    return frames[:FIRST] + [_corner(f) for f in frames[CUT_FRAME:]]


@pytest.fixture(scope="module")
def raw(moving_face, hard_cut, takeover, tmp_path_factory):  # noqa: F811
    """The raw videos (``RD_{name}.mp4``) and their metadata: name -> the clip's interval in seconds."""
    import shutil

    from hdtf.video_io import VideoWriter

    root = tmp_path_factory.mktemp("final_track")
    folder = root / "raw"
    folder.mkdir()
    shutil.copyfile(moving_face.path, folder / "RD_Mover.mp4")
    with VideoWriter(folder / "RD_Gap.mp4", 25.0, audio_from=moving_face.path) as writer:
        for frame in _without_face(_frames(moving_face.path)):
            writer.write(frame)
    with VideoWriter(folder / "RD_Takeover.mp4", 25.0, audio_from=hard_cut.path) as writer:
        for frame in takeover:
            writer.write(frame)
    return folder, {"Mover": "00:00-00:03", "Gap": "00:00-00:03", "Takeover": "00:00-00:02"}


def _prepare(raw, name: str, out: Path, *flags: str) -> list[str]:
    """``hdtf prepare`` of one raw video into ``out`` (a fixed 512 px window, clips of 256); the clips decoded by the
    stages, one entry per decode (a spy on hdtf's own function, not a stand-in)."""
    from hdtf.cli import main
    from hdtf.stages import pipeline

    folder, times = raw
    metadata = out.parent / f"{out.name}_metadata"
    metadata.mkdir(parents=True, exist_ok=True)
    lines = {"video_url": f"{name} https://www.youtube.com/watch?v={name[0] * 11}\n",
             "resolution": f"{name}.mp4 512\n", "annotion_time": f"{name}.mp4 {times[name]}\n",
             "crop_wh": f"{name}_0.mp4 0 512 0 512\n", "crop_ratio": f"{name}_0.mp4 1.0\n"}
    for kind, text in lines.items():
        (metadata / f"RD_{kind}.txt").write_text(text, encoding="utf-8")
    decoded: list[str] = []
    real = pipeline.decode

    def counted(video):
        decoded.append(Path(video).name)
        return real(video)

    with pytest.MonkeyPatch.context() as env:
        env.setattr(pipeline, "decode", counted)
        assert main(["prepare", "--metadata-dir", str(metadata), "--subsets", "RD", "--raw-dir", str(folder),
                     "--output", str(out), "--size", "256", "--no-progress", *flags]) == 0
    return decoded


def _outputs(out: Path) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """The clip's record, its face embedding, and its landmarks file's points and found flags."""
    (record,) = done_clips(out)
    with np.load(out / record["landmarks_path"]) as marks:
        points, found = marks["points"], marks["found"]
    return record, np.load(out / record["face_embedding_path"]), points, found


@pytest.mark.parametrize(("name", "decodes"), [("Mover", 1), ("Gap", 1), ("Takeover", 2)],
                         ids=["one-face", "face-gone-40-frames", "another-face-takes-over"])
def test_the_final_track_readers_get_what_the_landmarks_file_gives_them(raw, name, decodes, tmp_path, caplog):
    """A fresh clip with the landmarks, the aligned view, the measures and the face embedding in one job, against
    the same clip whose landmarks a first run made and a second run read from the file (today's one way)."""
    arcface = random_arcface(tmp_path / "arcface.onnx")
    readers = ["--measures", "--face-embedding-weights", str(arcface)]
    with caplog.at_level(logging.DEBUG, logger="hdtf.stages.pipeline"):
        fresh = _prepare(raw, name, tmp_path / "fresh", "--aligned", "256", *readers)
    (clip,) = {Path(v).name for v in fresh}
    assert fresh == [clip] * decodes, fresh
    fallback = [r.getMessage() for r in caplog.records if "get a decode of their own" in r.getMessage()]
    assert len(fallback) == decodes - 1, fallback

    assert _prepare(raw, name, tmp_path / "kept", "--landmarks") == [clip]  # the tracking's decode
    assert _prepare(raw, name, tmp_path / "kept", "--landmarks", *readers) == [clip], "one decode, from the file"

    record, embedding, points, found = _outputs(tmp_path / "fresh")
    kept, kept_embedding, kept_points, kept_found = _outputs(tmp_path / "kept")
    assert np.array_equal(found, kept_found) and np.allclose(points, kept_points, equal_nan=True, atol=1e-3)
    assert {k: record[k] for k in MEASURES} == {k: kept[k] for k in MEASURES}
    assert record["face_px"] is not None and record["face_px"] > 40
    np.testing.assert_allclose(embedding, kept_embedding, rtol=1e-5, atol=1e-6)
    assert (tmp_path / "fresh" / record["aligned_path"]).is_file()
    if name == "Gap":
        assert not found[GAP[0] + 2:GAP[1] - 2].any() and found[:GAP[0] - 5].all() and found[GAP[1] + 5:].any()
    if name == "Takeover":  # the face kept is the newcomer's: the astronaut's first frames have none
        assert not found[:FIRST].any() and found[-5:].all()


def _halved(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Frames at 256 px, as the clips are cut."""
    import cv2

    return [cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA) for f in frames]


def _tracked(frames: list[np.ndarray]) -> tuple[list[tuple[int, int, np.ndarray | None]], object, object]:
    """Feed a clip's frames to a TrackFeed as the landmarks stage does: (frames added, index, points) of every
    hand-out of its ProvisionalTrack, the provisional track closed with the final track, and that track."""
    from hdtf.face.track import ProvisionalTrack, TrackFeed

    feed = TrackFeed(min_face=0.15)
    ahead = ProvisionalTrack(feed)
    handed = []
    for frame in frames:
        feed.add(frame)
        handed.extend((len(feed.results), k, p) for k, p in ahead.ready())
    track = feed.finish()
    ahead.close(track)
    return handed, ahead, track


def test_each_frame_is_handed_out_two_frames_late_with_the_final_tracks_points(moving_face):  # noqa: F811
    """The face gone for 40 frames: every frame is handed out, in order, once the two after it are tracked (the
    smoothing's reach: the buffer stays at three frames through the gap); the points are the final track's bit for
    bit on found frames, and none on the others (interpolated in the track, but not found: a reader sees none)."""
    frames = _halved(_without_face(_frames(moving_face.path)))
    handed, ahead, track = _tracked(frames)
    assert ahead.radius == 2 and ahead.broken is None
    assert [k for _, k, _ in handed] == list(range(len(frames) - 2)), "the last two wait for the end"
    assert all(added == k + 3 for added, k, _ in handed)
    assert [k for k, _ in ahead.rest()] == [len(frames) - 2, len(frames) - 1]
    assert not track.found[GAP[0] + 2:GAP[1] - 2].any() and np.isfinite(track.points[GAP[0]:GAP[1]]).all()
    for _, k, points in handed:
        if track.found[k]:
            assert points is not None and points.dtype == np.float64
            assert np.array_equal(points, track.points[k].astype(np.float64)), k
        else:
            assert points is None, k


def test_a_face_that_comes_to_lead_after_frames_were_handed_out_breaks_the_provisional_track(takeover):
    """The astronaut for 12 frames, then the Mona Lisa elsewhere, followed from 25 frames after the astronaut was
    lost: the newcomer leads once she is on more frames, and the points already handed out (the astronaut's) are
    not the final track's. The hand-outs stop there, and the reason is one line."""
    handed, ahead, track = _tracked(_halved(takeover))
    assert ahead.broken is not None and ahead.broken.startswith("the face kept changed on frame "), ahead.broken
    assert [k for _, k, p in handed if p is not None] == list(range(FIRST)), "the astronaut's points went out"
    assert not track.found[:FIRST].any() and track.found[-5:].all(), "the final track keeps the newcomer"
    assert ahead.ready() == [] and len(handed) < len(takeover) - 5
