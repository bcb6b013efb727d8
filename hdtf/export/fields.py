"""The curated record fields the exports read: the one place their names are written down.

The curation stages of ``hdtf prepare`` (scene cuts, the aligned view, measures, embeddings, masks, face JSON; see
docs/curation.md) add these fields to a clip's record. File fields name files relative to the run, read only through
the layout (``Layout.file``), never built here: where they live is the layout's business.

=========================  =========================================================================================
field                      value
=========================  =========================================================================================
``aligned_path``           the face-aligned view (mp4 with the clip's audio inside)
``aligned_matrices_path``  its per-frame source-to-aligned 2x3 matrices (.npz, ``hdtf.curate.aligned``)
``aligned_size``           its side in pixels; ``aligned_jitter_px``: its residual jitter
``scene_cuts``             seconds from the clip's start of each new shot
``face_share`` ...         the measures stage's per-clip value (``hdtf.stages.measures.SUMMARIES``: a float)
``iqa``                    the image-quality score (a number or None)
``face_embedding_path``    float32 ``(D,)`` .npy: the raw ArcFace embedding
``audio_embedding_path``   float16 .npy, ``(frames, dim)`` (layers "last") or ``(frames, layers + 1, dim)`` ("all")
``audio_embedding_layers`` "last" or "all"
``mask_paths``             {kind: PNG} for :data:`MASK_KINDS` (``hdtf.curate.masks``)
``face_json_path``         MuseTalk's per-clip face JSON fields (``hdtf.curate.face_json``)
=========================  =========================================================================================

A clip a filter rejected stays on disk: its record has the status :data:`FILTERED` (or, as the stage seam writes it,
status "done" with a non-empty ``filtered`` list of the rejecting stages); exports leave it out unless asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALIGNED_PATH = "aligned_path"
ALIGNED_MATRICES_PATH = "aligned_matrices_path"
ALIGNED_SIZE = "aligned_size"
ALIGNED_JITTER = "aligned_jitter_px"
SCENE_CUTS = "scene_cuts"
# Per-clip summaries of hdtf.curate.measures.ClipMeasures, kept under their series' names.
MEASURES = ("face_share", "face_px", "head_away", "yaw", "pitch", "roll", "sharpness", "brightness", "motion")
IQA = "iqa"
FACE_EMBEDDING_PATH = "face_embedding_path"
AUDIO_EMBEDDING_PATH = "audio_embedding_path"
AUDIO_EMBEDDING_LAYERS = "audio_embedding_layers"
MASK_PATHS = "mask_paths"
MASK_KINDS = ("face_mask", "lip_mask", "sep_face_mask", "sep_lip_mask", "sep_pose_mask")
FACE_JSON_PATH = "face_json_path"
# A rejected clip's status (and the stage seam's list of rejecting stages on a done record).
FILTERED = "filtered"


def is_filtered(record: Mapping[str, Any]) -> bool:
    """Whether a filter rejected the clip (either spelling, module docstring)."""
    return record.get("status") == FILTERED or bool(record.get(FILTERED))


def usable(record: Mapping[str, Any]) -> bool:
    """A record an export may take, its files aside: made (done) or made and then filtered."""
    return record.get("status") in ("done", FILTERED)


def mask_path(record: Mapping[str, Any], kind: str) -> str | None:
    """The name of the clip's ``kind`` mask, None when it has none."""
    masks = record.get(MASK_PATHS)
    return masks.get(kind) if isinstance(masks, Mapping) else None
