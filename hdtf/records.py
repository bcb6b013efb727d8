"""Plain records shared by every stage: what a source annotates (VideoSpec/ClipSpec), crop windows (CropBox) and
what a card says about a source (SourceCard).

Sources produce these, the per-video job consumes them; nothing here knows about files, ffmpeg or yt-dlp.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# The longest name safe_name returns: file systems allow 255 bytes a name, and a clip's files add suffixes
# (``.landmarks.npz``, temporary names) to its id.
MAX_NAME = 160
# The longest video key: sources append clip suffixes (HDTF: ``_000``) to it, and the ids must stay under MAX_NAME.
MAX_KEY = 120
_DIGEST = 8  # hex digits of SHA-256 in a name's suffix: ``-`` + 8 characters


def name_digest(name: str) -> str:
    """The short hash that tells names apart when their sanitised forms are cut or alike: it depends on the original
    name alone, so the same name always gets the same suffix, whatever else a list holds."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:_DIGEST]


def _clean(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name.strip()).lstrip("-.")
    if not cleaned:
        raise ValueError(f"name {name!r} has no usable characters for a file name")
    return cleaned


def _suffixed(cleaned: str, name: str, limit: int) -> str:
    return f"{cleaned[: limit - _DIGEST - 1]}-{name_digest(name)}"


def safe_name(name: str, limit: int = MAX_NAME) -> str:
    """Sanitise a name used as a file name: keep ``[A-Za-z0-9._-]``, never start with '-' or '.', at most ``limit``
    characters (a longer one is cut and ends in ``-`` and the hash of the whole name, so cut names stay apart).
    Two names can still sanitise alike (``Foo(1)``, ``Foo[1]``): lists of names go through :func:`distinct_names`."""
    cleaned = _clean(name)
    return cleaned if len(cleaned) <= limit else _suffixed(cleaned, name, limit)


def distinct_names(names: Iterable[str], limit: int = MAX_NAME) -> tuple[dict[str, str], list[tuple[str, ...]]]:
    """A distinct :func:`safe_name` for each name, and the groups of names that sanitise alike (sorted).

    In such a group a name that is its own safe name keeps it (its files on disk stay its own); every other member
    gets ``-`` and the hash of its original name. The result depends on the set of names only, never on their order.
    """
    groups: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        groups.setdefault(safe_name(name, limit), []).append(name)
    chosen: dict[str, str] = {}
    collisions: list[tuple[str, ...]] = []
    for safe, group in groups.items():
        if len(group) > 1:
            collisions.append(tuple(sorted(group)))
        for name in group:
            chosen[name] = safe if len(group) == 1 or name == safe else _suffixed(_clean(name), name, limit)
    return chosen, sorted(collisions)


