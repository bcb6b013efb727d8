"""What a stage is: the small class each stage module declares (:class:`Stage`, :class:`FrameStage`).

A stage runs on a clip after its cut (a fresh clip, or a finished clip of an earlier run that lacks the stage's
outputs, or whose stage version or options changed). It declares:

- ``name`` (its registry name and its entry in the record's ``stages``), ``version`` (raise it when its outputs
  change for the same options: finished clips get it again), ``label`` (how its notes and errors begin);
- ``Options``: a frozen dataclass whose fields use ``hdtf.options.option`` (flags, builder fields, card rows follow;
  metadata ``rerun=False``: a value that does not change the outputs, so changing it does not re-run the stage);
- ``fields``: the record fields it writes with their arrow types (a field naming a file ends in ``_path`` and is a
  ``"string"``; ``files`` maps it to the file's suffix under ``clips/``); ``features()``/``row()`` when its row
  columns are not those fields as they are (a file read into arrays);
- ``reads``: what it reads (``"frames"``, ``"video"``, ``"audio"``, earlier stages' fields), ``card``: its lines for
  the dataset card's column table, ``filters``: whether it can reject a clip, ``resources``: Ray task options;
- ``additive``: its outputs only add files to a clip (landmark tracks), so a run that does not ask for the stage keeps
  them on finished clips, where other stages' outputs leave the record.

A per-frame stage (:class:`FrameStage`) gets the clip's frames from one decode shared by every per-frame stage:
``begin(clip)`` returns a :class:`FramePass` fed each :class:`Frame` and asked for the :class:`Outcome` at the end.
Landmarks come two ways (hdtf.stages.pipeline schedules the decodes from ``reads``):

- ``reads`` names :data:`FRAME_LANDMARKS`: each frame's points in ``Frame.landmarks`` during the pass, the
  decode shared with the landmarks stage's when it runs (its points as the tracker finds them on that frame), else
  the points of the clip's landmarks file;
- ``reads`` names :data:`LANDMARKS_FILE`: each frame's points in the final track (one identity, smoothed), as the
  clip's landmarks file holds them. When the landmarks stage runs in the same decode, the final track exists only
  once it has seen the whole clip: the stage is then handed each frame a few frames late, with the points the
  track will hold there (the landmarks pass's ``final_points``, :class:`FinalPoints`), and gets a decode of its own
  after the tracking's, the points from the file, only when those were not the track's (hdtf.stages.pipeline).

Any other stage implements ``run(clip)``. A stage that rejects a clip says why and what it measured
(``Outcome.rejected``/``value``): the clip stays on disk and done, marked ``filtered``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from hdtf.clip_record import FILE_FIELD, options_hash
from hdtf.errors import HDTFError

if TYPE_CHECKING:
    import numpy as np

    from hdtf.options import PrepareOptions


FRAME_LANDMARKS = "landmarks"  # in ``reads``: each frame's points during the pass (``Frame.landmarks``)
LANDMARKS_FILE = "landmarks_path"  # in ``reads``: the clip's final landmark track (the landmarks stage's file)


class Later(HDTFError):
    """A finished clip's files cannot be had now (a store that does not answer): the stage is left for a later run
    and the clip stays as it is."""


class Remake(HDTFError):
    """A finished clip cannot be brought up to the stage's options in place: it is made again (kept aside until then)."""


@dataclass(frozen=True)
class Outcome:
    """What a stage made of a clip: record fields, notes, and a rejection (``rejected``: one line; ``value``: what
    was measured) when the stage filters the clip out."""

    fields: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rejected: str | None = None
    value: Any = None
    rewrote: tuple[str, ...] = ()  # fields of files rewritten in place (their stamps are taken again)


@dataclass(frozen=True)
class SubClip:
    """A clip of its own made of part of a clip: its id, and frames ``[first, first + count)`` of the clip."""

    id: str
    first: int
    count: int


