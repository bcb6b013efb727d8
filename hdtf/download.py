"""Fetch raw source videos with the yt-dlp Python API: one file per video (or per time section), atomically.

Why this shape:
- A download goes into a hidden per-video working folder (``.{key}.partial/``) and is renamed to ``{key}.mp4`` only
  once yt-dlp has finished (and merged); a killed run leaves only the working folder, never a file that looks
  complete, and yt-dlp resumes its ``.part`` file from there on the next run.
- A video that is already on disk is never requested again, so re-running a command downloads nothing it has.
- "Unavailable" (removed, private, region-blocked, 404/410) is a property of the video and is recorded with yt-dlp's
  own words; anything else is "failed" and worth a retry later. :func:`classify` names the cause a user can act on
  (no JavaScript runtime, YouTube's bot check, sign-in, rate limiting) with its fix, and HTTP 429 is retried within
  the call after a pause (``RATE_LIMIT_WAITS``) before it is recorded as failed, never as unavailable.
- YouTube needs a JavaScript runtime to solve its player challenges (yt-dlp >= 2025.11). The ``deno`` package ships
  one and yt-dlp is given its binary by path, so downloads work where the venv's ``bin/`` is not on PATH (cron,
  cluster workers); ``--js-runtime NAME[:PATH]`` or ``$HDTF_JS_RUNTIME`` choose another.

Whole video vs time sections (``sections``: yt-dlp ``download_ranges`` + ffmpeg stream copy), measured with
``benchmarks/bench_sections.py`` through the whole per-video job (60 s 1280x720 source, 16 MB; two 5 s clips):

    loopback unpaced:        sections/whole  download 1.04x  download+cut 1.03x  bytes ~1x (buffering hides it)
    loopback at 8 MB/s:      whole 2.99 s / 16.0 MB, sections 1.32 s / 3.3 MB
                             sections/whole  download+cut 0.44x  bytes 0.20x

Sections save bytes in proportion to the part of the video the clips cover. HDTF's annotated intervals cover most
of each video (e.g. 00:05-04:40), so whole-video download is the default: about the same bytes, one sequential
request that yt-dlp resumes after a kill, and a raw file that other crop methods can reuse. ``--sections`` is the
choice for long videos with short clips; a section is fetched again as a whole if its run is killed. A server that
ignores byte ranges gives sections without any stream in them (ffmpeg cannot seek into the file): every section is
probed, and when one is unreadable the whole video is downloaded instead, with a note saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError
from hdtf.records import MAX_KEY, VideoSpec, safe_name
from hdtf.redact import hide_credentials

_PLACEHOLDERS = ("name", "subset", "youtube_id")
_UNAVAILABLE = re.compile(
    r"unavailable|private video|removed|deleted|terminated|does not exist|no longer available|not available"
    r"|copyright|blocked it|has been taken down",
    re.IGNORECASE,
)
# What yt-dlp and YouTube say, by cause (checked in this order by classify; the rest is in _UNAVAILABLE).
_RATE_LIMITED = re.compile(r"HTTP Error 429|Too Many Requests|rate.limit|try again later", re.IGNORECASE)
_NO_FORMATS = re.compile(r"Requested format is not available|only images are available|No video formats found",
                         re.IGNORECASE)
_JS_TROUBLE = re.compile(r"JavaScript runtime|challenge solving failed|Signature solving failed|challenge solver",
                         re.IGNORECASE)
_REGION = re.compile(r"available in your country|not available (?:from|in) your (?:location|country|region)"
                     r"|geo.?restrict|blocked it in your country", re.IGNORECASE)
_PRIVATE = re.compile(r"\bprivate video\b|this video is private", re.IGNORECASE)
_BOT_CHECK = re.compile(r"not a bot", re.IGNORECASE)
_SIGN_IN = re.compile(r"sign in|log ?in|members.only|join this channel|age.restricted|confirm your age"
                      r"|registered users", re.IGNORECASE)
# yt-dlp's advice for its own command line, cut from the recorded reason (ours follows it)
_HINTS = re.compile(r"[.;]?\s*(?:Use --|See\s+https?:|Also see\s|It is recommended|This helps protect|Learn more"
                    r"|\(caused by )")

JS_RUNTIME_ENV = "HDTF_JS_RUNTIME"
# Pauses before the second and third try of a video that YouTube rate-limits (HTTP 429). Bounded: still limited
# after them, the video is recorded as failed ("rate limited") and the next run tries it again.
RATE_LIMIT_WAITS: tuple[float, ...] = (30.0, 120.0)
COOKIES_FIX = "pass cookies of a signed-in browser: --cookies-from-browser BROWSER[:PROFILE] or --cookies FILE"
# yt-dlp fetches time ranges with ffmpeg and gives it the cookies as command-line arguments (-cookies), which every
# user of the machine can read (ps, /proc/PID/cmdline): the two are never combined.
SECTIONS_WITH_COOKIES = ("--sections cannot be used with --cookies or --cookies-from-browser: yt-dlp gives the cookies "
                         "to ffmpeg on its command line for time ranges, where any user of this machine can read them; "
                         "drop --sections (whole videos are fetched without ffmpeg)")
JS_RUNTIME_FIX = (f"pip install -U 'yt-dlp[default]' deno, or choose one with --js-runtime NAME[:PATH] or "
                  f"${JS_RUNTIME_ENV} (deno, node, bun, quickjs); hdtf doctor checks it")
# failure kind -> recorded status ("failed" ones are tried again by the next run)
KINDS = {
    "rate-limited": "failed", "bot-check": "failed", "sign-in": "failed", "js-runtime": "failed",
    "js-challenge": "failed", "cookies": "failed", "network": "failed", "http": "failed", "error": "failed",
    "too-large": "failed",
    "private": "unavailable", "region-blocked": "unavailable", "removed": "unavailable",
}


@dataclass(frozen=True)
class DownloadedSection:
    """A downloaded time range of a video; its time 0 is ``start`` seconds into the source."""

    start: float
    end: float
    path: Path


@dataclass(frozen=True)
class DownloadResult:
    """Outcome of :func:`download_video`.

    ``path`` is the whole raw video (None for section downloads, whose files are in ``sections``).
    ``duration`` is the full source duration as the extractor reported it (None when unknown).
    """

    status: str  # "done" | "unavailable" | "failed"
    path: Path | None
    reason: str | None = None
    format: str | None = None
    sections: tuple[DownloadedSection, ...] = ()
    duration: float | None = None
    kind: str | None = None  # why it is not done: a key of KINDS (None when done)
    notes: tuple[str, ...] = ()  # how the result differs from what was asked (sections fetched as a whole video)


@dataclass(frozen=True)
class FetchOptions:
    """How videos are fetched (the download options of ``hdtf prepare`` and the builders, declared in
    ``hdtf.options.PrepareOptions``): one value handed to :func:`download_video`, checked here by :meth:`validate`,
    where yt-dlp is known."""

    url_template: str | None = None  # fetch this instead of the metadata's URL ({name} {subset} {youtube_id})
    cookies: Path | None = None  # a Netscape cookies file (only read: yt-dlp gets a private copy)
    cookies_from_browser: str | None = None  # BROWSER[+KEYRING][:PROFILE][::CONTAINER]
    proxy: str | None = None
    rate_limit: str | None = None  # bytes per second, such as 2M
    js_runtime: str | None = None  # NAME[:PATH] (default: $HDTF_JS_RUNTIME, else the deno package's)
    max_filesize: str | None = None  # the largest raw download, such as 8G; None or "none": no cap

    @classmethod
    def of(cls, options: Any) -> FetchOptions:
        """The download options of ``options`` (any value with these attributes, e.g. ``PrepareOptions``)."""
        return cls(**{f.name: getattr(options, f.name) for f in fields(cls)})

    @property
    def has_cookies(self) -> bool:
        return self.cookies is not None or bool(self.cookies_from_browser)

    def validate(self, sections: bool = False) -> None:
        """HDTFError, before any work, for options no download could succeed with: a bad URL template, rate or size,
        a cookies file that is not there, an unknown browser, a chosen JavaScript runtime that cannot run, and
        ``sections`` (time-range downloads) with cookies (:data:`SECTIONS_WITH_COOKIES`)."""
        if self.url_template is not None:
            check_url_template(self.url_template)
        parse_rate(self.rate_limit)
        parse_size(self.max_filesize)
        if self.cookies is not None and not Path(self.cookies).is_file():
            raise HDTFError(f"cookies file {self.cookies} not found")
        if self.cookies_from_browser is not None:
            parse_browser_cookies(self.cookies_from_browser)
        if sections and self.has_cookies:
            raise HDTFError(SECTIONS_WITH_COOKIES)
        check_js_runtime(self.js_runtime)


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        known = ", ".join(f"{{{p}}}" for p in _PLACEHOLDERS)
        raise HDTFError(f"url template: unknown placeholder {{{key}}}; use {known}")


def video_url(video: VideoSpec, url_template: str | None = None) -> str | None:
    """The URL to fetch: ``url_template`` with {name}, {subset}, {youtube_id} filled in, else the metadata URL."""
    if url_template is None:
        return video.url
    fields = _Fields(name=video.name, subset=video.subset, youtube_id=video.youtube_id)
    try:
        url = url_template.format_map(fields)
    except (ValueError, IndexError, AttributeError) as exc:
        raise HDTFError(f"url template {url_template!r} is not valid: {exc}") from None
    if "{youtube_id}" in url_template and video.youtube_id is None:
        raise HDTFError(f"url template uses {{youtube_id}} but video {video.name} has none")
    return url


def check_url_template(url_template: str) -> None:
    """Raise HDTFError now (before any work) when the template has unknown placeholders or bad syntax."""
    video_url(VideoSpec("hdtf", "RD", "Check", None, "x", None, ()), url_template)


def parse_rate(rate_limit: str | None) -> int | None:
    """``"2M"`` -> bytes per second, as yt-dlp's ``--limit-rate`` reads it."""
    if rate_limit is None:
        return None
    from yt_dlp.utils import parse_bytes

    value = parse_bytes(rate_limit)
    if value is None:
        raise HDTFError(f"rate limit {rate_limit!r} is not a byte rate such as 500K or 2M")
    return value


