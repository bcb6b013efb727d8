"""process_video / prepare on painted loopback sources: crop, scale, cut times, audio, resume, raw-dir, sections."""

from __future__ import annotations

import pickle
import subprocess
import wave
from dataclasses import replace

import pytest
from fixtures.sources import ALPHA, BETA, frame_colours, first_index, hdtf_sources  # noqa: F401

from hdtf import media
from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips, load_manifest
from hdtf.job import process_video
from hdtf.options import PrepareOptions
from hdtf.run import prepare
from hdtf.sources.hdtf import parse_metadata

TEMPLATE = "{base}/{subset}_{name}.mp4"


@pytest.fixture(scope="module")
def parsed(hdtf_sources):
    return parse_metadata(hdtf_sources.metadata, ["RD"])


@pytest.fixture(scope="module")
def run(hdtf_sources, parsed, tmp_path_factory):
    """One prepare over all four videos, then a second identical run; the server records every request."""
    videos, report = parsed
    out = tmp_path_factory.mktemp("prepared")
    first: list = []
    with serve_directory(hdtf_sources.served, first) as base:
        options = PrepareOptions(output_dir=out, url_template=TEMPLATE.replace("{base}", base))
        summary = prepare(videos, options, progress=False, report=report)
        served_first = list(first)
        first.clear()
        again = prepare(videos, options, progress=False, report=report)
        served_second = list(first)
    return {"out": out, "summary": summary, "again": again, "served_first": served_first,
            "served_second": served_second, "clips": {c["id"]: c for c in done_clips(out)}}


def test_each_video_has_its_status(run):
    assert run["summary"].videos == {"done": 2, "unavailable": 1, "skipped": 1}
    assert run["summary"].clips == {"done": 3, "unavailable": 1, "skipped": 1}
    assert sorted(run["clips"]) == ["RD_Alpha_000", "RD_Alpha_001", "RD_Beta_000"]


def test_clips_are_512_square_25fps_with_audio(run):
    for clip in run["clips"].values():
        mp4, wav = run["out"] / clip["path"], run["out"] / clip["audio_path"]
        info = media.probe(mp4, count_frames=True)
        assert (info.width, info.height, info.fps, info.has_audio) == (512, 512, 25.0, True)
        assert info.sample_rate == 16000 == clip["sample_rate"]
        expected = (clip["end"] - clip["start"]) * 25
        assert abs(info.nb_frames - expected) <= 1 and clip["num_frames"] == info.nb_frames
        with wave.open(str(wav)) as w:
            assert (w.getframerate(), w.getnchannels()) == (16000, 1)
            assert abs(w.getnframes() / 16000 - (clip["end"] - clip["start"])) < 0.1
            samples = w.readframes(w.getnframes())
        assert max(samples[1::2]) > 10, "the wav is silent"


@pytest.mark.parametrize("source", [ALPHA, BETA], ids=["scaled_720_to_360", "same_resolution"])
def test_crop_window_position_and_scale(run, source):
    clip = run["clips"][f"RD_{source.name}_000"]
    assert clip["applied_crop"] == list(source.window)
    assert (clip["source_width"], clip["source_height"]) == (source.width, source.height)
    if source.meta_resolution != source.height:
        assert any("scaled" in note for note in clip["adjustments"])
    colours = frame_colours(run["out"] / clip["path"])
    assert all(c["centre"] in ("red", "green") for c in colours)
    # White ring on every edge: the window is neither too big (yellow/blue) nor too small (red at the border).
    assert all(c["border"] == {"white"} for c in colours), colours[0]


@pytest.mark.parametrize(("clip_id", "source", "k"), [("RD_Beta_000", BETA, 0), ("RD_Alpha_001", ALPHA, 1)])
def test_cut_starts_at_the_annotated_time(run, clip_id, source, k):
    colours = frame_colours(run["out"] / run["clips"][clip_id]["path"])
    expected = round((source.switch - source.clips[k][0]) * 25)
    assert abs(first_index(colours, "green") - expected) <= 1
    assert colours[0]["centre"] == "red" and colours[-1]["centre"] == "green"


def test_unavailable_and_skipped_are_recorded_and_the_run_goes_on(run):
    manifest = load_manifest(run["out"])
    by_id = {c["id"]: c for c in manifest["clips"]}
    assert by_id["RD_Gamma_000"]["status"] == "unavailable" and "404" in by_id["RD_Gamma_000"]["reason"]
    assert by_id["RD_Delta_000"]["status"] == "skipped" and "--crop-method" in by_id["RD_Delta_000"]["reason"]
    assert any("Zeta_0.mp4" in issue["text"] for issue in manifest["parse_report"])
    assert manifest["options"]["crop_method"] == "fixed"
    assert not (run["out"] / "raw" / ".RD_Gamma.partial").exists()


def test_second_run_requests_nothing_and_changes_nothing(run):
    assert {r.path for r in run["served_first"]} == {"/RD_Alpha.mp4", "/RD_Beta.mp4", "/RD_Gamma.mp4"}
    assert "/RD_Delta.mp4" not in {r.path for r in run["served_first"]}, "a clip without window was downloaded"
    assert run["served_second"] == []
    assert run["again"].clips == run["summary"].clips and run["again"].downloaded == 0


def test_raw_download_is_deleted_after_its_clips(run):
    assert not any(p.name.endswith(".mp4") for p in (run["out"] / "raw").iterdir())


