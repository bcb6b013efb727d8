"""VoxCeleb2 (robots.ox.ac.uk/~vgg/data/voxceleb): the release's per-utterance ``txt`` files as clips of the YouTube
videos they were cut from.

The release has one text file per utterance at ``{split}/txt/{speaker}/{youtube_id}/{utterance:05d}.txt``::

    Identity  : \\tid00012
    Reference : \\t21Uxsk56VDQ
    Offset    : \\t1
    FV Conf   : \\t17.179\\t(1)
    ASD Conf  : \\t4.920

    FRAME \\tX \\tY \\tW \\tH
    000245 \\t0.392 \\t0.223 \\t0.253 \\t0.451
    ...

frame numbers at 25 fps of the original video, the face box's top-left corner and size normalised to the frame
width/height. An utterance spans its first to its last listed frame (end exclusive of the frame after it). The
window is the union of the per-frame boxes, made square around its centre and enlarged by ``window_scale``; the
per-frame boxes become the clip's face track (in output pixels), and ``Offset`` (the release's A/V offset, frames)
is kept as ``release_av_offset`` beside hdtf's own SyncNet measure (the ``sync`` stage's ``sync_offset``).

At its real size (1,092,009 utterances, about 200 frame rows each) the list has far more rows than a parse can read
in a minute, so the parse reads each file's header and its first and last rows (the clip's span) and keeps where
the file is; the rows in between are read when the clip is resolved in its video's job (:func:`resolve_clip`), where
a malformed row is one note on the clip's record. A zip is read in place, one member at a time (bounded: no member
larger than :data:`MAX_TXT_BYTES` is inflated), and a job reads its clip's member at the offset the parse recorded,
without reading the archive's directory again.
"""

from __future__ import annotations

import os
import re
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.errors import HDTFError
from hdtf.options import option, single
from hdtf.records import (ClipSpec, CropBox, ParseReport, ResolvedClip, SourceCard, VideoSpec, distinct_names,
                          safe_name)
from hdtf.sources.common import WATCH_URL, chosen_splits, is_youtube_id, read_capped

if TYPE_CHECKING:
    from hdtf.media import MediaInfo

NAME = "voxceleb2"
SPLITS = ("dev", "test")
FPS = 25.0  # the release's frame numbers count frames of the original video at 25 fps
# The window's side as a multiple of the longer side of the union of an utterance's face boxes. The release's boxes
# are face detections (brow to chin, about the size of a 68-point landmark box); HDTF's framing puts such a box at
# about half the window's side (docs/faces.md: 0.48 for a still face at HDTF's crop ratio 1.2), which takes about
# 2x. The union already holds the head's movement over the utterance, so 1.8 gives a still face HDTF's framing
# within a few percent (hair, chin and a little neck in view) and a moving one a slightly tighter crop.
WINDOW_SCALE = 1.8
# One utterance file: a header and one ~37-byte row per frame; the longest utterances last a few minutes. A member
# beyond this (or one that inflates like a zip bomb) is reported and skipped, never held whole.
MAX_TXT_BYTES = 4 * 2**20
MAX_ZIP_RATIO = 100  # text of numbers deflates about 3-5 times
HEADER = ("Identity", "Reference", "Offset", "FV Conf", "ASD Conf")
# The per-clip facts a VoxCeleb2 clip adds to its record and rows (hdtf.records.ClipSpec.fields) and their arrow
# types.
_FIELDS = {"speaker": "string", "utterance": "string", "first_frame": "int32", "last_frame": "int32",
           "release_av_offset": "int32", "fv_conf": "float32", "asd_conf": "float32", "track_crc32": "int64"}