def parse_size(max_filesize: str | None) -> int | None:
    """``"4G"`` -> bytes, as yt-dlp's ``--max-filesize`` reads it; None or ``"none"``: no cap."""
    if max_filesize is None or str(max_filesize).strip().lower() == "none":
        return None
    from yt_dlp.utils import parse_bytes

    value = parse_bytes(str(max_filesize))
    if value is None or value <= 0:
        raise HDTFError(f"max file size {max_filesize!r} is not a size such as 500M or 4G (or 'none')")
    return value


class FileTooLarge(Exception):
    """A download grew past ``--max-filesize`` (raised from yt-dlp's progress hook, which stops the transfer)."""


def _size_cap(limit: int) -> Callable[[dict], None]:
    """A yt-dlp progress hook that stops a download whose announced or received size passes ``limit`` bytes: the
    announced size stops it before a byte is kept, the received count stops one that announces nothing."""

    def hook(progress: dict) -> None:
        seen = max(int(progress.get(key) or 0) for key in ("total_bytes", "total_bytes_estimate", "downloaded_bytes"))
        if progress.get("status") == "downloading" and seen > limit:
            raise FileTooLarge(f"larger than --max-filesize {limit:,} bytes ({seen:,} bytes announced or received); "
                               "raise --max-filesize (or 'none') to fetch it")

    return hook


