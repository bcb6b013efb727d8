"""The filter measures as stages: per clip, face share, face size, head pose, sharpness, brightness and motion
(:class:`Measures`, hdtf.curate.measures) and an image-quality score from the user's ONNX weights (:class:`IQA`,
hdtf.curate.iqa), both from the one shared decode.

Every clip gets its values, whatever the thresholds: the thresholds are the filter stages' options
(hdtf.stages.filters), which run after every stage that makes something, so changing one re-judges the clips from
the recorded values without measuring again. Each field is one number per clip, the summary its filter compares:

=============  =========  ==============================================================================================
field          summary    of (hdtf.curate.measures)
=============  =========  ==============================================================================================
face_share     median     the landmark box's larger side / the frame's shorter side (Hallo wants 0.5-0.7)
face_px        median     the landmark box's width in clip pixels (MuseTalk trains on faces of at least 200 px)
yaw/pitch/roll median     head pose in degrees (solvePnP of a generic face; pitch is the least certain)
head_away      90th pct.  the angle between the face's forward direction and the line of sight (Hallo: < 30)
sharpness      median     variance of the Laplacian of the grey face resized to 256 px
brightness     mean       mean luma of the frames (0-255)
motion         mean       mean absolute difference of consecutive grey frames at 128 px (0-255)
=============  =========  ==============================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError
from hdtf.options import option
from hdtf.stages import stage_classes
from hdtf.stages.base import ClipInput, FramePass, FrameStage, Outcome
from hdtf.stages.curation import LANDMARKS_FIELD, CorePass, check_landmarks

# record field -> (the series of hdtf.curate.measures, the summary kept)
SUMMARIES: dict[str, tuple[str, str]] = {
    "face_share": ("face_share", "p50"), "face_px": ("face_px", "p50"), "head_away": ("head_away", "p90"),
    "yaw": ("yaw", "p50"), "pitch": ("pitch", "p50"), "roll": ("roll", "p50"), "sharpness": ("sharpness", "p50"),
    "brightness": ("brightness", "mean"), "motion": ("motion", "mean"),
}
DIGITS = 4
IQA_SIDE = 256  # LatentSync scores its 256x256 clips: frames are scaled to this shorter side before the 224 crop


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def _wanted_by_filters(stage: FrameStage) -> bool:
    """Whether a selected filter stage reads one of ``stage``'s fields."""
    return any(cls.filters and set(cls.reads) & set(stage.fields) and cls(stage.options).selected()
               for cls in stage_classes() if cls is not type(stage))


@dataclass(frozen=True)
class Options:
    measures: bool = option(False, action="store_true", builder=True, rerun=False,
                            help="record each clip's face share, face size, head pose, sharpness, brightness and "
                                 "motion (face_share, face_px, yaw, pitch, roll, head_away, sharpness, brightness, "
                                 "motion) from its landmarks; on with any of their thresholds (--min-face-share, "
                                 "--max-face-share, --min-face-px, --max-head-angle, --min-sharpness, --max-motion)")


class Measures(FrameStage):
    name = "measures"
    label = "measures"
    Options = Options
    fields = dict.fromkeys(SUMMARIES, "float32")
    reads = ("frames", LANDMARKS_FIELD)
    card = ("| `face_share`, `face_px`, `yaw`, `pitch`, `roll`, `head_away`, `sharpness`, `brightness`, `motion` | "
            "float32 | the filter measures (`hdtf prepare --measures` or a threshold): median face share of the frame "
            "and face width in px, median head pose and the 90th percentile of the angle off the line of sight "
            "(degrees), median Laplacian variance of the face, mean brightness and frame difference (0-255); null "
            "when not measured or no face |",)

    def selected(self) -> bool:
        return bool(self.options.measures) or _wanted_by_filters(self)

    def check(self) -> None:
        if self.selected():
            check_landmarks(self.options, "--measures and the face share/size/pose/sharpness filters")

    def begin(self, clip: ClipInput) -> FramePass:
        from hdtf.curate.measures import ClipMeasures

        return CorePass(clip, ClipMeasures(), self._outcome)

    def _outcome(self, measured: dict[str, Any]) -> Outcome:
        values = {field: _rounded((measured.get(series) or {}).get(summary))
                  for field, (series, summary) in SUMMARIES.items()}
        notes = [] if measured.get("frames_with_face") else ["measures: no face on any frame (face measures null)"]
        return Outcome(values, notes)


@dataclass(frozen=True)
class IQAOptions:
    iqa_weights: Path | None = option(None, parser=Path, metavar="ONNX", builder=True, canonical="path",
                                      help="record each clip's image-quality score (iqa) with these ONNX weights "
                                           "(a HyperIQA export, say): the mean score of the first, middle and last "
                                           f"frame, each scaled to {IQA_SIDE} px and centre-cropped to the model's "
                                           "input (224 when it takes any), ImageNet-normalised, as LatentSync does")


@lru_cache(maxsize=2)
def _iqa_model(weights: str) -> Any:
    """One IQA session per process and weights (jobs of one worker share it)."""
    from hdtf.curate.iqa import IQAModel

    return IQAModel(weights, resize=IQA_SIDE, device="cuda" if _has_cuda() else "cpu")


def _has_cuda() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


class IQA(FrameStage):
    name = "iqa"
    label = "IQA"
    Options = IQAOptions
    fields = {"iqa": "float32"}
    card = ("| `iqa` | float32 | image-quality score of the user's ONNX model (`--iqa-weights`): mean of the first, "
            "middle and last frame (LatentSync keeps >= 40); null when not scored |",)

    def check(self) -> None:
        weights = self.options.iqa_weights
        if weights is not None:
            _iqa_model(str(Path(weights).expanduser()))  # an unreadable model is one line before any work

    def begin(self, clip: ClipInput) -> FramePass:
        from hdtf.curate.iqa import IQAScore

        model = _iqa_model(str(Path(self.options.iqa_weights).expanduser()))
        return CorePass(clip, IQAScore(model), self._outcome)

    @staticmethod
    def _outcome(scored: dict[str, Any]) -> Outcome:
        if scored.get("iqa") is None:
            raise HDTFError("no frame to score")
        return Outcome({"iqa": _rounded(scored["iqa"])})

