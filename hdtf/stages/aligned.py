"""The face-aligned view as a stage: ``aligned/{id}.mp4`` (SIZE x SIZE, the clip's audio inside) and
``aligned/{id}.npz`` (per-frame 2x3 source-to-aligned matrices), from the frames every per-frame stage shares and the
landmark track (hdtf.curate.aligned: similarity to a fixed template, smoothed over time).

The track: each frame's points in the shared decode (``reads`` names the per-frame landmarks): when the landmarks
stage runs in the same decode (a fresh clip), as the tracker finds them (the view's own temporal smoothing removes
their noise); on a clip whose landmarks an earlier run made, its landmarks file's. Either way one decode of the clip
makes both the track and the view.

A/V sync in the right order (with ``--sync-check``): SyncNet measures on this view with a fixed face box
(``hdtf.curate.aligned.syncnet_box``: no detection), as LatentSync measures on its affine-aligned faces. A confident
offset within ``--max-av-offset`` is corrected before the view is kept: the clip is trimmed (``hdtf.sync_check``),
the view made again of the frames the correction keeps with the corrected audio, and the landmarks file cut to the
same frames, so that every output matches the delivered clip frame for frame. ``--min-sync-confidence`` /
``--max-sync-offset`` (``--sync-preset latentsync``) filter the clip out on this measure.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError
from hdtf.options import option
from hdtf.stages.base import FRAME_LANDMARKS, ClipInput, Frame, FramePass, FrameStage, Outcome, Remake
from hdtf.stages.landmarks import SUFFIX as LANDMARKS

SIZES = (256, 512)  # hdtf.curate.aligned.ALIGNED_SIZES
VIDEO, MATRICES = "aligned/.mp4", "aligned/.npz"  # aligned/{id}.mp4, aligned/{id}.npz (hdtf.layout)



@dataclass(frozen=True)
class Options:
    aligned: int | None = option(None, parser=int, choices=SIZES, metavar="SIZE", builder=True, card=True,
                                 help="write each clip's face-aligned view, aligned/{id}.mp4 (SIZE x SIZE, 256 or "
                                      "512, the clip's audio inside), and its per-frame matrices aligned/{id}.npz; "
                                      "needs the landmark track (turned on); with --sync-check SyncNet measures on "
                                      "this view")


class _Pass:
    """One clip's view: frames (with their points) in, the view and its matrices out, then the sync on the view."""

    def __init__(self, stage: Aligned, clip: ClipInput) -> None:
        from hdtf import atomic
        from hdtf.curate.aligned import AlignedWriter

        self.stage, self.clip = stage, clip
        self.size = int(stage.options.aligned)
        self.video, self.matrices = clip.file(VIDEO), clip.file(MATRICES)
        atomic.make_dirs(self.video.parent)
        self.writer = AlignedWriter(self.video, self.matrices, self.size, audio_from=clip.video)
        record = clip.record
        self.fps = float(record.get("fps") or 25.0)
        self.writer.begin(self.fps, (int(record.get("width") or 0), int(record.get("height") or 0)))
        self.points: list[Any] = []  # per frame: (68, 2) or None, for a view made again after a correction

    def frame(self, frame: Frame) -> None:
        self.points.append(frame.landmarks)
        self.writer.frame(frame.index, frame.rgb, frame.landmarks)

    def end(self) -> Outcome:
        made = self.writer.end()
        layout = self.clip.options.layout
        layout.wrote(self.video, self.matrices)
        fields: dict[str, Any] = {"aligned_path": layout.relative(self.video),
                                  "aligned_matrices_path": layout.relative(self.matrices),
                                  "aligned_size": self.size, "aligned_jitter_px": round(made.jitter_px, 4)}
        notes = [f"{LABEL}: no face on {made.faceless_frames} of {made.num_frames} frames (the nearest faces' "
                 "transform held)"] if made.faceless_frames else []
        if self.stage.options.sync_check is None:
            return Outcome(fields, notes)
        synced, more, rewrote = self._sync()
        rejected, value = _verdict({**self.clip.record, **synced}, self.stage.options)
        return Outcome({**fields, **synced}, [*notes, *more], rejected=rejected, value=value, rewrote=rewrote)

    # -- A/V sync on the view ---------------------------------------------------------------------------------------

    def _sync(self) -> tuple[dict[str, Any], list[str], tuple[str, ...]]:
        """SyncNet on the view, and the correction applied to the clip and its outputs: (fields, notes, fields of
        files rewritten)."""
        from hdtf import sync_check
        from hdtf.curate.aligned import syncnet_box

        options, clip = self.stage.options, self.clip
        done = 0 if clip.fresh else int(clip.record.get("sync_shift") or 0)  # a clip trimmed by an earlier run
        unmeasured = {"sync_offset": None, "sync_confidence": None, "sync_shift": done}
        if not clip.audio.is_file():
            return unmeasured, [f"{LABEL}: A/V sync not measured: the clip has no wav"], ()
        try:
            if abs(self.fps - sync_check.SYNC_FPS) > 1e-3:
                raise ValueError(f"SyncNet needs {sync_check.SYNC_FPS:g} fps clips, this one is {self.fps:g} fps")
            result = sync_check.measure(self.video, clip.audio, options.sync_check, box=syncnet_box(self.size))
        except ValueError as exc:
            return unmeasured, [f"{LABEL}: A/V sync not measured: {exc}"], ()
        confidence = round(result.confidence, 4)
        fields = {"sync_offset": result.offset + done, "sync_confidence": confidence, "sync_shift": done}
        shift = sync_check.wanted_shift(result.offset, result.confidence, options.max_av_offset)
        if not shift:
            return fields, [f"{LABEL}: A/V sync measured on the view{_declined(result.offset, options)}"], ()
        if done:
            raise Remake("its A/V correction must change")
        facts, notes = self._correct(shift, result.confidence)
        return {**fields, **facts, "sync_shift": shift}, notes, ("path", "audio_path", "landmarks_path")

    def _correct(self, shift: int, confidence: float) -> tuple[dict[str, Any], list[str]]:
        """Trim the clip by ``shift`` frames (``hdtf.sync_check``), then make the view again of the frames the
        correction keeps, with the corrected audio, and cut the landmarks file to the same frames."""
        import numpy as np
        import soundfile

        from hdtf import atomic, sync_check
        from hdtf.curate.aligned import align_video

        clip, layout = self.clip, self.clip.options.layout
        video = clip.video if clip.fresh else layout.editable(clip.record["path"])
        audio = clip.audio if clip.fresh else layout.editable(clip.record["audio_path"])
        frames = len(self.points)
        wav = soundfile.info(str(audio))
        first, _, length = sync_check.shift_plan(frames, wav.frames // (wav.samplerate / self.fps), shift)
        with tempfile.TemporaryDirectory(prefix="hdtf-aligned-") as tmp:
            before = Path(tmp) / "before.mp4"
            shutil.copyfile(video, before)  # the frames as cut: the view is made again of those kept
            facts = sync_check.shift_clip(video, audio, shift)
            if facts["num_frames"] != length:
                raise HDTFError(f"A/V correction kept {facts['num_frames']} frames, not the {length} planned")
            track = np.full((frames, 68, 2), np.nan)
            for k, points in enumerate(self.points):
                if points is not None:
                    track[k] = points
            align_video(before, track, self.video, self.matrices, self.size, keep=(first, first + length),
                        audio_from=video)
        marks = layout.editable(layout.relative(clip.file(LANDMARKS)))  # this job's track, or the earlier run's
        if marks.is_file():
            with np.load(marks) as data:
                points, found = data["points"][first:first + length], data["found"][first:first + length]
            with atomic.replacing(marks) as out, open(out, "wb") as f:
                np.savez(f, points=points, found=found)
            layout.wrote(marks)
        layout.wrote(video, audio, self.video, self.matrices)
        k, ms = abs(shift), round(abs(shift) * 1000 / sync_check.SYNC_FPS)
        dropped = (f"the first {k} video frame(s) and the last {ms} ms of audio" if shift > 0
                   else f"the first {ms} ms of audio and the last {k} video frame(s)")
        note = (f"{LABEL}: A/V offset {shift:+d} frames measured on the view (SyncNet confidence {confidence:.2f}) "
                f"corrected by dropping {dropped}; the clip, the view and the landmarks keep frames {first}.."
                f"{first + length - 1} of the clip as cut")
        return facts, [note]


def _declined(offset: int | None, options: Any) -> str:
    """Why an offset measured on the view was left alone, when corrections were asked for."""
    from hdtf import sync_check

    if not options.max_av_offset or not offset:
        return ""
    if abs(offset) > options.max_av_offset:
        return f"; offset {offset:+d} frames exceeds --max-av-offset {options.max_av_offset}: not corrected"
    return f"; offset {offset:+d} frames not corrected: SyncNet confidence is below {sync_check.MIN_CONFIDENCE:g}"


def _verdict(fields: dict[str, Any], options: Any) -> tuple[str | None, Any]:
    from hdtf.stages.sync import verdict

    rejected, value = verdict(fields, options)
    return (None, None) if rejected is None else (f"A/V sync on the aligned view: {rejected}", value)


LABEL = "aligned"


class Aligned(FrameStage):
    name = "aligned"
    label = LABEL
    Options = Options
    fields = {"aligned_path": "string", "aligned_matrices_path": "string", "aligned_size": "int32",
              "aligned_jitter_px": "float32"}
    files = {"aligned_path": VIDEO, "aligned_matrices_path": MATRICES}
    reads = ("frames", FRAME_LANDMARKS)  # each frame's points: in the landmarks stage's decode when it runs
    filters = True  # on the A/V sync measured on the view, with --sync-check and its thresholds
    card = ("| `aligned_path`, `aligned_matrices_path`, `aligned_size`, `aligned_jitter_px` | string, string, int32, "
            "float32 | the face-aligned view `aligned/{id}.mp4` (`--aligned SIZE`; audio inside) and its per-frame "
            "source-to-aligned 2x3 matrices `aligned/{id}.npz`, its side, and the crop's residual jitter in output "
            "pixels; null when not made |",)

    def owns(self, note: str) -> bool:
        """Its notes, except those on a correction made: the clip's files stay as trimmed whatever runs next."""
        return super().owns(note) and "corrected by dropping" not in note

    def check(self) -> None:
        if self.options.aligned is None:
            return
        if self.options.aligned not in SIZES:
            raise HDTFError(f"--aligned {self.options.aligned}: must be one of {', '.join(map(str, SIZES))}")
        if not self.options.landmarks:
            raise HDTFError("--aligned needs the landmark track: drop --no-landmarks")

    def begin(self, clip: ClipInput) -> FramePass:
        return _Pass(self, clip)
