"""A list of your own: a CSV file with a header row, read row by row into records (``hdtf prepare --source csv``,
``load_dataset("csv_clips", ...)``: ``datasets``' own ``csv`` builder keeps its name).

Columns (header names compared without case, spaces and dashes as ``_``):

- ``url`` or ``youtube_id`` (one of them; both may be given): the video;
- ``start``, ``end``: seconds (``12.5``) or timecodes ``HH:MM:SS(.fff)``; EchoMimic v2's EMTD list names them
  ``Start Timecode`` and ``End Timecode``, which are read as they are;
- a window, optional: ``x``, ``y``, ``w``, ``h`` in pixels of a frame ``--reference-height`` pixels high (scaled to
  the downloaded video's height), or ``top``, ``bottom``, ``left``, ``right`` normalised to the frame; grown to a
  centred square of its longer side in the video (without a window, use ``--crop-method landmarks``);
- ``id`` (the clip's id), ``person`` (who it shows: keys the split), ``split`` (``train``, ``validation`` or
  ``test``), all optional;
- any other column is kept as a string, in the row's ``fields`` (a JSON object of them, in header order).

A clip's id is its ``id`` cell, else ``{video}_{start ms}_{end ms}`` (the video: its YouTube id, else ``url-`` and a
hash of the URL): its own content, never its row. Without a ``split`` column, clips are split by a hash of their
``person``, else of their video (``sources.common.split_rule``), so no person is in two splits.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.errors import HDTFError
from hdtf.options import option, single
from hdtf.records import ClipSpec, CropBox, ParseReport, ResolvedClip, SourceCard, VideoSpec, name_digest
from hdtf.sources.common import (
    WATCH_URL,
    chosen_splits,
    group_videos,
    in_split,
    is_youtube_id,
    millis,
    seconds,
    span_in,
    split_by_key,
    youtube_id,
)

if TYPE_CHECKING:
    from hdtf.media import MediaInfo

NAME = "csv_clips"
SPLITS = ("train", "validation", "test")
PIXELS = ("x", "y", "w", "h")
NORMALISED = ("top", "bottom", "left", "right")
# Header names read as another column's (after lower case, spaces and dashes to '_').
ALIASES = {"start_timecode": "start", "end_timecode": "end", "start_time": "start", "end_time": "end",
           "start_sec": "start", "end_sec": "end", "ytb_id": "youtube_id", "video_id": "youtube_id"}
KNOWN = ("url", "youtube_id", "start", "end", *PIXELS, *NORMALISED, "id", "person", "split")
SPLIT_NAMES = {"train": "train", "validation": "validation", "val": "validation", "dev": "validation",
               "test": "test"}
_SPACE = re.compile(r"[\s-]+")

SPLIT_HELP = ("which split to prepare: train, validation, test or all (default all; the list's split column, "
              "else about 5 percent of its persons, or videos, in test by a hash)")
CARD = SourceCard(
    pretty_name="CSV clips",
    description=("A list of talking-face clips of your own (a CSV of video URLs or YouTube ids, times and optional "
                 "face windows), such as EchoMimic v2's EMTD test list."),
    homepage="https://github.com/hdtf/hdtf/blob/main/docs/sources.md",
    citation="",
    license="other",
    license_name="your-list",
    licence=("The list is yours: its terms are whatever you give it. The videos, and so the clips cut from them, "
             "belong to their uploaders; no licence to them is granted here. Check the terms that apply to you "
             "(the list's, YouTube's, copyright law where you are) before sharing the clips."),
    splits=("The list's `split` column where it has one; otherwise hdtf's split (v1) by a hash of each clip's "
            "`person` (else of its video): about 5 % in `test`, no person (or video) in two splits."),
)


@dataclass(frozen=True)
class Options:
    """The list's options: ``hdtf prepare --source csv --metadata FILE [--reference-height H] [--split S]``,
    builder ``metadata=``, ``reference_height=``, ``splits=``."""

    metadata: Path | None = option(None, parser=Path, required=True, builder=True, canonical="path", folder_key=True,
                                   contents=True,
                                   help="a CSV list with a header: url or youtube_id, start, end (seconds or "
                                        "HH:MM:SS.fff), optional x,y,w,h or top,bottom,left,right, id, person, "
                                        "split (EMTD's URL,Start Timecode,End Timecode as it is)")
    reference_height: int | None = option(None, parser=int, builder=True, folder_key=True, metavar="PIXELS",
                                          help="the frame height the list's x,y,w,h windows are given in (needed "
                                               "with those columns)")
    splits: list[str] | None = option(None, flag="--split", parser=single, metavar="SPLIT", builder=True,
                                      canonical="set", help=SPLIT_HELP)


def columns() -> dict[str, Any]:
    """The row fields of a listed clip: its person, and the list's other columns."""
    import datasets

    return {"person": datasets.Value("string"), "fields": datasets.Value("string")}


