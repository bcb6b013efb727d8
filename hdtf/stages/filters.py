"""The quality, pose and size filters: each compares a value the measuring stages recorded (hdtf.stages.measures)
with its threshold and, when the clip fails it, marks the clip ``filtered`` with one line naming the value (the clip
stays done and on disk; ``load_dataset(..., include_filtered=True)`` and ``hdtf export --include-filtered`` give it).

Every threshold is off unless set. The filters are the last stages of a run and read nothing but the record, so
changing a threshold runs them alone: no decode, no measure taken again. Each is a stage of its own, so that
``hdtf status`` counts what each one rejected and the range of the values it rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from hdtf.errors import HDTFError
from hdtf.options import option
from hdtf.stages.base import ClipInput, Outcome, Stage

LATENTSYNC_MIN_IQA = 40.0


class Threshold(Stage):
    """A filter on one recorded value: below ``min_*`` or above ``max_*`` (its options, None: off) rejects."""

    measured: ClassVar[str]  # the record field compared
    bounds: ClassVar[tuple[float, float]] = (0.0, float("inf"))  # values a threshold may take
    needs: ClassVar[str] = "--measures"  # the stage that records the value, as a flag
    filters = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.reads = (cls.measured,)

    def _thresholds(self) -> list[tuple[str, float]]:
        return [(f.name, getattr(self.options, f.name)) for f in fields(self.Options)
                if getattr(self.options, f.name) is not None]

    def check(self) -> None:
        low, high = self.bounds
        for name, value in self._thresholds():
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise HDTFError(f"{flag} {value!r} must be a number from {low:g} to {high:g}")

    def run(self, clip: ClipInput) -> Outcome:
        value = clip.record.get(self.measured)
        for name, threshold in self._thresholds():
            flag = "--" + name.replace("_", "-")
            if value is None:
                return Outcome(rejected=f"{self.measured} not measured (no face found) ({flag} {threshold:g})")
            if name.startswith("min_") and value < threshold:
                return Outcome(rejected=f"{self.measured} {value:g} is below {threshold:g} ({flag})", value=value)
            if name.startswith("max_") and value > threshold:
                return Outcome(rejected=f"{self.measured} {value:g} is above {threshold:g} ({flag})", value=value)
        return Outcome()


@dataclass(frozen=True)
class FaceShareOptions:
    min_face_share: float | None = option(None, parser=float, metavar="SHARE", builder=True,
                                          help="filter out clips whose face (the landmark box's larger side) is a "
                                               "smaller share of the frame's side than SHARE, median over frames "
                                               "(0-1; Hallo: 0.5). Default: off")
    max_face_share: float | None = option(None, parser=float, metavar="SHARE", builder=True,
                                          help="filter out clips whose median face share is above SHARE (Hallo: 0.7). "
                                               "Default: off")


class FaceShare(Threshold):
    name = "face_share_filter"
    Options = FaceShareOptions
    measured = "face_share"
    bounds = (0.0, 10.0)


@dataclass(frozen=True)
class FacePxOptions:
    min_face_px: float | None = option(None, parser=float, metavar="PX", builder=True,
                                       help="filter out clips whose face (the landmark box) is narrower than PX clip "
                                            "pixels, median over frames (MuseTalk: 200). Default: off")


class FacePx(Threshold):
    name = "face_px_filter"
    Options = FacePxOptions
    measured = "face_px"


@dataclass(frozen=True)
class HeadAngleOptions:
    max_head_angle: float | None = option(None, parser=float, metavar="DEGREES", builder=True,
                                          help="filter out clips whose head turns further than DEGREES off the line "
                                               "of sight (yaw and pitch together) on more than a tenth of the frames "
                                               "(Hallo: 30). Default: off")


class HeadAngle(Threshold):
    name = "head_angle_filter"
    Options = HeadAngleOptions
    measured = "head_away"
    bounds = (0.0, 180.0)


@dataclass(frozen=True)
class SharpnessOptions:
    min_sharpness: float | None = option(None, parser=float, metavar="VARIANCE", builder=True,
                                         help="filter out clips whose face is blurrier than VARIANCE (median variance "
                                              "of the Laplacian of the face at 256 px). Default: off")


class Sharpness(Threshold):
    name = "sharpness_filter"
    Options = SharpnessOptions
    measured = "sharpness"


@dataclass(frozen=True)
class MotionOptions:
    max_motion: float | None = option(None, parser=float, metavar="LEVEL", builder=True,
                                      help="filter out clips whose mean frame difference (0-255, grey at 128 px) is "
                                           "above LEVEL (camera or scene motion). Default: off")


class Motion(Threshold):
    name = "motion_filter"
    Options = MotionOptions
    measured = "motion"
    bounds = (0.0, 255.0)


@dataclass(frozen=True)
class IQAFilterOptions:
    min_iqa: float | None = option(None, parser=float, metavar="SCORE", builder=True,
                                   help="with --iqa-weights: filter out clips scoring below SCORE (LatentSync: "
                                        f"{LATENTSYNC_MIN_IQA:g}). Default: off")


class IQAFilter(Threshold):
    name = "iqa_filter"
    Options = IQAFilterOptions
    measured = "iqa"
    bounds = (float("-inf"), float("inf"))

    def check(self) -> None:
        super().check()
        if self.selected() and self.options.iqa_weights is None:
            raise HDTFError("--min-iqa needs --iqa-weights (the ONNX model that scores the clips)")


@dataclass(frozen=True)
class LengthOptions:
    min_clip_frames: int | None = option(None, parser=int, metavar="FRAMES", builder=True,
                                         help="filter out clips shorter than FRAMES frames (LatentSync's trainer "
                                              "skips clips under 48: 3 x its 16-frame windows). Default: off")


class Length(Threshold):
    name = "length_filter"
    Options = LengthOptions
    measured = "num_frames"  # recorded by every cut: nothing to measure
