"""CelebV-HQ (CelebV-HQ/CelebV-HQ): ``celebvhq_info.json`` parsed into records, and the release's window in the
downloaded video.

The release is one JSON object; its clips are under ``clips``: clip id (the release's output is ``{id}.mp4``) ->
``ytb_id``, ``duration`` {``start_sec``, ``end_sec``} (seconds), ``bbox`` {``top``, ``bottom``, ``left``,
``right``} (normalised to the frame's height and width) and ``attributes`` {``appearance``, ``action`` (lists of
0/1), ``emotion`` {``sep_flag``, ``labels``}}. Other top-level keys are ignored.

The window is the release's (``download_and_process.py``): each side of the box moved out by 0.02, clamped to
[0, 1]; in pixels of the downloaded video (rounded); then a square of the shorter side (half side = shorter side //
2) around the box's centre. The clip id is the release's own, so it never depends on the list's order. The release
defines no split: clips are split by a hash of their YouTube id (``sources.common.split_rule``), so one video, and
the clips of one person in it, are never in both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.errors import HDTFError
from hdtf.options import option, single
from hdtf.records import ClipSpec, CropBox, ParseReport, ResolvedClip, SourceCard, VideoSpec
from hdtf.sources.common import (
    WATCH_URL,
    chosen_splits,
    group_videos,
    in_split,
    is_youtube_id,
    span_in,
    split_by_key,
)

if TYPE_CHECKING:
    from hdtf.media import MediaInfo

NAME = "celebv_hq"
SPLITS = ("train", "test")
EXPAND = 0.02  # the release's margin on each side of the box, as a fraction of the frame
SIDES = ("top", "bottom", "left", "right")

SPLIT_HELP = ("which split to prepare: train, test or all (default all; CelebV-HQ has no split: about 5 percent "
              "of the YouTube videos are in test, by a hash of the id)")
TERMS = ("CelebV-HQ is for non-commercial research only. Its terms say: \"you agree not to further copy, publish or "
         "distribute any portion of the CelebV-HQ dataset\", except copies kept internally at one site. Do not "
         "publish these clips (a public Hub repository included).")
CARD = SourceCard(
    pretty_name="CelebV-HQ",
    description=("CelebV-HQ: 35,666 face video clips of 15,653 identities from YouTube, at least 512x512 pixels, "
                 "annotated with 83 facial attributes (appearance, action, emotion)."),
    homepage="https://celebv-hq.github.io",
    citation="""\
