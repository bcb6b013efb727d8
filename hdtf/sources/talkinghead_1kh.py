"""TalkingHead-1KH (tcwang0509/TalkingHead-1KH): its ``data_list`` parsed into records, and its frames located in
the whole raw video, so that no one-minute chunk files are ever written.

The release has, per split (``small``, ``train``, ``val``)::

    {split}_video_ids.txt     one YouTube id per line (ids may begin with '-')
    {split}_video_tubes.txt   NAME, H, W, S, E, L, T, R, B

NAME is ``{youtube_id}_{chunk:04d}``: chunk k of the raw video as ``ffmpeg -c copy -f segment -segment_time 60``
wrote it. The official crop then keeps the chunk's frames S..E inclusive (ffmpeg ``trim=start_frame=S:end_frame=E+1``)
and the box L,T,R,B of an HxW frame, scaled to the downloaded size with truncation (``int(T / H * h)``).

Why the chunk start is not 60*k: with stream copy the segment muxer can only cut at a keyframe, so chunk k starts at
the first keyframe whose muxer timestamp reaches 60*k, counted from the chunk before it. The muxer timestamp is the
video's presentation time measured from its first decode timestamp: ffmpeg moves the stream to start at 0 and the
muxer shifts it again so that no decode timestamp is negative, which with B-frames puts every frame a reorder delay
later. ``chunk_starts`` reproduces that from the keyframe times, the first frame and the reorder delay, so frame
indices of a chunk become times in the whole video.

Nothing here runs ffmpeg: ``resolve_clip`` reads a probed ``MediaInfo`` and the keyframe times it is handed.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.errors import HDTFError
from hdtf.options import option, single
from hdtf.records import (
    ClipSpec,
    CropBox,
    ParseReport,
    ResolvedClip,
    SourceCard,
    VideoSpec,
    distinct_names,
    safe_name,
)
from hdtf.sources.common import WATCH_URL, is_youtube_id, list_lines, read_capped

if TYPE_CHECKING:
    from hdtf.media import MediaInfo

NAME = "talkinghead_1kh"
SPLITS = ("small", "train", "val")
REPOSITORY = "https://github.com/tcwang0509/TalkingHead-1KH"
SEGMENT_SECONDS = 60.0
# Tubes with fewer frames are dropped at parse time (about one second of video); 1 keeps every tube, as the
# official crop script does.
MIN_TUBE_FRAMES = 25
# A chunk starts a reorder delay (a few frames) before its minute at the earliest and ends at the first keyframe
# after the next one; a section download with this margin around the minute holds it for GOPs up to 5 s.
SECTION_MARGIN = 5.0

# Timestamps are whole ticks of at least 1/90000 s (mp4/ts time bases); this only absorbs float error.
_EPS = 1e-6
# The release's list files are a few MB of text; a file far beyond that (or a zip entry that inflates like a zip
# bomb) is refused before it is read into memory.
MAX_LIST_BYTES = 128 * 1024 * 1024
MAX_ZIP_RATIO = 100  # uncompressed / compressed size of a list file in data_list.zip (text of numbers: about 3-5)
_VIDEO_NAME = re.compile(r"^(?P<id>.+)_(?P<chunk>\d{4,})$")


# The help of --split / splits= (hdtf prepare --source talkinghead-1kh, load_dataset("talkinghead_1kh", ...)).
SPLIT_HELP = "which split to prepare: small, train or val (default small)"
CARD = SourceCard(
    pretty_name="TalkingHead-1KH",
    description=(
        "TalkingHead-1KH: about 1000 hours of Creative-Commons YouTube talking-head videos, listed as face tubes "
        "(frame range and box inside one-minute chunks)."
    ),
    homepage="https://github.com/tcwang0509/TalkingHead-1KH",
    citation="""\
