"""Landmark tracks as a stage: ``clips/{id}.landmarks.npz`` (68 points per frame in clip pixels, found per frame),
tracked on the clip as delivered, from the frames every per-frame stage shares (hdtf.face.clips.ClipLandmarks)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hdtf.options import option
from hdtf.stages.base import ClipInput, Frame, FramePass, FrameStage, Outcome

SUFFIX = ".landmarks.npz"
POINTS = 68


@dataclass(frozen=True)
class Options:
    landmarks: bool | None = option(None, action=argparse.BooleanOptionalAction, builder=True, clip=True, extra=True,
                                    help="store 68-point landmark tracks per clip (default: on with --crop-method "
                                         "landmarks)")


class _Pass:
    """One clip's tracking: frames in, the landmarks file out."""

    def __init__(self, clip: ClipInput) -> None:
        from hdtf.face.clips import ClipLandmarks

        self.clip = clip
        self.marks = ClipLandmarks(clip.file(SUFFIX), rate=clip.record.get("fps"))
        self.final_points = self.marks.final_points  # for readers of the final track in this decode (base)

    def frame(self, frame: Frame) -> None:
        self.marks.add(frame.gray)
        frame.landmarks = self.marks.latest()  # as found, for the stages after it in this decode (not final)

    def end(self) -> Outcome:
        path, notes = self.marks.finish()
        layout = self.clip.options.layout
        layout.wrote(path)
        return Outcome({"landmarks_path": layout.relative(path)}, notes)


class Landmarks(FrameStage):
    name = "landmarks"
    label = "landmarks"
    Options = Options
    fields = {"landmarks_path": "string"}
    files = {"landmarks_path": SUFFIX}
    additive = True  # a track costs a pass over the clip and changes nothing else: a run without --landmarks keeps it
    card = ("| `landmarks`, `landmarks_found` | (T, 68, 2) float32, T × bool | 68 landmarks per frame in clip pixels; "
            "null when not computed |",)

    @classmethod
    def complete(cls, values: dict[str, Any], options: Any) -> dict[str, Any]:
        if values["landmarks"] is None:  # on for the landmark window, and for the aligned view that needs the track
            return {"landmarks": options.crop_method == "landmarks" or bool(options.stage_options.get("aligned"))}
        return values

    def adopt(self, record: Mapping[str, Any]) -> bool:
        return bool(record.get("landmarks_path"))

    def begin(self, clip: ClipInput) -> FramePass:
        return _Pass(clip)

    @classmethod
    def columns(cls) -> dict[str, Any]:
        import datasets

        return {"landmarks": datasets.Array3D(shape=(None, POINTS, 2), dtype="float32"),
                "landmarks_found": datasets.List(datasets.Value("bool"))}

    @classmethod
    def row(cls, layout: Any, entry: Mapping[str, Any]) -> dict[str, Any]:
        from hdtf.rows import read_landmarks

        points, found = read_landmarks(layout, entry)
        return {"landmarks": points, "landmarks_found": found}