SPLIT_HELP = "which split to prepare: dev, test or all (default: every split the metadata holds)"
CARD = SourceCard(
    pretty_name="VoxCeleb2",
    description=(
        "VoxCeleb2: over a million utterances of 6,112 celebrities from YouTube videos, listed as per-utterance "
        "face tracks (frame range and per-frame face boxes in the original videos)."
    ),
    homepage="https://www.robots.ox.ac.uk/~vgg/data/voxceleb/vox2.html",
    citation="""\
@inproceedings{chung2018voxceleb2,
  title     = {VoxCeleb2: Deep Speaker Recognition},
  author    = {Chung, Joon Son and Nagrani, Arsha and Zisserman, Andrew},
  booktitle = {Interspeech},
  year      = {2018}
}""",
    license="other",
    license_name="voxceleb2-annotations-cc-by-4.0-videos-owners",
    licence=(
        "The VoxCeleb2 annotations (the txt metadata: speakers, frame ranges, face boxes, A/V offsets) are licensed "
        "CC BY 4.0 by the VoxCeleb authors (attribute them: see the citation). The videos are not: their copyright "
        "stays with their owners (the YouTube uploaders), and the clips cut from them are theirs too; every clip "
        "names its video (`youtube_id`, `url`). Check that your use of the clips is allowed before you share them."
    ),
    splits=("The splits are the release's (`dev`, `test`): each clip is in the split whose folder holds its "
            "utterance file. The release's splits are speaker-disjoint (no speaker is in both)."),
)


@dataclass(frozen=True)
class Options:
    """VoxCeleb2's list options: ``hdtf prepare --metadata/--split/--window-scale``, builder ``metadata=``,
    ``splits=``, ``window_scale=``."""

    metadata: Path | None = option(None, parser=Path, required=True, builder=True, canonical="path",
                                   folder_key=True, contents=True,
                                   help="the list file(s) of the source: VoxCeleb2's txt folder (dev/txt/..., "
                                        "test/txt/...) or its zip (vox2_dev_txt.zip)")
    splits: list[str] | None = option(None, flag="--split", parser=single, metavar="SPLIT", builder=True,
                                      canonical="set", help=SPLIT_HELP)
    window_scale: float | None = option(None, parser=float, builder=True, folder_key=True, metavar="RATIO",
                                        help="VoxCeleb2: the window's side as a multiple of the longer side of the "
                                             f"union of an utterance's face boxes (default {WINDOW_SCALE})")


def columns() -> dict[str, Any]:
    """The row fields of a VoxCeleb2 clip: the utterance file's facts, and (rows of finished clips) its face track
    (``hdtf.rows.FACE_TRACK``, read from the clip's track file)."""
    import datasets

    from hdtf.rows import FACE_TRACK, face_track_feature

    return {**{name: datasets.Value(dtype) for name, dtype in _FIELDS.items()}, FACE_TRACK: face_track_feature()}


def selected_splits(options: Options) -> list[str]:
    return chosen_splits(options.splits, SPLITS, "VoxCeleb2")


def standard_split(clip: Mapping[str, Any]) -> str:
    """The release's split the clip's utterance file is in (its ``subset``)."""
    subset = clip.get("subset")
    return subset if subset in SPLITS else SPLITS[0]


# ------------------------------------------------------------------------------------------------ the files


@dataclass(frozen=True, slots=True)
class Where:
    """Where one utterance file is, so that a job can read it again: ``member`` under the folder ``root``, or the
    zip member at its local header ``offset`` in the archive ``root`` (``root`` is one string shared by a list's
    files)."""

    root: str  # the folder or the zip archive (absolute)
    member: str  # the file's name below it
    zipped: bool = False
    offset: int = 0  # the member's local header offset
    compressed: int = 0  # its compressed size
    method: int = zipfile.ZIP_STORED
    crc: int = 0

    @property
    def name(self) -> str:
        return f"{self.root}!{self.member}" if self.zipped else f"{self.root}/{self.member}"


def _root_words(metadata: Path) -> tuple[str, ...]:
    """The words of the metadata's own name and its folder's (``vox2_dev_txt.zip`` -> vox2, dev, txt; ``.../dev/txt``
    -> dev, txt), which name the split when the files inside do not."""
    metadata = metadata.absolute()
    name = metadata.stem if metadata.is_file() else metadata.name
    return tuple(w for w in re.split(r"[^A-Za-z0-9]+", f"{metadata.parent.name} {name}") if w)


def _split_of(parts: tuple[str, ...]) -> str | None:
    """The split a file's path names: the folder above ``txt`` (``dev/txt/...``), else the last part that is one."""
    for index, part in enumerate(parts):
        if part == "txt" and index > 0 and parts[index - 1] in SPLITS:
            return parts[index - 1]
    return next((part for part in reversed(parts) if part in SPLITS), None)


