"""A clip's status is keyed by what it is made from (annotation, raw file, cut options), and what is still valid is
kept: an edited annotation re-cuts that clip only, landmarks are added to finished clips without a download, a
kept raw video stays kept and is used again."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from fixtures.sources import ALPHA, BETA, first_index, frame_colours, hdtf_sources  # noqa: F401

from hdtf import media
from hdtf.job import process_video
from hdtf.loopback import serve_directory
from hdtf.options import PrepareOptions
from hdtf.sources.hdtf import parse_metadata


@pytest.fixture(scope="module")
def server(hdtf_sources):
    requests: list = []
    with serve_directory(hdtf_sources.served, requests) as base:
        yield base + "/{subset}_{name}.mp4", requests


def _video(metadata, name):
    videos, _ = parse_metadata(metadata, ["RD"])
    return next(v for v in videos if v.name == name)


def _stamp(path):
    return path.stat().st_mtime_ns, path.read_bytes()


def _edit_times(metadata, name: str, times: str) -> None:
    file = metadata / "RD_annotion_time.txt"
    lines = [f"{name}.mp4 {times}" if line.startswith(f"{name}.mp4 ") else line
             for line in file.read_text().splitlines()]
    file.write_text("\n".join(lines) + "\n")


def test_an_edited_annotation_recuts_that_clip_only(hdtf_sources, server, tmp_path):
    template, requests = server
    metadata = shutil.copytree(hdtf_sources.metadata, tmp_path / "metadata")
    options = PrepareOptions(output_dir=tmp_path / "out", url_template=template)
    first = process_video(_video(metadata, "Alpha"), options)
    assert first.count("done") == 2
    files = options.layout.clip_files("RD_Alpha_000").video, options.layout.clip_files("RD_Alpha_001").video
    before = [_stamp(f) for f in files]
    requests.clear()
    assert process_video(_video(metadata, "Alpha"), options).downloaded is False and requests == []

    _edit_times(metadata, "Alpha", "00:01-00:04 00:05-00:09")  # clip 1 now starts a second earlier
    again = process_video(_video(metadata, "Alpha"), options)
    assert again.downloaded, "the edited clip needs its source again"
    assert _stamp(files[0]) == before[0], "the unchanged clip was not touched"
    assert _stamp(files[1]) != before[1]
    edited = again.clips[1]
    assert (edited["start"], edited["num_frames"]) == (5.0, 100)
    colours = frame_colours(files[1])
    assert first_index(colours, "green") == pytest.approx((ALPHA.switch - 5.0) * 25, abs=1)


def test_metadata_config_is_read_again_when_the_files_change(hdtf_sources, tmp_path):
    datasets = pytest.importorskip("datasets")
    import hdtf  # noqa: F401 - registers the builders

    metadata = shutil.copytree(hdtf_sources.metadata, tmp_path / "metadata")

    def ends() -> dict[str, float]:
        ds = datasets.load_dataset("hdtf", "metadata", metadata_dir=str(metadata), subsets=["RD"],
                                   cache_dir=str(tmp_path / "c"), split="train")
        return dict(zip(ds["id"], ds["end"], strict=True))

    assert ends()["RD_Alpha_001"] == 9.0
    _edit_times(metadata, "Alpha", "00:01-00:04 00:06-00:10")
    assert ends()["RD_Alpha_001"] == 10.0


def test_landmarks_are_added_to_finished_clips_without_a_download(hdtf_sources, server, tmp_path):
    template, requests = server
    beta = _video(hdtf_sources.metadata, "Beta")
    plain = PrepareOptions(output_dir=tmp_path, url_template=template)
    done = process_video(beta, plain).clips[0]
    mp4 = tmp_path / done["path"]
    before = _stamp(mp4)
    requests.clear()
    result = process_video(beta, PrepareOptions(output_dir=tmp_path, url_template=template, landmarks=True))
    assert requests == [] and not result.downloaded, "landmarks need the clip, not its source"
    record = result.clips[0]
    assert _stamp(mp4) == before, "the clip was not cut again"
    assert record["settings"]["landmarks"] is True
    with np.load(tmp_path / record["landmarks_path"]) as npz:
        assert npz["points"].shape == (done["num_frames"], 68, 2) and npz["found"].shape == (done["num_frames"],)
    assert any(n.startswith("landmarks: ") for n in record["adjustments"])
    # The file lost later is made again, still without a download; without landmarks the clip simply stays.
    (tmp_path / record["landmarks_path"]).unlink()
    assert process_video(beta, PrepareOptions(output_dir=tmp_path, url_template=template)).clips[0][
        "landmarks_path"] is None
    assert requests == [] and _stamp(mp4) == before


def test_a_run_without_landmarks_keeps_the_tracks_finished_clips_have(hdtf_sources, server, tmp_path):
    """--landmarks only adds files: a later run that does not ask for them (a resume, a ``load_dataset`` of the
    folder) leaves each track named in its record, whole, and still counted as made for the next --landmarks run."""
    from hdtf.manifest import done_clips

    template, requests = server
    beta = _video(hdtf_sources.metadata, "Beta")
    tracked = process_video(beta, PrepareOptions(output_dir=tmp_path, url_template=template, landmarks=True))
    record = tracked.clips[0]
    track = tmp_path / record["landmarks_path"]
    before = _stamp(track)
    requests.clear()
    for landmarks in (None, False):  # not said, and said off: neither takes away what was made
        again = process_video(beta, PrepareOptions(output_dir=tmp_path, url_template=template,
                                                   landmarks=landmarks)).clips[0]
        assert again["landmarks_path"] == record["landmarks_path"]
        assert again["stages"]["landmarks"] == record["stages"]["landmarks"]
        assert any(n.startswith("landmarks: ") for n in again["adjustments"])
        assert done_clips(tmp_path)[0]["landmarks_path"] == record["landmarks_path"]
    assert _stamp(track) == before
    # Still counted as made: asking again tracks nothing (the file is not rewritten) and downloads nothing.
    process_video(beta, PrepareOptions(output_dir=tmp_path, url_template=template, landmarks=True))
    assert _stamp(track) == before and requests == []


def test_a_kept_raw_video_stays_kept_and_is_used_again(hdtf_sources, server, tmp_path):
    template, requests = server
    beta = _video(hdtf_sources.metadata, "Beta")
    process_video(beta, PrepareOptions(output_dir=tmp_path, url_template=template, keep_raw=True))
    raw = tmp_path / "raw" / "RD_Beta.mp4"
    assert raw.read_bytes() == (hdtf_sources.served / "RD_Beta.mp4").read_bytes()
    requests.clear()
    smaller = process_video(beta, PrepareOptions(output_dir=tmp_path, url_template=template, size=256))
    assert requests == [] and not smaller.downloaded, "the kept raw video was used"
    assert raw.is_file(), "a kept raw video stays kept without --keep-raw"
    assert (smaller.clips[0]["width"], smaller.clips[0]["height"]) == (256, 256)
    mp4 = tmp_path / smaller.clips[0]["path"]
    before = _stamp(mp4)

    # Another raw file (here the same picture muxed again) is another source: its clips are cut again from it.
    media_copy = tmp_path / "copy.mp4"
    media.cut_clip(raw, media_copy, start=0.0, end=BETA.duration, crop=None, size=None, fps=None, sample_rate=None)
    media_copy.replace(raw)
    again = process_video(beta, PrepareOptions(output_dir=tmp_path, url_template=template, size=256))
    assert requests == [] and _stamp(mp4) != before
    assert again.clips[0]["source_file"]["size"] == raw.stat().st_size
