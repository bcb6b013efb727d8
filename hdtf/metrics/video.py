"""Video runners: stream frames with PyAV and score a generated clip against its real counterpart frame by frame.

Nothing here holds a whole video: real frames are decoded one at a time and each metric streams them (running sums,
FID's feature statistics, SyncNet's 5-frame window). :class:`MetricSet` is the selected metrics of one evaluation,
loaded once; :func:`score_clip` runs a clip through them into a flat dict of numbers (the CSV row), and
:meth:`MetricSet.summarise` turns the scored rows into the report's values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hdtf.errors import HDTFError
from hdtf.metrics import registry
from hdtf.metrics.base import Clip, Column, Frame, Metric, implementation
from hdtf.metrics.faces import observe_face


def iter_frames(
    path: str | Path, window: tuple[int, int, int] | None = None, size: int | None = None
) -> Iterator[np.ndarray]:
    """RGB uint8 frames of a video, decoded one at a time; optionally cropped to the square ``window`` (x, y, side)
    and resized to ``size`` x ``size`` (Lanczos, like the generator's reference crop)."""
    from PIL import Image

    from hdtf.video_io import open_video

    with open_video(path) as (container, stream):
        for frame in container.decode(stream):
            image = frame.to_ndarray(format="rgb24")
            if window is not None:
                x, y, side = window
                image = image[y : y + side, x : x + side]
            if size is not None and image.shape[:2] != (size, size):
                image = np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))
            yield image


class MetricSet:
    """The selected metrics of one evaluation (registry order), loaded once; those whose weight file was not given
    are kept aside with their "n/a" reason. ``weights`` maps :data:`hdtf.metrics.registry.WEIGHTS` keys to files."""

    def __init__(
        self,
        names: Iterable[str] | None = None,
        *,
        face_every: int = 1,
        weights: Mapping[str, str | Path] | None = None,
        device: str = "cpu",
    ) -> None:
        wanted = set(registry.names() if names is None else names)
        unknown = wanted - set(registry.names())
        if unknown:
            raise HDTFError(f"unknown metric(s) {sorted(unknown)}; choose from {', '.join(registry.names())}")
        if face_every < 1:
            raise HDTFError(f"face_every must be at least 1, got {face_every}")
        weights = dict(weights or {})
        unknown = set(weights) - set(registry.WEIGHTS)
        if unknown:
            raise HDTFError(f"unknown weights {sorted(unknown)}; known: {', '.join(registry.WEIGHTS)}")
        self.face_every = face_every
        self.weights = {key: Path(path) for key, path in weights.items() if path is not None}
        self.classes: dict[str, type[Metric]] = {n: registry.metric_class(n) for n in registry.names() if n in wanted}
        self.unavailable: dict[str, str] = {}
        self.active: dict[str, Metric] = {}
        for name, cls in self.classes.items():
            if cls.weights is not None and weights.get(cls.weights) is None:
                self.unavailable[name] = registry.missing_weights(cls.weights)
            else:
                self.active[name] = cls(weights.get(cls.weights), device)
        self.faces = {m.faces for m in self.active.values()} - {""}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.classes)

    def columns(self) -> dict[str, Column]:
        """Every summary column of the selected metrics, in report order."""
        return {c.key: c for cls in self.classes.values() for c in cls.columns}

    def implementations(self) -> list[dict[str, Any]]:
        """What computes each selected metric (:func:`hdtf.metrics.base.implementation`), with the SHA-256 of every
        weight file it read; a metric kept aside says why instead of listing weights."""
        records = []
        for name, cls in self.classes.items():
            used = self.weights.get(cls.weights) if name in self.active else None
            record = implementation(name, cls, used)
            if name in self.unavailable:
                record["unavailable"] = self.unavailable[name]
            records.append(record)
        return records

    def notes(self) -> list[str]:
        return [cls.note for cls in self.classes.values() if cls.note]

    def summarise(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Report values from the scored clips' rows: a number, or "n/a (why)"."""
        summary: dict[str, Any] = {}
        for name, cls in self.classes.items():
            if name in self.unavailable:
                summary.update({c.key: self.unavailable[name] for c in cls.columns})
            else:
                summary.update(self.active[name].summarise(rows))
        return summary


def score_clip(
    generated: Iterable[np.ndarray],
    real: Iterable[np.ndarray],
    metrics: MetricSet,
    source: np.ndarray | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
) -> dict[str, Any]:
    """Per-clip metrics of generated vs real frames (paired in order, up to the shorter of the two).

    ``source`` is the identity image (CSIM) and the prior face box for the SyncNet crop; ``audio`` the 16 kHz speech
    the clip should be in sync with (LSE). Faces are observed on every ``metrics.face_every``-th frame when a metric
    uses them; frames without a face are counted (``no_face_generated``, and ``no_face_real`` when a metric needs the
    real faces), not scored.
    """
    active = metrics.active.values()
    source_face = observe_face(source) if source is not None and metrics.faces else None
    clip = Clip(source=source, source_face=source_face, audio=audio, sample_rate=sample_rate)
    for metric in active:
        metric.start(clip)
    missing_generated = missing_real = frames = 0
    try:
        for gen, ref in zip(generated, real):
            if gen.shape != ref.shape:
                raise HDTFError(f"generated frame {gen.shape} and real frame {ref.shape} differ in size")
            observed = bool(metrics.faces) and frames % metrics.face_every == 0
            frame = Frame(frames, gen, ref, observed)
            frames += 1
            for metric in active:
                metric.update(frame)
            if observed:
                missing_generated += frame.face is None
                if "both" in metrics.faces:
                    missing_real += frame.real_face is None
    finally:  # stop the decoders early when one side is shorter
        for side in (generated, real):
            close = getattr(side, "close", None)
            if close is not None:
                close()
    row: dict[str, Any] = {"frames": frames}
    for metric in active:
        row.update(metric.finish())
    if metrics.faces:
        row["no_face_generated"] = missing_generated
        row["no_face_real"] = missing_real
    return row
