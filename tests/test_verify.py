"""Every finished clip is what its annotation asks for, or says exactly why not: sources cut short (index at the front),
audio that stops early and a rotated phone video, through the real job (yt-dlp over loopback, ffmpeg)."""

from __future__ import annotations

import re
import wave

import pytest
from fixtures.awkward import CUT, MUTE, TURNED, awkward_sources  # noqa: F401
from fixtures.sources import first_index, frame_colours

from hdtf import media
from hdtf.job import process_video
from hdtf.loopback import serve_directory
from hdtf.options import PrepareOptions
from hdtf.rows import clip_fields
from hdtf.sources.hdtf import parse_metadata


@pytest.fixture(scope="module")
def server(awkward_sources):
    requests: list = []
    with serve_directory(awkward_sources.served, requests) as base:
        yield base + "/{subset}_{name}.mp4", requests


@pytest.fixture(scope="module")
def videos(awkward_sources):
    found, _ = parse_metadata(awkward_sources.metadata, ["RD"])
    return {v.name: v for v in found}


def _run(video, out, server, **kwargs):
    template, _ = server
    return process_video(video, PrepareOptions(output_dir=out, url_template=template, **kwargs))


def _wav_seconds(path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_source_cut_short_fails_the_clip_it_cannot_make(videos, server, awkward_sources, tmp_path):
    result = _run(videos["Cut"], tmp_path, server)
    whole, short = result.clips
    assert result.status == "partial" and whole["status"] == "done" and whole["num_frames"] == 50
    assert short["status"] == "failed" and short["retry"] is False
    match = re.fullmatch(r"source ends at ([\d.]+) s; the clip needs 1\u20138 s \(--allow-short keeps what there is\)",
                         short["reason"])
    assert match, short["reason"]
    assert float(match.group(1)) == pytest.approx(awkward_sources.cut_ends, abs=0.05)
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["RD_Cut_000.mp4", "RD_Cut_000.wav"]
    _, requests = server
    requests.clear()
    assert _run(videos["Cut"], tmp_path, server).clips == result.clips and requests == [], "a settled failure"


def test_allow_short_keeps_the_true_length_and_says_so(videos, server, awkward_sources, tmp_path):
    short = _run(videos["Cut"], tmp_path, server, allow_short=True).clips[1]
    true_length = awkward_sources.cut_ends - CUT.clips[1][0]
    assert short["status"] == "done" and short["short"] is True
    assert short["num_frames"] == pytest.approx(true_length * 25, abs=1)
    assert short["duration"] == pytest.approx(true_length, abs=0.05)
    assert _wav_seconds(tmp_path / short["audio_path"]) == pytest.approx(true_length, abs=0.04)
    assert media.probe(tmp_path / short["path"], count_frames=True).nb_frames == short["num_frames"]
    note = next(n for n in short["adjustments"] if n.startswith("short: "))
    assert f"of the {CUT.clips[1][1] - CUT.clips[1][0]:.2f} s annotated" in note and "source ends at" in note
    row = clip_fields(short)  # what a datasets row says
    assert row["duration"] == short["duration"] and note in row["adjustments"]
    colours = frame_colours(tmp_path / short["path"])
    assert all(c["border"] == {"white"} for c in colours), "the short clip still has its window"


def test_audio_that_stops_early_is_never_padded_or_cut_silently(videos, server, tmp_path):
    failed = _run(videos["Mute"], tmp_path / "strict", server).clips[0]
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("audio ends at 3.0 s; the clip needs 1\u20137 s"), failed["reason"]
    assert not (tmp_path / "strict" / "clips" / "RD_Mute_000.mp4").exists()
    kept = _run(videos["Mute"], tmp_path / "short", server, allow_short=True).clips[0]
    mp4 = tmp_path / "short" / kept["path"]
    info = media.probe(mp4, count_frames=True)
    # Video and audio both end where the audio does: 2 s, not 9 s of picture over 2 s of sound.
    assert info.nb_frames == 50 and info.video_duration == pytest.approx(2.0, abs=0.05)
    assert info.audio_duration == pytest.approx(2.0, abs=0.05)
    assert _wav_seconds(tmp_path / "short" / kept["audio_path"]) == pytest.approx(2.0, abs=0.04)
    assert kept["short"] and any(n.startswith("short: 2.00 s kept") for n in kept["adjustments"])


def test_rotated_source_is_cut_in_the_displayed_frame(videos, server, tmp_path):
    clip = _run(videos["Turned"], tmp_path, server).clips[0]
    assert clip["status"] == "done", clip["reason"]
    assert (clip["source_width"], clip["source_height"], clip["rotation"]) == (360, 640, 90)
    assert clip["applied_crop"] == list(TURNED.window)
    assert any("display matrix" in n and "360x640" in n for n in clip["adjustments"])
    assert not any("scaled" in n or "adjusted" in n for n in clip["adjustments"]), clip["adjustments"]
    colours = frame_colours(tmp_path / clip["path"])
    # White ring on every edge, the painted core inside: exactly the window, upright, nothing outside it.
    assert all(c["border"] == {"white"} for c in colours) and colours[0]["centre"] == "red"
    assert first_index(colours, "green") == pytest.approx((TURNED.switch - TURNED.clips[0][0]) * 25, abs=1)


def test_rotated_face_window_is_tracked_upright(talking_face_small, tmp_path):
    """A landmark window on a rotated source is found on the picture as shown, in its pixels."""
    from fixtures.awkward import rotated

    from hdtf.face.clips import clip_window
    from hdtf.records import ClipSpec, VideoSpec

    turned = rotated(talking_face_small.path, tmp_path / "RD_Face.mp4")
    info = media.probe(turned)
    assert (info.width, info.height, info.rotation) == (640, 360, 90)
    upright, _ = clip_window(talking_face_small.path, 0.0, 2.0, (640, 360), None, 25.0)
    clip = ClipSpec("RD_Face_000", "hdtf", "RD", "Face", 0, None, None, 0.0, 2.0, 360)
    video = VideoSpec("hdtf", "RD", "Face", None, None, 360, (clip,))
    result = process_video(video, PrepareOptions(output_dir=tmp_path / "out", raw_dir=tmp_path,
                                                 crop_method="landmarks", size=128, landmarks=False))
    record = result.clips[0]
    assert record["status"] == "done", record["reason"]
    assert record["applied_crop"] == pytest.approx(list(upright.as_tuple()), abs=6)
    assert any("upright copy" in n for n in record["adjustments"])


from fixtures.talking_face import talking_face_factory, talking_face_small  # noqa: E402,F401