@dataclass
class ClipInput:
    """A clip as a stage sees it: its record so far (earlier stages' fields included), local files and the run."""

    record: dict[str, Any]
    video: Path  # the local mp4
    audio: Path  # the local wav (may be absent)
    options: PrepareOptions
    fresh: bool  # just cut by this job (else finished by an earlier run)

    @property
    def id(self) -> str:
        return self.record["id"]

    def file(self, suffix: str) -> Path:
        """Where a stage writes its file for this clip (``suffix``: e.g. ``.landmarks.npz``)."""
        return self.options.layout.clip_file(self.id, suffix)

    def track(self) -> tuple[np.ndarray, np.ndarray]:
        """(points (T, 68, 2) float64, found (T,) bool) of the clip's landmarks file, read through the layout: the
        file itself in a folder; on a store, this job's scratch copy when it made it (not up yet), else the store's
        object fetched."""
        import numpy as np

        if not self.record.get(LANDMARKS_FILE):
            raise HDTFError("the clip has no landmarks file (the landmarks stage did not run)")
        layout = self.options.layout
        try:
            with np.load(layout.at_hand(layout.clip_files(self.id).landmarks)) as npz:
                return np.asarray(npz["points"], dtype=np.float64), np.asarray(npz["found"], dtype=bool)
        except (OSError, KeyError, ValueError) as exc:
            raise HDTFError(f"cannot read the landmarks file {self.record[LANDMARKS_FILE]} ({exc})") from None


def points_at(points: np.ndarray, found: np.ndarray, index: int) -> np.ndarray | None:
    """The 68 points of frame ``index`` of a track, or None where no face was found (or the track is shorter)."""
    import numpy as np

    if index >= len(points) or not found[index] or not np.isfinite(points[index]).all():
        return None
    return points[index]


class Frame:
    """One decoded frame, converted only to what its readers ask for (each conversion at most once)."""

    def __init__(self, frame: Any, index: int) -> None:
        self._frame, self.index = frame, index
        # The 68 points on this frame (clip pixels; None: no face) for stages that read landmarks (see the module
        # docstring): set by the landmarks stage when it runs in this decode, before any stage after it sees the
        # frame, else by the pipeline from the clip's landmarks file.
        self.landmarks: np.ndarray | None = None

    @cached_property
    def gray(self) -> np.ndarray:
        from hdtf.video_io import gray_frame

        return gray_frame(self._frame)

    @cached_property
    def rgb(self) -> np.ndarray:
        return self._frame.to_ndarray(format="rgb24")


class FramePass(Protocol):
    """One per-frame stage's pass over one clip."""

    def frame(self, frame: Frame) -> None: ...

    def end(self) -> Outcome: ...


class FinalPoints(Protocol):
    """What the pass of the stage writing :data:`LANDMARKS_FILE` offers as ``final_points``: each frame's points in
    the final track before the track is made (hdtf.face.track.ProvisionalTrack)."""

    broken: str | None  # why the points handed out may not be the final track's (None: they are, so far)

    def ready(self) -> list[tuple[int, np.ndarray | None]]:
        """Frames whose final points are settled by the frames tracked so far: (index, points or None)."""
        ...

    def rest(self) -> list[tuple[int, np.ndarray | None]]:
        """Once the pass has ended (the track made and checked): the frames not handed out yet."""
        ...