@inproceedings{wang2021facevid2vid,
  title     = {One-Shot Free-View Neural Talking-Head Synthesis for Video Conferencing},
  author    = {Wang, Ting-Chun and Mallya, Arun and Liu, Ming-Yu},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2021}
}""",
    license="cc-by-3.0",
    licence=(
        "The TalkingHead-1KH release says its videos are licensed CC BY 3.0 by their authors (the YouTube "
        "uploaders); the clips are adaptations of them (cut, cropped, resized) and keep that licence, with "
        "attribution to each video's author: every clip names its video (`youtube_id`, `url`). hdtf does not "
        "check each video's licence on YouTube again. The tube lists are the release's; see its repository for "
        "their terms."
    ),
    splits=("The splits are the release's own lists (`small`, `train`, `val`): each clip is in the list that "
            "names it."),
)


def id_file(split: str) -> str:
    return f"{split}_video_ids.txt"


def tube_file(split: str) -> str:
    return f"{split}_video_tubes.txt"


def clip_stem(video_name: str, s: int, e: int, box: tuple[int, int, int, int]) -> str:
    """The official output name without ``.mp4``: ``{video_name}_S{S}_E{E}_L{L}_T{T}_R{R}_B{B}``."""
    left, top, right, bottom = box
    return f"{video_name}_S{s}_E{e}_L{left}_T{top}_R{right}_B{bottom}"


# ------------------------------------------------------------------------------------------------ reading


def read_list_files(data_list: Path, split: str) -> tuple[str, str, str]:
    """(where, ids text, tubes text) of ``split`` from an extracted ``data_list`` folder or ``data_list.zip``.

    A folder may be ``data_list`` itself or one that contains it; a zip is read in place (no extraction).
    """
    if split not in SPLITS:
        raise HDTFError(f"TalkingHead-1KH split {split!r} is not one of {', '.join(SPLITS)}")
    data_list = Path(data_list)
    wanted = (id_file(split), tube_file(split))
    if data_list.is_file():
        if not zipfile.is_zipfile(data_list):
            raise HDTFError(f"data list {data_list} is neither a folder nor a zip file")
        with zipfile.ZipFile(data_list) as archive:
            members = {Path(m.filename).name: m for m in archive.infolist() if not m.is_dir()}
            missing = [name for name in wanted if name not in members]
            if missing:
                raise HDTFError(f"data list {data_list} has no {', '.join(missing)}")
            texts = [_read_member(archive, members[name], data_list) for name in wanted]
        return str(data_list), texts[0], texts[1]
    if not data_list.is_dir():
        raise HDTFError(f"data list {data_list} not found (give the extracted data_list folder or data_list.zip)")
    for folder in (data_list, data_list / "data_list"):
        if all((folder / name).is_file() for name in wanted):
            texts = [_read_file(folder / name) for name in wanted]
            return str(folder), texts[0], texts[1]
    raise HDTFError(f"data list {data_list} has no {' and '.join(wanted)} (nor has {data_list / 'data_list'})")


def _too_big(what: str, size: int) -> HDTFError:
    return HDTFError(f"{what} is {size / 2**20:.0f} MiB or more uncompressed, more than a TalkingHead-1KH list file "
                     f"({MAX_LIST_BYTES // 2**20} MiB at most); not read (is it the release's data_list?)")


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, data_list: Path) -> str:
    """A list file of ``data_list.zip`` as text, streamed with a cap on its size and compression ratio
    (:func:`hdtf.sources.common.read_capped`: a zip bomb is refused after at most :data:`MAX_LIST_BYTES` are
    inflated, never held whole)."""
    what = f"{member.filename} in {data_list}"
    try:
        data = read_capped(archive, member, MAX_LIST_BYTES, MAX_ZIP_RATIO)
    except ValueError as exc:
        if "zip bomb" in str(exc):
            raise HDTFError(f"{what} {exc}") from None
        raise _too_big(what, max(member.file_size, MAX_LIST_BYTES + 1)) from None
    return data.decode("utf-8", errors="replace")


def _read_file(path: Path) -> str:
    """An extracted list file as text (refused when it is larger than any list file)."""
    size = path.stat().st_size
    if size > MAX_LIST_BYTES:
        raise _too_big(str(path), size)
    return path.read_text(encoding="utf-8", errors="replace")


@dataclass(frozen=True, slots=True)  # slots: a split's tubes are held at once
class Tube:
    """One line of ``{split}_video_tubes.txt``."""

    video_name: str
    youtube_id: str
    chunk: int
    height: int
    width: int
    first_frame: int  # S
    last_frame: int  # E, kept (inclusive)
    box: tuple[int, int, int, int]  # L, T, R, B in a height x width frame

    @property
    def num_frames(self) -> int:
        return self.last_frame - self.first_frame + 1


def _numbered(text: str, file: str, report: ParseReport) -> Iterable[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines: the release's lists tolerate spacing."""
    return ((line.number, line.raw) for line in list_lines(text, file, report, strict=False))


