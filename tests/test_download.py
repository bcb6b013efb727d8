"""download_video over the loopback server with the real yt-dlp: whole, skip-if-present, 404, network error,
sections, URL templates, find_raw; today's YouTube: its failures classified (yt-dlp's own extractor, exceptions and
messages), rate limits waited out, cookies from a browser profile, the JavaScript runtime."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest
from fixtures.scripted_server import ScriptedServer
from fixtures.sources import hdtf_sources  # noqa: F401

from hdtf import media
from hdtf.download import FetchOptions, download_video, find_raw, video_url
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
        result = download_video(_video("Alpha"), tmp_path, FetchOptions(url_template=template))
        assert result.status == "done" and result.path == tmp_path / "RD_Alpha.mp4"
        assert result.path.read_bytes() == (hdtf_sources.served / "RD_Alpha.mp4").read_bytes()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["RD_Alpha.mp4"], "temporary files left behind"
        requests.clear()
        again = download_video(_video("Alpha"), tmp_path, FetchOptions(url_template=template))
    assert again.status == "done" and again.path == result.path and requests == []


def test_missing_video_is_unavailable_with_the_reason(hdtf_sources, tmp_path):
    with serve_directory(hdtf_sources.served) as base:
        result = download_video(_video("Gamma"), tmp_path, FetchOptions(url_template=TEMPLATE.replace("{base}", base)))
    assert result.status == "unavailable" and result.path is None
    assert "404" in result.reason and not result.reason.startswith("ERROR")
    assert list(tmp_path.iterdir()) == []


def test_network_error_is_failed_not_unavailable(tmp_path):
    with serve_directory(tmp_path) as base:
        dead = base  # the port is closed once the server stops
    result = download_video(_video("Alpha"), tmp_path / "raw", FetchOptions(url_template=dead + "/{name}.mp4"),
                            retries=0)
    assert result.status == "failed" and result.reason


@pytest.mark.parametrize("ranges", [True, False])
def test_a_download_larger_than_max_filesize_stops_and_leaves_nothing(hdtf_sources, tmp_path, ranges):
    """The cap holds whether the size is announced up front or only counted as it arrives; nothing is kept."""
    size = (hdtf_sources.served / "RD_Alpha.mp4").stat().st_size
    requests: list = []
    with serve_directory(hdtf_sources.served, requests, ranges=ranges) as base:
        template = TEMPLATE.replace("{base}", base)
        result = download_video(_video("Alpha"), tmp_path,
                                FetchOptions(url_template=template, max_filesize=str(size // 4)))
        assert result.status == "failed" and result.kind == "too-large" and result.path is None
        assert "\n" not in result.reason and f"larger than --max-filesize {size // 4:,} bytes" in result.reason
        assert list(tmp_path.iterdir()) == [], "a refused download leaves no file"
        fits = download_video(_video("Alpha"), tmp_path, FetchOptions(url_template=template, max_filesize=str(size)))
    assert fits.status == "done" and fits.path.read_bytes() == (hdtf_sources.served / "RD_Alpha.mp4").read_bytes()
    with pytest.raises(HDTFError, match="not a size such as 500M"):
        download_video(_video("Beta"), tmp_path, FetchOptions(url_template=template, max_filesize="lots"))


def test_sections_are_downloaded_as_separate_files(hdtf_sources, tmp_path):
    with serve_directory(hdtf_sources.served) as base:
        result = download_video(_video("Alpha"), tmp_path, FetchOptions(url_template=TEMPLATE.replace("{base}", base)),
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


# ------------------------------------------------------------------ today's YouTube: failures a user can act on


def test_rate_limit_is_waited_out_within_the_call(hdtf_sources, tmp_path):
    server = ScriptedServer(hdtf_sources.served, [429, 429])
    with server.serving() as base:
        result = download_video(_video("Alpha"), tmp_path, FetchOptions(url_template=base + "/{subset}_{name}.mp4"),
                                rate_limit_waits=(0.05, 0.05))
    assert result.status == "done" and result.kind is None
    assert result.path.read_bytes() == (hdtf_sources.served / "RD_Alpha.mp4").read_bytes()
    assert [p for p, _ in server.seen][:3] == ["/RD_Alpha.mp4"] * 3  # two refused tries, then the one that worked


def test_lasting_rate_limit_is_failed_to_retry_never_unavailable(hdtf_sources, tmp_path):
    server = ScriptedServer(hdtf_sources.served, [429] * 20)
    with server.serving() as base:
        result = download_video(_video("Alpha"), tmp_path, FetchOptions(url_template=base + "/{subset}_{name}.mp4"),
                                rate_limit_waits=(0.05, 0.05))
    assert (result.status, result.kind) == ("failed", "rate-limited")
    assert len(server.seen) == 3, "tries are bounded: the first and one after each wait"
    assert result.reason.startswith("rate limited (") and "429" in result.reason and "3 tries" in result.reason
    assert "--cookies-from-browser" in result.reason and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("status", "expected"), [
    (410, ("unavailable", "removed")),  # gone for good
    (404, ("unavailable", "removed")),
    (403, ("failed", "http")),  # forbidden today (throttling, an expired link): worth another run
])
def test_http_status_decides_unavailable_or_failed(hdtf_sources, tmp_path, status, expected):
    server = ScriptedServer(hdtf_sources.served, [status] * 5)
    with server.serving() as base:
        result = download_video(_video("Alpha"), tmp_path, FetchOptions(url_template=base + "/{subset}_{name}.mp4"),
                                retries=0, rate_limit_waits=(0.05,))
    assert (result.status, result.kind) == expected and str(status) in result.reason
    assert len(server.seen) == 1


def test_cookies_from_a_browser_profile_are_sent(hdtf_sources, tmp_path):
    """yt-dlp reads a real Firefox profile's cookies.sqlite (its own reader) and sends the cookie."""
    profile = tmp_path / "profile"
    profile.mkdir()
    with sqlite3.connect(profile / "cookies.sqlite") as db:
        db.execute("CREATE TABLE moz_cookies (id INTEGER PRIMARY KEY, originAttributes TEXT NOT NULL DEFAULT '', "
                   "name TEXT, value TEXT, host TEXT, path TEXT, expiry INTEGER, isSecure INTEGER)")
        db.execute("INSERT INTO moz_cookies (name, value, host, path, expiry, isSecure) VALUES "
                   "('SID', 'signed-in', '127.0.0.1', '/', 4102444800, 0)")
    server = ScriptedServer(hdtf_sources.served, [])
    with server.serving() as base:
        result = download_video(_video("Alpha"), tmp_path / "raw", FetchOptions(
            url_template=base + "/{subset}_{name}.mp4", cookies_from_browser=f"firefox:{profile}"))
    assert result.status == "done"
    assert server.seen and all(cookie == "SID=signed-in" for _, cookie in server.seen)