def raw_name(video: VideoSpec) -> str:
    return f"{video.key}.mp4"


def find_raw(raw_dir: Path, video: VideoSpec) -> Path | None:
    """A raw video the user already has: ``{subset}_{name}.mp4`` or ``{name}.mp4`` in ``raw_dir``.

    The name is looked up as sanitised and, when it is a plain file name, as written too: official downloaders
    save TalkingHead-1KH videos as ``{youtube_id}.mp4`` and ids may begin with '-'.
    """
    literal = [f"{video.name}.mp4"] if video.name not in (".", "..") and not set("/\\\0") & set(video.name) else []
    # A name that sanitises like another one's (``Foo(1)``, ``Foo[1]``) has a key of its own: its sanitised name
    # could be the other video's file.
    own = video.key == safe_name(f"{video.subset}_{video.name}", MAX_KEY)
    sanitised = [f"{safe_name(video.name)}.mp4"] if own else []
    for name in (raw_name(video), *sanitised, *literal):
        path = Path(raw_dir) / name
        if path.is_file():
            return path
    return None


def section_path(dest_dir: Path, video: VideoSpec, start: float, end: float) -> Path:
    return Path(dest_dir) / f"{video.key}.section-{start:.3f}-{end:.3f}.mp4"


# ------------------------------------------------------------------------------------- JavaScript runtime


