"""Per-clip features a trainer reads, as stages (hdtf.curate's cores): a face embedding (:class:`FaceEmbeddingStage`,
the user's ArcFace ONNX weights), audio embeddings per video frame (:class:`AudioEmbedding`, a ``transformers``
encoder by id or path), Hallo's face and lip masks (:class:`Masks`) and MuseTalk's face JSON (:class:`FaceJSON`).

Files (where ``hdtf.layout`` puts them): ``embeddings/{id}.face.npy`` (D,) float32, ``embeddings/{id}.audio.npy``
float16 ``(frames, dim)`` or ``(frames, layers + 1, dim)`` with one vector per video frame, ``masks/{id}.{kind}.png``
and ``faces/{id}.json``. The face embedding reads frames (the shared decode); masks and face JSON need only the
landmarks file (no decode); the audio encoder reads the clip's wav and uses the GPU when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError
from hdtf.options import option
from hdtf.stages.base import ClipInput, FramePass, FrameStage, Outcome, Stage
from hdtf.stages.curation import (LANDMARKS_FIELD, CorePass, check_landmarks, from_landmarks, json_bytes, npy_bytes,
                                  png_bytes, write_file)

FACE_SUFFIX = ".face.npy"
AUDIO_SUFFIX = ".audio.npy"
FACE_JSON_SUFFIX = ".json"
MASK_KINDS = ("face_mask", "lip_mask", "sep_face_mask", "sep_lip_mask", "sep_pose_mask")
LAYER_CHOICES = ("last", "all")


@lru_cache(maxsize=2)
def _arcface(weights: str) -> Any:
    """One ArcFace session per process and weights."""
    from hdtf.metrics.arcface import ArcFaceModel

    return ArcFaceModel(weights)


@dataclass(frozen=True)
class FaceOptions:
    face_embedding_weights: Path | None = option(
        None, parser=Path, metavar="ONNX", builder=True, canonical="path",
        help="store each clip's face embedding (embeddings/{id}.face.npy, (D,) float32: the raw output of these "
             "ArcFace ONNX weights on the first frame with a face, aligned as hdtf evaluate aligns; Hallo's face_emb)")


class FaceEmbeddingStage(FrameStage):
    name = "face_embedding"
    label = "face embedding"
    Options = FaceOptions
    fields = {"face_embedding_path": "string"}
    files = {"face_embedding_path": FACE_SUFFIX}
    reads = ("frames", LANDMARKS_FIELD)

    def check(self) -> None:
        if self.selected():
            check_landmarks(self.options, "--face-embedding-weights")
            _arcface(str(Path(self.options.face_embedding_weights).expanduser()))

    def begin(self, clip: ClipInput) -> FramePass:
        from hdtf.curate.embeddings import FaceEmbedding

        core = FaceEmbedding(_arcface(str(Path(self.options.face_embedding_weights).expanduser())))

        def finish(measured: dict[str, Any]) -> Outcome:
            embedding = core.artifacts.get("face_emb")
            if embedding is None:
                return Outcome({"face_embedding_path": None}, ["face embedding: no face found"])
            return Outcome({"face_embedding_path": write_file(clip, FACE_SUFFIX, npy_bytes(embedding))})

        return CorePass(clip, core, finish)


@lru_cache(maxsize=1)
def _encoder(source: str, layers: str) -> Any:
    """One loaded audio encoder per process (on the GPU when torch sees one)."""
    import torch

    from hdtf.curate.embeddings import AudioEncoder

    return AudioEncoder(source, layers=layers, device="cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class AudioOptions:
    audio_encoder: str | None = option(
        None, metavar="ID|PATH", builder=True, path_or_id=True,
        help="store each clip's audio embeddings (embeddings/{id}.audio.npy, float16, one vector per video frame) "
             "from this transformers audio encoder (a Hub id or a local folder; wav2vec2-style or Whisper's encoder)")
    audio_embedding_layers: str = option(
        "last", choices=LAYER_CHOICES, builder=True,
        help="with --audio-encoder: the last hidden state, (frames, dim), or all of them, (frames, layers + 1, dim) "
             "(default: last)")


class AudioEmbedding(Stage):
    name = "audio_embedding"
    label = "audio embedding"
    Options = AudioOptions
    fields = {"audio_embedding_path": "string", "audio_embedding_layers": "string"}
    files = {"audio_embedding_path": AUDIO_SUFFIX}
    reads = ("audio",)
    resources = {"num_cpus": 1, "num_gpus": 1}  # the GPU where the cluster has one (hdtf.stages.task_resources)
    card = ("| `audio_embedding_layers` | string | which hidden states `embeddings/{id}.audio.npy` holds (`last` or "
            "`all`; `--audio-encoder`); null when not made |",)

    def selected(self) -> bool:
        return self.options.audio_encoder is not None

    def check(self) -> None:
        if self.options.audio_embedding_layers not in LAYER_CHOICES:
            raise HDTFError(f"audio embedding layers must be one of {', '.join(LAYER_CHOICES)}, "
                            f"not {self.options.audio_embedding_layers!r}")

    def run(self, clip: ClipInput) -> Outcome:
        record = clip.record
        frames, fps = record.get("num_frames"), record.get("fps")
        if not frames or not fps:
            raise HDTFError("the clip's frame count and rate are unknown")
        layers = self.options.audio_embedding_layers
        encoder = _encoder(str(self.options.audio_encoder), layers)
        source = clip.audio if record.get("audio_path") and clip.audio.is_file() else clip.video
        embedding = encoder.embed_file(source, int(frames), float(fps))
        return Outcome({"audio_embedding_path": write_file(clip, AUDIO_SUFFIX, npy_bytes(embedding)),
                        "audio_embedding_layers": layers})


@dataclass(frozen=True)
class MaskOptions:
    masks: bool = option(False, action="store_true", builder=True,
                         help="store Hallo's masks per clip from its landmarks (masks/{id}.{kind}.png: face_mask and "
                              "lip_mask, frame-sized unions of every frame's boxes; sep_face_mask, sep_lip_mask, "
                              "sep_pose_mask, 64x64 blurred)")


class Masks(Stage):
    name = "masks"
    label = "masks"
    Options = MaskOptions
    files = {f"{kind}_path": f".{kind}.png" for kind in MASK_KINDS}
    fields = {**dict.fromkeys(files, "string"), "mask_paths": "struct"}
    reads = (LANDMARKS_FIELD,)
    card = ("| `mask_paths` | struct of strings | Hallo's masks of the clip (`--masks`): kind (`face_mask`, "
            "`lip_mask`, `sep_face_mask`, `sep_lip_mask`, `sep_pose_mask`) -> PNG file in the prepared folder; null "
            "when not made |",)

    def check(self) -> None:
        if self.selected():
            check_landmarks(self.options, "--masks")

    def run(self, clip: ClipInput) -> Outcome:
        from hdtf.curate.masks import HalloMasks

        core = HalloMasks()
        made = from_landmarks(clip, core)
        names = {kind: write_file(clip, f".{kind}.png", png_bytes(core.artifacts[kind])) for kind in MASK_KINDS}
        notes = [] if made["frames_with_face"] else ["masks: no face found (empty masks)"]
        return Outcome({**{f"{kind}_path": name for kind, name in names.items()}, "mask_paths": names}, notes)

    @classmethod
    def scalars(cls) -> dict[str, str]:
        return {}  # mask_paths is a struct column (columns)

    @classmethod
    def columns(cls) -> dict[str, Any]:
        import datasets

        return {"mask_paths": {kind: datasets.Value("string") for kind in MASK_KINDS}}

    @classmethod
    def row(cls, layout: Any, entry: Mapping[str, Any]) -> dict[str, Any]:
        return {"mask_paths": entry.get("mask_paths")}


@dataclass(frozen=True)
class FaceJSONOptions:
    face_json: bool = option(False, action="store_true", builder=True,
                             help="store MuseTalk's face JSON per clip from its landmarks (faces/{id}.json: "
                                  "video_size, face_size, frames, face_list, landmark_list, isvalid, "
                                  "first_invalid_frame)")


class FaceJSON(Stage):
    name = "face_json"
    label = "face JSON"
    Options = FaceJSONOptions
    fields = {"face_json_path": "string"}
    files = {"face_json_path": FACE_JSON_SUFFIX}
    reads = (LANDMARKS_FIELD,)

    def check(self) -> None:
        if self.selected():
            check_landmarks(self.options, "--face-json")

    def run(self, clip: ClipInput) -> Outcome:
        from hdtf.curate.face_json import MuseTalkFaceJSON

        made = from_landmarks(clip, MuseTalkFaceJSON())
        notes = [] if made["isvalid"] else [f"face JSON: no face from frame {made['first_invalid_frame']} on "
                                            "(isvalid false, as MuseTalk marks it)"]
        return Outcome({"face_json_path": write_file(clip, FACE_JSON_SUFFIX, json_bytes(made))}, notes)
