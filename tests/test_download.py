"""download_video over the loopback server with the real yt-dlp: whole, skip-if-present, 404, network error,
sections, URL templates, find_raw."""

from __future__ import annotations

import pytest
from fixtures.sources import hdtf_sources  # noqa: F401

from hdtf import media
from hdtf.download import download_video, find_raw, video_url
from hdtf.errors import HDTFError
from hdtf.loopback import serve_directory
from hdtf.records import VideoSpec


def _video(name: str, resolution: int | None = 720) -> VideoSpec:
    return VideoSpec("hdtf", "RD", name, f"https://www.youtube.com/watch?v={'A' * 11}", "A" * 11, resolution, ())


TEMPLATE = "{base}/{subset}_{name}.mp4"


def test_whole_download_is_atomic_and_not_repeated(hdtf_sources, tmp_path):
    requests: list = []
    with serve_directory(hdtf_sources.served, requests) as base:
        template = TEMPLATE.replace("{base}", base)
        result = download_video(_video("Alpha"), tmp_path, url_template=template)
        assert result.status == "done" and result.path == tmp_path / "RD_Alpha.mp4"
        assert result.path.read_bytes() == (hdtf_sources.served / "RD_Alpha.mp4").read_bytes()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["RD_Alpha.mp4"], "temporary files left behind"
        requests.clear()
        again = download_video(_video("Alpha"), tmp_path, url_template=template)
    assert again.status == "done" and again.path == result.path and requests == []


def test_missing_video_is_unavailable_with_the_reason(hdtf_sources, tmp_path):
    with serve_directory(hdtf_sources.served) as base:
        result = download_video(_video("Gamma"), tmp_path, url_template=TEMPLATE.replace("{base}", base))
    assert result.status == "unavailable" and result.path is None
    assert "404" in result.reason and not result.reason.startswith("ERROR")
    assert list(tmp_path.iterdir()) == []


def test_network_error_is_failed_not_unavailable(tmp_path):
    with serve_directory(tmp_path) as base:
        dead = base  # the port is closed once the server stops
    result = download_video(_video("Alpha"), tmp_path / "raw", url_template=dead + "/{name}.mp4", retries=0)
    assert result.status == "failed" and result.reason


def test_sections_are_downloaded_as_separate_files(hdtf_sources, tmp_path):
    with serve_directory(hdtf_sources.served) as base:
        result = download_video(_video("Alpha"), tmp_path, url_template=TEMPLATE.replace("{base}", base),
                                sections=[(1.0, 4.0), (6.0, 9.0)])
    assert result.status == "done" and result.path is None and len(result.sections) == 2
    for section in result.sections:
        info = media.probe(section.path)
        assert abs(info.duration - (section.end - section.start)) < 0.6 and info.has_audio
    assert not (tmp_path / "RD_Alpha.mp4").exists()


def test_url_template_placeholders():
    video = _video("Alpha")
    assert video_url(video, "http://h/{subset}/{name}/{youtube_id}") == f"http://h/RD/Alpha/{'A' * 11}"
    assert video_url(video, None) == video.url
    with pytest.raises(HDTFError, match=r"unknown placeholder \{title\}"):
        video_url(video, "http://h/{title}.mp4")
    no_id = VideoSpec("hdtf", "RD", "X", None, None, None, ())
    with pytest.raises(HDTFError, match="youtube_id"):
        video_url(no_id, "http://h/{youtube_id}")


def test_find_raw_accepts_both_names(tmp_path):
    video = _video("Alpha")
    assert find_raw(tmp_path, video) is None
    (tmp_path / "Alpha.mp4").write_bytes(b"x")
    assert find_raw(tmp_path, video) == tmp_path / "Alpha.mp4"
    (tmp_path / "RD_Alpha.mp4").write_bytes(b"x")
    assert find_raw(tmp_path, video) == tmp_path / "RD_Alpha.mp4"


def _formats(*heights: int, av1: bool = False) -> list[dict]:
    video = [{"format_id": f"v{h}", "height": h, "width": h * 16 // 9, "ext": "mp4", "vcodec": "avc1.4d401f",
              "acodec": "none", "url": f"http://127.0.0.1:9/v{h}.mp4", "protocol": "https"} for h in heights]
    if av1:  # YouTube also serves AV1 in mp4, listed after H.264 and at a higher bitrate
        video += [{**f, "format_id": f"{f['format_id']}av1", "vcodec": "av01.0.08M.08", "tbr": 3000} for f in video]
    audio = {"format_id": "a", "ext": "m4a", "vcodec": "none", "acodec": "mp4a.40.2", "abr": 128,
             "url": "http://127.0.0.1:9/a.m4a", "protocol": "https"}
    return [*video, audio]


@pytest.mark.parametrize(("resolution", "heights", "chosen"), [
    (720, (360, 720, 1080), "v720+a"),  # the reference resolution when it exists
    (720, (360, 480, 1080), "v480+a"),  # else the largest below it (the window scales down, not up)
    (720, (1080, 1440), "v1080+a"),  # else the closest above it
    (None, (360, 720, 1080), "v1080+a"),  # unknown reference: best available
])
def test_format_choice_prefers_the_reference_resolution(tmp_path, resolution, heights, chosen):
    import yt_dlp

    from hdtf.download import ytdlp_options

    video = VideoSpec("hdtf", "RD", "X", None, None, resolution, ())
    info = {"id": "x", "title": "x", "extractor": "generic", "extractor_key": "Generic",
            "webpage_url": "http://127.0.0.1:9/x", "formats": _formats(*heights)}
    with yt_dlp.YoutubeDL(ytdlp_options(video, tmp_path)) as ydl:
        assert ydl.process_ie_result(info, download=False)["format_id"] == chosen


@pytest.mark.parametrize("resolution", [720, None])
def test_format_choice_prefers_h264_at_the_chosen_height(tmp_path, resolution):
    import yt_dlp

    from hdtf.download import ytdlp_options

    video = VideoSpec("hdtf", "RD", "X", None, None, resolution, ())
    info = {"id": "x", "title": "x", "extractor": "generic", "extractor_key": "Generic",
            "webpage_url": "http://127.0.0.1:9/x", "formats": _formats(360, 720, av1=True)}
    with yt_dlp.YoutubeDL(ytdlp_options(video, tmp_path)) as ydl:
        assert ydl.process_ie_result(info, download=False)["format_id"] == "v720+a"


def test_find_raw_takes_official_names_beginning_with_a_dash(tmp_path):
    from hdtf.download import find_raw

    video = VideoSpec("talkinghead_1kh", "val", "-Y9imYnfBw", None, "-Y9imYnfBw", None, ())
    assert find_raw(tmp_path, video) is None
    (tmp_path / "-Y9imYnfBw.mp4").write_bytes(b"x")
    assert find_raw(tmp_path, video) == tmp_path / "-Y9imYnfBw.mp4"
    sneaky = VideoSpec("hdtf", "RD", "../escape", None, None, None, ())
    (tmp_path.parent / "escape.mp4").write_bytes(b"x")
    assert find_raw(tmp_path, sneaky) is None
