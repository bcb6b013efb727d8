"""HDTF metadata: the 15 text files of MRzzm/HDTF parsed into VideoSpec/ClipSpec records, and HDTF's clip rules.

Per subset S (RD, WDA, WRA) the files are::

    {S}_video_url.txt       Name URL
    {S}_resolution.txt      Name.mp4 HEIGHT                        reference height the crop windows refer to
    {S}_annotion_time.txt   Name.mp4 mm:ss-mm:ss [mm:ss-mm:ss ...] clip k = the k-th interval (k from 0)
    {S}_crop_wh.txt         Name_k.mp4 X W Y H                     "min_width width min_height height"
    {S}_crop_ratio.txt      Name_k.mp4 RATIO

Clip ids are ``{S}_{Name}_{k:03d}`` with the same 0-based k as the crop files, so an id maps back to its metadata.

The real files are not clean. Every deviation becomes a ``ParseIssue``, with one of three actions:

- ``repaired``: the data was taken after a fix that loses nothing (UTF-8 BOM stripped, trailing spaces stripped,
  missing final newline, resolution 0 read as "unknown").
- ``warning``: the data was taken but is incomplete (a clip without crop window or crop ratio, a URL without a
  YouTube id, an annotated video without URL or resolution).
- ``skipped``: a line, interval or whole subset was not taken (malformed line, end <= start, duplicate name: the
  first line wins, a crop line for a clip that does not exist, a video with a URL but no annotation, a subset
  with a missing file).

Nothing here knows about ffmpeg: ``resolve_clip`` only reads a probed ``MediaInfo``.

Provenance (``ParseReport.provenance``, recorded in the manifest, shown by dataset cards and evaluation reports): the
pinned release (``MRzzm/HDTF`` at :data:`PINNED_COMMIT`) when the lists were fetched, else the user's folder with the
SHA-256 of its files and how many clips of the chosen subsets differ from the release (changed, added; and how many
of its clips are missing), counted against the fingerprints of the release's clips that ship with the package
(``hdtf_release_clips.txt``). A folder whose clips all match the release is the release (a part of it, when some are
missing); any other is edited metadata, never "HDTF" unqualified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf import atomic
from hdtf.errors import HDTFError
from hdtf.options import names, option, single
from hdtf.records import (
    MAX_KEY,
    ClipSpec,
    CropBox,
    ParseReport,
    ResolvedClip,
    SourceCard,
    VideoSpec,
    distinct_names,
    name_digest,
    safe_name,
)
from hdtf.sources.common import Line, list_lines, youtube_id
from hdtf.splits import CURRENT, RULES, render_test_list, split_of, split_of_clip

if TYPE_CHECKING:
    from hdtf.media import MediaInfo

NAME = "hdtf"
SPLITS = ("train", "test")  # hdtf.splits: versioned, by person (HDTF itself has no official split)
ALL_SPLITS = "all"
SUBSETS = ("RD", "WDA", "WRA")
PINNED_COMMIT = "bbde889bbab954c9a9ebcabe9962885c29f2165e"
RELEASE = "MRzzm/HDTF"
RELEASE_FILE = "hdtf_release_clips.txt"  # clip id -> fingerprint of the pinned release's clips (ships with hdtf)
METADATA_URL = "https://raw.githubusercontent.com/MRzzm/HDTF/{commit}/HDTF_dataset/{file}"
KINDS = ("video_url", "resolution", "annotion_time", "crop_wh", "crop_ratio")
MAX_METADATA_BYTES = 4 * 1024 * 1024  # per file; the largest pinned one is about 10 KB
# What a user without the network can do instead (the CLI flag and the builder argument of ``metadata_dir``).
OFFLINE_HINT = ("; without the network, give the 15 files of HDTF's HDTF_dataset/ folder: hdtf prepare "
                "--metadata-dir DIR, or pass metadata_dir= to load_dataset")

log = logging.getLogger(__name__)

_TIME = re.compile(r"^\d+(?::\d{1,2}){1,2}(?:\.\d+)?$")
_CLIP_FILE = re.compile(r"^(?P<video>.+)_(?P<k>\d+)$")


# The help of --split / splits= (hdtf prepare --source hdtf, load_dataset("hdtf", splits=...)).
SPLIT_HELP = ("which split to prepare: train, test or all (default all; the standard split v1 of hdtf.splits puts 22 "
              "of the 436 clips in test, no person in both)")
CARD = SourceCard(
    pretty_name="HDTF",
    description=(
        "HDTF (High-Definition Talking Face): about 16 hours of 720p/1080p YouTube interview and speech videos "
        "of roughly 300 subjects, annotated as clips with face crop windows."
    ),
    homepage="https://github.com/MRzzm/HDTF",
    citation="""\