class Stage:
    """A stage of the prepare job after the cut (see the module docstring); bound to a run's options."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    label: ClassVar[str] = ""
    Options: ClassVar[type]
    fields: ClassVar[dict[str, str]] = {}
    files: ClassVar[dict[str, str]] = {}  # file field -> suffix under clips/
    reads: ClassVar[tuple[str, ...]] = ("video",)
    card: ClassVar[tuple[str, ...]] = ()
    filters: ClassVar[bool] = False
    additive: ClassVar[bool] = False
    resources: ClassVar[dict[str, float]] = {"num_cpus": 1}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        wrong = [k for k in cls.files if not k.endswith(FILE_FIELD) or cls.fields.get(k) != "string"]
        if wrong:
            raise TypeError(f"{cls.__name__}: file fields must end in {FILE_FIELD!r} and be declared as strings: {wrong}")

    def __init__(self, options: PrepareOptions) -> None:
        self.options = options

    # -- options -------------------------------------------------------------------------------------------------

    @classmethod
    def complete(cls, values: dict[str, Any], options: PrepareOptions) -> dict[str, Any]:
        """This stage's option values with defaults that depend on the run's other options filled in."""
        return values

    @property
    def values(self) -> dict[str, Any]:
        """This stage's option values for the run."""
        return {f.name: getattr(self.options, f.name) for f in fields(self.Options)}

    def selected(self) -> bool:
        """Whether the run asks for this stage (by default: any of its options is set)."""
        return any(value not in (None, False) for value in self.values.values())

    def check(self) -> None:
        """HDTFError for option values no clip could use, before any work (called by ``hdtf.run``)."""

    def key(self) -> dict[str, Any]:
        """What the record keeps of this stage: version, options hash (options marked ``rerun=False`` left out) and
        its fields with their types."""
        keyed = {f.name: _spelled_once(f, getattr(self.options, f.name)) for f in fields(self.Options)
                 if f.metadata.get("rerun", True)}
        return {"version": self.version, "options": options_hash(keyed), "fields": dict(self.fields)}

    # -- records -------------------------------------------------------------------------------------------------

    def adopt(self, record: Mapping[str, Any]) -> bool:
        """Whether a record made before stages were keyed already holds this stage's outputs for these options."""
        return False

    def drop(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` without this stage's outputs (the run no longer asks for it): value fields go, file fields
        name no file (the files stay on disk), its notes and its rejection go."""
        kept = {k: v for k, v in record.items() if k not in self.fields or k in self.files}
        kept.update(dict.fromkeys(self.files))
        kept["adjustments"] = [n for n in record.get("adjustments") or [] if not self.owns(n)]
        return kept

    def owns(self, note: str) -> bool:
        """Whether an adjustment note is this stage's (it starts with the stage's label)."""
        return bool(self.label) and note.startswith(f"{self.label}: ")

    def run(self, clip: ClipInput) -> Outcome:
        """The stage's work on one clip (stages that are not per-frame)."""
        raise NotImplementedError

    # -- sub-clips -----------------------------------------------------------------------------------------------

    def sub_clips(self, record: Mapping[str, Any]) -> list[SubClip]:
        """The clips of their own this stage makes of a done clip (``--split-at-cuts``); none by default. The job
        records each as a clip of the video (``parent``: this clip's id) and runs the stages after this one on it."""
        return []

    def make_sub_clip(self, record: Mapping[str, Any], sub: SubClip, video: Path, audio: Path) -> dict[str, Any]:
        """The done record of ``sub``, its files made from the clip's local ``video`` and ``audio``."""
        raise NotImplementedError

    def reusable(self, before: Mapping[str, Any], record: Mapping[str, Any], sub: SubClip) -> bool:
        """Whether ``before``, the record of ``sub`` an earlier run made, was made of the clip's current files."""
        return False

    # -- rows ----------------------------------------------------------------------------------------------------

    @classmethod
    def scalars(cls) -> dict[str, str]:
        """The fields this stage writes that are row columns as they are (name -> arrow type): all but file names."""
        return {k: t for k, t in cls.fields.items() if k not in cls.files}

    @classmethod
    def columns(cls) -> dict[str, Any]:
        """This stage's ``datasets`` columns besides :meth:`scalars` (a file read into arrays); none by default."""
        return {}

    @classmethod
    def row(cls, layout: Any, entry: Mapping[str, Any]) -> dict[str, Any]:
        """The values of :meth:`columns` for a done clip's row."""
        return {}


class FrameStage(Stage):
    """A stage that reads the clip's frames; the per-frame stages of a run share one decode of the clip (a second
    one only for those that read the final landmark track the same decode makes, when the points they were handed
    were not the track's: see the module docstring)."""

    reads = ("frames",)

    def begin(self, clip: ClipInput) -> FramePass:
        """A pass over ``clip``'s frames."""
        raise NotImplementedError


def decode(video: Path) -> Iterator[Frame]:
    """The frames of a clip, decoded once (PyAV), each handed to every per-frame stage."""
    from hdtf.video_io import open_video

    with open_video(video) as (container, stream):
        for index, frame in enumerate(container.decode(stream)):
            yield Frame(frame, index)


def _spelled_once(f: Any, value: Any) -> Any:
    """An option's value as a stage's key takes it: one spelling per choice (a weights file named relative to one
    folder or absolute, as a Ray worker gets it, is one file), so that no spelling makes a stage run again."""
    from hdtf.options import canonical

    if f.metadata.get("canonical"):
        return canonical(f, value)
    if f.metadata.get("path_or_id") and isinstance(value, str) and Path(value).expanduser().exists():
        return str(Path(value).expanduser().resolve())
    return value
