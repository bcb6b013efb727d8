"""The curated columns of a parquet export (``hdtf export --to parquet``): what the curation stages made for a clip
(:mod:`hdtf.export.fields`) as ``datasets`` features, so that ``load_dataset`` users get the same curated data as the
trainer exports. A column is added only when some exported clip has its field; a clip without it gets None. The
measures (``face_share``, ``yaw``, ...) are the stages' own row columns already.

=====================  ============================================================================================
column                 feature
=====================  ============================================================================================
``aligned_video``      ``Video(decode=False)``: the aligned view's mp4 (with audio) as ``{bytes, path}``
``aligned_matrices``   ``Array3D((None, 2, 3), float32)``: per-frame source-to-aligned matrices
``aligned_size`` ...   values: ``aligned_size``, ``aligned_jitter_px``, ``iqa``, ``audio_embedding_layers``
``scene_cuts``         list of float64 seconds
``face_embedding``     list of float32 (the raw ArcFace output)
``audio_embedding``    ``Array2D((None, dim))`` or ``Array3D((None, layers + 1, dim))``, float16
masks                  ``Image()`` per kind (``face_mask``, ``lip_mask``, ``sep_face_mask``, ...): the PNG
``face_json``          string: MuseTalk's per-clip face JSON
=====================  ============================================================================================
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.errors import HDTFError
from hdtf.export import fields

if TYPE_CHECKING:
    from hdtf.layout import Layout

_VALUES = {fields.ALIGNED_SIZE: "int32", fields.ALIGNED_JITTER: "float32", fields.IQA: "float32",
           fields.AUDIO_EMBEDDING_LAYERS: "string"}


def columns(layout: Layout, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The curated features some of ``entries`` have (column -> feature); {} for a run without curation."""
    import datasets

    has = {key for entry in entries for key, value in entry.items() if value is not None}
    out: dict[str, Any] = {}
    if fields.ALIGNED_PATH in has:
        out["aligned_video"] = datasets.Video(decode=False)
    if fields.ALIGNED_MATRICES_PATH in has:
        out["aligned_matrices"] = datasets.Array3D(shape=(None, 2, 3), dtype="float32")
    out.update({key: datasets.Value(kind) for key, kind in _VALUES.items() if key in has})
    if fields.SCENE_CUTS in has:
        out[fields.SCENE_CUTS] = datasets.List(datasets.Value("float64"))
    if fields.FACE_EMBEDDING_PATH in has:
        out["face_embedding"] = datasets.List(datasets.Value("float32"))
    if fields.AUDIO_EMBEDDING_PATH in has:
        out["audio_embedding"] = _audio_feature(layout, entries)
    kinds = {kind for entry in entries for kind in (entry.get(fields.MASK_PATHS) or {})}
    out.update({kind: datasets.Image() for kind in fields.MASK_KINDS if kind in kinds})
    if fields.FACE_JSON_PATH in has:
        out["face_json"] = datasets.Value("string")
    return out


def _audio_feature(layout: Layout, entries: Sequence[Mapping[str, Any]]) -> Any:
    """One array feature for every clip's audio embedding (they share the encoder and layers: HDTFError if not)."""
    import datasets
    import numpy as np

    shapes = {np.load(layout.file(e[fields.AUDIO_EMBEDDING_PATH]), mmap_mode="r").shape[1:]
              for e in entries if e.get(fields.AUDIO_EMBEDDING_PATH)}
    if len(shapes) != 1:
        raise HDTFError(f"audio embeddings of different shapes per frame ({sorted(shapes)}): prepare them with one "
                        "encoder and --audio-embedding-layers before exporting")
    (shape,) = shapes
    kind = datasets.Array2D if len(shape) == 1 else datasets.Array3D
    return kind(shape=(None, *shape), dtype="float16")


def values(layout: Layout, entry: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The ``wanted`` curated columns (:func:`columns`) of one clip's row."""
    import numpy as np

    def array(key: str) -> Any:
        return np.load(layout.file(entry[key])) if entry.get(key) else None

    row: dict[str, Any] = {}
    for column in wanted:
        if column == "aligned_video":
            name = entry.get(fields.ALIGNED_PATH)
            row[column] = {"bytes": layout.read_bytes(name), "path": Path(name).name} if name else None
        elif column == "aligned_matrices":
            name = entry.get(fields.ALIGNED_MATRICES_PATH)
            row[column] = None if not name else np.load(io.BytesIO(layout.read_bytes(name)))["matrices"]
        elif column == "face_embedding":
            row[column] = array(fields.FACE_EMBEDDING_PATH)
        elif column == "audio_embedding":
            row[column] = array(fields.AUDIO_EMBEDDING_PATH)
        elif column in fields.MASK_KINDS:
            name = fields.mask_path(entry, column)
            row[column] = {"bytes": layout.read_bytes(name), "path": Path(name).name} if name else None
        elif column == "face_json":
            name = entry.get(fields.FACE_JSON_PATH)
            row[column] = layout.read_bytes(name).decode("utf-8") if name else None
        else:
            row[column] = entry.get(column)
    return row