def test_browser_cookie_spec_is_yt_dlps():
    from hdtf.download import parse_browser_cookies

    assert parse_browser_cookies("firefox") == ("firefox", None, None, None)
    assert parse_browser_cookies("Chrome:Profile 1") == ("chrome", "Profile 1", None, None)
    assert parse_browser_cookies("chromium+gnomekeyring:Default") == ("chromium", "Default", "GNOMEKEYRING", None)
    assert parse_browser_cookies("firefox:/p/x::Work") == ("firefox", "/p/x", None, "Work")
    with pytest.raises(HDTFError, match="netscape is not one of"):
        parse_browser_cookies("netscape")


class _Lines:
    """A yt-dlp logger that keeps what it is told."""

    def __init__(self):
        self.warnings, self.errors = [], []

    def debug(self, msg):
        pass

    info = debug

    def warning(self, msg):
        self.warnings.append(msg)

    def error(self, msg):
        self.errors.append(msg)


def _youtube_failure(tmp_path, behave, **classify_kwargs):
    """Run yt-dlp's own YouTube extractor class, with only its page requests replaced by ``behave(ie, video_id)``
    (which raises with yt-dlp's helpers and YouTube's words, or returns an info dict); yt-dlp wraps and logs the
    failure as it does for real, and :func:`classify` judges it from there."""
    import yt_dlp
    from yt_dlp.extractor.youtube import YoutubeIE

    from hdtf.download import classify, ytdlp_options

    class ScriptedYoutubeIE(YoutubeIE):
        def _real_initialize(self):
            pass

        def _real_extract(self, url):
            return behave(self, self._match_id(url))

    lines = _Lines()
    opts = ytdlp_options(_video("Alpha"), tmp_path, FetchOptions(js_runtime=classify_kwargs.get("js_runtime")),
                         log=lines)
    with yt_dlp.YoutubeDL(opts) as ydl:
        ydl.add_info_extractor(ScriptedYoutubeIE(ydl))
        with pytest.raises(yt_dlp.utils.DownloadError) as caught:
            ydl.extract_info(f"https://www.youtube.com/watch?v={'A' * 11}", ie_key="ScriptedYoutube")
    return classify(caught.value, warnings=lines.warnings, last_error=lines.errors[-1], **classify_kwargs)