def test_raw_dir_is_used_without_network(hdtf_sources, parsed, tmp_path):
    videos, _ = parsed
    beta = next(v for v in videos if v.name == "Beta")
    options = PrepareOptions(output_dir=tmp_path, raw_dir=hdtf_sources.served, url_template="http://127.0.0.1:9/x")
    pickle.loads(pickle.dumps((process_video, options, beta)))  # what a spawned worker receives
    result = process_video(beta, options)
    assert result.status == "done" and not result.downloaded
    assert (hdtf_sources.served / "RD_Beta.mp4").is_file(), "a user's raw video must never be deleted"


def test_sections_give_the_same_clips(hdtf_sources, parsed, run, tmp_path):
    videos, _ = parsed
    alpha = next(v for v in videos if v.name == "Alpha")
    with serve_directory(hdtf_sources.served) as base:
        options = PrepareOptions(output_dir=tmp_path, sections=True, url_template=TEMPLATE.replace("{base}", base))
        result = process_video(alpha, options)
    assert result.status == "done"
    for clip in result.clips:
        whole = run["clips"][clip["id"]]
        assert clip["num_frames"] == whole["num_frames"] and clip["applied_crop"] == whole["applied_crop"]
        got, want = frame_colours(tmp_path / clip["path"]), frame_colours(run["out"] / whole["path"])
        assert abs((first_index(got, "green") or 0) - (first_index(want, "green") or 0)) <= 1


def test_landmarks_crop_without_a_face_fails_with_no_face(hdtf_sources, parsed, tmp_path):
    videos, _ = parsed
    beta = next(v for v in videos if v.name == "Beta")
    options = PrepareOptions(output_dir=tmp_path, raw_dir=hdtf_sources.served, crop_method="landmarks")
    result = process_video(beta, options)
    assert result.status == "failed" and result.clips[0]["reason"] == "no face"


def test_unreadable_raw_video_fails_the_video_with_the_reason(parsed, tmp_path):
    videos, _ = parsed
    beta = next(v for v in videos if v.name == "Beta")
    raw_dir = tmp_path / "raw_in"
    raw_dir.mkdir()
    (raw_dir / "Beta.mp4").write_bytes(b"not a video")
    result = process_video(beta, PrepareOptions(output_dir=tmp_path / "out", raw_dir=raw_dir))
    assert result.status == "failed" and "Beta.mp4" in result.reason
    assert (raw_dir / "Beta.mp4").is_file(), "a user's raw video must never be deleted"


def test_clip_past_the_end_fails_once_and_is_not_retried(hdtf_sources, parsed, tmp_path):
    videos, _ = parsed
    beta = next(v for v in videos if v.name == "Beta")
    late = beta.clips[0].with_(id="RD_Beta_001", clip_index=1, start=20.0, end=25.0)
    video = replace(beta, clips=(beta.clips[0], late))
    options = PrepareOptions(output_dir=tmp_path, raw_dir=hdtf_sources.served)
    first = process_video(video, options)
    assert first.status == "partial" and first.clips[1]["status"] == "failed"
    assert "starts at 20.00s" in first.clips[1]["reason"]
    status_file = tmp_path / "status" / "RD_Beta.json"
    before = status_file.stat().st_mtime_ns
    again = process_video(video, options)
    assert again.status == "partial" and status_file.stat().st_mtime_ns == before, "settled clips were redone"


def test_one_cut_at_a_time_gives_the_same_clips(hdtf_sources, parsed, run, tmp_path):
    """Clips cut concurrently (the default, clip_workers=2) equal clips cut one after the other, byte for byte."""
    videos, _ = parsed
    alpha = next(v for v in videos if v.name == "Alpha")
    with serve_directory(hdtf_sources.served) as base:
        options = PrepareOptions(output_dir=tmp_path, url_template=TEMPLATE.replace("{base}", base), clip_workers=1)
        result = process_video(alpha, options)
    assert result.count("done") == 2
    for clip in result.clips:
        concurrent = run["clips"][clip["id"]]
        assert {k: v for k, v in clip.items() if k != "updated"} == {k: v for k, v in concurrent.items() if k != "updated"}
        assert (tmp_path / clip["path"]).read_bytes() == (run["out"] / concurrent["path"]).read_bytes()


def test_sections_fall_back_to_a_whole_download_when_the_server_ignores_ranges(hdtf_sources, parsed, run, tmp_path):
    """With the index at the end and no byte ranges, ffmpeg cannot seek: sections come out empty."""
    served = tmp_path / "served"
    served.mkdir()
    # A plain remux puts the index (moov) at the end, as a file written without +faststart has it.
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(hdtf_sources.served / "RD_Alpha.mp4"), "-c", "copy",
                    str(served / "RD_Alpha.mp4")], check=True)
    videos, _ = parsed
    alpha = next(v for v in videos if v.name == "Alpha")
    requests: list = []
    with serve_directory(served, requests, ranges=False) as base:
        options = PrepareOptions(output_dir=tmp_path / "out", sections=True,
                                 url_template=TEMPLATE.replace("{base}", base))
        result = process_video(alpha, options)
    assert result.status == "done", result.clips
    assert all(r.status == 200 for r in requests), "the server answered no range"
    for clip in result.clips:
        assert any("byte ranges" in note and "whole video" in note for note in clip["adjustments"])
        whole = run["clips"][clip["id"]]
        assert clip["num_frames"] == whole["num_frames"] and clip["applied_crop"] == whole["applied_crop"]
        got, want = frame_colours(tmp_path / "out" / clip["path"]), frame_colours(run["out"] / whole["path"])
        assert first_index(got, "green") == first_index(want, "green")