def parse_tube(line: str) -> Tube:
    """A tube line; ValueError names what is wrong with it."""
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != 9:
        raise ValueError(f"expected 9 comma-separated fields (NAME, H, W, S, E, L, T, R, B), got {len(fields)}")
    name = fields[0]
    match = _VIDEO_NAME.match(name)
    if match is None:
        raise ValueError(f"video name {name!r} is not YOUTUBEID_CHUNK (chunk as 4 digits)")
    try:
        h, w, s, e, left, top, right, bottom = (int(f) for f in fields[1:])
    except ValueError:
        raise ValueError("H, W, S, E, L, T, R, B must be whole numbers") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"frame size {w}x{h} is empty")
    if s < 0 or e < s:
        raise ValueError(f"frame range S={s} E={e} is empty or negative")
    if not (0 <= left < right and 0 <= top < bottom):
        raise ValueError(f"box L={left} T={top} R={right} B={bottom} is empty or negative")
    return Tube(name, match["id"], int(match["chunk"]), h, w, s, e, (left, top, right, bottom))


def parse_data_list(
    data_list: Path, split: str, *, min_frames: int = MIN_TUBE_FRAMES, ids: Sequence[str] | None = None
) -> tuple[list[VideoSpec], ParseReport]:
    """Videos (one per YouTube id, its tubes as clips) of ``split``, and what was not taken verbatim.

    ``ids`` restricts to those YouTube ids. Tubes shorter than ``min_frames`` frames, malformed lines, duplicate
    tubes and tubes of ids missing from the id list are skipped and recorded; boxes reaching outside the HxW frame
    are taken with a warning (the window is moved into the frame when resolved).
    """
    where, ids_text, tubes_text = read_list_files(data_list, split)
    report = ParseReport()
    id_name, tube_name = f"{where}/{id_file(split)}", f"{where}/{tube_file(split)}"

    listed: dict[str, int] = {}
    for number, line in _numbered(ids_text, id_name, report):
        if not is_youtube_id(line):
            report.add(id_name, number, line, "not an 11-character YouTube id")
        elif line in listed:
            report.add(id_name, number, line, f"duplicate id (first on line {listed[line]})",
                       video=safe_name(f"{split}_{line}"))
        else:
            listed[line] = number

    tubes: dict[str, list[Tube]] = {}
    seen: dict[str, int] = {}
    for number, line in _numbered(tubes_text, tube_name, report):
        try:
            tube = parse_tube(line)
        except ValueError as exc:
            report.add(tube_name, number, line, str(exc))
            continue
        stem = _tube_stem(tube)
        video = safe_name(f"{split}_{tube.youtube_id}")  # VideoSpec.key of the tube's video
        if stem in seen:
            report.add(tube_name, number, line, f"duplicate tube (first on line {seen[stem]})", video=video)
            continue
        seen[stem] = number
        if tube.youtube_id not in listed:
            report.add(tube_name, number, line, f"video {tube.youtube_id} is not in {id_file(split)}", video=video)
            continue
        if tube.num_frames < min_frames:
            report.add(tube_name, number, line, f"tube has {tube.num_frames} frames, fewer than {min_frames}",
                       video=video)
            continue
        _, _, right, bottom = tube.box
        if right > tube.width or bottom > tube.height:
            report.add(tube_name, number, line, f"box reaches outside the {tube.width}x{tube.height} frame",
                       "warning", video)
        tubes.setdefault(tube.youtube_id, []).append(tube)

    wanted = None if ids is None else set(ids)
    if wanted is not None:
        unknown = sorted(wanted - set(listed))
        if unknown:
            raise HDTFError(f"videos {unknown} are not in {id_name}")
    ids = _clip_ids(tubes, tube_name, report)
    videos = []
    for youtube_id, number in listed.items():
        if wanted is not None and youtube_id not in wanted:
            continue
        if youtube_id not in tubes:
            report.add(id_name, number, youtube_id, f"no usable tube in {tube_file(split)}", "warning",
                       safe_name(f"{split}_{youtube_id}"))
            continue
        videos.append(_video(split, youtube_id, tubes[youtube_id], ids, tube_name, report))
    return videos, report


def _tube_stem(tube: Tube) -> str:
    return clip_stem(tube.video_name, tube.first_frame, tube.last_frame, tube.box)


def _clip_ids(tubes: dict[str, list[Tube]], file: str, report: ParseReport) -> dict[str, str]:
    """Each tube's clip id by its official stem: the stem made safe, distinct even when two stems sanitise alike
    (a YouTube id may begin with '-', which a file name may not): one report line per such group. Taken over the
    whole split, so a video's ids do not depend on which videos are selected."""
    ids, collisions = distinct_names(_tube_stem(t) for ts in tubes.values() for t in ts)
    for group in collisions:
        report.add(file, 0, ", ".join(group), "tube names sanitise to one file name; named apart: "
                                              + ", ".join(f"{stem} -> {ids[stem]}" for stem in group), "repaired")
    return ids


