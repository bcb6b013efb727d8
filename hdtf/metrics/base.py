"""What a metric declares and how evaluation streams a clip through it.

A metric is a :class:`Metric` subclass named in :mod:`hdtf.metrics.registry`. Its class attributes say what the
report shows (``columns``, each with the direction that is better), which per-clip values are only recorded
(``details``), whether it looks at faces and which user-supplied weights it cannot run without. One instance serves a
whole evaluation: ``start`` a clip, ``update`` it frame by frame, ``finish`` it into its per-clip values, and finally
``summarise`` the scored clips (a mean over clips unless the metric pools frames itself, as FID does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hdtf.metrics.faces import FaceObservation, observe_face

NO_CLIP = "n/a (no clip could be scored)"
NO_FACE = "n/a (no face found in the generated frames)"
DIRECTIONS = ("higher", "lower")


@dataclass(frozen=True)
class Column:
    """One summary value of the report: its key (per-clip CSV/JSON and summary), its label, which way is better."""

    key: str
    label: str
    better: str  # "higher" or "lower"


@dataclass(frozen=True)
class Clip:
    """What a clip gives its metrics before the first frame: the identity image and its face, the driving speech."""

    source: np.ndarray | None = None
    source_face: FaceObservation | None = None
    audio: np.ndarray | None = None
    sample_rate: int = 16000


class Frame:
    """A generated frame and its real counterpart. On observed frames (every ``face_every``-th, when a metric looks
    at faces) ``face`` is the generated frame's face; ``real_face`` is detected on first use, so the real frames are
    searched only when a metric asks. Both are None when not observed or when no face is found."""

    def __init__(self, index: int, generated: np.ndarray, real: np.ndarray, observed: bool) -> None:
        self.index, self.generated, self.real, self.observed = index, generated, real, observed
        self.face = observe_face(generated) if observed else None

    @cached_property
    def real_face(self) -> FaceObservation | None:
        return observe_face(self.real) if self.observed else None


class Metric:
    """Base of every metric. Subclasses set the class attributes and override the streaming methods they need."""

    columns: ClassVar[tuple[Column, ...]] = ()  # summarised in the report, in this order
    details: ClassVar[tuple[str, ...]] = ()  # per-clip values kept in the CSV/JSON only (e.g. the LSE offset)
    faces: ClassVar[str] = ""  # "generated": uses generated frames' faces; "both": needs the real frames' faces too
    weights: ClassVar[str | None] = None  # key of hdtf.metrics.registry.WEIGHTS this metric cannot run without
    no_value: ClassVar[str] = NO_CLIP  # the summary when clips were scored but none gave this metric a value
    note: ClassVar[str] = ""  # how the summary differs from a mean over clips, said in the report header

    def __init__(self, weights: Path | None = None, device: str = "cpu") -> None:
        """Load what the metric needs once per evaluation (``weights`` is the user's file when it declares one)."""

    def start(self, clip: Clip) -> None:
        """Forget the previous clip."""

    def update(self, frame: Frame) -> None:
        """Take the next frame pair into account."""

    def finish(self) -> dict[str, Any]:
        """The clip's values (NaN for a column that could not be measured on it)."""
        return {}

    def summarise(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Summary of the scored clips' rows: each column's mean over clips, or why there is none."""
        summary: dict[str, Any] = {}
        for column in self.columns:
            values = [r[column.key] for r in rows if column.key in r and not math.isnan(r[column.key])]
            summary[column.key] = float(np.mean(values)) if values else (self.no_value if rows else NO_CLIP)
        return summary


class FrameMean(Metric):
    """A metric whose clip value is the mean of a per-frame value (one per column)."""

    def start(self, clip: Clip) -> None:
        self._values: dict[str, list[float]] = {c.key: [] for c in self.columns}

    def update(self, frame: Frame) -> None:
        for key, value in self.measure(frame).items():
            self._values[key].append(value)

    def finish(self) -> dict[str, Any]:
        return {key: float(np.mean(v)) if v else math.nan for key, v in self._values.items()}

    def measure(self, frame: Frame) -> dict[str, float]:
        raise NotImplementedError