def _entries(metadata: Path) -> Iterator[tuple[Where, Callable[[], bytes]]]:
    """(where, read) of every ``.txt`` file under a folder or in a zip, one at a time, in name order (folders) or
    archive order (zips). ``read`` gives the file's bytes (ValueError: too large, a zip bomb). A zip's members are
    read straight from the archive at their offsets (the directory's sizes and CRC-32 checked), one file handle for
    all of them."""
    if metadata.is_file():
        if not zipfile.is_zipfile(metadata):
            raise HDTFError(f"metadata {metadata} is neither a folder nor a zip file")
        root = str(metadata.absolute())
        with zipfile.ZipFile(metadata) as archive, open(metadata, "rb") as handle:
            for member in archive.infolist():
                if not member.filename.endswith(".txt"):
                    continue
                if member.file_size > MAX_TXT_BYTES or member.file_size > MAX_ZIP_RATIO * max(member.compress_size, 1):
                    where = Where(root, member.filename, True)
                    yield where, lambda m=member: read_capped(archive, m, MAX_TXT_BYTES, MAX_ZIP_RATIO)
                    continue
                where = Where(root, member.filename, True, member.header_offset, member.compress_size,
                              member.compress_type, member.CRC)
                yield where, lambda w=where: _member_bytes(handle, w)
        return
    if not metadata.is_dir():
        raise HDTFError(f"metadata {metadata} not found (give VoxCeleb2's txt folder or its zip)")
    root = str(metadata.absolute())
    for member in _walk(root, ""):
        yield Where(root, member), lambda m=member: _read_small(f"{root}/{m}")


def _walk(root: str, below: str) -> Iterator[str]:
    """The names of the ``.txt`` files under ``root/below`` in name order, one folder listing at a time."""
    with os.scandir(f"{root}/{below}" if below else root) as listing:
        entries = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in listing)
    for name, is_dir in entries:
        if is_dir:
            yield from _walk(root, f"{below}{name}/")
        elif name.endswith(".txt"):
            yield f"{below}{name}"