@dataclass(frozen=True)
class Options:
    """TalkingHead-1KH's list options: ``hdtf prepare --data-list/--split``, builder ``data_list=``, ``splits=``,
    ``min_frames=``."""

    data_list: Path | None = option(None, parser=Path, required=True, builder=True, canonical="path",
                                    folder_key=True, contents=True,
                                    help="the extracted data_list folder or data_list.zip of "
                                         "tcwang0509/TalkingHead-1KH")
    splits: list[str] | None = option(None, flag="--split", parser=single, metavar="SPLIT", cli_default=["small"],
                                      builder=True, canonical="set", help=SPLIT_HELP)
    min_frames: int | None = option(None, cli=False, builder=True, folder_key=True,
                                    help=f"tubes with fewer frames are skipped (default {MIN_TUBE_FRAMES})")


def selected_splits(options: Options) -> list[str] | None:
    if options.splits is None:
        return None
    splits = [options.splits] if isinstance(options.splits, str) else list(options.splits)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise HDTFError(f"splits {unknown} are not TalkingHead-1KH splits ({', '.join(SPLITS)})")
    return splits


def list_videos(options: Options, split: str, *, fetch_dir: Path,
                offline: bool = False) -> tuple[list[VideoSpec], ParseReport]:
    """The split's videos from the data list (never fetched: the release's lists are the user's download)."""
    del fetch_dir, offline
    min_frames = MIN_TUBE_FRAMES if options.min_frames is None else options.min_frames
    return parse_data_list(options.data_list, split, min_frames=min_frames)


def standard_split(clip: Mapping[str, Any]) -> str:
    """The release's list the clip came from (its ``subset``): TalkingHead-1KH's splits are its lists."""
    subset = clip.get("subset")
    return subset if subset in SPLITS else SPLITS[0]


def _video(split: str, youtube_id: str, tubes: list[Tube], ids: dict[str, str], file: str,
           report: ParseReport) -> VideoSpec:
    sizes = sorted({(t.height, t.width) for t in tubes})
    if len(sizes) > 1:
        report.add(file, 0, youtube_id, f"tubes of one video give several frame sizes {sizes}; each tube keeps its "
                                        "own", "warning", safe_name(f"{split}_{youtube_id}"))
    url = WATCH_URL.format(youtube_id=youtube_id)
    ordered = sorted(tubes, key=lambda t: (t.chunk, t.first_frame, t.last_frame, t.box))
    clips = tuple(_clip(split, url, index, tube, ids[_tube_stem(tube)]) for index, tube in enumerate(ordered))
    return VideoSpec(source=NAME, subset=split, name=youtube_id, url=url, youtube_id=youtube_id,
                     resolution=tubes[0].height, clips=clips)


def _clip(split: str, url: str, index: int, tube: Tube, clip_id: str) -> ClipSpec:
    left, top, right, bottom = tube.box
    stem = _tube_stem(tube)
    nominal = tube.chunk * SEGMENT_SECONDS
    return ClipSpec(
        id=clip_id,
        source=NAME,
        subset=split,
        video_name=tube.video_name,
        clip_index=index,
        youtube_id=tube.youtube_id,
        url=url,
        # The list gives frames, not times: this is the chunk's minute widened by SECTION_MARGIN (for section
        # downloads and display); resolve_clip finds the exact span.
        start=max(0.0, nominal - SECTION_MARGIN),
        end=nominal + SEGMENT_SECONDS + SECTION_MARGIN,
        resolution=tube.height,
        crop=CropBox(left, top, right - left, bottom - top),
        extra={
            "official_name": f"{stem}.mp4",
            "chunk": tube.chunk,
            "first_frame": tube.first_frame,
            "last_frame": tube.last_frame,
            "ref_height": tube.height,
            "ref_width": tube.width,
            "box": tube.box,
        },
    )


# ------------------------------------------------------------------------------------------------ resolving


