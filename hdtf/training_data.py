"""What a model was trained on, recorded in its directory, so that an evaluation can say when it scores clips (or
people) the model has seen.

``training_data.json`` (written beside the weights by :func:`write_training_data`; training calls it when it saves
the final model)::

    {"version": 1, "num_clips": 414, "clips": ["RD_Radio1_000", ...], "persons": ["AdamSchiff", ...],
     "split": {"name": "train", "version": "v1"}, "splits": {"v1": {"train": 414, "test": 0, "other": 0}}}

Clip ids only: no paths, so the file can travel with a pushed model. ``split`` is the part of the standard split
training asked for (``examples/train.py --split``; absent in files written before it existed); ``persons`` and
``splits`` are derived from HDTF clip ids (:mod:`hdtf.splits`); clips of other sources count as ``other``. A model
with test clips in ``splits`` says so wherever it is shown (:func:`test_clips_line`: its card, evaluation reports).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdtf import atomic
from hdtf.splits import CURRENT, RULES, person_of_clip, split_of_clip

FILE = "training_data.json"
VERSION = 1


def split_counts(clip_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """Clips per part of each version of the standard split: ``{"v1": {"train": n, "test": n, "other": n}}``."""
    ids = list(clip_ids)
    counted = {}
    for version in RULES:
        counts = Counter(split_of_clip(i, version=version) or "other" for i in ids)
        counted[version] = {name: counts.get(name, 0) for name in ("train", "test", "other")}
    return counted


def write_training_data(model_dir: str | Path, clip_ids: Iterable[str], split: str | None = None) -> Path:
    """Record the clips a model was trained on in ``model_dir/training_data.json`` (atomic), and the ``split`` that
    training asked for (``train``, ``test`` or ``all``)."""
    ids = sorted(set(clip_ids))
    document = {"version": VERSION, "num_clips": len(ids), "clips": ids,
                "persons": sorted({p for i in ids if (p := person_of_clip(i)) is not None}),
                **({"split": {"name": split, "version": CURRENT}} if split else {}), "splits": split_counts(ids)}
    path = Path(model_dir) / FILE
    atomic.write_json(path, document)
    return path


def read_training_data(model: str | Path) -> dict[str, Any] | None:
    """The record of a model directory (or of a Hub model already in the local cache); None when there is none."""
    path = Path(model) / FILE
    if not path.is_file() and not Path(model).exists():
        from huggingface_hub import try_to_load_from_cache

        try:
            cached = try_to_load_from_cache(str(model), FILE)
        except ValueError:  # not a valid repo id
            return None
        path = Path(cached) if isinstance(cached, str) else path
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("clips"), list) else None


def test_clips_line(training: dict[str, Any], version: str = CURRENT) -> str | None:
    """One line when a training record (:func:`read_training_data`, or ``split_counts`` alone) holds clips of the
    test split ``version``: whatever the model is scored on there is not held-out. None when it holds none."""
    counts = (training.get("splits") or {}).get(version) or {}
    test = int(counts.get("test") or 0)
    if not test:
        return None
    asked = (training.get("split") or {}).get("name")
    how = f" (trained with --split {asked})" if asked else ""
    return (f"the model was trained on {test} clip(s) of the HDTF test split {version}{how}: its scores on that "
            "split are not held-out")


@dataclass(frozen=True)
class Overlap:
    """Evaluated clips (and persons) that the model's recorded training data contains."""

    clips: tuple[str, ...]
    persons: tuple[str, ...]

    def warning(self, evaluated: int) -> str | None:
        """One line when anything overlaps, else None."""
        if not self.clips and not self.persons:
            return None
        shown = ", ".join(self.clips[:3]) + (", ..." if len(self.clips) > 3 else "")
        text = (f"the model's training data ({FILE}) overlaps the evaluated clips: {len(self.clips)} of {evaluated} "
                f"clips" + (f" ({shown})" if self.clips else "") + f" and {len(self.persons)} person(s) were seen "
                "in training, so these scores are not held-out")
        return text


def overlap(training: dict[str, Any], evaluated: Iterable[tuple[str, str | None, str | None]]) -> Overlap:
    """Which ``(clip_id, subset, video_name)`` of an evaluation are in ``training`` (read_training_data), by clip id
    and by person."""
    seen_clips, seen_persons = set(training.get("clips", [])), set(training.get("persons", []))
    clips, persons = set(), set()
    for clip_id, subset, name in evaluated:
        if clip_id in seen_clips:
            clips.add(clip_id)
        who = person_of_clip(clip_id, subset, name)
        if who is not None and who in seen_persons:
            persons.add(who)
    return Overlap(tuple(sorted(clips)), tuple(sorted(persons)))