@inproceedings{zhang2021flow,
  title     = {Flow-Guided One-Shot Talking Face Generation With a High-Resolution Audio-Visual Dataset},
  author    = {Zhang, Zhimeng and Li, Lincheng and Ding, Yu and Fan, Changjie},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {3661--3670},
  year      = {2021}
}""",
    license="other",
    license_name="hdtf-youtube-clips",
    licence=(
        "The HDTF metadata (YouTube URLs, clip times, crop windows, resolutions) is released by its authors under "
        "CC BY 4.0. The videos, and so the clips cut from them, belong to their uploaders on YouTube and are not "
        "covered by that licence; no licence to them is granted here. Check the terms that apply to you "
        "(YouTube's terms of service, copyright and data-protection law where you are) before using or sharing "
        "the clips."
    ),
    splits=(
        "`train` and `test` are HDTF's standard split v1 (HDTF publishes none; it is defined by the `hdtf` "
        "package, `hdtf.splits`): by person, so that no one is in both, with about 5 % of the clips in `test`. "
        "The test clips of the pinned metadata are listed in `hdtf/splits/hdtf_v1_test.txt`, for citing. Train "
        "on `train` and report results on `test`."
    ),
)


def metadata_files(subset: str) -> dict[str, str]:
    """The five file names of ``subset``, by kind."""
    return {kind: f"{subset}_{kind}.txt" for kind in KINDS}


def parse_time(text: str) -> float:
    """Seconds of ``mm:ss`` or ``hh:mm:ss`` (fractional seconds allowed); ValueError otherwise."""
    if not _TIME.match(text):
        raise ValueError(f"not a mm:ss or hh:mm:ss time: {text!r}")
    *head, last = text.split(":")
    fields = [int(v) for v in head] + [float(last)]
    if any(v >= 60 for v in fields[1:]):
        raise ValueError(f"minutes/seconds field >= 60 in {text!r}")
    seconds = 0.0
    for value in fields:
        seconds = seconds * 60 + value
    return seconds


class _SubsetReader:
    """Reads metadata files line by line, reporting every deviation into the shared report (with the video a line
    is about, so that a run of a few videos can show only theirs)."""

    def __init__(self, directory: Path, subset: str, report: ParseReport) -> None:
        self.directory, self.subset, self.report = directory, subset, report
        self.keys: dict[str, str] = {}  # video name -> key, once the subset's names are told apart (_video_keys)

    def video(self, name: str) -> str:
        """The key of video ``name`` of this subset (``VideoSpec.key``)."""
        return self.keys.get(name) or safe_name(f"{self.subset}_{name}", MAX_KEY)

    def video_of_line(self, file: str, raw: str) -> str | None:
        """The key of the video a raw line names (``Name.mp4`` or, in the crop files, ``Name_k.mp4``)."""
        fields = raw.split()
        if not fields:
            return None
        name = fields[0].removesuffix(".mp4")
        if file.endswith(("_crop_wh.txt", "_crop_ratio.txt")) and (match := _CLIP_FILE.match(name)):
            name = match["video"]
        return self.video(name)

    def lines(self, file: str) -> list[Line]:
        return list_lines((self.directory / file).read_bytes(), file, self.report,
                          video_of=lambda raw: self.video_of_line(file, raw))

    def keyed(self, file: str, nfields: int | None, min_fields: int = 2) -> dict[str, Line]:
        """Lines by their first field (``.mp4`` removed); duplicates and wrong field counts are skipped."""
        table: dict[str, Line] = {}
        for line in self.lines(file):
            n = len(line.fields)
            if (nfields is not None and n != nfields) or n < min_fields:
                want = nfields if nfields is not None else f"at least {min_fields}"
                self.report.add(file, line.number, line.raw, f"expected {want} fields, found {n}",
                                video=self.video_of_line(file, line.raw))
                continue
            key = line.fields[0].removesuffix(".mp4")
            if key in table:
                self.report.add(file, line.number, line.raw, f"duplicate name {key!r} (line {table[key].number} kept)",
                                video=self.video_of_line(file, line.raw))
                continue
            table[key] = line
        return table


def _clip_table(
    reader: _SubsetReader, file: str, parse: Callable[[list[str]], object]
) -> dict[tuple[str, int], tuple[object, int, str]]:
    """``Name_k.mp4 ...`` lines by (Name, k): the value parsed by ``parse`` (which raises ValueError when bad), the
    line's number and text (not its split fields: a table of a million clips' lines is held while the clips are
    made)."""
    table: dict[tuple[str, int], tuple[object, int, str]] = {}
    for key, line in reader.keyed(file, None).items():
        match = _CLIP_FILE.match(key)
        if match is None:
            reader.report.add(file, line.number, line.raw, f"name {key!r} is not of the form Name_k.mp4")
            continue
        try:
            value = parse(line.fields[1:])
        except ValueError as exc:
            reader.report.add(file, line.number, line.raw, str(exc), video=reader.video(match["video"]))
            continue
        table[(sys.intern(match["video"]), int(match["k"]))] = (value, line.number, line.raw)
    return table


def _parse_crop(fields: list[str]) -> CropBox:
    if len(fields) != 4:
        raise ValueError(f"expected 4 numbers (min_width width min_height height), found {len(fields)}")
    try:
        x, w, y, h = (int(v) for v in fields)
    except ValueError:
        raise ValueError(f"crop values must be integers: {' '.join(fields)}") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ValueError(f"crop window x={x} y={y} w={w} h={h} is empty or negative")
    return CropBox(x=x, y=y, w=w, h=h)


def _parse_ratio(fields: list[str]) -> float:
    if len(fields) != 1:
        raise ValueError(f"expected 1 ratio, found {len(fields)} values")
    try:
        ratio = float(fields[0])
    except ValueError:
        raise ValueError(f"crop ratio is not a number: {fields[0]!r}") from None
    if not ratio > 0:
        raise ValueError(f"crop ratio must be positive: {fields[0]!r}")
    return ratio


def _parse_subset(directory: Path, subset: str, report: ParseReport) -> list[VideoSpec]:
    files = metadata_files(subset)
    missing = [name for name in files.values() if not (directory / name).is_file()]
    if missing:
        message = f"subset {subset} skipped: missing {', '.join(missing)} in {directory}"
        for name in missing:
            report.add(name, 0, "", f"file not found; subset {subset} skipped", "skipped")
        warnings.warn(message, stacklevel=3)
        log.warning(message)
        return []
    reader = _SubsetReader(directory, subset, report)
    urls = reader.keyed(files["video_url"], 2)
    resolutions = reader.keyed(files["resolution"], 2)
    annotations = reader.keyed(files["annotion_time"], None)
    crops = _clip_table(reader, files["crop_wh"], _parse_crop)
    ratios = _clip_table(reader, files["crop_ratio"], _parse_ratio)

    for name, line in urls.items():
        if name not in annotations:
            report.add(files["video_url"], line.number, line.raw, f"video {name!r} has a URL but no annotated clips",
                       video=reader.video(name))

    keys = reader.keys = _video_keys(subset, annotations, files["annotion_time"], report)
    used: set[tuple[str, int]] = set()
    videos = []
    for name, line in annotations.items():
        key = reader.video(name)
        url, yt_id = _video_url(name, urls, files["video_url"], report, line, key)
        resolution = _video_resolution(name, resolutions, files["resolution"], report, line, key)
        clips = []
        intervals: list[tuple[float, float] | None] = []
        for k, token in enumerate(line.fields[1:]):
            try:
                start, end = _parse_interval(token)
            except ValueError as exc:
                report.add(files["annotion_time"], line.number, line.raw, f"clip {k} of {name}: {exc}", video=key)
                intervals.append(None)
                continue
            for other_k, other in enumerate(intervals):
                if other is not None and start < other[1] and other[0] < end:
                    report.add(
                        files["annotion_time"], line.number, line.raw,
                        f"clip {k} of {name} overlaps clip {other_k}; kept as annotated", "warning", key,
                    )
            intervals.append((start, end))
            crop = crops.get((name, k))
            ratio = ratios.get((name, k))
            used.add((name, k))
            absent = [files[kind] for kind, got in (("crop_wh", crop), ("crop_ratio", ratio)) if got is None]
            if absent:
                report.add(
                    files["annotion_time"], line.number, line.raw,
                    f"clip {k} of {name} has no line in {' and '.join(absent)}", "warning", key,
                )
            clips.append(
                ClipSpec(
                    id=f"{keys[name]}_{k:03d}",
                    source=NAME,
                    subset=subset,
                    video_name=name,
                    clip_index=k,
                    youtube_id=yt_id,
                    url=url,
                    start=start,
                    end=end,
                    resolution=resolution,
                    crop=None if crop is None else crop[0],
                    crop_ratio=None if ratio is None else ratio[0],
                )
            )
        if not clips:
            report.add(files["annotion_time"], line.number, line.raw, f"video {name!r} has no usable interval",
                       video=key)
            continue
        videos.append(
            VideoSpec(source=NAME, subset=subset, name=name, url=url, youtube_id=yt_id,
                      resolution=resolution, clips=tuple(clips), file_key=keys[name])
        )

    for kind, table in (("crop_wh", crops), ("crop_ratio", ratios)):
        for (name, k), (_, number, raw) in table.items():
            if (name, k) not in used:
                report.add(files[kind], number, raw, f"no annotated clip {k} of video {name!r}",
                           video=reader.video(name))
    return videos


def _video_keys(subset: str, annotations: dict[str, Line], file: str, report: ParseReport) -> dict[str, str]:
    """Each video's key (``{subset}_{Name}`` made safe, at most MAX_KEY characters; clip ids add ``_k``), distinct
    even when names sanitise alike (``Foo(1)``, ``Foo[1]``): one report line per such group, naming the keys given."""
    texts = {f"{subset}_{name}": name for name in annotations}
    keys, collisions = distinct_names(texts, MAX_KEY)
    for group in collisions:
        first = min((annotations[texts[text]] for text in group), key=lambda line: line.number)
        named = ", ".join(f"{texts[text]!r} -> {keys[text]}" for text in group)
        report.add(file, first.number, first.raw, f"video names sanitise to one file name; named apart: {named}",
                   "repaired")
    collided = {text for group in collisions for text in group}
    for text, key in keys.items():
        if text not in collided and key.endswith(f"-{name_digest(text)}"):
            line = annotations[texts[text]]
            report.add(file, line.number, line.raw, f"video name longer than {MAX_KEY} characters as a file name; "
                                                    f"its files are named {key}", "repaired")
    return {texts[text]: key for text, key in keys.items()}


def _video_url(
    name: str, urls: dict[str, Line], file: str, report: ParseReport, annotation: Line, key: str
) -> tuple[str | None, str | None]:
    line = urls.get(name)
    if line is None:
        report.add(file, 0, annotation.raw, f"annotated video {name!r} has no URL", "warning", key)
        return None, None
    url = line.fields[1]
    yt_id = youtube_id(url)
    if yt_id is None:
        report.add(file, line.number, line.raw, f"no YouTube id found in the URL of {name!r}", "warning", key)
    return url, yt_id


def _video_resolution(
    name: str, resolutions: dict[str, Line], file: str, report: ParseReport, annotation: Line, key: str
) -> int | None:
    line = resolutions.get(name)
    if line is None:
        report.add(file, 0, annotation.raw, f"annotated video {name!r} has no resolution", "warning", key)
        return None
    try:
        value = int(line.fields[1])
    except ValueError:
        report.add(file, line.number, line.raw, f"resolution of {name!r} is not an integer", "warning", key)
        return None
    if value <= 0:
        report.add(file, line.number, line.raw, f"resolution {value} of {name!r} read as unknown", "repaired", key)
        return None
    return value


def _parse_interval(token: str) -> tuple[float, float]:
    start_text, sep, end_text = token.partition("-")
    if not sep:
        raise ValueError(f"interval {token!r} is not start-end")
    start, end = parse_time(start_text), parse_time(end_text)
    if end <= start:
        raise ValueError(f"interval {token!r} ends before it starts")
    return start, end


def parse_metadata(
    metadata_dir: Path, subsets: Sequence[str] | None = None
) -> tuple[list[VideoSpec], ParseReport]:
    """All annotated videos of ``subsets`` (default: all three) in ``metadata_dir``, and what was not taken verbatim."""
    directory = Path(metadata_dir)
    if not directory.is_dir():
        raise HDTFError(f"HDTF metadata folder {directory} does not exist")
    chosen = list(SUBSETS if subsets is None else subsets)
    unknown = [s for s in chosen if s not in SUBSETS]
    if unknown:
        raise HDTFError(f"unknown HDTF subset(s) {', '.join(unknown)}; known: {', '.join(SUBSETS)}")
    report = ParseReport()
    videos = [video for subset in chosen for video in _parse_subset(directory, subset, report)]
    return videos, report


@dataclass(frozen=True)
class Options:
    """HDTF's list options: ``hdtf prepare --metadata-dir/--subsets/--split``, builder ``metadata_dir=``/``subsets=``/
    ``splits=``."""

    metadata_dir: Path | None = option(None, parser=Path, builder=True, canonical="path", folder_key=True,
                                       contents=True,
                                       help="HDTF metadata files (default: the pinned lists, fetched into "
                                            "OUTPUT/metadata)")
    subsets: list[str] | None = option(None, parser=names, builder=True, canonical="set",
                                       help="comma-separated subsets (default: RD,WDA,WRA)")
    splits: list[str] | None = option(None, flag="--split", parser=single, metavar="SPLIT", builder=True,
                                      canonical="set", help=SPLIT_HELP)


def selected_splits(options: Options) -> list[str]:
    """The chosen splits of :data:`SPLITS`; none chosen (or ``all``) means both."""
    chosen = options.splits
    chosen = [chosen] if isinstance(chosen, str) else list(chosen or [ALL_SPLITS])
    unknown = sorted(set(chosen) - {*SPLITS, ALL_SPLITS})
    if unknown:
        raise HDTFError(f"splits {unknown} are not HDTF splits ({', '.join(SPLITS)} or {ALL_SPLITS})")
    return list(SPLITS) if ALL_SPLITS in chosen else [s for s in SPLITS if s in chosen]


def list_videos(options: Options, split: str, *, fetch_dir: Path,
                offline: bool = False) -> tuple[list[VideoSpec], ParseReport]:
    """The annotated videos of the chosen subsets in ``split`` (:func:`hdtf.splits.split_of`); without
    ``metadata_dir``, the pinned lists (fetched once into ``fetch_dir``). The parse report is the whole metadata's,
    whichever split is listed, with the lists' provenance."""
    if split not in SPLITS:
        raise HDTFError(f"split {split!r} is not an HDTF split ({', '.join(SPLITS)})")
    metadata_dir = options.metadata_dir
    if metadata_dir is None:
        if offline and not (fetch_dir / ".commit").is_file():
            raise HDTFError(f"offline mode and the HDTF metadata lists are not in {fetch_dir} yet{OFFLINE_HINT}")
        metadata_dir = fetch_metadata(fetch_dir)
    videos, report = parse_metadata(metadata_dir, options.subsets)
    report.provenance = (release_provenance() if options.metadata_dir is None
                         else folder_provenance(Path(metadata_dir), videos, options.subsets))
    return [video for video in videos if split_of(video.subset, video.name) == split], report