@dataclass(frozen=True)
class JsRuntime:
    """The JavaScript runtime yt-dlp is given for YouTube, as yt-dlp itself detects it."""

    name: str  # yt-dlp's name: deno, node, bun, quickjs (quickjs-ng once detected)
    path: str | None  # the binary given to yt-dlp; None lets yt-dlp look in Python's scripts folder and on PATH
    origin: str  # where the choice came from: --js-runtime, $HDTF_JS_RUNTIME, the deno package, PATH
    version: str | None = None  # None: not found
    supported: bool = False  # yt-dlp accepts this version
    minimum: str | None = None  # the oldest version yt-dlp accepts

    @property
    def usable(self) -> bool:
        return self.version is not None and self.supported

    def describe(self) -> str:
        """``deno 2.9.8``, ``node 20.20.2, too old (yt-dlp needs >= 22.0.0)`` or ``deno not found``."""
        if self.version is None:
            return f"{self.name} not found"
        if not self.supported:
            return f"{self.name} {self.version}, too old (yt-dlp needs >= {self.minimum})"
        return f"{self.name} {self.version}"


def _ytdlp_runtimes() -> dict[str, type]:
    import yt_dlp  # noqa: F401 - importing yt_dlp registers its runtimes
    from yt_dlp.globals import supported_js_runtimes

    return dict(supported_js_runtimes.value)


def parse_js_runtime(text: str) -> tuple[str, str | None]:
    """``"node:/usr/bin/node"`` -> ``("node", "/usr/bin/node")``, ``"deno"`` -> ``("deno", None)`` (yt-dlp's syntax;
    the path may also be the folder that holds the binary)."""
    name, _, path = text.strip().partition(":")
    name = name.strip().lower()
    known = _ytdlp_runtimes()
    if name not in known:
        raise HDTFError(f"JavaScript runtime {text!r}: {name or '(empty)'} is not one of {', '.join(known)} "
                        f"(NAME[:PATH])")
    return name, os.path.expanduser(path.strip()) if path.strip() else None


def js_runtime_spec(text: str) -> str:
    """``NAME[:PATH]`` of a JavaScript runtime yt-dlp supports, as an argparse type (``hdtf doctor --js-runtime``)."""
    import argparse

    try:
        parse_js_runtime(text)
    except HDTFError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def js_runtime_choice(choice: str | None = None) -> tuple[str, str | None, str]:
    """(name, path, origin): ``choice`` (``--js-runtime``), else ``$HDTF_JS_RUNTIME``, else the ``deno`` package's
    binary, else a deno on PATH."""
    if choice:
        return (*parse_js_runtime(choice), "--js-runtime")
    if os.environ.get(JS_RUNTIME_ENV, "").strip():
        return (*parse_js_runtime(os.environ[JS_RUNTIME_ENV]), f"${JS_RUNTIME_ENV}")
    try:
        import deno

        return "deno", deno.find_deno_bin(), "deno package"
    except (ImportError, FileNotFoundError):
        return "deno", None, "PATH"


def ytdlp_js_runtimes(choice: str | None = None) -> dict[str, dict]:
    """yt-dlp's ``js_runtimes`` parameter for the runtime of :func:`js_runtime_choice`."""
    name, path, _ = js_runtime_choice(choice)
    return {name: {"path": path}}


def detect_js_runtime(choice: str | None = None) -> JsRuntime:
    """The runtime of :func:`js_runtime_choice` as yt-dlp detects it (its own runtime class runs ``--version``)."""
    name, path, origin = js_runtime_choice(choice)
    runtime_cls = _ytdlp_runtimes()[name]
    minimum = ".".join(map(str, getattr(runtime_cls, "MIN_SUPPORTED_VERSION", ()))) or None
    info = runtime_cls(path=path).info
    if not info:
        return JsRuntime(name, path, origin, minimum=minimum)
    return JsRuntime(info.name, path, origin, info.version, info.supported is not False, minimum)


def check_js_runtime(choice: str | None = None) -> None:
    """HDTFError when the runtime the user chose (``choice`` or ``$HDTF_JS_RUNTIME``) is not usable.

    The default (the ``deno`` package) is not enforced here: a mirror (``--url-template``) needs no runtime, and a
    YouTube download without one is recorded with :data:`JS_RUNTIME_FIX`.
    """
    if js_runtime_choice(choice)[2] in ("--js-runtime", f"${JS_RUNTIME_ENV}"):
        runtime = detect_js_runtime(choice)
        if not runtime.usable:
            raise HDTFError(f"JavaScript runtime from {runtime.origin}: {runtime.describe()}; choose a supported "
                            f"one (deno, node, bun, quickjs) with its path, or pip install deno and leave it unset")


