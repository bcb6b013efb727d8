"""HDTF's standard, versioned train/test split: decided per person, so that no one is in both.

HDTF has no official split (its paper tested on a random 5 %), so results on "HDTF" were never comparable. Rule of
version ``v1``:

* a clip's **person** is its video name without trailing digits (``AmyKlobuchar0`` and ``AmyKlobuchar1`` are one
  person), except in the RD subset, whose ``RadioN`` videos are separate programmes (the name is the person);
* a person is in **test** when the first 8 bytes of SHA-256 of the UTF-8 text ``hdtf-split-v1:<person>``, read as a
  big-endian unsigned integer and divided by 2**64, are below ``0.035``; every other person is in **train**.

A person's split depends on nothing but its name, so the split is stable when the metadata gains or loses videos,
and the threshold puts 22 of the 436 clips of the pinned metadata (5.0 %; 11 persons, 16 videos) in test. The list
those clips make ships with the package (``hdtf_v1_test.txt``, see :func:`listed_test_ids`) so that a paper can cite
it; a test checks that it equals the rule's output on the real metadata. ``python -m hdtf.sources.hdtf METADATA_DIR``
prints that list. A later version gets a new salt and list file; ``v1`` never changes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

SPLITS = ("train", "test")
RD_SUBSET = "RD"  # its RadioN videos are different programmes


@dataclass(frozen=True)
class SplitRule:
    """A version of the split: persons whose hash fraction is below ``threshold`` are in test."""

    version: str
    salt: str
    threshold: float

    def fraction(self, person: str) -> float:
        """The person's position in [0, 1): SHA-256 of ``salt:person``, first 8 bytes big-endian, over 2**64."""
        digest = hashlib.sha256(f"{self.salt}:{person}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    @property
    def list_file(self) -> str:
        return f"hdtf_{self.version}_test.txt"


RULES = {"v1": SplitRule("v1", "hdtf-split-v1", 0.035)}
CURRENT = "v1"
_CLIP_ID = re.compile(r"^(?P<subset>[A-Z]+)_(?P<name>.+)_(?P<index>\d{3,})$")
_TRAILING_DIGITS = re.compile(r"\d+$")


def rule(version: str = CURRENT) -> SplitRule:
    try:
        return RULES[version]
    except KeyError:
        raise ValueError(f"unknown HDTF split version {version!r}; known: {', '.join(RULES)}") from None


def person(subset: str, video_name: str) -> str:
    """Who a video shows: its name without trailing digits (RD: the whole name, one programme each)."""
    if subset == RD_SUBSET:
        return video_name
    return _TRAILING_DIGITS.sub("", video_name) or video_name


def split_of(subset: str, video_name: str, version: str = CURRENT) -> str:
    """``"train"`` or ``"test"`` for a video (every clip of a video, and of a person, is in the same split)."""
    chosen = rule(version)
    return "test" if chosen.fraction(person(subset, video_name)) < chosen.threshold else "train"


def parse_clip_id(clip_id: str) -> tuple[str, str] | None:
    """(subset, video name) of an HDTF clip id ``{subset}_{name}_{k:03d}``; None for other ids."""
    match = _CLIP_ID.match(clip_id)
    return None if match is None else (match["subset"], match["name"])


def video_of_clip(clip_id: str, subset: str | None = None, video_name: str | None = None) -> tuple[str, str] | None:
    """(subset, video name) of an HDTF clip: its metadata fields when known, else read from its id; None when not
    HDTF."""
    if subset is not None and video_name is not None:
        return subset, video_name
    return parse_clip_id(clip_id)


def person_of_clip(clip_id: str, subset: str | None = None, video_name: str | None = None) -> str | None:
    """Who an HDTF clip shows (:func:`person`), as :func:`video_of_clip` finds its video; None when not HDTF."""
    video = video_of_clip(clip_id, subset, video_name)
    return None if video is None else person(*video)


def split_of_clip(clip_id: str, subset: str | None = None, video_name: str | None = None,
                  version: str = CURRENT) -> str | None:
    """The split of an HDTF clip, as :func:`video_of_clip` finds its video; None when not HDTF."""
    video = video_of_clip(clip_id, subset, video_name)
    return None if video is None else split_of(*video, version)


@cache
def listed_test_ids(version: str = CURRENT) -> tuple[str, ...]:
    """The test clip ids shipped with the package for ``version`` (the citable list)."""
    text = resources.files(__name__).joinpath(rule(version).list_file).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def render_test_list(clips: Iterable[tuple[str, str, str]], version: str = CURRENT) -> str:
    """The list file of ``version`` for ``(clip_id, subset, video_name)`` triples: a header stating the rule and the
    counts, then the test clip ids, sorted."""
    clips = list(clips)
    chosen = rule(version)
    test = sorted((c for c in clips if split_of(c[1], c[2], version) == "test"), key=lambda c: c[0])
    persons = sorted({person(subset, name) for _, subset, name in test})
    videos = {(subset, name) for _, subset, name in test}
    header = [
        f"# HDTF test split {version} (the hdtf package, hdtf/splits): {len(test)} of {len(clips)} clips, "
        f"{len(videos)} videos, {len(persons)} persons.",
        "# Rule: person = video name without trailing digits (RD: the whole name); a person is in test when",
        f"# int.from_bytes(sha256('{chosen.salt}:' + person)[:8], 'big') / 2**64 < {chosen.threshold}.",
        f"# Persons: {', '.join(persons)}",
    ]
    return "\n".join(header + [c[0] for c in test]) + "\n"


@dataclass(frozen=True)
class Availability:
    """How much of a split a dataset holds: the facts every evaluation report records."""

    name: str  # "test", "train" or "all" (no split chosen)
    version: str
    listed: int  # test clips in the shipped list
    available: int  # listed test clips present in the data
    missing: tuple[str, ...]  # listed test clips absent from the data
    unlisted: int  # test clips by the rule that the shipped list does not name (metadata newer than the list)

    def line(self) -> str:
        text = f"HDTF test split {self.version}: {self.available} of {self.listed} listed clips available"
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (", ..." if len(self.missing) > 5 else "")
            text += f" (missing: {shown})"
        if self.unlisted:
            text += f"; {self.unlisted} test clip(s) by the rule are not in the list"
        return text

    def to_json(self) -> dict:
        return {"name": self.name, "version": self.version, "listed": self.listed, "available": self.available,
                "missing": list(self.missing), "unlisted": self.unlisted}


def availability(clips: Iterable[tuple[str, str | None, str | None]], split: str = "all",
                 version: str = CURRENT) -> Availability:
    """Which listed test clips ``(clip_id, subset, video_name)`` of some data are present (subset/name may be None:
    read from the id)."""
    listed = set(listed_test_ids(version))
    present, unlisted = set(), 0
    for clip_id, subset, name in clips:
        if clip_id in listed:
            present.add(clip_id)
        elif split_of_clip(clip_id, subset, name, version) == "test":
            unlisted += 1
    return Availability(split, version, len(listed), len(present), tuple(sorted(listed - present)), unlisted)