@dataclass(frozen=True, slots=True)  # slots: a clip's window without a __dict__ (~100 bytes a clip of a long list)
class CropBox:
    """An axis-aligned window in pixel coordinates of a frame: top-left (x, y), width w, height h."""

    x: int
    y: int
    w: int
    h: int

    def scaled(self, factor: float) -> CropBox:
        """The same window on a frame resized by ``factor`` (e.g. downloaded height / reference height)."""
        return CropBox(*(int(round(v * factor)) for v in (self.x, self.y, self.w, self.h)))

    def fit_into(self, width: int, height: int) -> tuple[CropBox, str | None]:
        """Shift (then, if still too big, shrink) the window into a ``width`` x ``height`` frame.

        Returns the adjusted box and a human-readable note of what changed (None when nothing did).
        """
        w, h = min(self.w, width), min(self.h, height)
        x = min(max(self.x, 0), width - w)
        y = min(max(self.y, 0), height - h)
        box = CropBox(x, y, w, h)
        if box == self:
            return box, None
        return box, f"crop {self.as_tuple()} adjusted to {box.as_tuple()} to fit {width}x{height}"

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    def square_in(self, width: int, height: int, what: str = "crop") -> tuple[CropBox, list[str]]:
        """The window grown to a centred square of its longer side (shrunk when the frame is too small for it), then
        moved into a ``width`` x ``height`` frame, so that a square output is never distorted; and notes of what
        changed (``what`` names the window in them). Every source's window ends in this."""
        box, notes = self, []
        side = min(max(box.w, box.h), width, height)
        if (box.w, box.h) != (side, side):
            square = CropBox(box.x + (box.w - side) // 2, box.y + (box.h - side) // 2, side, side)
            notes.append(f"{what} {box.as_tuple()} made a {side}x{side} square as {square.as_tuple()}")
            box = square
        box, note = box.fit_into(width, height)
        return box, notes + ([note] if note else [])


@dataclass(frozen=True, slots=True)  # slots: a list of a million clips holds no per-clip __dict__
class ClipSpec:
    """One annotated clip of a source video, as the metadata states it (times relative to the raw video)."""

    id: str  # e.g. "WRA_AdamKinzinger2_001"; unique within a source, safe as a file name
    source: str  # "hdtf" | "talkinghead_1kh"
    subset: str  # HDTF: RD/WDA/WRA; TalkingHead-1KH: the split
    video_name: str
    clip_index: int
    youtube_id: str | None
    url: str | None
    start: float  # seconds
    end: float  # seconds
    resolution: int | None = None  # reference frame height the crop window refers to (None: unknown)
    crop: CropBox | None = None  # in reference-resolution pixels
    crop_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # source-specific facts
    # The source's own facts about the clip, beyond times and window (CelebV-HQ's attributes, VoxCeleb2's speaker,
    # A/V offset and confidences, a list's other columns): part of the annotation (record fields, compared when a
    # clip is settled) and row fields, their columns the source's ``columns()``. JSON values (lists, not tuples), so
    # that a record read back compares equal.
    fields: dict[str, Any] = field(default_factory=dict, hash=False)
    # Where the source gives a face position instead of a window (AVSpeech): the face's centre at the clip's start,
    # normalised to the displayed frame (x, y in 0-1). The window is tracked from the face nearest it.
    face_at: tuple[float, float] | None = None
    # Where the source gives its window normalised to the frame (CelebV-HQ, a list's top/bottom/left/right): top,
    # bottom, left, right in 0-1; the source's ``resolve_clip`` makes it pixels of the real video.
    box: tuple[float, float, float, float] | None = None

    def to_row(self) -> dict[str, Any]:
        """Flat dict of the metadata fields (crop as x/y/w/h, None when absent) and the source's own row fields, for
        manifests and datasets rows."""
        row = asdict(self)
        row.pop("extra")
        row.pop("face_at")
        box = row.pop("box")
        if box is not None:  # only where a source gives one: records of other sources keep their keys
            row["box"] = list(box)
        row.update(row.pop("fields"))
        crop = row.pop("crop")
        for key in ("x", "y", "w", "h"):
            row[f"crop_{key}"] = None if crop is None else crop[key]
        return row

    def with_(self, **changes: Any) -> ClipSpec:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """A raw source video and its annotated clips: the unit of work of a per-video job (one download, many clips)."""

    source: str
    subset: str
    name: str
    url: str | None
    youtube_id: str | None
    resolution: int | None
    clips: tuple[ClipSpec, ...]
    # The key the source gave it (``distinct_names`` over its list, so that two names never share files); None:
    # ``{subset}_{name}`` sanitised.
    file_key: str | None = None

    @property
    def key(self) -> str:
        """Unique, path-safe key of this video (``{subset}_{name}``) that names its status, lock and raw files."""
        return self.file_key or safe_name(f"{self.subset}_{self.name}", MAX_KEY)


@dataclass(frozen=True)
class ParseIssue:
    """One thing a metadata parser skipped or repaired, with where and why."""

    file: str
    line: int  # 1-based; 0 for whole-file issues
    text: str
    reason: str
    action: str  # "skipped" | "repaired" | "warning"
    video: str | None = None  # the key of the video the issue is about (None: a whole file, or unknown)


@dataclass
class ParseReport:
    """Everything a parser did not take verbatim, and where its lists came from (``provenance``: the source's
    account, e.g. a pinned release or a user's folder with its content hash). Printed by the CLI, stored in the
    manifest."""

    issues: list[ParseIssue] = field(default_factory=list)
    provenance: dict[str, Any] | None = None

    def add(self, file: str, line: int, text: str, reason: str, action: str = "skipped",
            video: str | None = None) -> None:
        self.issues.append(ParseIssue(file, line, text.strip()[:200], reason, action, video))

    def summary(self, selected: Collection[str] | None = None) -> str:
        """The issues one per line; with ``selected`` (video keys of a run that takes only some videos), only the
        issues about those videos, and a count of the rest (the manifest keeps them all)."""
        if not self.issues:
            return "metadata: no issues"
        shown = self.issues if selected is None else [i for i in self.issues if i.video in selected]
        head = f"metadata: {len(self.issues)} issue(s)"
        if selected is not None:
            head += f", {len(shown)} about the {len(selected)} selected video(s)"
        lines = [head] + [f"  {i.file}:{i.line}: {i.action}: {i.reason} [{i.text}]" for i in shown]
        if len(shown) < len(self.issues):
            lines.append(f"  ... {len(self.issues) - len(shown)} more about other videos or whole files "
                         "(all of them in the run's manifest.json)")
        return "\n".join(lines)


@dataclass(frozen=True)
class ResolvedClip:
    """A clip's facts after looking at the actual raw video: absolute times and a crop in its own pixels."""

    start: float  # seconds from the start of the raw video
    end: float
    crop: CropBox | None  # in the raw video's pixels (None: no window from metadata)
    notes: tuple[str, ...] = ()  # adjustments made (truncated end, shifted window, scaled window, ...)
    # The end the annotation asks for when the video ends before it (``end`` was cut back to the video's end): the
    # clip is short, which fails it unless short clips are allowed. None when the whole span is there.
    asked_end: float | None = None
    # The source's per-frame face boxes over the clip, when its list gives them (VoxCeleb2): (source frame number,
    # seconds from ``start``, x, y, w, h in the raw video's pixels) per row. The job keeps them in output pixels as
    # the clip's face track (``face_track_path``).
    track: tuple[tuple[int, float, float, float, float, float], ...] | None = None


@dataclass(frozen=True)
class SourceCard:
    """What a card says about the dataset a source's clips come from (each source module's ``CARD``; the dataset
    cards, ``LICENSE.md`` and the builders' ``DatasetInfo`` all read it).

    ``license`` is the Hub licence id of the clips made from it (``other`` when no open licence covers them, with
    ``license_name``); ``licence`` says in words which licence covers which part (shown in cards, ``LICENSE.md``
    and the builders' ``DatasetInfo.license``).
    """

    pretty_name: str
    description: str
    homepage: str
    citation: str
    license: str
    licence: str
    license_name: str | None = None
    # How the clips are split: the source's standard split, or why there is only ``train``.
    splits: str = "One `train` split: the source defines no standard split."
    # Why the clips may not be shared further (the terms, in words), when they forbid it: ``hdtf export
    # --push-to-hub`` then refuses unless the user states that they hold the rights. None: the licence allows it.
    no_redistribution: str | None = None