def solver_scripts_version() -> str | None:
    """The installed yt-dlp-ejs (YouTube's challenge solver scripts, run by the JavaScript runtime), or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("yt-dlp-ejs")
    except PackageNotFoundError:
        return None


def parse_browser_cookies(text: str) -> tuple[str, str | None, str | None, str | None]:
    """``firefox``, ``chrome:Profile 1``, ``chromium+gnomekeyring:Default``, ``firefox:PROFILE::CONTAINER`` ->
    yt-dlp's ``cookiesfrombrowser`` (browser, profile, keyring, container)."""
    from yt_dlp.cookies import SUPPORTED_BROWSERS, SUPPORTED_KEYRINGS

    spec, _, container = text.strip().partition("::")
    head, _, profile = spec.partition(":")
    browser, _, keyring = head.partition("+")
    browser, keyring = browser.strip().lower(), keyring.strip().upper()
    if browser not in SUPPORTED_BROWSERS:
        raise HDTFError(f"cookies from browser {text!r}: {browser or '(empty)'} is not one of "
                        f"{', '.join(sorted(SUPPORTED_BROWSERS))} (BROWSER[+KEYRING][:PROFILE][::CONTAINER])")
    if keyring and keyring not in SUPPORTED_KEYRINGS:
        raise HDTFError(f"cookies from browser {text!r}: keyring {keyring.lower()} is not one of "
                        f"{', '.join(k.lower() for k in sorted(SUPPORTED_KEYRINGS))}")
    return browser, profile.strip() or None, keyring or None, container.strip() or None


# ----------------------------------------------------------------------------------------------- yt-dlp


class _Log:
    """yt-dlp logger that keeps quiet (or not) and remembers the last error line for the result."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.last_error: str | None = None
        self.warnings: list[str] = []  # what yt-dlp warned of (a missing JS runtime, unsolved challenges, ...)

    def debug(self, msg: str) -> None:
        if not self.quiet and not msg.startswith("[debug] "):
            print(msg)

    info = debug

    def warning(self, msg: str) -> None:
        if len(self.warnings) < 100:
            self.warnings.append(msg)
        if not self.quiet:
            print(msg)

    def error(self, msg: str) -> None:
        self.last_error = msg
        if not self.quiet:
            print(msg)


@contextmanager
def private_cookies(cookies: Path | None) -> Iterator[Path | None]:
    """A copy of the user's cookies file that only this user can read (0600, in a new 0700 folder of the system temp
    folder), for one download, deleted after it. yt-dlp writes its cookie jar back to the file it was given each time
    it closes, from every worker at once: the user's own file is only ever read (a killed worker cannot truncate it,
    and a read-only one works)."""
    if cookies is None:
        yield None
        return
    try:
        data = Path(cookies).read_bytes()
    except FileNotFoundError:
        raise HDTFError(f"cookies file {cookies} not found") from None
    except OSError as exc:
        raise HDTFError(f"cookies file {cookies} cannot be read: {exc.strerror or exc}") from None
    folder = Path(tempfile.mkdtemp(prefix="hdtf-cookies-"))
    try:
        copy = folder / "cookies.txt"
        with os.fdopen(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600),
                       "wb") as out:
            out.write(data)
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ytdlp_options(video: VideoSpec, workdir: Path, fetch: FetchOptions = FetchOptions(), *, jar: Path | None = None,
                  retries: int = 10, quiet: bool = True, log: Any = None) -> dict:
    """The ``yt_dlp.YoutubeDL`` parameters for ``video``: format choice, retries, output template, the network
    options of ``fetch``, the JavaScript runtime (by path: see :func:`js_runtime_choice`). yt-dlp rewrites the
    cookies file it gets when it closes: ``jar`` is a :func:`private_cookies` copy of ``fetch.cookies``."""
    opts: dict = {
        "outtmpl": {"default": str(workdir / "video.%(ext)s")},
        # mp4 video + m4a audio merged to mp4 first; any single file next; then anything at all.
        "format": "bv*[ext=mp4]+ba[ext=m4a]/b[ext=mp4]/bv*+ba/b",
        "merge_output_format": "mp4",
        "postprocessors": [{"key": "FFmpegVideoRemuxer", "preferedformat": "mp4"}],
        "noplaylist": True,
        "continuedl": True,
        "retries": retries,
        "fragment_retries": retries,
        "extractor_retries": min(retries, 3),
        "file_access_retries": 3,
        "socket_timeout": 30,
        "quiet": quiet,
        "no_warnings": quiet,
        "noprogress": True,
        "logger": log or _Log(quiet),
        "js_runtimes": ytdlp_js_runtimes(fetch.js_runtime),
    }
    # Resolution first: the largest format not above the reference height, else the smallest above it (the crop
    # windows refer to it). Then H.264 over AV1/VP9 at that height: both datasets were cut from H.264 downloads
    # (TalkingHead-1KH's frame indices depend on that encode's keyframes), and it decodes fastest on a CPU.
    opts["format_sort"] = [*([f"res:{int(video.resolution)}"] if video.resolution else []), "vcodec:h264"]
    if jar is not None:
        if not Path(jar).is_file():
            raise HDTFError(f"cookies file {fetch.cookies or jar} not found")
        opts["cookiefile"] = str(jar)
    if fetch.cookies_from_browser:
        opts["cookiesfrombrowser"] = parse_browser_cookies(fetch.cookies_from_browser)
    if fetch.proxy:
        opts["proxy"] = fetch.proxy
    rate = parse_rate(fetch.rate_limit)
    if rate:
        opts["ratelimit"] = rate
    cap = parse_size(fetch.max_filesize)
    if cap is not None:
        opts["progress_hooks"] = [_size_cap(cap)]
    return opts


@dataclass(frozen=True)
class Failure:
    """Why a download did not happen, in terms a user can act on."""

    kind: str  # a key of KINDS
    reason: str  # the one line recorded: what happened (yt-dlp's words) and what to do about it

    @property
    def status(self) -> str:
        return KINDS[self.kind]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it (causes, contexts, and what yt-dlp wraps in ``exc_info``)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        exc_info = getattr(item, "exc_info", None)
        todo += [getattr(item, "cause", None), item.__cause__, item.__context__, exc_info[1] if exc_info else None]


def _words(text: str) -> str:
    """yt-dlp's message without "ERROR:", the "[extractor] id:" prefix and its advice for its own command line."""
    text = re.sub(r"^(?:ERROR:\s*)?(?:\[[\w:-]+\]\s*)?(?:[\w-]+:\s+)?", "", text.strip()).splitlines()[0]
    text = _HINTS.split(text, maxsplit=1)[0].strip().rstrip(".")
    return text or "no reason given"


