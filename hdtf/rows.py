"""Dataset rows: the ``datasets`` features of both configs and how one row is built.

The builders (``hdtf.loaders.prepared``) and the exporters (``hdtf.export``) build rows with these functions, so a row
loaded with ``load_dataset("hdtf", "clips")`` and a row read back from an exported parquet shard are the same thing.

The video is the ecosystem's own type, ``datasets.Video(decode=False)``: the mp4 file as ``{"bytes", "path"}`` (path
= the file's name, for its extension), which datasets encodes and reads back without torchcodec; the Hub's viewer and
``cast_column("video", Video())`` understand it, and :func:`video_bytes` gives the bytes of any row. The waveform is
a float32 array, not ``datasets.Audio``: in datasets 5 ``Audio.encode_example`` imports torchcodec even for
ready-made WAV bytes, and this package must work without torchcodec.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.clip_record import FACTS, FILTERED
from hdtf.layout import Layout
from hdtf.records import ClipSpec, VideoSpec
from hdtf.stages import stage_classes

if TYPE_CHECKING:
    import datasets

# ClipSpec.to_row() fields and their arrow types; absent facts (no crop, unknown resolution) are None.
_METADATA_FIELDS: dict[str, str] = {
    "id": "string",
    "source": "string",
    "subset": "string",
    "video_name": "string",
    "clip_index": "int32",
    "youtube_id": "string",
    "url": "string",
    "start": "float64",
    "end": "float64",
    "resolution": "int32",
    "crop_ratio": "float32",
    "crop_x": "int32",
    "crop_y": "int32",
    "crop_w": "int32",
    "crop_h": "int32",
}


def _clip_facts() -> dict[str, str]:
    """Facts of a prepared clip as the manifest states them (name -> arrow type): the cut's (``hdtf.clip_record``),
    then every registered stage's scalar fields (``hdtf.stages``; None where the stage did not run)."""
    return {**FACTS, **{k: t for cls in stage_classes() for k, t in cls.scalars().items()}}


def _filtering() -> bool:
    """Whether a registered stage can filter clips out (then rows carry ``filtered``: why, per rejecting stage)."""
    return any(cls.filters for cls in stage_classes())


LANDMARK_POINTS = 68
# The face track column a source declares among its ``columns()`` when its lists give per-frame face boxes
# (VoxCeleb2): one [seconds from the clip's start, x, y, w, h] per listed frame, in clip pixels.
FACE_TRACK = "face_track"


def face_track_feature() -> Any:
    """The ``datasets`` feature of the :data:`FACE_TRACK` column."""
    import datasets

    return datasets.List(datasets.List(datasets.Value("float32"), length=5))


def _listed(columns: Iterable[str]) -> tuple[str, ...]:
    """The names of ``columns`` (a source's own) that the list states, those the ``metadata`` rows carry."""
    return tuple(name for name in columns if name not in _FILE_COLUMNS)


def metadata_features(columns: Mapping[str, Any] | None = None) -> datasets.Features:
    """Features of the ``metadata`` config: one row per annotated clip, with the source's own ``columns`` (its row
    fields: ``hdtf.sources.source_columns``) that the list states."""
    import datasets

    columns = columns or {}
    return datasets.Features({**{name: datasets.Value(dtype) for name, dtype in _METADATA_FIELDS.items()},
                              **{name: columns[name] for name in _listed(columns)}})


def clip_features(columns: Mapping[str, Any] | None = None) -> datasets.Features:
    """Features of the ``clips`` config: metadata (with the sources' own ``columns``: their row fields and file
    columns such as the face track), the mp4 bytes, the waveform, clip facts and landmarks."""
    import datasets

    features = {name: datasets.Value(dtype) for name, dtype in _METADATA_FIELDS.items()}
    features.update(columns or {})
    features["video"] = datasets.Video(decode=False)
    features["audio"] = datasets.List(datasets.Value("float32"))
    features.update({name: datasets.Value(dtype) for name, dtype in _clip_facts().items()})
    features["applied_crop"] = datasets.List(datasets.Value("int32"), length=4)
    features["adjustments"] = datasets.List(datasets.Value("string"))
    for cls in stage_classes():
        features.update(cls.columns())
    if _filtering():
        features[FILTERED] = datasets.List(datasets.Value("string"))
    return datasets.Features(features)


def sample_features() -> datasets.Features:
    """Features of a webdataset sample of an export, as ``load_dataset`` reads the tar members (``hdtf.export``):
    declared in the card so that nothing is guessed (``.wav`` would become ``Audio``, which needs torchcodec)."""
    import datasets

    meta = {name: datasets.Value(dtype) for name, dtype in {**_METADATA_FIELDS, **_clip_facts()}.items()}
    meta["applied_crop"] = datasets.List(datasets.Value("int32"), length=4)
    meta["adjustments"] = datasets.List(datasets.Value("string"))
    if _filtering():
        meta[FILTERED] = datasets.List(datasets.Value("string"))
    meta["landmarks_found"] = datasets.List(datasets.Value("bool"))
    return datasets.Features({
        "__key__": datasets.Value("string"),
        "mp4": datasets.Video(decode=False),
        "wav": datasets.Value("binary"),
        "json": meta,
        "landmarks.npy": datasets.Array3D(shape=(None, LANDMARK_POINTS, 2), dtype="float32"),
        "__url__": datasets.Value("string"),
    })


