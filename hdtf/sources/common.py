"""What every list format needs: YouTube ids, and the lines of a text list with whatever was not taken verbatim put
in the parse report. Plain functions over text; a source module adds only its own format's rules."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

from hdtf.records import ParseReport

_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
WATCH_URL = "https://www.youtube.com/watch?v={youtube_id}"


def is_youtube_id(text: str) -> bool:
    """Whether ``text`` is an 11-character YouTube video id (ids may begin with '-')."""
    return bool(_YOUTUBE_ID.match(text))


def youtube_id(url: str) -> str | None:
    """The 11-character video id of any YouTube URL form (watch?v=, youtu.be/, /embed/, /shorts/, /v/, /live/)."""
    parsed = urlparse(url.strip())
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


@dataclass
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