def _unplayable(reason):
    """What yt-dlp raises for a video YouTube will not play: YouTube's reason, plus yt-dlp's cookie hint where
    YouTube asks to sign in (yt_dlp/extractor/youtube/_video.py)."""
    def behave(ie, video_id):
        text = f"{reason.rstrip('.')}. {ie._youtube_login_hint}" if "sign in" in reason.lower() else reason
        ie.raise_no_formats(text, expected=True)
    return behave


def _geo_blocked(ie, video_id):
    ie.raise_geo_restricted("The uploader has not made this video available in your country", countries=["JP"])


# YouTube's reasons as yt-dlp reports them today
CASES = {
    "bot check": (_unplayable("Sign in to confirm you’re not a bot"), "failed", "bot-check"),
    "age": (_unplayable("Sign in to confirm your age. This video may be inappropriate for some users."),
            "failed", "sign-in"),
    "private": (_unplayable("Private video. Sign in if you've been granted access to this video"),
                "unavailable", "private"),
    "removed": (_unplayable("Video unavailable. This video has been removed by the uploader"),
                "unavailable", "removed"),
    "terminated": (_unplayable("Video unavailable. This video is no longer available because the YouTube account "
                               "associated with this video has been terminated."), "unavailable", "removed"),
    "region": (_geo_blocked, "unavailable", "region-blocked"),
    "session rate limit": (_unplayable(
        "This content isn't available, try again later. The current session has been rate-limited by YouTube for up "
        "to an hour. It is recommended to use `-t sleep` to add a delay between video requests to avoid exceeding "
        "the rate limit. For more information, refer to  https://github.com/yt-dlp/yt-dlp/wiki/Extractors"
        "#this-content-isnt-available-try-again-later"), "failed", "rate-limited"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_youtube_failures_are_classified_with_a_fix(tmp_path, case):
    behave, status, kind = CASES[case]
    failure = _youtube_failure(tmp_path, behave)
    assert (failure.status, failure.kind) == (status, kind)
    assert "https://" not in failure.reason and "Use --" not in failure.reason  # yt-dlp's own advice is cut
    assert "\n" not in failure.reason and not failure.reason.startswith(("ERROR", "["))
    if kind in ("bot-check", "sign-in"):
        assert "--cookies-from-browser BROWSER[:PROFILE] or --cookies FILE" in failure.reason
    if kind == "bot-check":
        assert "not a bot" in failure.reason
        given = _youtube_failure(tmp_path, behave, cookies=True)
        assert given.kind == "bot-check" and "fresh" in given.reason


def test_youtube_http_429_is_rate_limited(tmp_path):
    """A 429 from yt-dlp's real networking layer, under YouTube's extractor."""
    server = ScriptedServer(tmp_path, [429] * 5)
    with server.serving() as base:
        failure = _youtube_failure(tmp_path, lambda ie, vid: ie._download_webpage(f"{base}/watch", vid), tries=3)
    assert (failure.status, failure.kind) == ("failed", "rate-limited")
    assert "HTTP Error 429: Too Many Requests" in failure.reason and "3 tries" in failure.reason


NO_RUNTIME = ("No supported JavaScript runtime could be found. Only deno is enabled by default; to use another runtime "
              "add  --js-runtimes RUNTIME[:PATH]  to your command/config. YouTube extraction without a JS runtime has "
              "been deprecated, and some formats may be missing. See  https://github.com/yt-dlp/yt-dlp/wiki/EJS  for "
              "details on installing one")
N_FAILED = ("n challenge solving failed: Some formats may be missing. Ensure you have a supported JavaScript runtime "
            "and challenge solver script distribution installed. Review any warnings presented before this message. "
            "For more details, refer to  https://github.com/yt-dlp/yt-dlp/wiki/EJS")


def _only_images(warning):
    """YouTube without solved challenges: yt-dlp warns, then only storyboard images are left to choose from."""
    def behave(ie, video_id):
        ie.report_warning(warning)
        return {"id": video_id, "title": "x", "formats": [{
            "format_id": "sb0", "url": "https://i.ytimg.com/sb/x/M0.jpg", "ext": "mhtml", "protocol": "mhtml",
            "vcodec": "none", "acodec": "none", "format_note": "storyboard"}]}
    return behave


def test_missing_js_runtime_is_named_with_its_fix(tmp_path):
    failure = _youtube_failure(tmp_path, _only_images(NO_RUNTIME), js_runtime=f"deno:{tmp_path / 'no-deno'}")
    assert (failure.status, failure.kind) == ("failed", "js-runtime")
    assert "(deno not found, from --js-runtime; Requested format is not available)" in failure.reason
    assert "pip install -U 'yt-dlp[default]' deno" in failure.reason and "--js-runtime NAME[:PATH]" in failure.reason


def test_unsolved_challenge_with_a_working_runtime_says_update(tmp_path):
    failure = _youtube_failure(tmp_path, _only_images(N_FAILED))
    assert (failure.status, failure.kind) == ("failed", "js-challenge")
    assert failure.reason.startswith("YouTube's player challenge was not solved with deno ")


def test_too_old_node_is_reported_as_unsupported(tmp_path):
    from hdtf.download import detect_js_runtime

    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on PATH")
    runtime = detect_js_runtime(f"node:{node}")
    if runtime.supported:
        pytest.skip(f"node {runtime.version} is new enough for yt-dlp")
    failure = _youtube_failure(tmp_path, _only_images(NO_RUNTIME), js_runtime=f"node:{node}")
    assert failure.kind == "js-runtime" and f"node {runtime.version}, too old (yt-dlp needs >= 22" in failure.reason


# ------------------------------------------------------------------------------------ the JavaScript runtime


def test_the_deno_package_is_given_to_yt_dlp_by_path(tmp_path, monkeypatch):
    import deno

    from hdtf.download import detect_js_runtime, ytdlp_options

    monkeypatch.delenv("HDTF_JS_RUNTIME", raising=False)
    assert ytdlp_options(_video("Alpha"), tmp_path)["js_runtimes"] == {"deno": {"path": deno.find_deno_bin()}}
    runtime = detect_js_runtime()
    assert runtime.usable and runtime.name == "deno" and runtime.origin == "deno package"
    monkeypatch.setenv("HDTF_JS_RUNTIME", f"node:{tmp_path}/node")
    assert ytdlp_options(_video("Alpha"), tmp_path)["js_runtimes"] == {"node": {"path": f"{tmp_path}/node"}}
    chosen = ytdlp_options(_video("Alpha"), tmp_path, FetchOptions(js_runtime="deno"))
    assert chosen["js_runtimes"] == {"deno": {"path": None}}


def test_yt_dlp_reports_the_runtime_without_the_venv_on_path(tmp_path):
    """What yt-dlp itself reports in its verbose header, run as a cron job would be (a bare PATH, no venv)."""
    code = ("import yt_dlp\nfrom hdtf.download import ytdlp_js_runtimes\n"
            "yt_dlp.YoutubeDL({'verbose': True, 'js_runtimes': ytdlp_js_runtimes()})\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, check=True)
    assert re.search(r"^\[debug\] JS runtimes: deno-\d+\.\d+\.\d+$", done.stderr, re.MULTILINE), done.stderr


def test_a_chosen_runtime_that_cannot_run_stops_the_run_before_any_work(tmp_path, monkeypatch):
    from hdtf.download import js_runtime_spec
    from hdtf.options import PrepareOptions
    from hdtf.run import RunOptions, validate

    monkeypatch.delenv("HDTF_JS_RUNTIME", raising=False)
    validate(PrepareOptions(output_dir=tmp_path), RunOptions())  # the default needs no check
    with pytest.raises(HDTFError, match="from --js-runtime: deno not found"):
        validate(PrepareOptions(output_dir=tmp_path, js_runtime=f"deno:{tmp_path}/none"), RunOptions())
    monkeypatch.setenv("HDTF_JS_RUNTIME", f"deno:{tmp_path}/none")
    with pytest.raises(HDTFError, match=r"from \$HDTF_JS_RUNTIME: deno not found"):
        validate(PrepareOptions(output_dir=tmp_path), RunOptions())
    with pytest.raises(argparse.ArgumentTypeError, match="rhino is not one of deno, node, bun, quickjs"):
        js_runtime_spec("rhino:/usr/bin/rhino")


# ------------------------------------------------------------------------------------------- the user's cookies


def _fingerprint(path) -> tuple:
    import hashlib

    found = os.stat(path)
    return hashlib.sha256(path.read_bytes()).hexdigest(), found.st_ino, found.st_mtime_ns, found.st_size


def test_a_cookies_file_is_only_read_and_yt_dlp_gets_a_private_copy(hdtf_sources, tmp_path, monkeypatch):
    """yt-dlp writes its cookie jar back to the file it was given whenever it closes: it gets a 0600 copy in a 0700
    folder of its own, deleted after the download, and the user's file (read-only, in a read-only folder) keeps its
    bytes, inode and modification time."""
    import tempfile

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    folder = tmp_path / "read-only"
    folder.mkdir()
    cookies = folder / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n# exported from the user's browser, with this comment\n\n"
                       "127.0.0.1\tFALSE\t/\tFALSE\t4102444800\tSID\tsigned-in\n")
    cookies.chmod(0o444)
    folder.chmod(0o555)
    before = _fingerprint(cookies)
    copies: list = []

    def look() -> None:  # while yt-dlp downloads: its copy, and who may read it
        for copy in temp.glob("hdtf-cookies-*/cookies.txt"):
            copies.append((os.stat(copy.parent).st_mode & 0o777, os.stat(copy).st_mode & 0o777, copy.read_bytes()))

    server = ScriptedServer(hdtf_sources.served, [], on_request=look)
    try:
        with server.serving() as base:
            result = download_video(_video("Alpha"), tmp_path / "raw", FetchOptions(
                url_template=base + "/{subset}_{name}.mp4", cookies=cookies))
    finally:
        folder.chmod(0o755)
    assert result.status == "done", result.reason
    assert result.path.read_bytes() == (hdtf_sources.served / "RD_Alpha.mp4").read_bytes()
    assert server.seen and all(cookie == "SID=signed-in" for _, cookie in server.seen), "the copy was used"
    assert copies and {c[:2] for c in copies} == {(0o700, 0o600)}
    assert _fingerprint(cookies) == before, "the user's cookies file was written"
    assert list(temp.iterdir()) == [], "the copy is deleted after the download"


@pytest.mark.parametrize("cookies", ["file", "browser"])
def test_sections_with_cookies_are_refused_before_any_download(hdtf_sources, tmp_path, capsys, cookies):
    """For time ranges yt-dlp gives ffmpeg the cookies as command-line arguments, which every user of the machine
    can read: the combination is refused in one line, by the command before any work and by download_video."""
    from hdtf.cli import main

    (tmp_path / "cookies.txt").write_text("# Netscape HTTP Cookie File\n")
    given = (["--cookies", str(tmp_path / "cookies.txt")] if cookies == "file"
             else ["--cookies-from-browser", f"firefox:{tmp_path}"])
    server = ScriptedServer(hdtf_sources.served, [])
    with server.serving() as base:
        capsys.readouterr()
        args = ["prepare", "--metadata-dir", str(hdtf_sources.metadata), "--subsets", "RD", "--url-template",
                base + "/{subset}_{name}.mp4", "--output", str(tmp_path / "out"), "--no-progress", "--sections", *given]
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "--sections cannot be used with --cookies or --cookies-from-browser" in err
        with pytest.raises(HDTFError, match="--sections cannot be used with"):
            jar = ({"cookies": tmp_path / "cookies.txt"} if cookies == "file"
                   else {"cookies_from_browser": f"firefox:{tmp_path}"})
            download_video(_video("Alpha"), tmp_path / "raw",
                           FetchOptions(url_template=base + "/{subset}_{name}.mp4", **jar), sections=[(1.0, 4.0)])
    assert server.seen == [] and not (tmp_path / "out").exists() and not (tmp_path / "raw").exists()
