"""A/V sync as a data-quality measure of prepared clips: SyncNet's offset and confidence per clip, and the correction
of small offsets.

HDTF-like data has clips whose voice is shifted against the face, or is not the visible person's (LatentSync drops
clips with SyncNet confidence below 3 and shifts the others to offset 0). ``hdtf prepare --sync-check WEIGHTS`` scores
every finished clip against its own audio with the LSE code of :mod:`hdtf.metrics.sync` and records three fields in
the clip's record (status, manifest, the ``clips`` rows):

- ``sync_offset``: frames (25 fps) at which SyncNet finds the best match in the clip as cut; > 0: the audio leads
  the video, < 0: it lags (None when the clip could not be measured: no face, not 25 fps, too short);
- ``sync_confidence``: the clip's LSE-C (median minus minimum of the distance curve); low means no matching speech;
- ``sync_shift``: the offset that was corrected (0: none). The clip as delivered has offset
  ``sync_offset - sync_shift``.

``--max-av-offset N`` corrects an offset of 1..N frames when SyncNet is confident about it (confidence at least
:data:`MIN_CONFIDENCE`): video and audio are trimmed against each other, never padded. With the audio ``k`` frames
ahead, the first ``k`` video frames and the last ``k`` frames' worth of audio go; with it ``k`` behind, the first ``k``
frames' worth of audio and the last ``k`` video frames. The clip becomes ``k`` frames shorter, its video is encoded
once more with the pipeline's settings, and its adjustments say what was done. Clips prepared before the check are
measured (and corrected) in place on the next run; a corrected clip whose correction has to change is made again.

Faces for the SyncNet crops are found on every frame (dlib, on a copy scaled to a short side of
:data:`DETECT_SIDE`), the last box held where none is found. On a face-aligned view the face's box is known
(:func:`hdtf.curate.aligned.syncnet_box`) and ``measure(..., box=...)`` runs no detection; :func:`shift_plan` says
which frames a correction keeps, so a view written after it keeps the same ones.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.errors import HDTFError

if TYPE_CHECKING:
    import numpy as np

    from hdtf.metrics.sync import SyncResult
    from hdtf.options import PrepareOptions

log = logging.getLogger(__name__)

MIN_CONFIDENCE = 3.0  # LatentSync's cut: below it SyncNet does not recognise the speech as the face's
SYNC_FPS = 25.0  # SyncNet's video rate: 5-frame windows of 0.2 s
MAX_OFFSET = 15  # the offsets SyncNet's search covers (hdtf.metrics.sync.MAX_SHIFT)
DETECT_SIDE = 256  # short side the face is searched at (dlib finds faces from about 80 px)
LEAD_FRAMES = 250  # frames held while no face has been found yet (10 s at 25 fps)


def check_options(weights: Path | None, max_offset: int) -> None:
    """HDTFError for sync options no clip could use, before any work starts (loads the weights once to check them)."""
    if not 0 <= max_offset <= MAX_OFFSET:
        raise HDTFError(f"--max-av-offset {max_offset}: must be 0..{MAX_OFFSET} frames (SyncNet's search range)")
    if max_offset and weights is None:
        raise HDTFError("--max-av-offset needs --sync-check SYNCNET_WEIGHTS (the offset is SyncNet's)")
    if weights is not None:
        try:
            _syncnet(str(Path(weights).expanduser().resolve()))
        except ImportError as exc:
            raise HDTFError(f"--sync-check needs torch ({exc}; pip install 'hdtf[model]')") from None


@lru_cache(maxsize=2)
def _syncnet(weights: str) -> Any:
    """The SyncNet with these weights, loaded once per process (jobs of one worker share it)."""
    from hdtf.metrics.sync import load_syncnet

    return load_syncnet(weights, "cpu")


def face_crops(video: Path, box: tuple[float, float, float, float] | None = None) -> Iterator[np.ndarray]:
    """SyncNet's 224x224 face crop of every frame of a clip (syncnet_python's geometry around the face box).

    ``box`` (left, top, right, bottom pixels): the face is known to be there on every frame, as in a face-aligned
    view (:func:`hdtf.curate.aligned.syncnet_box`); no detection runs.
    """
    import numpy as np

    from hdtf.face.detect import detect_faces, primary_face
    from hdtf.metrics.sync import face_crop
    from hdtf.metrics.video import iter_frames

    if box is not None:
        fixed = np.asarray(box, dtype=np.float64)
        yield from (face_crop(frame, fixed) for frame in iter_frames(video))
        return
    waiting: list[np.ndarray] = []
    found_box = None
    for frame in iter_frames(video):
        height, width = frame.shape[:2]
        found = detect_faces(frame, scale=min(1.0, DETECT_SIDE / min(height, width)))
        if found:
            face = primary_face(found, width, height)
            found_box = np.array([face.left, face.top, face.right, face.bottom])
        if found_box is None:
            waiting.append(frame)
            if len(waiting) > LEAD_FRAMES:
                raise ValueError(f"no face in the first {LEAD_FRAMES} frames")
            continue
        for early in waiting:  # frames before the first face get its box
            yield face_crop(early, found_box)
        waiting.clear()
        yield face_crop(frame, found_box)
    if found_box is None:
        raise ValueError("no face found in the clip")


def measure(video: Path, audio: Path, weights: str | Path,
            box: tuple[float, float, float, float] | None = None) -> SyncResult:
    """SyncNet's offset, distance and confidence of a 25 fps clip against its audio (ValueError when it cannot).

    ``box``: a fixed face box for every frame (see :func:`face_crops`), e.g. to measure on the face-aligned view.
    """
    from hdtf.metrics.sync import SAMPLE_RATE, SyncScorer
    from hdtf.video_io import read_audio

    net = _syncnet(str(Path(weights).expanduser().resolve()))
    return SyncScorer(net).score(face_crops(video, box), read_audio(audio, SAMPLE_RATE), SAMPLE_RATE)


def wanted_shift(offset: int | None, confidence: float | None, max_offset: int) -> int:
    """The correction a measured clip gets: its offset when within ``max_offset`` and SyncNet is confident, else 0."""
    if not offset or confidence is None or abs(offset) > max_offset or confidence < MIN_CONFIDENCE:
        return 0
    return offset


def _decline(offset: int | None, confidence: float | None, max_offset: int) -> list[str]:
    """Why a measured offset was left alone, when the user asked for corrections."""
    if not max_offset or not offset:
        return []
    if abs(offset) > max_offset:
        return [f"A/V offset {offset:+d} frames exceeds --max-av-offset {max_offset}: not corrected"]
    return [f"A/V offset {offset:+d} frames not corrected: SyncNet confidence {confidence:.2f} is below "
            f"{MIN_CONFIDENCE:g}, so the offset is not reliable"]


def shift_plan(num_frames: int, audio_frames: float, offset: int) -> tuple[int, int, int]:
    """(first video frame kept, first audio frame kept, frames kept) of a clip of ``num_frames`` video frames and
    ``audio_frames`` frames' worth of audio shifted by ``offset`` (see the module docstring); the frames kept may be
    fewer than 1 (too short to shift). Outputs made from the clip's frames (the face-aligned view) keep the same
    video frames, so they stay frame for frame with the corrected clip."""
    k = abs(offset)
    if offset > 0:  # audio ahead: drop the first k video frames and the audio's last k frames' worth
        return k, 0, min(num_frames - k, int(audio_frames))
    # audio behind: drop the audio's first k frames' worth and the last k video frames
    return 0, k, min(num_frames, int(audio_frames) - k)


def shift_clip(video: Path, audio: Path, offset: int, info: Any = None) -> dict[str, Any]:
    """Trim a clip's video and audio against each other by ``offset`` frames (see the module docstring) and rewrite
    its mp4 and wav; returns the new ``num_frames`` and ``duration``. Never pads. ``info``: the video's
    ``probe(video, count_frames=True, timeline=False)`` when the caller has it."""
    import soundfile

    from hdtf.media import AAC_BITRATE, X264_OPTIONS, probe

    info = info or probe(video, count_frames=True, timeline=False)
    wav = soundfile.info(str(audio))
    rate = wav.samplerate
    per_frame = rate / info.fps
    video_start, audio_start, length = shift_plan(info.nb_frames, wav.frames // per_frame, offset)
    if length < 1:
        raise HDTFError(f"{video}: too short to shift by {offset:+d} frames")
    first, last = round(audio_start * per_frame), round((audio_start + length) * per_frame)
    graph = (f"[0:v:0]trim=start_frame={video_start}:end_frame={video_start + length},setpts=PTS-STARTPTS[v];"
             f"[1:a:0]atrim=start_sample={first}:end_sample={last},asetpts=PTS-STARTPTS,asplit=2[a0][a1]")
    tmp_mp4, tmp_wav = (p.with_name(f".{p.stem}.{os.getpid()}.shift{p.suffix}") for p in (video, audio))
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise HDTFError("ffmpeg not found on PATH (needed to correct the A/V offset)")
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-i", str(video.absolute()), "-i", str(audio.absolute()), "-filter_complex", graph,
            "-map", "[v]", "-c:v", "libx264", *X264_OPTIONS, "-map", "[a0]", "-c:a", "aac", "-b:a", AAC_BITRATE,
            "-movflags", "+faststart", str(tmp_mp4.absolute()),
            "-map", "[a1]", "-c:a", "pcm_s16le", str(tmp_wav.absolute())]
    try:
        done = subprocess.run(args, capture_output=True, text=True, errors="replace", check=False)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no error output"])[-1]
            raise HDTFError(f"{video}: cannot shift audio against video ({reason})")
        out = probe(tmp_mp4, count_frames=True, timeline=False)
        from hdtf.atomic import commit

        commit(tmp_wav, audio)  # the record naming these files is written after both are in place, on the disk
        commit(tmp_mp4, video)
    finally:
        tmp_mp4.unlink(missing_ok=True)
        tmp_wav.unlink(missing_ok=True)
    return {"num_frames": out.nb_frames, "duration": out.duration}


def _correct(video: Path, audio: Path, offset: int, confidence: float,
             info: Any = None) -> tuple[dict[str, Any], list[str]]:
    facts = shift_clip(video, audio, offset, info)
    k, ms = abs(offset), round(abs(offset) * 1000 / SYNC_FPS)
    dropped = (f"the first {k} video frame(s) and the last {ms} ms of audio" if offset > 0
               else f"the first {ms} ms of audio and the last {k} video frame(s)")
    note = (f"A/V offset {offset:+d} frames (audio {'ahead of' if offset > 0 else 'behind'} the video, SyncNet "
            f"confidence {confidence:.2f}) corrected by dropping {dropped}; the clip is {k} frame(s) shorter and its "
            f"video was encoded once more")
    return {**facts, "sync_shift": offset}, [note]


def check_clip(video: Path, audio: Path, weights: str | Path, max_offset: int) -> tuple[dict[str, Any], list[str]]:
    """Measure a finished clip and correct it within ``max_offset``: (record fields, notes). A clip that cannot be
    measured gets ``None`` fields and a note saying why; it is not an error (the clip itself may be fine)."""
    from hdtf.media import probe

    unmeasured = {"sync_offset": None, "sync_confidence": None, "sync_shift": 0}
    if not audio.is_file():
        return unmeasured, ["A/V sync not measured: the clip has no wav"]
    fps = probe(video, timeline=False).fps
    try:
        if abs(fps - SYNC_FPS) > 1e-3:
            raise ValueError(f"SyncNet needs {SYNC_FPS:g} fps clips, this one is {fps:g} fps")
        result = measure(video, audio, weights)
    except ValueError as exc:
        return unmeasured, [f"A/V sync not measured: {exc}"]
    fields: dict[str, Any] = {"sync_offset": result.offset, "sync_confidence": round(result.confidence, 4),
                              "sync_shift": 0}
    shift = wanted_shift(result.offset, result.confidence, max_offset)
    if not shift:
        return fields, _decline(result.offset, result.confidence, max_offset)
    more, notes = _correct(video, audio, shift, result.confidence)
    return {**fields, **more}, notes


class Unreachable(HDTFError):
    """A clip's files could not be fetched (a store that does not answer, a network error): nothing is known about
    the clip itself, so it is left as it is for a later run."""


def revisit(record: Mapping[str, Any], options: PrepareOptions) -> Mapping[str, Any] | None:
    """A done clip's record brought up to the run's sync options, in place where possible: measured (and corrected)
    when it predates ``--sync-check``, corrected when a now-allowed correction is missing; None when an applied
    correction must change, or when its files cannot be decoded or rewritten (the clip is then made again, the
    earlier one kept aside until then). Unchanged when the run does no sync check, and when its files cannot be
    fetched now: a transient error never makes a clip again (a later run checks it)."""
    if options.sync_check is None or record.get("status") != "done":
        return record
    try:
        return bring_up(record, options)
    except Unreachable as exc:
        log.warning("%s: A/V sync check left for a later run: %s", record.get("id"), exc)
        return record
    except HDTFError:
        return None


def _local_files(record: Mapping[str, Any], options: PrepareOptions,
                 editable: bool) -> tuple[Path, Path, Path | None]:
    """The clip's video, audio and (when the files may change) landmarks as local files, all fetched before anything
    is changed; :class:`Unreachable` when one cannot be had now (on a store, nothing fetched is left to go up)."""
    from hdtf.layout import OutsideRun

    layout = options.layout
    local = layout.editable if editable else layout.file
    try:
        video = local(record["path"])
        audio = local(record["audio_path"]) if record.get("audio_path") else video.with_suffix(".wav")
        marks = layout.editable(record["landmarks_path"]) if editable and record.get("landmarks_path") else None
    except OutsideRun:
        layout.drop_unrecorded([record["id"]])
        raise
    except (HDTFError, OSError) as exc:
        layout.drop_unrecorded([record["id"]])
        raise Unreachable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    return video, audio, marks


def bring_up(record: Mapping[str, Any], options: PrepareOptions) -> Mapping[str, Any] | None:
    """:func:`revisit` of a done clip, raising :class:`Unreachable` when its files cannot be had now and HDTFError
    when they cannot be decoded or rewritten (the A/V sync stage, ``hdtf.stages.sync``, tells the two apart)."""
    from hdtf.media import probe

    layout = options.layout
    measured = "sync_confidence" in record
    done = record.get("sync_shift") or 0
    shift = wanted_shift(record.get("sync_offset"), record.get("sync_confidence"), options.max_av_offset)
    if measured and shift == done:
        return record
    if measured and done:
        return None  # a correction to undo: the clip is made again
    # Files this may change are taken as the layout's editable copies (on a store: scratch copies that go up with
    # the status naming them as done); files only measured, as read-only local copies.
    editable = measured or options.max_av_offset > 0
    video, audio, marks = _local_files(record, options, editable)
    info = probe(video, count_frames=True, timeline=False)
    if info.nb_frames != record.get("num_frames"):
        return None  # files changed after the record (an interrupted correction)
    if measured:
        fields, notes = _correct(video, audio, shift, record["sync_confidence"], info)
    else:
        fields, notes = check_clip(video, audio, options.sync_check, options.max_av_offset)
    if editable and not fields.get("sync_shift"):
        layout.drop_unrecorded([record["id"]])  # unchanged: nothing to store again
    if fields.get("sync_shift") and marks is not None:  # the track must follow the trimmed video
        from hdtf.face.clips import write_clip_landmarks

        write_clip_landmarks(video, marks)
    if fields.get("sync_shift"):  # its files were rewritten: their sizes and hashes are recorded anew
        from hdtf.clip_record import rewritten

        record = rewritten(record, "path", "audio_path", "landmarks_path")
    return {**record, **fields, "adjustments": [*record.get("adjustments", []), *notes]}


def summary_line(clips: Iterable[Mapping[str, Any]], min_confidence: float = MIN_CONFIDENCE) -> str | None:
    """``hdtf status``'s line on A/V sync: clips checked, below ``min_confidence``, corrected, not measurable."""
    done = [c for c in clips if c.get("status") == "done"]
    checked = [c for c in done if "sync_confidence" in c]
    if not checked:
        return None
    measured = [c for c in checked if c.get("sync_confidence") is not None]
    low = sorted(c.get("id", "?") for c in measured if c["sync_confidence"] < min_confidence)
    corrected = sum(1 for c in measured if c.get("sync_shift"))
    offset = sum(1 for c in measured if (c.get("sync_offset") or 0) != (c.get("sync_shift") or 0))
    examples = f" [{', '.join(low[:3])}{', ...' if len(low) > 3 else ''}]" if low else ""
    return (f"A/V sync: {len(checked)} of {len(done)} done clips checked with SyncNet; {len(low)} below confidence "
            f"{min_confidence:g}{examples}; {corrected} corrected; {offset} still off sync; "
            f"{len(checked) - len(measured)} not measurable")