def classify(exc: BaseException, *, warnings: Sequence[str] = (), last_error: str | None = None,
             js_runtime: str | None = None, cookies: bool = False, tries: int = 1) -> Failure:
    """What a yt-dlp failure means for the user: a kind (:data:`KINDS`, which fixes the recorded status) and a reason.

    ``warnings`` and ``last_error`` are what yt-dlp logged during the call; ``js_runtime`` the runtime option it was
    given; ``cookies`` whether any were given (the fix for YouTube's bot check is then fresher cookies).
    """
    from yt_dlp.cookies import CookieLoadError
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import ExtractorError, GeoRestrictedError

    chain = list(_chain(exc))
    extractor_errors = [e for e in chain if isinstance(e, ExtractorError)]
    http = next((e for e in chain if isinstance(e, HTTPError)), None)
    texts = [last_error or "", *(e.orig_msg for e in extractor_errors), *(str(e) for e in chain)]
    said = "\n".join(texts)
    words = _words(last_error or (extractor_errors[0].orig_msg if extractor_errors else str(exc)))
    youtube = any(str(e.ie or "").lower().startswith("youtube") for e in extractor_errors)

    if any(isinstance(e, CookieLoadError) for e in chain):
        return Failure("cookies", f"cookies could not be loaded ({words})")
    if (http is not None and http.status == 429) or _RATE_LIMITED.search(said):
        tried = f"{tries} tries" if tries > 1 else "1 try"
        return Failure("rate-limited", f"rate limited ({words}) after {tried}; the next run tries again: wait "
                                       f"(YouTube's limit lasts up to an hour), use fewer workers, or {COOKIES_FIX}")
    js_trouble = [w for w in warnings if _JS_TROUBLE.search(w)]
    if (_NO_FORMATS.search(said) and (youtube or js_trouble)) or _JS_TROUBLE.search(said):
        runtime = detect_js_runtime(js_runtime)
        if not runtime.usable:
            return Failure("js-runtime", f"no usable JavaScript runtime for YouTube ({runtime.describe()}, from "
                                         f"{runtime.origin}; {words}): {JS_RUNTIME_FIX}")
        if solver_scripts_version() is None:
            return Failure("js-runtime", f"yt-dlp-ejs, YouTube's challenge solver scripts, is not installed "
                                         f"({words}): pip install -U 'yt-dlp[default]'")
        if js_trouble:
            return Failure("js-challenge", f"YouTube's player challenge was not solved with {runtime.describe()} "
                                           f"({words}): pip install -U 'yt-dlp[default]' for the current solver")
    if any(isinstance(e, GeoRestrictedError) for e in chain) or _REGION.search(said):
        return Failure("region-blocked", f"blocked in this region ({words}); a --proxy in another country and "
                                         f"--retry-unavailable can fetch it")
    if _PRIVATE.search(said):
        return Failure("private", f"private video ({words})")
    if _BOT_CHECK.search(said):
        fix = ("the cookies given were not accepted: export fresh ones from a browser signed in to YouTube" if cookies
               else COOKIES_FIX)
        return Failure("bot-check", f"YouTube's bot check ({words}): {fix}")
    if _SIGN_IN.search("\n".join(e.orig_msg for e in extractor_errors)):
        return Failure("sign-in", f"sign-in required ({words}): {COOKIES_FIX}")
    if http is not None:
        return Failure("removed" if http.status in (404, 410) else "http", words)
    if any(isinstance(e, TransportError) for e in chain):
        return Failure("network", words)
    if any(e.expected and _UNAVAILABLE.search(e.orig_msg) and not _NO_FORMATS.search(e.orig_msg)
           for e in extractor_errors):
        return Failure("removed", words)
    return Failure("error", words)


