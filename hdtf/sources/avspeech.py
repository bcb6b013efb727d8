"""AVSpeech (looking-to-listen.github.io/avspeech): ``avspeech_train.csv`` / ``avspeech_test.csv`` parsed row by
row into records.

Each line (no header) is one 3-10 s segment: ``YouTube id, start (s), end (s), x, y``, where x, y is the speaking
face's centre at the segment's start, normalised (0, 0 top-left). A video id repeats on the lines of its segments and
may begin with ``-``. The release gives no window: the job finds the face nearest (x, y) on the segment's first
frames, tracks that one person (``hdtf.face.track``) and frames it with the landmark method (``hdtf.face.window``),
whatever ``--crop-method`` says. A clip's id is ``{id}_{start ms}_{end ms}``: its own content, never its line.

The release's two files are its own lists, not a split for training and testing of one model: hdtf splits each file by
a hash of the YouTube id (``sources.common.split_rule``; the release names no person), so a video is never in both.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.errors import HDTFError
from hdtf.options import option, single
from hdtf.records import ClipSpec, ParseReport, ResolvedClip, SourceCard, VideoSpec
from hdtf.sources.common import (
    WATCH_URL,
    chosen_splits,
    group_videos,
    in_split,
    is_youtube_id,
    millis,
    span_in,
    split_by_key,
)

if TYPE_CHECKING:
    from hdtf.media import MediaInfo

NAME = "avspeech"
SPLITS = ("train", "test")
FIELDS = ("youtube_id", "start", "end", "x", "y")

SPLIT_HELP = ("which split to prepare: train, test or all (default all; hdtf's split of the list: about 5 percent "
              "of the YouTube videos in test, by a hash of the id)")
CARD = SourceCard(
    pretty_name="AVSpeech",
    description=("AVSpeech: about 4,700 hours of YouTube video segments (3-10 s) of about 290,000 videos, each with "
                 "one visible speaker whose face position is given at the segment's start."),
    homepage="https://looking-to-listen.github.io/avspeech/",
    citation="""\
