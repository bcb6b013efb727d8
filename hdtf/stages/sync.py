"""The A/V sync check as a stage: SyncNet's offset and confidence per clip, small offsets corrected (hdtf.sync_check).

It runs first: a correction trims the clip, and every later stage reads the clip as delivered. On a clip finished by
an earlier run it measures (and corrects) in place; a clip whose applied correction must change is made again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdtf import sync_check
from hdtf.errors import HDTFError
from hdtf.options import option
from hdtf.stages.base import ClipInput, Later, Outcome, Remake, Stage


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


class SyncCheck(Stage):
    name = "sync"
    label = "A/V"  # its notes: "A/V offset ...", "A/V sync not measured: ..."
    Options = Options
    fields = {"sync_offset": "int32", "sync_confidence": "float32", "sync_shift": "int32"}
    reads = ("video", "audio")
    card = ("| `sync_offset`, `sync_confidence`, `sync_shift` | scalars | A/V sync (`hdtf prepare --sync-check`): "
            "SyncNet's offset in frames, its confidence and the offset corrected; null when not checked |",)

    @classmethod
    def complete(cls, values: dict[str, Any], options: Any) -> dict[str, Any]:
        weights = values["sync_check"]
        return {**values, "sync_check": None if weights is None else Path(weights)}

    def selected(self) -> bool:
        return self.options.sync_check is not None

    def check(self) -> None:
        sync_check.check_options(self.options.sync_check, self.options.max_av_offset)

    def owns(self, note: str) -> bool:
        """Its notes, except those on a correction made: the clip's files stay as trimmed whatever runs next."""
        return note.startswith(("A/V offset", "A/V sync")) and "corrected by dropping" not in note

    def run(self, clip: ClipInput) -> Outcome:
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


