"""Scene cuts as a stage: where a clip's shot changes (hdtf.curate.scenes, PySceneDetect's detectors fed from the
frames every per-frame stage shares), recorded as ``scene_cuts`` (seconds from the clip's start).

A clip that spans a cut is *filtered* (``filtered``: the cut times in the reason; the clip stays done and on disk).
With ``--split-at-cuts`` each shot of such a clip also becomes a clip of its own, ``{id}_s{k}`` (``k``: the shot's
index, from 0), cut frame-exactly from the clip's files and recorded as a clip of the same video with ``parent`` set
to the clip's id; the stages after this one run on it as on any clip. Shots shorter than
:data:`hdtf.curate.scenes.MIN_SCENE_SECONDS` are not made (the detector reports no two cuts closer anyway).

Defaults are LatentSync's (``detect-adaptive --threshold 2``; see :mod:`hdtf.curate.scenes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdtf.clip_record import FILTERED, KEPT, STAGES, STAMP_EDGE, STAMPS, file_fingerprint
from hdtf.errors import HDTFError
from hdtf.options import option
from hdtf.stages import stage_classes
from hdtf.stages.base import ClipInput, Frame, FramePass, FrameStage, Outcome, SubClip

DETECTORS = ("adaptive", "content")  # hdtf.curate.scenes.DETECTORS (not imported: it loads numpy)
MIN_SHOT_SECONDS = 0.6  # hdtf.curate.scenes.MIN_SCENE_SECONDS: the scenedetect CLI's min-scene-len


@dataclass(frozen=True)
class Options:
    scene_cuts: bool = option(False, action="store_true", builder=True, card=True,
                              help="detect scene cuts in each clip (PySceneDetect; record scene_cuts, seconds) and "
                                   "filter out clips that span one (kept on disk, marked)")
    scene_detector: str = option("adaptive", choices=DETECTORS, builder=True, card=True,
                                 help="with --scene-cuts: PySceneDetect's detector, adaptive (LatentSync's "
                                      "detect-adaptive) or content (a fixed threshold)")
    scene_threshold: float | None = option(None, parser=float, metavar="T", builder=True, card=True,
                                           help="with --scene-cuts: the detector's threshold (default: 2 for "
                                                "adaptive, LatentSync's; 27 for content, detect-content's)")
    split_at_cuts: bool = option(False, action="store_true", builder=True, card=True,
                                 help="with --scene-cuts (implied): make each shot of a clip that spans a cut a clip "
                                      "of its own, {id}_s{k}, with parent = the clip's id (the clip stays, filtered)")


class _Pass:
    """One clip's detection: frames in, the cut times (and the rejection of a clip spanning one) out."""

    def __init__(self, clip: ClipInput, detector: str, threshold: float | None, split: bool) -> None:
        from hdtf.curate.scenes import SceneCutDetector

        record = clip.record
        self.split = split
        self.detector = SceneCutDetector(detector, threshold, MIN_SHOT_SECONDS)
        self.detector.begin(float(record.get("fps") or 25.0), (int(record.get("width") or 0),
                                                              int(record.get("height") or 0)))

    def frame(self, frame: Frame) -> None:
        self.detector.frame(frame.index, frame.rgb)

    def end(self) -> Outcome:
        found = self.detector.end()
        cuts = [round(t, 3) for t in found.cuts]
        if not cuts:
            return Outcome({"scene_cuts": []})
        at = ", ".join(f"{t:.2f} s" for t in cuts)
        reason = f"spans {'a scene cut' if len(cuts) == 1 else f'{len(cuts)} scene cuts'} at {at}"
        if self.split:
            reason += " (split into sub-clips at the cuts)"
        return Outcome({"scene_cuts": cuts}, rejected=reason, value=cuts[0])