@article{ephrat2018looking,
  title   = {Looking to Listen at the Cocktail Party: A Speaker-Independent Audio-Visual Model for Speech Separation},
  author  = {Ephrat, Ariel and Mosseri, Inbar and Lang, Oran and Dekel, Tali and Wilson, Kevin and Hassidim, Avinatan
             and Freeman, William T. and Rubinstein, Michael},
  journal = {ACM Transactions on Graphics},
  volume  = {37},
  number  = {4},
  year    = {2018}
}""",
    license="other",
    license_name="avspeech-youtube-clips",
    licence=("The AVSpeech annotations (YouTube ids, segment times, face positions) are released under CC BY 4.0. "
             "The videos, and so the clips cut from them, belong to their uploaders on YouTube and are not covered "
             "by that licence; no licence to them is granted here. Check the terms that apply to you before "
             "sharing the clips."),
    splits=("`train` and `test` are hdtf's split (v1) of the list given (the release's train and test files are "
            "separate lists): by a hash of each clip's YouTube id (the release names no person), about 5 % of "
            "the videos in `test`, so no video is in both."),
)


@dataclass(frozen=True)
class Options:
    """AVSpeech's list options: ``hdtf prepare --source avspeech --metadata FILE [--split S]``, builder
    ``metadata=``, ``splits=``."""

    metadata: Path | None = option(None, parser=Path, required=True, builder=True, canonical="path", folder_key=True,
                                   contents=True, help="the release's avspeech_train.csv or avspeech_test.csv")
    splits: list[str] | None = option(None, flag="--split", parser=single, metavar="SPLIT", builder=True,
                                      canonical="set", help=SPLIT_HELP)


def columns() -> dict[str, Any]:
    """The row fields of an AVSpeech clip: the face position the release gives (normalised, at the start)."""
    import datasets

    return {"face_x": datasets.Value("float32"), "face_y": datasets.Value("float32")}


def selected_splits(options: Options) -> list[str]:
    return chosen_splits(options.splits, SPLITS, "AVSpeech")


def list_videos(options: Options, split: str, *, fetch_dir: Path,
                offline: bool = False) -> tuple[list[VideoSpec], ParseReport]:
    """The videos of ``split`` in the list file (never fetched: it is the user's download)."""
    del fetch_dir, offline
    path = Path(options.metadata)
    if not path.is_file():
        raise HDTFError(f"AVSpeech list {path} not found (give avspeech_train.csv or avspeech_test.csv)")
    stat = path.stat()
    videos, report = parse_list(path, (stat.st_size, stat.st_mtime_ns))
    return in_split(videos, split), report


def standard_split(clip: Mapping[str, Any]) -> str:
    subset = clip.get("subset")
    return subset if subset in SPLITS else split_by_key(NAME, str(clip.get("youtube_id") or ""))


@lru_cache(maxsize=1)
def parse_list(path: Path, stat: tuple[int, int] | None = None) -> tuple[list[VideoSpec], ParseReport]:
    """Every segment of the list as videos (one per YouTube id and split), and what was not taken verbatim; the
    file is read row by row, once per file version (``stat``) however many splits are listed."""
    del stat
    report = ParseReport()
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        videos = group_videos(_clips(handle, path.name, report), path.name, report)
    return videos, report


def _clips(handle: Any, file: str, report: ParseReport) -> Iterator[ClipSpec]:
    reader = csv.reader(handle)
    seen: dict[str, int] = {}
    for row in reader:
        number = reader.line_num
        raw = ",".join(row)
        if number == 1 and row and row[0].startswith("\ufeff"):
            row[0] = row[0][1:]
            report.add(file, number, "", "UTF-8 byte order mark at the start of the file removed", "repaired")
        if not "".join(row).strip():
            report.add(file, number, raw, "blank line", "skipped")
            continue
        try:
            clip = _clip(row)
        except ValueError as exc:
            report.add(file, number, raw, str(exc))
            continue
        if any(cell != cell.strip() for cell in row) or "\ufffd" in raw:
            report.add(file, number, raw, "spaces around fields or invalid UTF-8 bytes removed", "repaired")
        if clip.id in seen:
            report.add(file, number, raw, f"duplicate segment (first on line {seen[clip.id]})")
            continue
        seen[clip.id] = number
        yield clip


def _clip(row: list[str]) -> ClipSpec:
    """One line as a clip; ValueError names what is wrong with it."""
    if len(row) != len(FIELDS):
        raise ValueError(f"expected {len(FIELDS)} comma-separated fields (YouTube id, start, end, x, y), "
                         f"found {len(row)}")
    youtube_id = row[0].strip()
    if not is_youtube_id(youtube_id):
        raise ValueError(f"{youtube_id!r} is not an 11-character YouTube id")
    try:
        start, end, x, y = (float(cell) for cell in row[1:])
    except ValueError:
        raise ValueError("start, end, x and y must be numbers") from None
    if not (start >= 0 and end > start):
        raise ValueError(f"segment {start}-{end} s ends at or before its start")
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise ValueError(f"face position ({x}, {y}) is outside the frame (0-1)")
    return ClipSpec(id=f"{youtube_id}_{millis(start):07d}_{millis(end):07d}", source=NAME,
                    subset=split_by_key(NAME, youtube_id), video_name=youtube_id, clip_index=0,
                    youtube_id=youtube_id, url=WATCH_URL.format(youtube_id=youtube_id), start=start, end=end,
                    fields={"face_x": x, "face_y": y}, face_at=(x, y))


def resolve_clip(clip: ClipSpec, media: MediaInfo, keyframes: Callable[[], list[float]]) -> ResolvedClip:
    """The segment's span in the video; no window (the job tracks the face nearest ``clip.face_at``)."""
    del keyframes
    end, asked_end, notes = span_in(clip, media.duration)
    return ResolvedClip(start=clip.start, end=end, crop=None, notes=tuple(notes), asked_end=asked_end)