def _format_note(info: Mapping) -> str:
    parts = [str(info.get("format_id") or "?")]
    if info.get("width") and info.get("height"):
        parts.append(f"{info['width']}x{info['height']}")
    return " ".join(parts)


def _extract(url: str, options, *, quiet: bool, js_runtime: str | None, cookies: bool,
             waits: Sequence[float]) -> tuple[dict | None, Failure | None]:
    """yt-dlp's info for ``url``, downloading it; while rate-limited, tried again after each of ``waits`` seconds.

    ``options(log)`` gives fresh yt-dlp parameters for each try (yt-dlp resumes the partial file).
    """
    import yt_dlp

    attempt = 0
    while True:
        log = _Log(quiet)
        try:
            with yt_dlp.YoutubeDL(options(log)) as ydl:
                info = ydl.extract_info(url, download=True)
        except FileTooLarge as exc:
            return None, Failure("too-large", str(exc))
        except yt_dlp.utils.YoutubeDLError as exc:
            too_large = next((e for e in _chain(exc) if isinstance(e, FileTooLarge)), None)
            if too_large is not None:
                return None, Failure("too-large", str(too_large))
            failure = classify(exc, warnings=log.warnings, last_error=log.last_error, js_runtime=js_runtime,
                               cookies=cookies, tries=attempt + 1)
            if failure.kind != "rate-limited" or attempt >= len(waits):
                return None, failure
            if not quiet:
                print(f"rate limited; trying again in {waits[attempt]:g} s")
            time.sleep(waits[attempt])
            attempt += 1
            continue
        if info is None:
            return None, Failure("error", _words(log.last_error or "yt-dlp returned nothing"))
        return info, None