def _read_small(path: str) -> bytes:
    """A file's bytes, refused (ValueError) when it is larger than any utterance file (read capped, not whole). Asks
    for the size its ``fstat`` gives plus one byte, not the cap: a read of the cap allocates it, which cost each of a
    million small files ~40 us."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, min(size, MAX_TXT_BYTES) + 1)
        if len(data) > size:  # it grew since: read on in pieces, still capped
            pieces, total = [data], len(data)
            while total <= MAX_TXT_BYTES and (piece := os.read(fd, 1 << 16)):
                pieces.append(piece)
                total += len(piece)
            data = b"".join(pieces)
    finally:
        os.close(fd)
    if len(data) > MAX_TXT_BYTES:
        raise ValueError(f"is more than {MAX_TXT_BYTES // 2**20} MiB, more than an utterance file")
    return data


def _member_bytes(handle: Any, where: Where) -> bytes:
    """A zip member's bytes read at its local header offset from the open archive ``handle`` and inflated with a
    cap, checked against the CRC-32 the directory lists. ValueError when it is not what the directory says."""
    if where.compressed > MAX_TXT_BYTES:
        raise ValueError(f"{where.name} is larger than an utterance file")
    handle.seek(where.offset)
    head = handle.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise ValueError(f"{where.name}: no zip entry at offset {where.offset} (the archive changed?)")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    handle.seek(where.offset + 30 + name_len + extra_len)
    raw = handle.read(where.compressed)
    if where.method == zipfile.ZIP_DEFLATED:
        data = zlib.decompressobj(-15).decompress(raw, MAX_TXT_BYTES + 1)
        if len(data) > MAX_TXT_BYTES:
            raise ValueError(f"{where.name} inflates beyond an utterance file")
    elif where.method == zipfile.ZIP_STORED:
        data = raw
    else:
        raise ValueError(f"{where.name}: compression method {where.method} is not stored or deflated")
    if zlib.crc32(data) != where.crc:
        raise ValueError(f"{where.name}: CRC-32 differs from the one listed (the archive changed?)")
    return data


def read_where(where: Where) -> bytes:
    """An utterance file's bytes again, in a job: the file, or the zip member read at its recorded offset (one seek,
    no directory read). ValueError when it is not what the parse saw."""
    if not where.zipped:
        return _read_small(f"{where.root}/{where.member}")
    with open(where.root, "rb") as handle:
        return _member_bytes(handle, where)


# ------------------------------------------------------------------------------------------------ parsing


@dataclass(frozen=True, slots=True)
class Utterance:
    """What the parse keeps of one utterance file: its header facts, its span and where it is."""

    split: str
    speaker: str
    youtube_id: str
    utterance: str
    first_frame: int
    last_frame: int
    offset: int | None
    fv_conf: float | None
    asd_conf: float | None
    crc: int
    where: Where


class _Rejected(Exception):
    """The file cannot be taken; the report already says why."""


def parse_row(line: str) -> tuple[int, float, float, float, float]:
    """One ``FRAME X Y W H`` row; ValueError names what is wrong with it."""
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (FRAME X Y W H), got {len(fields)}")
    try:
        frame, x, y, w, h = int(fields[0]), *(float(v) for v in fields[1:])
    except ValueError:
        raise ValueError("FRAME must be a whole number and X Y W H numbers") from None
    if frame < 0 or not (w > 0 and h > 0):
        raise ValueError(f"frame {frame} or box size {w}x{h} is negative or empty")
    return frame, x, y, w, h


def _header(lines: list[str], file: str, report: ParseReport, video: str) -> dict[str, str]:
    """The header's values by label (``lines``: those before the ``FRAME`` line); malformed lines reported."""
    values: dict[str, str] = {}
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        label, colon, value = line.partition(":")
        label = label.strip()
        if not colon or label not in HEADER:
            report.add(file, index + 1, line, "not a header line (Identity, Reference, Offset, FV Conf, ASD Conf)",
                       video=video)
        elif label in values:
            report.add(file, index + 1, line, f"{label} given twice; the first kept", video=video)
        else:
            values[label] = value.strip()
    return values


def _number(values: dict[str, str], label: str, kind: type, lines: list[str], file: str, report: ParseReport,
            video: str) -> Any:
    """A numeric header value (the first word: ``FV Conf`` adds a count in brackets); None, reported, when it is
    missing or not a number."""
    text = values.get(label)
    try:
        return kind(text.split()[0]) if text else None
    except ValueError:
        line = next((i for i, raw in enumerate(lines) if raw.startswith(label)), -1)
        report.add(file, line + 1, lines[line] if line >= 0 else "", f"{label} is not a number; left empty",
                   "repaired", video)
        return None


_FRAME_LINE = re.compile(rb"^FRAME\b", re.MULTILINE)
_EDGE = 512  # bytes of a file's ends read for its first and last rows (a row is ~37 bytes)