def chunk_starts(keyframes: Sequence[float], first_pts: float, origin: float, count: int,
                 segment: float = SEGMENT_SECONDS) -> list[float]:
    """Start times of the first ``count`` chunks (fewer if the video ends) the segment muxer would write.

    Times are on the video's own timeline (the keyframes'). ``first_pts`` is the first frame (chunk 0 starts
    there); ``origin`` is where the muxer's clock reads 0: the first frame less the reorder delay (the first decode
    timestamp). Chunk k starts at the first keyframe after chunk k-1's start whose muxer
    time reaches ``segment * k``: a keyframe exactly on the boundary starts the chunk, and after a long gap between
    keyframes the boundaries already passed are made up one keyframe at a time, as the muxer does.
    """
    starts = [first_pts]
    for time in sorted(keyframes):
        if len(starts) >= count:
            break
        if time > starts[-1] + _EPS and time - origin >= segment * len(starts) - _EPS:
            starts.append(time)
    return starts[:count]


def resolve_clip(clip: ClipSpec, media: MediaInfo, keyframes: Callable[[], list[float]]) -> ResolvedClip:
    """The tube's frames S..E as a time span of the whole raw video, and its box in the video's pixels.

    ``start`` lies a quarter frame before the first kept frame and ``end`` half a frame after the last, so an
    input-side seek with ``-t end-start`` takes exactly those frames at the source rate: the first frame lands less
    than half a frame after the cut, which a constant-rate muxer neither drops nor duplicates, and millisecond
    rounding of the times cannot move either edge across a frame. The box is scaled like the official script
    (separately in x and y, truncated), then grown to a centred square of its longer side (shrunk when the frame is
    too small) and moved into the frame, so a square output is not distorted and still holds the whole official box.
    ValueError when the chunk or the frames are not in the video.
    """
    info = clip.extra
    chunk, first, last = info["chunk"], info["first_frame"], info["last_frame"]
    if not media.fps > 0:
        raise ValueError(f"clip {clip.id}: the video's frame rate is unknown, so frame numbers cannot be placed")
    frame = 1.0 / media.fps
    times = keyframes()
    notes = []
    first_pts = media.video_start
    if times and times[0] > first_pts + frame / 2:
        # A section download: its keyframes are on the source's timeline, whose first frame is where -ss 0 is.
        first_pts = 0.0
        notes.append("chunk starts placed from a section download, taking the source's first frame at 0 s")
    starts = chunk_starts(times, first_pts, first_pts - media.video_decode_delay, chunk + 2)
    if len(starts) <= chunk:
        raise ValueError(f"clip {clip.id}: the video has only {len(starts)} one-minute chunk(s), not chunk {chunk}")
    video_end = media.start_time + media.duration
    chunk_end = starts[chunk + 1] if len(starts) > chunk + 1 else video_end
    first_time = starts[chunk] + first * frame
    last_time = starts[chunk] + last * frame
    if first_time >= chunk_end - _EPS:
        raise ValueError(f"clip {clip.id}: frame {first} is past the end of chunk {chunk} "
                         f"({chunk_end - starts[chunk]:.2f}s long at {media.fps:g} fps)")
    if last_time + frame > chunk_end + _EPS:
        kept = int(round((chunk_end - starts[chunk]) / frame)) - 1
        notes.append(f"frames {first}..{last} truncated to {first}..{kept}: chunk {chunk} ends there")
        last_time = starts[chunk] + kept * frame
    start = max(first_time - frame / 4, media.start_time) - media.start_time
    end = last_time + frame / 2 - media.start_time
    crop, crop_notes = _window(clip, media.width, media.height)
    return ResolvedClip(start=start, end=end, crop=crop, notes=tuple(notes + crop_notes))


def scale_box(box: tuple[int, int, int, int], ref: tuple[int, int], size: tuple[int, int]) -> CropBox:
    """L,T,R,B of a ref=(W, H) frame in a frame of size=(w, h), truncated as the official script does."""
    (left, top, right, bottom), (ref_w, ref_h), (w, h) = box, ref, size
    x0, x1 = int(left / ref_w * w), int(right / ref_w * w)
    y0, y1 = int(top / ref_h * h), int(bottom / ref_h * h)
    return CropBox(x0, y0, x1 - x0, y1 - y0)


def _window(clip: ClipSpec, width: int, height: int) -> tuple[CropBox, list[str]]:
    info = clip.extra
    ref = (info["ref_width"], info["ref_height"])
    box = scale_box(info["box"], ref, (width, height))
    notes = []
    if ref != (width, height):
        notes.append(f"box {tuple(info['box'])} of {ref[0]}x{ref[1]} scaled to {box.as_tuple()} in {width}x{height}")
    box, made = box.square_in(width, height, "box")
    return box, notes + made