class SceneCuts(FrameStage):
    name = "scene_cuts"
    label = "scene cuts"
    Options = Options
    fields = {"scene_cuts": "list<float64>", "parent": "string"}
    filters = True
    card = ("| `scene_cuts` | list of float64 | seconds from the clip's start of each new shot (`--scene-cuts`; "
            "PySceneDetect, LatentSync's adaptive threshold 2 by default); a clip with any is filtered; null when "
            "not detected |",
            "| `parent` | string | the clip a sub-clip was split from at its scene cuts (`--split-at-cuts`, ids "
            "`{parent}_s{k}`); null for annotated clips |")

    @classmethod
    def complete(cls, values: dict[str, Any], options: Any) -> dict[str, Any]:
        return {**values, "scene_cuts": bool(values["scene_cuts"] or values["split_at_cuts"])}

    def selected(self) -> bool:
        return bool(self.options.scene_cuts or self.options.split_at_cuts)

    def check(self) -> None:
        threshold = self.options.scene_threshold
        if threshold is not None and not threshold > 0:
            raise HDTFError(f"--scene-threshold {threshold:g}: must be positive")
        if not self.selected():
            return
        try:
            import scenedetect  # noqa: F401
        except ImportError as exc:
            raise HDTFError(f"--scene-cuts needs PySceneDetect ({exc}; pip install 'hdtf[curate]')") from None

    def begin(self, clip: ClipInput) -> FramePass:
        return _Pass(clip, self.options.scene_detector, self.options.scene_threshold, self.options.split_at_cuts)

    # -- rows: the cut times are a list, not a scalar --------------------------------------------------------------

    @classmethod
    def scalars(cls) -> dict[str, str]:
        return {"parent": "string"}

    @classmethod
    def columns(cls) -> dict[str, Any]:
        import datasets

        return {"scene_cuts": datasets.List(datasets.Value("float64"))}

    @classmethod
    def row(cls, layout: Any, entry: Mapping[str, Any]) -> dict[str, Any]:
        cuts = entry.get("scene_cuts")
        return {"scene_cuts": None if cuts is None else [float(t) for t in cuts]}

    # -- sub-clips -----------------------------------------------------------------------------------------------

    def sub_clips(self, record: Mapping[str, Any]) -> list[SubClip]:
        """The shots of a done clip that spans cuts, with ``--split-at-cuts``; shots under MIN_SHOT_SECONDS left out."""
        cuts, fps, frames = record.get("scene_cuts"), record.get("fps"), record.get("num_frames")
        if not (self.options.split_at_cuts and cuts and fps and frames) or record.get("status") != "done":
            return []
        edges = [0, *sorted({min(max(round(t * fps), 0), frames) for t in cuts}), frames]
        shortest = MIN_SHOT_SECONDS * fps
        return [SubClip(f"{record['id']}_s{k}", first, stop - first)
                for k, (first, stop) in enumerate(zip(edges[:-1], edges[1:], strict=True))
                if stop - first >= shortest and stop > first]

    def make_sub_clip(self, record: Mapping[str, Any], sub: SubClip, video: Path, audio: Path) -> dict[str, Any]:
        from hdtf.media import trim_frames

        layout = self.options.layout
        files = layout.clip_files(sub.id)
        facts = trim_frames(video, audio if audio.is_file() else None, sub.first, sub.count, files.video,
                            files.audio)
        layout.wrote(files.video, *([files.audio] if files.audio.is_file() else []))
        fps = float(record["fps"])
        begin, stop = sub.first / fps, (sub.first + sub.count) / fps
        made = {k: v for k, v in record.items() if k not in _not_inherited()}
        made.update(
            id=sub.id, parent=record["id"], start=round(float(record["start"]) + begin, 3),
            end=round(float(record["start"]) + stop, 3), path=layout.relative(files.video),
            audio_path=layout.relative(files.audio) if files.audio.is_file() else None, num_frames=facts.num_frames,
            duration=facts.duration, parent_frames=[sub.first, sub.count],
            parent_file=file_fingerprint(video, STAMP_EDGE),
            adjustments=[f"scene cuts: sub-clip of {record['id']}, its frames {sub.first}..{sub.first + sub.count - 1} "
                         f"({begin:.2f}-{stop:.2f} s), one shot between its scene cuts"])
        return made

    def reusable(self, before: Mapping[str, Any], parent: Mapping[str, Any], sub: SubClip) -> bool:
        stamp = (parent.get(STAMPS) or {}).get(parent.get("path"))
        return (before.get("parent") == parent.get("id") and before.get("parent_frames") == [sub.first, sub.count]
                and stamp is not None and before.get("parent_file") == stamp)


def _not_inherited() -> set[str]:
    """What a sub-clip does not take from its clip: what the stages made of the clip, its file stamps, what it kept."""
    made = {name for cls in stage_classes() for name in cls.fields}
    return made | {STAGES, FILTERED, STAMPS, KEPT, "retry", "reason"}