def _edge_rows(body: bytes, first_line: int, from_end: bool) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank rows at one end of ``body`` (rows from line ``first_line`` on), the
    nearest first: enough to find the first (last) readable row without splitting the whole file."""
    count = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    chunk = body[-_EDGE:] if from_end else body[:_EDGE]
    lines = chunk.decode("utf-8", errors="replace").split("\n")
    if from_end:
        if body.endswith(b"\n"):
            lines.pop()
        numbered = [(first_line + count - len(lines) + i, line) for i, line in enumerate(lines)]
        numbered = numbered[1:] if len(chunk) < len(body) else numbered  # the first piece may be cut
        numbered.reverse()
    else:
        numbered = [(first_line + i, line) for i, line in enumerate(lines)]
        numbered = numbered[:-1] if len(chunk) < len(body) else numbered  # the last piece may be cut
    return [(n, line) for n, line in numbered if line.strip()]


def _all_rows(body: bytes, first_line: int, from_end: bool) -> list[tuple[int, str]]:
    rows = [(first_line + i, line) for i, line in enumerate(body.decode("utf-8", "replace").split("\n"))
            if line.strip()]
    return rows[::-1] if from_end else rows


def _plain_span(body: bytes) -> tuple[int, int] | None:
    """The first and last frame when the body's first and last lines are readable rows in order (nearly every file):
    what :func:`_span` finds then, without numbering lines; None for anything else (``_span`` reports it)."""
    end = body.find(b"\n")
    top = body if end < 0 else body[:end]
    bottom = body[body.rfind(b"\n", 0, len(body) - 1) + 1:]  # after the last newline but a final one
    try:
        first = parse_row(top.decode("utf-8", errors="replace"))[0]
        last = parse_row(bottom.decode("utf-8", errors="replace"))[0]
    except ValueError:
        return None
    return (first, last) if first <= last else None


def _span(body: bytes, first_line: int, file: str, report: ParseReport, video: str) -> tuple[int, int]:
    """The first and last frame: the first readable row from the top, the last from the bottom, read from the ends
    of ``body`` (all of it only when an end holds no readable row); the rows between are read with the track, when
    the clip is cut."""
    if (plain := _plain_span(body)) is not None:
        return plain
    found = []
    for from_end in (False, True):
        frame, seen = None, set()
        for rows in (_edge_rows, _all_rows):  # the whole body only when its end holds no readable row
            for number, line in rows(body, first_line, from_end):
                if number in seen:
                    continue
                seen.add(number)
                try:
                    frame = parse_row(line)[0]
                    break
                except ValueError as exc:
                    report.add(file, number, line, str(exc), video=video)
            if frame is not None or len(body) <= _EDGE:
                break
        if frame is None:
            if not from_end:
                report.add(file, 0, "", "no readable FRAME row: no face track; utterance skipped", video=video)
            raise _Rejected
        found.append(frame)
    first, last = found
    if last < first:
        report.add(file, 0, "", f"frames run backwards ({first} .. {last}); utterance skipped", video=video)
        raise _Rejected
    return first, last


def parse_utterance(data: bytes, where: Where, split: str, report: ParseReport) -> Utterance | None:
    """One utterance file, or None when it cannot be taken (the report says why, line by line). Reads its header
    and its first and last rows; the rows between are the job's (:func:`read_track`)."""
    file = where.name
    speaker_dir, youtube_dir, utterance = where.member.rsplit("/", 3)[-3:]
    utterance = utterance[: -len(".txt")]
    video = safe_name(f"{split}_{youtube_dir}")
    match = _FRAME_LINE.search(data)
    head = data[: match.start() if match else len(data)].decode("utf-8", errors="replace")
    if "\ufffd" in head:
        report.add(file, 0, "", "invalid UTF-8 bytes replaced", "repaired", video)
    lines = head.split("\n")
    values = _header(lines, file, report, video)
    if match is None:
        report.add(file, 0, "", "no FRAME X Y W H line: no face track; utterance skipped", video=video)
        return None
    rows_start = data.find(b"\n", match.start())
    body = data[rows_start + 1:] if rows_start >= 0 else b""
    try:
        first, last = _span(body, head.count("\n") + 2, file, report, video)
    except _Rejected:
        return None
    speaker, youtube_id = values.get("Identity") or speaker_dir, values.get("Reference") or youtube_dir
    for label, given, folder in (("Identity", values.get("Identity"), speaker_dir),
                                 ("Reference", values.get("Reference"), youtube_dir)):
        if given is None:
            report.add(file, 0, "", f"no {label} line; the folder's {folder!r} taken", "repaired", video)
        elif given != folder:
            report.add(file, 0, given, f"{label} {given!r} differs from its folder {folder!r}; the file's taken",
                       "warning", video)
    if not is_youtube_id(youtube_id):
        report.add(file, 0, youtube_id, "Reference is not an 11-character YouTube id; utterance skipped", video=video)
        return None
    number = _number(values, "Offset", int, lines, file, report, video)
    fv_conf = _number(values, "FV Conf", float, lines, file, report, video)
    asd_conf = _number(values, "ASD Conf", float, lines, file, report, video)
    crc = where.crc if where.zipped else zlib.crc32(data)
    return Utterance(split, sys.intern(speaker), sys.intern(youtube_id), utterance, first, last, number, fv_conf,
                     asd_conf, crc, where)


