"""Fetch raw source videos with the yt-dlp Python API: one file per video (or per time section), atomically.

Why this shape:
- A download goes into a hidden per-video working folder (``.{key}.partial/``) and is renamed to ``{key}.mp4`` only
  once yt-dlp has finished (and merged); a killed run leaves only the working folder, never a file that looks
  complete, and yt-dlp resumes its ``.part`` file from there on the next run.
- A video that is already on disk is never requested again, so re-running a command downloads nothing it has.
- "Unavailable" (removed, private, 404/410, ...) is a property of the video and is recorded with yt-dlp's own words;
  anything else (network, throttling, 403) is "failed" and worth a retry later.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from hdtf.errors import HDTFError
from hdtf.records import VideoSpec, safe_name

_PLACEHOLDERS = ("name", "subset", "youtube_id")
_UNAVAILABLE = re.compile(
    r"unavailable|private video|removed|deleted|terminated|does not exist|no longer available|not available"
    r"|copyright|blocked it|has been taken down",
    re.IGNORECASE,
)


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
    notes: tuple[str, ...] = ()  # how the result differs from what was asked (sections fetched as a whole video)


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


def raw_name(video: VideoSpec) -> str:
    return f"{video.key}.mp4"


def find_raw(raw_dir: Path, video: VideoSpec) -> Path | None:
    """A raw video the user already has: ``{subset}_{name}.mp4`` or ``{name}.mp4`` in ``raw_dir``.

    The name is looked up as sanitised and, when it is a plain file name, as written too: official downloaders
    save TalkingHead-1KH videos as ``{youtube_id}.mp4`` and ids may begin with '-'.
    """
    literal = [f"{video.name}.mp4"] if video.name not in (".", "..") and not set("/\\\0") & set(video.name) else []
    for name in (raw_name(video), f"{safe_name(video.name)}.mp4", *literal):
        path = Path(raw_dir) / name
        if path.is_file():
            return path
    return None


def section_path(dest_dir: Path, video: VideoSpec, start: float, end: float) -> Path:
    return Path(dest_dir) / f"{video.key}.section-{start:.3f}-{end:.3f}.mp4"


class _Log:
    """yt-dlp logger that keeps quiet (or not) and remembers the last error line for the result."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.last_error: str | None = None

    def debug(self, msg: str) -> None:
        if not self.quiet and not msg.startswith("[debug] "):
            print(msg)

    info = debug

    def warning(self, msg: str) -> None:
        if not self.quiet:
            print(msg)

    def error(self, msg: str) -> None:
        self.last_error = msg
        if not self.quiet:
            print(msg)


def ytdlp_options(
    video: VideoSpec, workdir: Path, *, cookies=None, proxy=None, rate_limit=None, retries=10, quiet=True, log=None
) -> dict:
    """The ``yt_dlp.YoutubeDL`` parameters for ``video``: format choice, retries, output template, network options."""
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
    }
    # Resolution first: the largest format not above the reference height, else the smallest above it (the crop
    # windows refer to it). Then H.264 over AV1/VP9 at that height: both datasets were cut from H.264 downloads
    # (TalkingHead-1KH's frame indices depend on that encode's keyframes), and it decodes fastest on a CPU.
    opts["format_sort"] = [*([f"res:{int(video.resolution)}"] if video.resolution else []), "vcodec:h264"]
    if cookies is not None:
        if not Path(cookies).is_file():
            raise HDTFError(f"cookies file {cookies} not found")
        opts["cookiefile"] = str(cookies)
    if proxy:
        opts["proxy"] = proxy
    rate = parse_rate(rate_limit)
    if rate:
        opts["ratelimit"] = rate
    return opts


def _classify(exc: BaseException) -> str:
    """"unavailable" when the video itself is gone (404/410, removed, private, ...), else "failed"."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import ExtractorError

    seen: set[int] = set()
    chain: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        chain.append(item)
        exc_info = getattr(item, "exc_info", None)
        todo += [getattr(item, "cause", None), item.__cause__, item.__context__, exc_info[1] if exc_info else None]
    for item in chain:
        if isinstance(item, HTTPError):
            return "unavailable" if item.status in (404, 410) else "failed"
    if any(isinstance(item, TransportError) for item in chain):
        return "failed"
    for item in chain:
        if isinstance(item, ExtractorError) and item.expected and _UNAVAILABLE.search(item.orig_msg):
            return "unavailable"
    return "failed"


def _reason(exc: BaseException, log: _Log) -> str:
    text = log.last_error or str(exc)
    return re.sub(r"^ERROR:\s*", "", text.strip()).splitlines()[0]


def _format_note(info: Mapping) -> str:
    parts = [str(info.get("format_id") or "?")]
    if info.get("width") and info.get("height"):
        parts.append(f"{info['width']}x{info['height']}")
    return " ".join(parts)


def download_video(
    video: VideoSpec,
    dest_dir: Path,
    *,
    url_template: str | None = None,
    cookies: Path | None = None,
    proxy: str | None = None,
    rate_limit: str | None = None,
    sections: Sequence[tuple[float, float]] | None = None,
    retries: int = 10,
    quiet: bool = True,
) -> DownloadResult:
    """Download ``video`` into ``dest_dir`` as ``{key}.mp4`` (or one file per section); skip what is already there.

    Never raises for a video that cannot be fetched: the result says "unavailable" or "failed" with the reason.
    Raises HDTFError only for bad options (template, rate, cookies file).
    """
    import yt_dlp

    dest_dir = Path(dest_dir)
    url = video_url(video, url_template)
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
        return DownloadResult("failed", None, reason=reason)

    workdir = dest_dir / f".{video.key}.partial"
    workdir.mkdir(parents=True, exist_ok=True)
    log = _Log(quiet)
    opts = ytdlp_options(video, workdir, cookies=cookies, proxy=proxy, rate_limit=rate_limit, retries=retries,
                    quiet=quiet, log=log)
    missing = [(s, e) for s, e in wanted if not section_path(dest_dir, video, s, e).is_file()]
    if wanted:
        opts["download_ranges"] = yt_dlp.utils.download_range_func(None, missing)
        opts["outtmpl"] = {"default": str(workdir / "section-%(section_start).3f.%(ext)s")}
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(url, download=True)
    except yt_dlp.utils.YoutubeDLError as exc:
        status = _classify(exc)
        if status == "unavailable" or not any(workdir.iterdir()):
            shutil.rmtree(workdir, ignore_errors=True)  # a partial download is kept only where it can resume
        return DownloadResult(status, None, reason=_reason(exc, log))
    if info is None:
        return DownloadResult("failed", None, reason=_reason(RuntimeError("yt-dlp returned nothing"), log))
    files = [Path(d["filepath"]) for d in info.get("requested_downloads") or [] if d.get("filepath")]
    duration = info.get("duration")
    note = _format_note(info)
    if not wanted:
        if not files or not files[0].is_file():
            return DownloadResult("failed", None, reason="yt-dlp reported success but wrote no file")
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
        return DownloadResult("failed", None, reason=f"sections not written: {', '.join(absent)}", sections=have)
    unreadable = _unreadable_sections(have)
    if unreadable:
        for sec in have:
            sec.path.unlink(missing_ok=True)
        whole = download_video(video, dest_dir, url_template=url_template, cookies=cookies, proxy=proxy,
                               rate_limit=rate_limit, retries=retries, quiet=quiet)
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
