"""A/V sync as a data-quality measure: SyncNet finds a known audio shift in a clip, a small one is corrected by
trimming (never padding), and ``hdtf prepare --sync-check`` records it in the clip records, rows and ``hdtf status``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dlib")
pytest.importorskip("torch")

from fixtures.sync_markers import FLASHES, base_frame, make_marker_clip, marker_syncnet  # noqa: E402

from hdtf import sync_check  # noqa: E402
from hdtf.metrics.video import iter_frames  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:hdtf.sources.hdtf")  # the fixture has only RD lists


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """Marker SyncNet weights (tests/fixtures/sync_markers.py), calibrated on an in-sync clip."""
    root = tmp_path_factory.mktemp("syncnet")
    return marker_syncnet(make_marker_clip(root, 0), root / "syncnet_v2.model")


def _events(video: Path, audio: Path) -> tuple[list[int], list[int], int, int]:
    """(frames showing the green patch, frames whose audio beeps, video frames, audio frames) of a clip."""
    import soundfile as sf

    _, (x0, y0, x1, y1) = base_frame()
    flashes = [k for k, f in enumerate(iter_frames(video))
               if (f[y0:y1, x0:x1, 1].astype(float) - f[y0:y1, x0:x1, [0, 2]].mean(-1)).mean() > 100]
    frames = sum(1 for _ in iter_frames(video))
    samples, rate = sf.read(audio, dtype="float32")
    per = rate // 25
    rms = [float(np.sqrt(np.mean(samples[k * per : (k + 1) * per] ** 2))) for k in range(len(samples) // per)]
    return flashes, [k for k, r in enumerate(rms) if r > 0.1], frames, len(samples) / per


def test_a_known_audio_shift_is_found_and_corrected_by_trimming(weights, tmp_path):
    clip = make_marker_clip(tmp_path, offset=2)  # the beeps come 2 frames before the flashes they belong to
    assert _events(clip.video, clip.audio)[:2] == (list(FLASHES), [f - 2 for f in FLASHES])
    fields, notes = sync_check.check_clip(clip.video, clip.audio, weights, max_offset=3)
    assert fields["sync_offset"] == 2 and fields["sync_confidence"] >= sync_check.MIN_CONFIDENCE
    assert fields["sync_shift"] == 2 and fields["num_frames"] == clip.frames - 2
    assert "dropping the first 2 video frame(s) and the last 80 ms of audio" in notes[0]
    # The content moved, not only the numbers: every flash now has its beep, and nothing was padded.
    flashes, beeps, frames, audio_frames = _events(clip.video, clip.audio)
    assert flashes == beeps == [f - 2 for f in FLASHES]
    assert frames == audio_frames == clip.frames - 2
    assert sync_check.measure(clip.video, clip.audio, weights).offset == 0


def test_offsets_beyond_the_limit_are_recorded_not_corrected(weights, tmp_path):
    clip = make_marker_clip(tmp_path, offset=-3)  # the audio lags
    before = clip.video.read_bytes(), clip.audio.read_bytes()
    fields, notes = sync_check.check_clip(clip.video, clip.audio, weights, max_offset=2)
    assert fields["sync_offset"] == -3 and fields["sync_shift"] == 0 and "num_frames" not in fields
    assert notes == ["A/V offset -3 frames exceeds --max-av-offset 2: not corrected"]
    assert (clip.video.read_bytes(), clip.audio.read_bytes()) == before
    # A confident small offset is corrected; an unconfident one is left alone (it may be noise).
    assert sync_check.wanted_shift(-3, 8.0, 3) == -3 and sync_check.wanted_shift(-3, 2.0, 3) == 0
    assert sync_check.wanted_shift(None, None, 3) == sync_check.wanted_shift(4, 8.0, 3) == 0


def test_a_clip_without_a_face_is_recorded_as_not_measurable(weights, tmp_path):
    from hdtf.synthetic import make_no_face_video
    from hdtf.video_io import read_audio

    video = make_no_face_video(tmp_path / "noface.mp4", seconds=0.4, size=(128, 128)).path
    import soundfile as sf

    sf.write(tmp_path / "noface.wav", read_audio(video, 16000), 16000)
    fields, notes = sync_check.check_clip(video, tmp_path / "noface.wav", weights, max_offset=3)
    assert fields == {"sync_offset": None, "sync_confidence": None, "sync_shift": 0}
    assert notes == ["A/V sync not measured: no face found in the clip"]


def test_revisit_corrects_in_place_or_asks_for_the_clip_again(tmp_path):
    """Records made earlier: a now-allowed correction is applied to the files, a changed one means a new cut."""
    from hdtf.options import PrepareOptions

    clip = make_marker_clip(tmp_path / "clips", offset=-2, name="RD_Marker_000")
    record = {"id": "RD_Marker_000", "status": "done", "path": "clips/RD_Marker_000.mp4",
              "audio_path": "clips/RD_Marker_000.wav", "num_frames": clip.frames, "adjustments": [],
              "sync_offset": -2, "sync_confidence": 7.5, "sync_shift": 0}
    options = PrepareOptions(output_dir=tmp_path, max_av_offset=3, sync_check=tmp_path / "unused.model")
    assert sync_check.revisit(record, PrepareOptions(output_dir=tmp_path)) is record  # no check asked: untouched
    fixed = sync_check.revisit(record, options)
    assert fixed["sync_shift"] == -2 and fixed["num_frames"] == clip.frames - 2
    assert "corrected by dropping the first 80 ms of audio and the last 2 video frame(s)" in fixed["adjustments"][0]
    flashes, beeps, frames, audio_frames = _events(clip.video, clip.audio)
    assert flashes == beeps == list(FLASHES) and frames == audio_frames == clip.frames - 2
    assert sync_check.revisit(fixed, options) is fixed
    assert sync_check.revisit(fixed, PrepareOptions(output_dir=tmp_path, sync_check=options.sync_check)) is None
    # Files that no longer match their record (a correction interrupted before the status was written): made again.
    assert sync_check.revisit(record, options) is None


def _metadata(folder: Path, names: list[str], seconds: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = {"video_url": [f"{n} https://www.youtube.com/watch?v={n[0] * 11}" for n in names],
             "resolution": [f"{n}.mp4 256" for n in names],
             "annotion_time": [f"{n}.mp4 00:00-{seconds}" for n in names],
             "crop_wh": [f"{n}_0.mp4 0 256 0 256" for n in names], "crop_ratio": [f"{n}_0.mp4 1.0" for n in names]}
    for kind, text in lines.items():
        (folder / f"RD_{kind}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    return folder


def test_prepare_sync_check_records_corrects_and_counts(weights, tmp_path, capsys):
    import datasets

    import hdtf  # noqa: F401 - registers the builder
    from hdtf.cli import main
    from hdtf.layout import Layout

    raw = tmp_path / "raw"
    make_marker_clip(raw, offset=-3, name="RD_Marker")  # audio 3 frames late
    make_marker_clip(raw, offset=0, name="RD_Quiet", speech=False)  # nothing SyncNet could match
    metadata = _metadata(tmp_path / "metadata", ["Marker", "Quiet"], "00:01.4")
    out = tmp_path / "out"
    base = ["prepare", "--metadata-dir", str(metadata), "--subsets", "RD", "--raw-dir", str(raw), "--output",
            str(out), "--size", "256", "--no-progress"]
    # Quiet was prepared before anyone checked sync; Marker is new. One run checks both, cutting only Marker.
    assert main([*base, "--videos", "Quiet"]) == 0
    assert main([*base, "--sync-check", str(weights), "--max-av-offset", "3"]) == 0
    clips = {c["id"]: c for status in Layout(out).statuses() for c in status["clips"]}
    marker, quiet_clip = clips["RD_Marker_000"], clips["RD_Quiet_000"]
    assert (marker["sync_offset"], marker["sync_shift"]) == (-3, -3) and marker["sync_confidence"] >= 3
    assert marker["num_frames"] == 35 - 3 and any("corrected" in a for a in marker["adjustments"])
    flashes, beeps, frames, audio_frames = _events(out / marker["path"], out / marker["audio_path"])
    assert flashes == beeps == list(FLASHES) and frames == 32 and abs(audio_frames - 32) < 1e-9
    assert quiet_clip["sync_confidence"] < 3 and quiet_clip["sync_shift"] == 0
    assert json.loads((out / "manifest.json").read_text())["options"]["max_av_offset"] == 3

    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "A/V sync: 2 of 2 done clips checked with SyncNet; 1 below confidence 3 [RD_Quiet_000]; 1 corrected" in shown
    assert main(["status", str(out), "--min-sync-confidence", "0"]) == 0
    assert "0 below confidence 0;" in capsys.readouterr().out

    # The clips config carries the numbers as row fields (the clips are already settled: nothing is redone).
    rows = datasets.load_dataset("hdtf", "clips", split="all", metadata_dir=str(metadata), subsets=["RD"],
                                 raw_dir=str(raw), output_dir=str(out), size=256, sync_check=str(weights),
                                 max_av_offset=3, cache_dir=str(tmp_path / "cache"))
    by_id = {r["id"]: r for r in rows}
    assert (by_id["RD_Marker_000"]["sync_offset"], by_id["RD_Marker_000"]["sync_shift"]) == (-3, -3)
    assert by_id["RD_Marker_000"]["num_frames"] == 32
    assert by_id["RD_Quiet_000"]["sync_confidence"] == pytest.approx(quiet_clip["sync_confidence"], rel=1e-6)


def test_bad_sync_options_stop_before_any_work(tmp_path, capsys):
    from hdtf.cli import main

    base = ["prepare", "--metadata-dir", str(_metadata(tmp_path / "m", ["Marker"], "00:01")), "--subsets", "RD",
            "--output", str(tmp_path / "out"), "--no-progress"]
    assert main([*base, "--max-av-offset", "2"]) == 2
    assert "--max-av-offset needs --sync-check" in capsys.readouterr().err
    assert main([*base, "--sync-check", str(tmp_path / "missing.model")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert not (tmp_path / "out" / "status").exists()


def test_a_fixed_face_box_measures_like_detection(weights, tmp_path):
    """The face-aligned view has its face in one known place: SyncNet's crops come from that box, no detection."""
    from hdtf.face.detect import detect_faces, primary_face

    clip = make_marker_clip(tmp_path, offset=2)
    frame = next(iter(iter_frames(clip.video)))
    face = primary_face(detect_faces(frame), frame.shape[1], frame.shape[0])
    box = (face.left, face.top, face.right, face.bottom)
    assert sync_check.measure(clip.video, clip.audio, weights, box=box).offset == 2
    # The box is what is looked at: one in a corner, away from the flashes, does not find the offset.
    assert sync_check.measure(clip.video, clip.audio, weights, box=(0, 0, 20, 20)).offset != 2


def test_the_shift_plan_trims_never_pads():
    assert sync_check.shift_plan(50, 50, 2) == (2, 0, 48)  # audio ahead: the first 2 video frames go
    assert sync_check.shift_plan(50, 50, -3) == (0, 3, 47)  # audio behind: its first 3 frames' worth go
    assert sync_check.shift_plan(50, 45.5, 2) == (2, 0, 45)  # the shorter stream sets the length
