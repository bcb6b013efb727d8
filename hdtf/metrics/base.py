"""What a metric declares and how evaluation streams a clip through it.

A metric is a :class:`Metric` subclass named in :mod:`hdtf.metrics.registry`. Its class attributes say what the
report shows (``columns``, each with the direction that is better), which per-clip values are only recorded
(``details``), whether it looks at faces and which user-supplied weights it cannot run without. One instance serves a
whole evaluation: ``start`` a clip, ``update`` it frame by frame, ``finish`` it into its per-clip values, and finally
``summarise`` the scored clips (a mean over clips unless the metric pools frames itself, as FID does).

Each class also says what computes it (``backend``, ``packages``) and its implementation ``version``, bumped whenever
its numbers change; :func:`implementation` turns that and the weight files it read (with their SHA-256) into the
evaluation report's record of the metric, so a number in a report can be traced to the code and weights behind it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hdtf.face.models import LANDMARKS_68, model_path
from hdtf.metrics.faces import FaceObservation, observe_face

NO_CLIP = "n/a (no clip could be scored)"
NO_FACE = "n/a (no face found in the generated frames)"
DIRECTIONS = ("higher", "lower")
DLIB = "dlib-bin|dlib"  # the distribution dlib comes from: the wheel, or a build from source


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
    backend: ClassVar[str] = "numpy"  # what computes it, in words (the report's "backend")
    packages: ClassVar[tuple[str, ...]] = ("numpy",)  # distributions whose installed versions the report records
    version: ClassVar[str] = "1"  # of hdtf's implementation: bumped whenever the metric's numbers change
    bundled: ClassVar[tuple[str, ...]] = ()  # face_recognition_models files it reads (besides the 68-point model)

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


def implementation(name: str, cls: type[Metric], weights: Path | None = None) -> dict[str, Any]:
    """The report's record of a metric: its name, class, implementation version, backend with the installed versions
    of its packages, and every weight file it read (the user's ``weights``, dlib's bundled models) with SHA-256."""
    files = [Path(weights)] if weights is not None else []
    packages, bundled = cls.packages, cls.bundled
    if cls.faces:  # every face observation comes from dlib's HOG detector and 68-point model
        packages, bundled = (*packages, DLIB), (LANDMARKS_68, *bundled)
    files += [model_path(f) for f in bundled]
    return {
        "name": name,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "version": cls.version,
        "backend": cls.backend,
        "packages": [_installed(package) for package in dict.fromkeys(packages)],
        "weights": [{"file": f.name, "sha256": sha256_file(f)} for f in files],
    }


def _installed(package: str) -> str:
    """A distribution's installed version; alternatives as ``a|b`` (dlib ships as ``dlib-bin`` or ``dlib``)."""
    for name in package.split("|"):
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (cached per path, size and modification time)."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@cache
def _sha256(path: str, size: int, mtime: int) -> str:
    del size, mtime  # part of the cache key only
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