@inproceedings{zhu2022celebvhq,
  title     = {{CelebV-HQ}: A Large-Scale Video Facial Attributes Dataset},
  author    = {Zhu, Hao and Wu, Wayne and Zhu, Wentao and Jiang, Liming and Tang, Siwei and Zhang, Li and Liu, Ziwei
               and Loy, Chen Change},
  booktitle = {European Conference on Computer Vision (ECCV)},
  year      = {2022}
}""",
    license="other",
    license_name="celebv-hq-research-only",
    licence=(f"{TERMS} The videos belong to their uploaders on YouTube; no licence to them is granted here. The "
             "annotations (times, boxes, attributes) are the CelebV-HQ release's, under the same terms."),
    splits=("CelebV-HQ defines no split. `train` and `test` are hdtf's split of it (v1): by a hash of each clip's "
            "YouTube id (the release names no person), about 5 % of the videos in `test`, so no video is in both "
            "and a video's split never changes when the list grows."),
    no_redistribution=TERMS,
)


@dataclass(frozen=True)
class Options:
    """CelebV-HQ's list options: ``hdtf prepare --source celebv-hq --metadata FILE [--split S]``, builder
    ``metadata=``, ``splits=``."""

    metadata: Path | None = option(None, parser=Path, required=True, builder=True, canonical="path", folder_key=True,
                                   contents=True,
                                   help="the release's celebvhq_info.json (CelebV-HQ/CelebV-HQ)")
    splits: list[str] | None = option(None, flag="--split", parser=single, metavar="SPLIT", builder=True,
                                      canonical="set", help=SPLIT_HELP)


def columns() -> dict[str, Any]:
    """The row fields of a CelebV-HQ clip: its box (top, bottom, left, right, normalised) and attributes as
    released."""
    import datasets

    flags = datasets.List(datasets.Value("int8"))
    return {"box": datasets.List(datasets.Value("float64"), length=4), "appearance": flags, "action": flags,
            "emotion": datasets.List({"label": datasets.Value("string"), "start": datasets.Value("float64"),
                                      "end": datasets.Value("float64")})}


def selected_splits(options: Options) -> list[str]:
    return chosen_splits(options.splits, SPLITS, "CelebV-HQ")


def list_videos(options: Options, split: str, *, fetch_dir: Path,
                offline: bool = False) -> tuple[list[VideoSpec], ParseReport]:
    """The videos of ``split`` in the release's JSON (never fetched: it is the user's download)."""
    del fetch_dir, offline
    path = Path(options.metadata)
    stat = _stat(path)
    videos, report = parse_info(path, stat)
    return in_split(videos, split), report


def standard_split(clip: Mapping[str, Any]) -> str:
    subset = clip.get("subset")
    return subset if subset in SPLITS else split_by_key(NAME, str(clip.get("youtube_id") or ""))


def _stat(path: Path) -> tuple[int, int]:
    if not path.is_file():
        raise HDTFError(f"CelebV-HQ metadata {path} not found (give the release's celebvhq_info.json)")
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


@lru_cache(maxsize=1)
def parse_info(path: Path, stat: tuple[int, int] | None = None) -> tuple[list[VideoSpec], ParseReport]:
    """Every clip of the release's JSON as videos (one per YouTube id, its split by a hash of the id), and what was
    not taken verbatim. Parsed once per file version (``stat``) however many splits are listed."""
    del stat
    report = ParseReport()
    file = path.name
    try:
        with path.open("rb") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        raise HDTFError(f"CelebV-HQ metadata {path} is not readable JSON ({exc})") from None
    clips = document.get("clips") if isinstance(document, dict) else None
    if not isinstance(clips, dict):
        raise HDTFError(f"CelebV-HQ metadata {path} has no 'clips' object (is it celebvhq_info.json?)")
    del document  # the clips alone are kept, each read once into a ClipSpec
    videos = group_videos(_clips(clips, file, report), file, report)
    return videos, report


def _clips(clips: dict[str, Any], file: str, report: ParseReport) -> Iterator[ClipSpec]:
    for number, (clip_id, record) in enumerate(clips.items(), start=1):
        try:
            yield _clip(clip_id, record, file, number, report)
        except ValueError as exc:
            report.add(file, number, clip_id, f"clip {clip_id}: {exc}")


def _number(record: Any, key: str, what: str) -> float:
    value = record.get(key) if type(record) is dict else None
    if type(value) is float and value == value or type(value) is int:  # JSON numbers; a bool or NaN is none
        return float(value)
    raise ValueError(f"{what}.{key} is not a number")


def _clip(clip_id: str, record: Any, file: str, number: int, report: ParseReport) -> ClipSpec:
    """One release record as a clip; ValueError names what is wrong with it. The record is what ``json.load`` made
    (dicts, lists, str, int, float, bool, None), so exact type checks stand for the abstract ones."""
    if type(record) is not dict:
        raise ValueError("not an object")
    youtube_id = record.get("ytb_id")
    if type(youtube_id) is not str or not is_youtube_id(youtube_id):
        raise ValueError(f"ytb_id {youtube_id!r} is not an 11-character YouTube id")
    duration = record.get("duration")
    start, end = _number(duration, "start_sec", "duration"), _number(duration, "end_sec", "duration")
    if start < 0 or end <= start:
        raise ValueError(f"duration {start}-{end} s is empty or negative")
    bbox = record.get("bbox")
    top, bottom, left, right = (_number(bbox, side, "bbox") for side in SIDES)
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise ValueError(f"bbox top={top} bottom={bottom} left={left} right={right} is empty or outside 0-1")
    url = WATCH_URL.format(youtube_id=youtube_id)
    fields = _attributes(record.get("attributes"), end - start, clip_id, file, number, report)
    return ClipSpec(id=clip_id, source=NAME, subset=split_by_key(NAME, youtube_id), video_name=youtube_id,
                    clip_index=0, youtube_id=youtube_id, url=url, start=start, end=end,
                    box=(top, bottom, left, right), fields=fields)


_FLAG_TYPES = {int, bool}
_FLAGS = {0, 1}  # True and False are 1 and 0 here too


def _flags(value: Any) -> list[int] | None:
    """A list of 0/1 flags as ints (the release's ``appearance``, ``action``; a bool counts as its int), else None.
    The list ``json.load`` made is kept when it holds ints alone: nothing else holds it."""
    if type(value) is not list or not set(map(type, value)) <= _FLAG_TYPES or not set(value) <= _FLAGS:
        return None
    return value if bool not in set(map(type, value)) else [int(v) for v in value]


def _emotion(labels: Any, length: float) -> list[dict[str, Any]] | None:
    """The emotion as labelled spans of the clip (a single label spans the whole clip); None when malformed."""
    if type(labels) is str:
        return [{"label": labels, "start": 0.0, "end": length}]
    if type(labels) is list and all(type(s) is list and len(s) == 3 and type(s[0]) is str
                                    and all(type(t) in _NUMBER_TYPES for t in s[1:]) for s in labels):
        return [{"label": s[0], "start": float(s[1]), "end": float(s[2])} for s in labels]
    return None


_NUMBER_TYPES = {int, float, bool}  # what isinstance(t, (int, float)) takes of JSON's values


def _attributes(attributes: Any, length: float, clip_id: str, file: str, number: int,
                report: ParseReport) -> dict[str, Any]:
    """The release's attributes as row fields: appearance and action flags, and the emotion as labelled spans of the
    clip. Missing or malformed ones are None, with a warning. JSON values already (lists, str keys): a record read
    back compares equal."""
    attributes = attributes if type(attributes) is dict else {}
    out: dict[str, Any] = {"appearance": _flags(attributes.get("appearance")),
                           "action": _flags(attributes.get("action"))}
    for key in ("appearance", "action"):
        if out[key] is None:
            report.add(file, number, clip_id, f"clip {clip_id}: attributes.{key} is not a list of 0/1; left empty",
                       "warning")
    emotion = attributes.get("emotion")
    out["emotion"] = _emotion(emotion.get("labels") if type(emotion) is dict else None, length)
    if out["emotion"] is None:
        report.add(file, number, clip_id, f"clip {clip_id}: attributes.emotion has no labels; left empty", "warning")
    return out


def release_window(bbox: tuple[float, float, float, float], width: int, height: int) -> CropBox:
    """The release's window for a normalised box (top, bottom, left, right) in a ``width`` x ``height`` frame:
    expanded by :data:`EXPAND`, clamped, rounded to pixels, then a square of the shorter side around its centre
    (ffmpeg's crop takes the whole pixel at or before a fractional corner)."""
    top, bottom, left, right = bbox
    top, bottom = max(top - EXPAND, 0.0), min(bottom + EXPAND, 1.0)
    left, right = max(left - EXPAND, 0.0), min(right + EXPAND, 1.0)
    top, bottom, left, right = round(top * height), round(bottom * height), round(left * width), round(right * width)
    half = min(bottom - top, right - left) // 2
    centre_y, centre_x = (top + bottom) / 2, (left + right) / 2
    return CropBox(int(centre_x - half), int(centre_y - half), 2 * half, 2 * half)


def resolve_clip(clip: ClipSpec, media: MediaInfo, keyframes: Callable[[], list[float]]) -> ResolvedClip:
    """The clip's span and the release's window in the downloaded video's displayed pixels."""
    del keyframes
    end, asked_end, notes = span_in(clip, media.duration)
    window = release_window(clip.box, media.width, media.height)
    if window.w < 2:
        raise ValueError(f"clip {clip.id}: its box is less than 2 pixels in the {media.width}x{media.height} video")
    crop, made = window.square_in(media.width, media.height, "window")
    return ResolvedClip(start=clip.start, end=end, crop=crop, notes=tuple(notes + made), asked_end=asked_end)