def download_video(
    video: VideoSpec,
    dest_dir: Path,
    fetch: FetchOptions = FetchOptions(),
    *,
    sections: Sequence[tuple[float, float]] | None = None,
    retries: int = 10,
    rate_limit_waits: Sequence[float] = RATE_LIMIT_WAITS,
    quiet: bool = True,
) -> DownloadResult:
    """Download ``video`` into ``dest_dir`` as ``{key}.mp4`` (or one file per section of ``sections``) the way
    ``fetch`` says; skip what is already there.

    Never raises for a video that cannot be fetched: the result says "unavailable" or "failed", why (``kind``) and
    what to do (``reason``). Raises HDTFError only for bad options (template, rate, cookies, JavaScript runtime,
    sections with cookies: :data:`SECTIONS_WITH_COOKIES`). yt-dlp gets a :func:`private_cookies` copy of the cookies.
    """
    import yt_dlp

    if sections and fetch.has_cookies:
        raise HDTFError(SECTIONS_WITH_COOKIES)
    dest_dir = Path(dest_dir)
    url = video_url(video, fetch.url_template)
    final = dest_dir / raw_name(video)
    wanted = [(float(s), float(e)) for s, e in sections] if sections else []
    if not wanted and final.is_file():
        return DownloadResult("done", final, format="already downloaded")
    if wanted:
        have = [DownloadedSection(s, e, section_path(dest_dir, video, s, e)) for s, e in wanted]
        if all(sec.path.is_file() for sec in have):
            return DownloadResult("done", None, format="already downloaded", sections=tuple(have))
    if not url:
        reason = f"video {video.name} has no URL in the metadata (use --url-template)"
        return DownloadResult("failed", None, reason=reason, kind="error")

    workdir = dest_dir / f".{video.key}.partial"
    workdir.mkdir(parents=True, exist_ok=True)
    missing = [(s, e) for s, e in wanted if not section_path(dest_dir, video, s, e).is_file()]

    def options(log: _Log, jar: Path | None) -> dict:
        opts = ytdlp_options(video, workdir, fetch, jar=jar, retries=retries, quiet=quiet, log=log)
        if wanted:
            opts["download_ranges"] = yt_dlp.utils.download_range_func(None, missing)
            opts["outtmpl"] = {"default": str(workdir / "section-%(section_start).3f.%(ext)s")}
        return opts

    with private_cookies(fetch.cookies) as jar:
        info, failure = _extract(url, lambda log: options(log, jar), quiet=quiet, js_runtime=fetch.js_runtime,
                                 cookies=fetch.has_cookies, waits=rate_limit_waits)
    if failure is not None:
        if failure.status == "unavailable" or failure.kind == "too-large" or not any(workdir.iterdir()):
            shutil.rmtree(workdir, ignore_errors=True)  # a partial download is kept only where it can resume
        # yt-dlp's clients quote pieces of a URL they cannot parse: no password of the proxy or the video's URL
        reason = hide_credentials(hide_credentials(failure.reason, fetch.proxy), url)
        return DownloadResult(failure.status, None, reason=reason, kind=failure.kind)
    files = [Path(d["filepath"]) for d in info.get("requested_downloads") or [] if d.get("filepath")]
    duration = info.get("duration")
    note = _format_note(info)
    if not wanted:
        if not files or not files[0].is_file():
            return DownloadResult("failed", None, reason="yt-dlp reported success but wrote no file", kind="error")
        os.replace(files[0], final)
        shutil.rmtree(workdir, ignore_errors=True)
        return DownloadResult("done", final, format=note, duration=duration)
    by_start = {round(s, 3): (s, e) for s, e in missing}
    for file in files:
        match = re.fullmatch(r"section-([\d.]+)\.\w+", file.name)
        key = match and round(float(match.group(1)), 3)
        if key in by_start and file.is_file():
            os.replace(file, section_path(dest_dir, video, *by_start[key]))
    shutil.rmtree(workdir, ignore_errors=True)
    have = tuple(DownloadedSection(s, e, section_path(dest_dir, video, s, e)) for s, e in wanted)
    absent = [f"{sec.start:.3f}-{sec.end:.3f}" for sec in have if not sec.path.is_file()]
    if absent:
        return DownloadResult("failed", None, reason=f"sections not written: {', '.join(absent)}", sections=have,
                              kind="error")
    unreadable = _unreadable_sections(have)
    if unreadable:
        for sec in have:
            sec.path.unlink(missing_ok=True)
        whole = download_video(video, dest_dir, fetch, retries=retries, rate_limit_waits=rate_limit_waits,
                               quiet=quiet)
        why = (f"sections {', '.join(unreadable)} came out without a video stream (the server ignores byte "
               "ranges?); downloaded the whole video instead")
        return replace(whole, notes=(*whole.notes, why)) if whole.status == "done" else replace(
            whole, reason=f"{whole.reason} (after {why})")
    return DownloadResult("done", None, format=note, sections=have, duration=duration)


def _unreadable_sections(have: Sequence[DownloadedSection]) -> list[str]:
    """The sections ffprobe finds no video stream in."""
    from hdtf.media import MediaError, probe

    bad = []
    for sec in have:
        try:
            probe(sec.path, timeline=False)
        except MediaError:
            bad.append(f"{sec.start:.3f}-{sec.end:.3f}")
    return bad