def standard_split(clip: Mapping[str, Any]) -> str:
    """``train`` or ``test`` of split v1 (:mod:`hdtf.splits`, by the person the clip shows); ``train`` for a record
    that names no HDTF video."""
    return split_of_clip(str(clip.get("id") or ""), clip.get("subset"), clip.get("video_name")) or SPLITS[0]


def release_provenance() -> dict[str, Any]:
    """The provenance of the pinned lists as fetched."""
    return {"source": NAME, "lists": "release", "release": RELEASE, "commit": PINNED_COMMIT}


def clip_fingerprint(clip: ClipSpec) -> str:
    """What of a clip's annotation makes its content (the video URL, times, window, ratio, reference height), hashed:
    two metadata versions agree on a clip when its fingerprints are equal."""
    crop = None if clip.crop is None else list(clip.crop.as_tuple())
    facts = [clip.url, clip.start, clip.end, crop, clip.crop_ratio, clip.resolution]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def render_release_fingerprints(videos: Iterable[VideoSpec]) -> str:
    """The text of :data:`RELEASE_FILE` for the pinned release's parsed ``videos``: one ``id fingerprint`` a line."""
    lines = [f"# Fingerprints (hdtf.sources.hdtf.clip_fingerprint) of the clips of {RELEASE} at {PINNED_COMMIT}."]
    lines += sorted(f"{clip.id} {clip_fingerprint(clip)}" for video in videos for clip in video.clips)
    return "\n".join(lines) + "\n"


