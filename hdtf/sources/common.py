"""What every list format needs: YouTube ids, and the lines of a text list with whatever was not taken verbatim put
in the parse report. Plain functions over text; a source module adds only its own format's rules."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qs, urlparse

from hdtf.errors import HDTFError
from hdtf.records import MAX_KEY, ClipSpec, ParseReport, VideoSpec, distinct_names
from hdtf.splits import SplitRule

_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
# The usual form of a video's URL, whose id is read without parsing the URL (youtube_id gives the same for it).
_WATCH_URL = re.compile(r"https?://(?:www\.)?youtube\.com/watch\?v=([A-Za-z0-9_-]{11})")
_TIMECODE = re.compile(r"^(?:(?P<h>\d+):)?(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)$")
# The standard split of a list that has none: about 5 percent of its persons (or videos) in test, by a hash of the key.
TEST_SHARE = 0.05
WATCH_URL = "https://www.youtube.com/watch?v={youtube_id}"


def is_youtube_id(text: str) -> bool:
    """Whether ``text`` is an 11-character YouTube video id (ids may begin with '-')."""
    return bool(_YOUTUBE_ID.match(text))


def youtube_id(url: str) -> str | None:
    """The 11-character video id of any YouTube URL form (watch?v=, youtu.be/, /embed/, /shorts/, /v/, /live/)."""
    url = url.strip()
    if plain := _WATCH_URL.fullmatch(url):  # a list of a million URLs: parsing each would cost ~5 us
        return plain[1]
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    candidates: list[str] = []
    domain = ".".join(host.split(".")[-2:])
    if domain == "youtu.be":
        candidates.append(parsed.path.strip("/").split("/")[0])
    elif domain in ("youtube.com", "youtube-nocookie.com"):
        candidates += parse_qs(parsed.query).get("v", [])
        parts = [p for p in parsed.path.split("/") if p]
        if len(parts) >= 2 and parts[0] in ("embed", "shorts", "v", "live", "e"):
            candidates.append(parts[1])
    return next((c for c in candidates if is_youtube_id(c)), None)


@dataclass(slots=True)  # slots: a list file's lines held at once take no __dict__ each
class Line:
    """One non-blank line of a list file: its 1-based number, its text and its whitespace-separated fields."""

    number: int
    raw: str
    fields: list[str]


def list_lines(data: bytes | str, file: str, report: ParseReport, *, strict: bool = True,
               video_of: Callable[[str], str | None] | None = None) -> list[Line]:
    """The non-blank lines of a list file's ``data`` (bytes are read as UTF-8, bad bytes replaced).

    A byte order mark is removed and reported. ``strict``: every other deviation is reported too (no final newline,
    invalid UTF-8, trailing whitespace: ``repaired``; a blank line: ``skipped``), each with the key of the video the
    line is about (``video_of(raw)``), so that a run of a few videos can show only theirs; otherwise (a format that
    tolerates spacing) lines are stripped and blank ones dropped silently.
    """
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
            _bom(file, report)
        if strict and data and not data.endswith(b"\n"):
            report.add(file, 0, "", "no newline at the end of the file; last line kept", "repaired")
        text = data.decode("utf-8", errors="replace")
    else:
        text = data
        if text.startswith("\ufeff"):
            text = text[1:]
            _bom(file, report)
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not strict:
            if raw.strip():
                out.append(Line(number, raw.strip(), raw.split()))
            continue
        video = video_of(raw) if video_of is not None else None
        if "\ufffd" in raw:
            report.add(file, number, raw, "invalid UTF-8 bytes replaced", "repaired", video)
        if raw.strip() and raw != raw.rstrip():
            report.add(file, number, raw, "trailing whitespace removed", "repaired", video)
        if not raw.strip():
            report.add(file, number, raw, "blank line", "skipped")
            continue
        out.append(Line(number, raw, raw.split()))
    return out


def _bom(file: str, report: ParseReport) -> None:
    report.add(file, 1, "", "UTF-8 byte order mark at the start of the file removed", "repaired")


def seconds(text: str) -> float:
    """Seconds of ``text``: a number of seconds (``12.5``) or a timecode ``HH:MM:SS(.fff)`` / ``MM:SS(.fff)``;
    ValueError otherwise (minutes and seconds fields of a timecode below 60)."""
    text = text.strip()
    match = _TIMECODE.match(text)
    if match is None:
        value = float(text)  # ValueError for anything else
        if value != value or value in (float("inf"), float("-inf")) or value < 0:
            raise ValueError(f"{text!r} is not a time in seconds")
        return value
    minutes, secs = int(match["m"]), float(match["s"])
    if secs >= 60 or (match["h"] is not None and minutes >= 60):
        raise ValueError(f"minutes or seconds field of {text!r} is 60 or more")
    return int(match["h"] or 0) * 3600 + minutes * 60 + secs


@cache
def split_rule(source: str) -> SplitRule:
    """The deterministic split of a source whose release has none: by a hash of each clip's person (or, where the
    release names none, its YouTube video), ``v1`` of that source, so one key is never in two splits and a key's
    split never changes when the list grows. One rule per source, made once (a list asks it for every entry)."""
    return SplitRule("v1", f"{source}-split-v1", TEST_SHARE)


def split_by_key(source: str, key: str) -> str:
    """``train`` or ``test`` of :func:`split_rule` for one person / video key."""
    return "test" if split_rule(source).fraction(key) < TEST_SHARE else "train"


def millis(value: float) -> int:
    """A time as whole milliseconds: how clip ids spell times, so that one entry's id never depends on float
    formatting."""
    return int(round(value * 1000))


def group_videos(clips: Iterable[ClipSpec], file: str, report: ParseReport) -> list[VideoSpec]:
    """Clips (each with its video's name in ``video_name`` and ``subset`` its split) as videos in first-seen order,
    each video keyed ``{split}_{name}`` and each clip id made distinct over the whole list (``distinct_names``: an id
    depends only on its entry and on the names it could be confused with, never on its position); one report line
    per group of names that sanitise alike. A video's clips are in time order (``clip_index``).

    The clips must be the parse's own, made for this call and held nowhere else: their final id and index are set
    in place (:func:`_place`), each held once, grouped by video."""
    by_video: dict[str, list[ClipSpec]] = {}
    for clip in clips:
        by_video.setdefault(f"{clip.subset}_{clip.video_name}", []).append(clip)
    ids, collisions = distinct_names(clip.id for members in by_video.values() for clip in members)
    keys, key_collisions = distinct_names(by_video, MAX_KEY)
    for group in (*collisions, *key_collisions):
        report.add(file, 0, ", ".join(group), "names sanitise to one file name; named apart", "repaired")
    videos = []
    for raw_key, members in by_video.items():
        first = members[0]
        ordered = sorted(members, key=lambda c: (c.start, c.end, ids[c.id]))
        placed = tuple(_place(clip, ids[clip.id], index) for index, clip in enumerate(ordered))
        videos.append(VideoSpec(source=first.source, subset=first.subset, name=first.video_name, url=first.url,
                                youtube_id=first.youtube_id, resolution=first.resolution, clips=placed,
                                file_key=keys[raw_key]))
    return videos


def _place(clip: ClipSpec, clip_id: str, index: int) -> ClipSpec:
    """``clip`` with its distinct id and its index in its video, set in place as its own ``__init__`` sets a frozen
    record's fields: it is the parse's fresh record, seen by no one yet, and copying each of a million 16-field
    records (``dataclasses.replace``) cost a list ~6 us an entry."""
    if clip.id != clip_id:
        object.__setattr__(clip, "id", clip_id)
    object.__setattr__(clip, "clip_index", index)
    return clip


def in_split(videos: Iterable[VideoSpec], split: str) -> list[VideoSpec]:
    """The videos of one split (their ``subset``)."""
    return [video for video in videos if video.subset == split]


def span_in(clip: ClipSpec, duration: float) -> tuple[float, float | None, list[str]]:
    """(end, asked end, notes) of a clip's stated span in a video lasting ``duration`` seconds: an end past the video
    is cut back to it (``asked end`` then says what was asked: the job fails such a short clip unless short clips
    are allowed); a start past it is a ValueError."""
    if duration <= 0:
        return clip.end, None, ["video duration unknown; span used as listed"]
    if clip.start >= duration:
        raise ValueError(f"clip {clip.id} starts at {clip.start:.2f}s but the video lasts only {duration:.2f}s")
    if clip.end > duration:
        return duration, clip.end, [f"end {clip.end:.2f}s truncated to the video's duration {duration:.2f}s"]
    return clip.end, None, []


def chosen_splits(chosen: object, splits: tuple[str, ...], what: str) -> list[str]:
    """The splits of ``splits`` a ``--split``/``splits=`` value names (``all`` or none: every one); HDTFError for
    unknown ones."""
    names = [chosen] if isinstance(chosen, str) else list(chosen or ["all"])
    unknown = sorted(set(names) - {*splits, "all"})
    if unknown:
        raise HDTFError(f"splits {unknown} are not {what} splits ({', '.join(splits)} or all)")
    return list(splits) if "all" in names else [s for s in splits if s in names]


def read_capped(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int, max_ratio: float) -> bytes:
    """The bytes of one ``archive`` member, streamed with a cap on its size and compression ratio: a zip bomb or an
    entry larger than any list file of the format (``limit`` bytes) is refused after at most ``limit`` bytes are
    inflated, never held whole. ValueError says why (the caller decides whether that ends the parse or is one line
    of the report)."""
    ratio = member.file_size / max(member.compress_size, 1)
    if ratio > max_ratio:
        raise ValueError(f"inflates {ratio:.0f} times ({member.compress_size} bytes to {member.file_size}), more "
                         f"than a list file can ({max_ratio:g}); not read (a zip bomb?)")
    if member.file_size > limit:
        raise ValueError(f"is {member.file_size / 2**20:.0f} MiB or more uncompressed")
    chunks, read = [], 0
    with archive.open(member) as entry:  # the sizes above are the archive's word: the read is capped too
        while chunk := entry.read(1 << 20):
            read += len(chunk)
            if read > limit:
                raise ValueError(f"is {read / 2**20:.0f} MiB or more uncompressed")
            chunks.append(chunk)
    return b"".join(chunks)