def selected_splits(options: Options) -> list[str]:
    return chosen_splits(options.splits, SPLITS, "CSV list")


def list_videos(options: Options, split: str, *, fetch_dir: Path,
                offline: bool = False) -> tuple[list[VideoSpec], ParseReport]:
    """The videos of ``split`` in the list (never fetched: it is the user's file)."""
    del fetch_dir, offline
    path = Path(options.metadata)
    if not path.is_file():
        raise HDTFError(f"CSV list {path} not found")
    if options.reference_height is not None and options.reference_height <= 0:
        raise HDTFError(f"reference height {options.reference_height} must be a positive number of pixels")
    stat = path.stat()
    videos, report = parse_list(path, options.reference_height, (stat.st_size, stat.st_mtime_ns))
    return in_split(videos, split), report


def standard_split(clip: Mapping[str, Any]) -> str:
    subset = clip.get("subset")
    return subset if subset in SPLITS else "train"


def header_columns(header: list[str], file: str, reference_height: int | None) -> dict[str, int]:
    """Column name (a :data:`KNOWN` one, or another header cell as written) -> its index; HDTFError when the header
    cannot describe clips (no video column, no start or end, a partial window, x,y,w,h without a reference
    height, a name twice)."""
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        cell = cell.strip().lstrip("\ufeff")
        key = _SPACE.sub("_", cell.lower())
        key = ALIASES.get(key, key)
        name = key if key in KNOWN else cell
        if name in found:
            raise HDTFError(f"{file}: the header names column {name!r} twice")
        found[name] = index
    if "url" not in found and "youtube_id" not in found:
        raise HDTFError(f"{file}: the header has no url or youtube_id column (header: {','.join(header)})")
    missing = [name for name in ("start", "end") if name not in found]
    if missing:
        raise HDTFError(f"{file}: the header has no {' or '.join(missing)} column (header: {','.join(header)})")
    for group in (PIXELS, NORMALISED):
        given = [name for name in group if name in found]
        if given and len(given) != len(group):
            raise HDTFError(f"{file}: a window needs all of {','.join(group)}; the header has only {','.join(given)}")
    if "x" in found and reference_height is None:
        raise HDTFError(f"{file}: x,y,w,h windows are in pixels of a frame of some height: give it with "
                        "--reference-height (reference_height=)")
    return found


@lru_cache(maxsize=1)
def parse_list(path: Path, reference_height: int | None = None,
               stat: tuple[int, int] | None = None) -> tuple[list[VideoSpec], ParseReport]:
    """Every row of the list as clips grouped into videos, and what was not taken verbatim; read row by row, once
    per file version (``stat``)."""
    del stat
    report = ParseReport()
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise HDTFError(f"{path.name}: the list is empty (it needs a header row)")
        if header and header[0].startswith("\ufeff"):
            report.add(path.name, 1, "", "UTF-8 byte order mark at the start of the file removed", "repaired")
        found = header_columns(header, path.name, reference_height)
        clips = _clips(reader, found, path.name, reference_height, report)
        videos = group_videos(clips, path.name, report)
    return videos, report


def _clips(reader: Any, found: dict[str, int], file: str, reference_height: int | None,
           report: ParseReport) -> Iterator[ClipSpec]:
    seen: dict[str, int] = {}
    for row in reader:
        number, raw = reader.line_num, ",".join(row)
        if not "".join(row).strip():
            report.add(file, number, raw, "blank line", "skipped")
            continue
        try:
            clip = _clip(row, found, reference_height)
        except ValueError as exc:
            report.add(file, number, raw, str(exc))
            continue
        if "\ufffd" in raw:
            report.add(file, number, raw, "invalid UTF-8 bytes replaced", "repaired")
        if clip.id in seen:
            report.add(file, number, raw, f"duplicate clip {clip.id} (first on line {seen[clip.id]})")
            continue
        seen[clip.id] = number
        yield clip