def list_videos(options: Options, split: str, *, fetch_dir: Path,
                offline: bool = False) -> tuple[list[VideoSpec], ParseReport]:
    """The split's videos (one per YouTube id, its utterances of every speaker as clips) from the user's txt folder
    or zip (never fetched: the release's metadata is the user's download)."""
    del fetch_dir, offline
    scale = WINDOW_SCALE if options.window_scale is None else float(options.window_scale)
    if not scale > 0:
        raise HDTFError(f"window scale must be positive, not {scale}")
    return parse_metadata(Path(options.metadata).expanduser(), split, scale)


def parse_metadata(metadata: Path, split: str, scale: float = WINDOW_SCALE) -> tuple[list[VideoSpec], ParseReport]:
    """Videos of ``split`` in a VoxCeleb2 txt folder or zip, and what was not taken verbatim. Streams the files:
    only what each clip needs is kept (its header facts, span and where its file is)."""
    if split not in SPLITS:
        raise HDTFError(f"VoxCeleb2 split {split!r} is not one of {', '.join(SPLITS)}")
    report = ParseReport()
    by_video: dict[str, list[Utterance]] = {}
    unsplit = 0
    words = _root_words(metadata)
    splits: dict[tuple[str, ...], str | None] = {}  # by the folders above SPEAKER/YOUTUBE_ID (a few in a release)
    for where, read in _entries(metadata):
        parts = tuple(where.member.split("/"))
        above = parts[:-3]
        if above not in splits:
            splits[above] = _split_of((*words, *above))
        found = splits[above]
        if found is None or len(parts) < 3:
            unsplit += 1
            continue
        if found != split:
            continue
        try:
            data = read()
        except ValueError as exc:
            report.add(where.name, 0, "", f"{exc}; utterance skipped")
            continue
        utterance = parse_utterance(data, where, split, report)
        if utterance is not None:
            by_video.setdefault(utterance.youtube_id, []).append(utterance)
    if unsplit:
        report.add(str(metadata), 0, "", f"{unsplit} .txt file(s) are not at {{dev,test}}/txt/SPEAKER/YOUTUBE_ID/"
                                         "UTTERANCE.txt (nor is the split in the folder's or zip's name); not taken")
    return _videos(split, by_video, str(metadata), report, scale), report


def _clip_name(u: Utterance) -> str:
    return f"{u.speaker}_{u.youtube_id}_{u.utterance}"


def _videos(split: str, by_video: dict[str, list[Utterance]], file: str, report: ParseReport,
            scale: float) -> list[VideoSpec]:
    """VideoSpecs in YouTube-id order, clips in frame order; names kept apart (``distinct_names``: ids depend on
    each name alone, so they stay when the list grows)."""
    keys, key_groups = distinct_names(f"{split}_{youtube_id}" for youtube_id in by_video)
    ids, id_groups = distinct_names(_clip_name(u) for us in by_video.values() for u in us)
    for group in (*key_groups, *id_groups):
        report.add(file, 0, ", ".join(group), "names sanitise to one file name; named apart", "repaired")
    videos = []
    for youtube_id in sorted(by_video):
        utterances = sorted(by_video.pop(youtube_id), key=lambda u: (u.first_frame, u.speaker, u.utterance))
        url = WATCH_URL.format(youtube_id=youtube_id)
        clips = tuple(_clip(split, url, u, ids[_clip_name(u)], scale) for u in utterances)
        videos.append(VideoSpec(source=NAME, subset=split, name=youtube_id, url=url, youtube_id=youtube_id,
                                resolution=None, clips=clips, file_key=keys[f"{split}_{youtube_id}"]))
    return videos


def _clip(split: str, url: str, u: Utterance, clip_id: str, scale: float) -> ClipSpec:
    index = int(u.utterance) if u.utterance.isdigit() else 0
    return ClipSpec(
        id=clip_id, source=NAME, subset=split, video_name=f"{u.speaker}/{u.youtube_id}/{u.utterance}",
        clip_index=index, youtube_id=u.youtube_id, url=url,
        start=u.first_frame / FPS, end=(u.last_frame + 1) / FPS, crop_ratio=scale,
        fields={"speaker": u.speaker, "utterance": u.utterance, "first_frame": u.first_frame,
               "last_frame": u.last_frame, "release_av_offset": u.offset, "fv_conf": u.fv_conf,
               "asd_conf": u.asd_conf, "track_crc32": u.crc},
        extra={"where": u.where},
    )