@cache
def release_fingerprints() -> dict[str, str]:
    """Clip id -> fingerprint of the pinned release's clips (shipped with the package)."""
    text = resources.files(__package__).joinpath(RELEASE_FILE).read_text(encoding="utf-8")
    return dict(line.split() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def folder_digest(directory: Path) -> str:
    """SHA-256 over the metadata files of a folder (each name and its bytes, in a fixed order; absent ones skipped)."""
    digest = hashlib.sha256()
    for subset in SUBSETS:
        for name in metadata_files(subset).values():
            if (directory / name).is_file():
                digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return digest.hexdigest()


def folder_provenance(directory: Path, videos: Sequence[VideoSpec], subsets: Sequence[str] | None) -> dict[str, Any]:
    """The provenance of a user's metadata folder: its digest and its clips (of the chosen subsets) against the
    pinned release's: how many are changed, added or missing. ``differ`` (changed + added) counts the clips that are
    not the release's: a folder with fewer of its clips, all unchanged, is still the release (``missing`` says how
    many it lacks)."""
    chosen = set(SUBSETS if subsets is None else subsets)
    release = {i: f for i, f in release_fingerprints().items() if i.split("_", 1)[0] in chosen}
    here = {clip.id: clip_fingerprint(clip) for video in videos for clip in video.clips}
    changed = sum(1 for i, f in here.items() if i in release and release[i] != f)
    added, missing = len(here.keys() - release.keys()), len(release.keys() - here.keys())
    return {"source": NAME, "lists": "folder", "sha256": folder_digest(directory), "clips": len(here),
            "release": RELEASE, "commit": PINNED_COMMIT, "changed": changed, "added": added, "missing": missing,
            "differ": changed + added}


def fetch_metadata(dest_dir: Path, commit: str = PINNED_COMMIT, *, url_template: str = METADATA_URL,
                   timeout: float = 30.0) -> Path:
    """Download the 15 metadata files of ``commit`` into ``dest_dir`` (atomic writes) and return ``dest_dir``.

    Files already there from the same commit are kept: a pinned commit never changes. ``url_template`` exists so
    mirrors (and loopback tests) can serve the files.
    """
    import urllib.error
    import urllib.request

    dest = Path(dest_dir)  # made by the first file written: a failed first download leaves no empty folder
    marker = dest / ".commit"
    same_commit = marker.is_file() and marker.read_text().strip() == commit
    for subset in SUBSETS:
        for file in metadata_files(subset).values():
            target = dest / file
            if same_commit and target.is_file():
                continue
            url = url_template.format(commit=commit, file=file)
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    data = response.read(MAX_METADATA_BYTES + 1)  # never more than a metadata file can be
            except urllib.error.HTTPError as exc:
                raise HDTFError(f"cannot download HDTF metadata {url}: HTTP {exc.code} {exc.reason}{OFFLINE_HINT}"
                                ) from exc
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise HDTFError(f"cannot download HDTF metadata {url}: {reason}{OFFLINE_HINT}") from exc
            if len(data) > MAX_METADATA_BYTES:
                raise HDTFError(f"cannot download HDTF metadata {url}: more than {MAX_METADATA_BYTES // 2**20} MiB, "
                                "far larger than any HDTF metadata file (the URL serves something else)")
            atomic.write_bytes(target, data)
    atomic.write_bytes(marker, commit.encode() + b"\n")
    return dest


def resolve_clip(clip: ClipSpec, media: MediaInfo, keyframes: Callable[[], list[float]]) -> ResolvedClip:
    """HDTF's clip in the pixels and time span of the downloaded video.

    The crop window refers to a frame ``clip.resolution`` pixels high; a download of another height gets the window
    scaled (never discarded). Windows that are not square are grown to a centred square of their longer side, so the
    square output is never distorted; when the frame is too small for that, the square shrinks to fit. The window
    is then shifted into the frame. An end past the video's duration is truncated (``asked_end`` says what was asked:
    the job fails such a short clip unless short clips are allowed); a start past it is an error.
    ``keyframes`` is unused: HDTF intervals are not keyframe-aligned.
    """
    del keyframes
    notes: list[str] = []
    end, asked_end = clip.end, None
    if media.duration <= 0:
        notes.append("video duration unknown; interval used as annotated")
    elif clip.start >= media.duration:
        raise ValueError(
            f"clip {clip.id} starts at {clip.start:.2f}s but the video lasts only {media.duration:.2f}s"
        )
    elif end > media.duration:
        notes.append(f"end {clip.end:.2f}s truncated to the video's duration {media.duration:.2f}s")
        end, asked_end = media.duration, clip.end
    crop = clip.crop
    if crop is not None:
        if clip.resolution is None:
            notes.append("reference resolution unknown; crop window used unscaled")
        elif clip.resolution != media.height:
            factor = media.height / clip.resolution
            scaled = crop.scaled(factor)
            notes.append(
                f"crop {crop.as_tuple()} scaled by {media.height}/{clip.resolution} to {scaled.as_tuple()}"
            )
            crop = scaled
        crop, made = crop.square_in(media.width, media.height)
        notes += made
    return ResolvedClip(start=clip.start, end=end, crop=crop, notes=tuple(notes), asked_end=asked_end)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m hdtf.sources.hdtf METADATA_DIR [--version v1]``: print the test list a split version gives on that
    metadata (how ``hdtf/splits/hdtf_v1_test.txt`` was made from the pinned HDTF lists)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hdtf.sources.hdtf",
                                     description="print the HDTF test list a split version gives on a metadata folder")
    parser.add_argument("metadata_dir", type=Path, help="folder with the 15 HDTF metadata files")
    parser.add_argument("--version", choices=tuple(RULES), default=CURRENT)
    args = parser.parse_args(argv)
    videos, _ = parse_metadata(args.metadata_dir)
    clips = [(clip.id, clip.subset, clip.video_name) for video in videos for clip in video.clips]
    print(render_test_list(clips, args.version), end="")


if __name__ == "__main__":
    main()
