"""The A/V sync check as a stage: SyncNet's offset and confidence per clip, small offsets corrected (hdtf.sync_check).

It runs first: a correction trims the clip, and every later stage reads the clip as delivered. With ``--aligned`` it
leaves the measure to the aligned stage, which measures on the face-aligned view (SyncNet's crop at a fixed box) and
applies the correction before the view is kept (LatentSync's order: align, then measure and shift). Thresholds
(``--min-sync-confidence``, ``--max-sync-offset``, or ``--sync-preset latentsync``: 3 and 6) filter clips out. On a
clip finished by an earlier run it measures (and corrects) in place; a clip whose applied correction must change is
made again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hdtf import sync_check
from hdtf.clip_record import options_hash
from hdtf.errors import HDTFError
from hdtf.options import option
from hdtf.stages.base import ClipInput, Later, Outcome, Remake, Stage


# Filter thresholds of known preprocessing chains: LatentSync keeps clips whose SyncNet confidence (on its affine-
# aligned faces) is at least 3 and whose offset is within 6 frames (bytedance/LatentSync preprocess/).
PRESETS: dict[str, dict[str, Any]] = {"latentsync": {"min_sync_confidence": 3.0, "max_sync_offset": 6}}


@dataclass(frozen=True)
class Options:
    sync_check: Path | None = option(None, parser=Path, metavar="SYNCNET_WEIGHTS", builder=True, canonical="path",
                                     rerun=False,
                                     help="record each clip's A/V offset and SyncNet confidence (sync_offset, "
                                          "sync_confidence) measured with these weights (syncnet_v2.model)")
    max_av_offset: int = option(0, parser=int, metavar="N", builder=True,
                                help="with --sync-check: correct an A/V offset of up to N frames that SyncNet is "
                                     "confident about by trimming audio against video (never padding; the clip's "
                                     "adjustments say so). Default 0: measure only")
    sync_preset: str | None = option(None, choices=tuple(PRESETS), builder=True, card=True,
                                     help="with --sync-check: filter thresholds of a known chain; latentsync: "
                                          "--min-sync-confidence 3 --max-sync-offset 6 (LatentSync's, on the "
                                          "aligned view with --aligned)")
    min_sync_confidence: float | None = option(None, parser=float, metavar="C", builder=True, card=True,
                                               help="with --sync-check: filter out clips whose SyncNet confidence "
                                                    "is below C (kept on disk, marked)")
    max_sync_offset: int | None = option(None, parser=int, metavar="N", builder=True, card=True,
                                         help="with --sync-check: filter out clips whose A/V offset, after any "
                                              "correction, is more than N frames (kept on disk, marked)")


def verdict(fields: dict[str, Any], options: Any) -> tuple[str | None, Any]:
    """(why the clip is filtered out, the value measured) by the run's sync thresholds; (None, None) when it is kept
    or was not measured (a clip that cannot be measured is noted, not filtered)."""
    confidence, offset = fields.get("sync_confidence"), fields.get("sync_offset")
    if confidence is None:
        return None, None
    floor = options.min_sync_confidence
    if floor is not None and confidence < floor:
        return f"SyncNet confidence {confidence:.2f} is below {floor:g}", confidence
    left = (offset or 0) - (fields.get("sync_shift") or 0)
    if options.max_sync_offset is not None and abs(left) > options.max_sync_offset:
        return f"A/V offset {left:+d} frames is beyond {options.max_sync_offset}", left
    return None, None


class SyncCheck(Stage):
    name = "sync"
    label = "A/V"  # its notes: "A/V offset ...", "A/V sync not measured: ..."
    Options = Options
    fields = {"sync_offset": "int32", "sync_confidence": "float32", "sync_shift": "int32"}
    reads = ("video", "audio")
    filters = True  # with --min-sync-confidence / --max-sync-offset (or --sync-preset)
    card = ("| `sync_offset`, `sync_confidence`, `sync_shift` | scalars | A/V sync (`hdtf prepare --sync-check`): "
            "SyncNet's offset in frames, its confidence and the offset corrected; null when not checked |",)

    @classmethod
    def complete(cls, values: dict[str, Any], options: Any) -> dict[str, Any]:
        weights = values["sync_check"]
        preset = PRESETS.get(values["sync_preset"] or "", {})
        filled = {k: v if values[k] is None else values[k] for k, v in preset.items()}
        return {**values, **filled, "sync_check": None if weights is None else Path(weights)}

    def key(self) -> dict[str, Any]:
        """Its key, told apart when it measures on the aligned view (the aligned stage measures then): switching
        the view on or off measures again."""
        key = super().key()
        if self.options.aligned:
            key["options"] = options_hash({"options": key["options"], "measured on": "aligned view"})
        return key

    def selected(self) -> bool:
        return self.options.sync_check is not None

    def check(self) -> None:
        sync_check.check_options(self.options.sync_check, self.options.max_av_offset)
        thresholds = (self.options.min_sync_confidence, self.options.max_sync_offset)
        if any(v is not None for v in thresholds) and self.options.sync_check is None:
            raise HDTFError("--sync-preset/--min-sync-confidence/--max-sync-offset need --sync-check SYNCNET_WEIGHTS")

    def owns(self, note: str) -> bool:
        """Its notes, except those on a correction made: the clip's files stay as trimmed whatever runs next."""
        return note.startswith(("A/V offset", "A/V sync")) and "corrected by dropping" not in note

    def run(self, clip: ClipInput) -> Outcome:
        if self.options.aligned:  # measured on the view, corrected before the view is kept (hdtf.stages.aligned)
            return Outcome()
        outcome = self._measured(clip)
        rejected, value = verdict({**clip.record, **outcome.fields}, self.options)
        return replace(outcome, rejected=rejected, value=value)

    def _measured(self, clip: ClipInput) -> Outcome:
        if clip.fresh:
            try:
                fields, notes = sync_check.check_clip(clip.video, clip.audio, self.options.sync_check,
                                                      self.options.max_av_offset)
            except HDTFError as exc:
                raise HDTFError(f"A/V sync: {exc}") from None
            return Outcome(fields, notes)
        try:
            record = sync_check.bring_up(clip.record, self.options)
        except sync_check.Unreachable as exc:
            raise Later(f"A/V sync check left for a later run: {exc}") from None
        except HDTFError as exc:
            raise Remake(str(exc)) from None
        if record is None:
            raise Remake("its A/V correction must change")
        changed = record.get("sync_shift") != clip.record.get("sync_shift") and record.get("sync_shift")
        new_notes = record["adjustments"][len(clip.record.get("adjustments") or []):]
        facts = {k: record[k] for k in ("num_frames", "duration") if k in record}
        return Outcome({**{k: record.get(k) for k in self.fields}, **facts}, new_notes,
                       rewrote=("path", "audio_path") if changed else ())