# ------------------------------------------------------------------------------------------------ resolving

# The window comes from the face boxes, read when the clip is resolved (hdtf.job.cannot_crop asks), and the boxes
# are kept as the clip's face track (the clips rows' ``face_track``: :func:`columns`).
WINDOW_AT_CUT = True


def read_track(clip: ClipSpec) -> tuple[list[tuple[int, float, float, float, float]], list[str]]:
    """The clip's rows (frame, x, y, w, h normalised) read from its file again, and one note for malformed rows
    (skipped). ValueError when the file is gone or changed since the parse."""
    where: Where = clip.extra["where"]
    try:
        data = read_where(where)
    except OSError as exc:
        raise ValueError(f"clip {clip.id}: its utterance file {where.name} cannot be read ({exc})") from None
    if zlib.crc32(data) != clip.fields["track_crc32"]:
        raise ValueError(f"clip {clip.id}: {where.name} changed since the list was read; list it again")
    lines = data.decode("utf-8", errors="replace").splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["FRAME"]) + 1
    rows, bad = [], []
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        try:
            rows.append(parse_row(line))
        except ValueError as exc:
            bad.append(f"line {number}: {exc}")
    notes = [f"face track: {len(bad)} malformed row(s) of {where.name} skipped ({'; '.join(bad[:3])}"
             f"{'; ...' if len(bad) > 3 else ''})"] if bad else []
    return rows, notes


def union_window(rows: list[tuple[int, float, float, float, float]], width: int, height: int,
                 scale: float) -> tuple[CropBox, list[str]]:
    """The union of the normalised boxes in a ``width`` x ``height`` frame, made square around its centre, its side
    ``scale`` times the union's longer side, then fitted into the frame (``CropBox.square_in``)."""
    left = min(x for _, x, _, _, _ in rows) * width
    top = min(y for _, _, y, _, _ in rows) * height
    right = max(x + w for _, x, _, w, _ in rows) * width
    bottom = max(y + h for _, _, y, _, h in rows) * height
    side = max(right - left, bottom - top) * scale
    cx, cy = (left + right) / 2, (top + bottom) / 2
    box = CropBox(int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side)), int(round(side)))
    notes = [f"window: union of {len(rows)} face boxes ({left:.0f},{top:.0f})-({right:.0f},{bottom:.0f}) x {scale:g}"]
    box, made = box.square_in(width, height, "window")
    return box, notes + made


def resolve_clip(clip: ClipSpec, media: MediaInfo, keyframes: Callable[[], list[float]]) -> ResolvedClip:
    """The utterance's frames as a time span of the video (frame n at n/25 s: first to last frame, end exclusive),
    its window from the union of its face boxes in the video's pixels, and the boxes as the face track. ValueError
    when the clip is not in the video or its file changed."""
    del keyframes
    rows, notes = read_track(clip)
    rows = [r for r in rows if clip.fields["first_frame"] <= r[0] <= clip.fields["last_frame"]]
    end, asked_end = clip.end, None
    if media.duration > 0 and clip.start >= media.duration:
        raise ValueError(f"clip {clip.id} starts at {clip.start:.2f}s but the video lasts only {media.duration:.2f}s")
    if media.duration > 0 and end > media.duration + 0.5 / FPS:
        notes.append(f"end {clip.end:.2f}s truncated to the video's duration {media.duration:.2f}s")
        end, asked_end = media.duration, clip.end
    width, height = media.width, media.height
    crop, made = union_window(rows, width, height, clip.crop_ratio or WINDOW_SCALE)
    track = tuple((frame, frame / FPS - clip.start, x * width, y * height, w * width, h * height)
                  for frame, x, y, w, h in rows)
    return ResolvedClip(start=clip.start, end=end, crop=crop, notes=tuple(notes + made), asked_end=asked_end,
                        track=track)
