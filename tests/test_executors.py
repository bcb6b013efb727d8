"""Executors: serial and process backends give the same statuses and byte-identical clips; a crashed job becomes
the video's failed result, built like any clip record; the manifest says where each video ran."""

from __future__ import annotations

import os

import pytest
from fixtures.sources import hdtf_sources  # noqa: F401

from hdtf.errors import HDTFError
from hdtf.executors import EXECUTORS, get_executor
from hdtf.layout import clip_record
from hdtf.manifest import load_manifest
from hdtf.options import PrepareOptions
from hdtf.run import prepare, run_jobs
from hdtf.sources.hdtf import parse_metadata

BACKENDS = {"serial": 1, "process": 2}  # executor -> workers


@pytest.fixture(scope="module")
def videos(hdtf_sources):  # noqa: F811
    """Alpha (2 clips) and Beta (1) found in the served folder as raw videos, Delta (no window: skipped)."""
    videos, _ = parse_metadata(hdtf_sources.metadata, ["RD"])
    return [v for v in videos if v.name in ("Alpha", "Beta", "Delta")]


@pytest.fixture(scope="module")
def runs(hdtf_sources, videos, tmp_path_factory):  # noqa: F811
    out = {}
    for name, workers in BACKENDS.items():
        options = PrepareOptions(output_dir=tmp_path_factory.mktemp(name), raw_dir=hdtf_sources.served, size=128)
        out[name] = (options, prepare(videos, options, workers=workers, executor=name, progress=False))
    return out


def _without_time(status: dict) -> dict:
    return {k: v for k, v in status.items() if k != "updated"}


def test_serial_and_process_give_the_same_statuses_and_clips(runs):
    (serial, first), (process, second) = runs["serial"], runs["process"]
    assert first.videos == second.videos == {"done": 2, "skipped": 1}
    assert first.clips == second.clips == {"done": 3, "skipped": 1}
    one, two = serial.layout.statuses(), process.layout.statuses()
    assert [s["video"]["key"] for s in one] == ["RD_Alpha", "RD_Beta", "RD_Delta"]
    assert [_without_time(s) for s in one] == [_without_time(s) for s in two]
    done = [c for s in one for c in s["clips"] if c["status"] == "done"]
    assert len(done) == 3
    for clip in done:
        for name in ("path", "audio_path"):
            assert serial.layout.file(clip[name]).read_bytes() == process.layout.file(clip[name]).read_bytes()


def test_the_manifest_says_where_each_video_ran(runs):
    for name, (options, _) in runs.items():
        workers = {v["key"]: v["worker"] for v in load_manifest(options.output_dir)["videos"]}
        assert set(workers) == {"RD_Alpha", "RD_Beta", "RD_Delta"}
        assert {w["executor"] for w in workers.values()} == {name}
        here = {w["pid"] == os.getpid() for w in workers.values()}
        assert here == ({True} if name == "serial" else {False}), workers


@pytest.mark.parametrize("name", list(BACKENDS))
def test_a_crashed_job_is_the_videos_failed_result(name, videos, hdtf_sources, tmp_path):  # noqa: F811
    blocked = tmp_path / "a_file"  # no status can be written under it: every job raises
    blocked.write_text("not a folder")
    options = PrepareOptions(output_dir=blocked, raw_dir=hdtf_sources.served, size=128)
    results = {r.key: r for r in run_jobs(videos, options, name, BACKENDS[name])}
    assert sorted(results) == ["RD_Alpha", "RD_Beta", "RD_Delta"]
    for video in videos:
        result = results[video.key]
        assert result.status == "failed" and result.reason.startswith("worker error: NotADirectoryError")
        expected = [clip_record(c, "failed", result.reason, options.clip_settings(), retry=True) for c in video.clips]
        assert result.clips == expected
        assert result.worker["executor"] == name


def test_executors_are_chosen_by_name():
    assert set(EXECUTORS) >= {"serial", "process"}
    assert get_executor("process", 3).workers == 3
    with pytest.raises(HDTFError, match="unknown executor 'nope'; known: serial, process"):
        get_executor("nope")
    with pytest.raises(HDTFError, match="workers must be at least 1"):
        get_executor("serial", 0)


def test_ray_has_a_video_timeout_unless_told_none_and_0_means_no_limit():
    """Ray has no per-task timeout: a hung job would hold a cluster CPU for good, so a ray run gets a limit by
    default; the other executors keep none; 0 asks for none anywhere (a 0-second limit would stop every video)."""
    pytest.importorskip("ray")
    from hdtf.executors.ray import DEFAULT_VIDEO_TIMEOUT

    assert get_executor("ray", 1).video_timeout == DEFAULT_VIDEO_TIMEOUT == 4 * 3600
    assert get_executor("ray", 1, video_timeout=0).video_timeout is None
    assert get_executor("ray", 1, video_timeout=60).video_timeout == 60
    assert get_executor("serial", 1).video_timeout is None
    assert get_executor("process", 2, video_timeout=0).video_timeout is None
    assert get_executor("ray", 1).facts()["video_timeout"] == 4 * 3600  # what the manifest records