def _clip(row: list[str], found: dict[str, int], reference_height: int | None) -> ClipSpec:
    """One row as a clip; ValueError names what is wrong with it."""
    if len(row) != len(found):
        raise ValueError(f"expected {len(found)} fields as the header names, found {len(row)}")
    cells = {name: row[index].strip() for name, index in found.items()}
    url, video_id = cells.get("url") or None, cells.get("youtube_id") or None
    if video_id is not None and not is_youtube_id(video_id):
        raise ValueError(f"youtube_id {video_id!r} is not an 11-character YouTube id")
    if url is not None and video_id is None:
        video_id = youtube_id(url)
    if url is None and video_id is None:
        raise ValueError("no url and no youtube_id")
    url = url or WATCH_URL.format(youtube_id=video_id)
    video = video_id or f"url-{name_digest(url)}"
    try:
        start, end = seconds(cells["start"]), seconds(cells["end"])
    except ValueError as exc:
        raise ValueError(f"start/end: {exc}") from None
    if end <= start:
        raise ValueError(f"clip {cells['start']}-{cells['end']} ends at or before its start")
    crop, box = _window(cells, reference_height)
    person = cells.get("person") or None
    split = cells.get("split")
    if split:
        if split.lower() not in SPLIT_NAMES:
            raise ValueError(f"split {split!r} is not train, validation or test")
        split = SPLIT_NAMES[split.lower()]
    else:
        split = split_by_key(NAME, person or video)
    others = {name: cells[name] for name in found if name not in KNOWN}
    return ClipSpec(id=cells.get("id") or f"{video}_{millis(start):07d}_{millis(end):07d}", source=NAME,
                    subset=split, video_name=video, clip_index=0, youtube_id=video_id, url=url, start=start,
                    end=end, resolution=reference_height if crop is not None else None, crop=crop, box=box,
                    fields={"person": person, "fields": json.dumps(others, ensure_ascii=False) if others else None})


def _window(cells: dict[str, str], reference_height: int | None
            ) -> tuple[CropBox | None, tuple[float, float, float, float] | None]:
    """The row's window: pixels (x, y, w, h at the reference height) or normalised (top, bottom, left, right), or
    none when its cells are empty; ValueError for a bad one."""
    if "x" in cells and any(cells[k] for k in PIXELS):
        try:
            x, y, w, h = (int(round(float(cells[k]))) for k in PIXELS)
        except ValueError:
            raise ValueError("x, y, w, h must be numbers of pixels") from None
        if w <= 0 or h <= 0 or x < 0 or y < 0:
            raise ValueError(f"window x={x} y={y} w={w} h={h} is empty or negative")
        return CropBox(x, y, w, h), None
    if "top" in cells and any(cells[k] for k in NORMALISED):
        try:
            top, bottom, left, right = (float(cells[k]) for k in NORMALISED)
        except ValueError:
            raise ValueError("top, bottom, left, right must be numbers (0-1)") from None
        if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
            raise ValueError(f"window top={top} bottom={bottom} left={left} right={right} is empty or outside 0-1")
        return None, (top, bottom, left, right)
    return None, None


def resolve_clip(clip: ClipSpec, media: MediaInfo, keyframes: Callable[[], list[float]]) -> ResolvedClip:
    """The clip's span and its window (if the row has one) in the downloaded video's displayed pixels: pixel
    windows scaled by the video's height over the reference height, normalised ones by its size; then a centred
    square of the longer side, moved into the frame."""
    del keyframes
    end, asked_end, notes = span_in(clip, media.duration)
    crop = clip.crop
    if crop is not None and clip.resolution and clip.resolution != media.height:
        scaled = crop.scaled(media.height / clip.resolution)
        notes.append(f"window {crop.as_tuple()} scaled by {media.height}/{clip.resolution} to {scaled.as_tuple()}")
        crop = scaled
    if clip.box is not None:
        top, bottom, left, right = clip.box
        x0, y0 = round(left * media.width), round(top * media.height)
        crop = CropBox(x0, y0, round(right * media.width) - x0, round(bottom * media.height) - y0)
    if crop is not None:
        crop, made = crop.square_in(media.width, media.height, "window")
        notes += made
    return ResolvedClip(start=clip.start, end=end, crop=crop, notes=tuple(notes), asked_end=asked_end)