def metadata_rows(videos: Iterable[VideoSpec], columns: Iterable[str] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, row) for every annotated clip of ``videos``, in metadata order (``columns``: the source's own)."""
    columns = _listed(columns)
    for video in videos:
        for clip in video.clips:
            yield clip.id, metadata_row(clip, columns)


def metadata_row(clip: ClipSpec, columns: Iterable[str] = ()) -> dict[str, Any]:
    row = clip.to_row()
    return {name: row.get(name) for name in (*_METADATA_FIELDS, *_listed(columns))}


def clip_fields(entry: Mapping[str, Any], columns: Iterable[str] = ()) -> dict[str, Any]:
    """The non-media fields of a ``clips`` row (metadata, the sources' own ``columns`` that the list states, clip
    facts) from a manifest entry; a column its source does not have is None."""
    row = {name: entry.get(name) for name in (*_METADATA_FIELDS, *_listed(columns))}
    row.update({name: entry.get(name) for name in _clip_facts()})
    crop = entry.get("applied_crop")
    row["applied_crop"] = None if crop is None else [int(v) for v in crop]
    row["adjustments"] = list(entry.get("adjustments") or [])
    if _filtering():
        row[FILTERED] = [f"{r['stage']}: {r['reason']}" for r in entry.get(FILTERED) or []]
    return row


def is_filtered(entry: Mapping[str, Any]) -> bool:
    """Whether a stage rejected the clip (it stays on disk and done; rows leave it out unless asked)."""
    return bool(entry.get(FILTERED))


def read_landmarks(prepared_dir: str | Path | Layout, entry: Mapping[str, Any]) -> tuple[Any, list[bool] | None]:
    """(points (T, 68, 2) float32, found per frame) from the entry's landmarks file, or (None, None) without one."""
    import numpy as np

    if not entry.get("landmarks_path"):
        return None, None
    with np.load(io.BytesIO(Layout.for_output(prepared_dir).read_bytes(entry["landmarks_path"]))) as npz:
        return np.asarray(npz["points"], dtype=np.float32), np.asarray(npz["found"], dtype=bool).tolist()


def read_face_track(prepared_dir: str | Path | Layout, entry: Mapping[str, Any]) -> list[list[float]] | None:
    """[seconds from the clip's start, x, y, w, h] in clip pixels per listed frame, from the entry's face track
    file (``face_track_path``), or None without one."""
    import numpy as np

    if not entry.get("face_track_path"):
        return None
    with np.load(io.BytesIO(Layout.for_output(prepared_dir).read_bytes(entry["face_track_path"]))) as npz:
        return np.concatenate([npz["times"][:, None], npz["boxes"]], axis=1).astype(np.float32).tolist()


# Source columns whose values are files of a finished clip, not facts of the list (name -> reader of one entry's
# value): only the ``clips`` rows carry them, read from the clip's files when a source declares the column.
_FILE_COLUMNS: dict[str, Callable[[Layout, Mapping[str, Any]], Any]] = {FACE_TRACK: read_face_track}


def clip_row(prepared_dir: str | Path | Layout, entry: Mapping[str, Any],
             columns: Iterable[str] = ()) -> dict[str, Any]:
    """The ``clips`` row of one done clip (a ``hdtf.manifest.done_clips`` entry) of a prepared run.

    Reads the mp4 bytes, the wav as float32 and what each stage's columns come from (the landmarks file).
    ``columns``: the sources' own row fields; those that are files of the clip (the face track) are read from them.
    """
    import soundfile

    layout, columns = Layout.for_output(prepared_dir), tuple(columns)
    row = clip_fields(entry, columns)
    row.update({name: _FILE_COLUMNS[name](layout, entry) for name in columns if name in _FILE_COLUMNS})
    row["video"] = {"bytes": layout.read_bytes(entry["path"]), "path": Path(entry["path"]).name}
    audio, rate = soundfile.read(io.BytesIO(layout.read_bytes(entry["audio_path"])), dtype="float32", always_2d=True)
    row["audio"] = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    row["sample_rate"] = int(rate)
    for cls in stage_classes():
        row.update(cls.row(layout, entry))
    return row


def video_bytes(value: Any) -> bytes | None:
    """The mp4 bytes of a ``video`` value: a ``Video(decode=False)`` dict (``{"bytes", "path"}``; a path-only value
    names a local file), or plain bytes as rows of earlier versions held them. None when there is no video."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, Mapping):
        if value.get("bytes") is not None:
            return bytes(value["bytes"])
        path = value.get("path")
        if path and Path(path).is_file():
            return Path(path).read_bytes()
    return None
