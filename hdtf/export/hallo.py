"""Hallo's training folder (fudan-generative-vision/hallo ``scripts/data_preprocess.py``,
``scripts/extract_meta_info_stage2.py``, ``hallo/datasets/talk_video.py``, ``configs/train/stage2.yaml``).

Hallo's preprocessing writes, beside ``videos/{name}.mp4``: ``audios/{name}.wav``, ``face_mask/``,
``sep_pose_mask/``, ``sep_face_mask/``, ``sep_lip_mask/`` (one PNG per clip, ``{name}.png``), ``face_emb/{name}.pt``
(the ArcFace embedding) and ``audio_emb/{name}.pt`` (wav2vec2's ``hidden_states[1:]`` per video frame, ``(frames,
layers, dim)`` float32). ``extract_meta_info_stage2.py`` lists each clip as ``{video_path, mask_path,
sep_mask_border, sep_mask_face, sep_mask_lip, face_emb_path, audio_path, vocals_emb_base_all}`` (absolute paths;
only clips whose audio embedding has the video's frame count within 3) in the JSON list that
``data.train_meta_paths`` names; ``TalkingVideoDataset`` reads the audio embedding under the key
``f"{audio_type}_emb_{model_scale}_{features}"`` (``vocals_emb_base_all`` in stage 2).

The export: those folders under ``{split}/`` (so each split is a root Hallo's own scripts accept), the clip mp4 as
the video, the masks linked, the embeddings written as torch tensors (``torch.load(..., weights_only=True)`` reads
them): the face embedding ``(D,)`` float32, the audio embedding float32 without hdtf's index 0 (the input
embedding: hdtf keeps ``layers + 1`` hidden states, Hallo ``hidden_states[1:]``). The meta list of a split is
``{split}_stage2.json`` at the folder's top. A run whose audio embeddings are the last layer only gets the key
``vocals_emb_base_last`` (Hallo's ``features: last``).
"""

from __future__ import annotations

from pathlib import Path

from hdtf.export import fields
from hdtf.export.trainers import Plan, Selection, Writer, absolute, json_file, linked, missing

# Hallo's folder for each mask kind hdtf makes, and the meta key that names it (extract_meta_info_stage2.py)
MASKS = {"face_mask": "mask_path", "sep_pose_mask": "sep_mask_border", "sep_face_mask": "sep_mask_face",
         "sep_lip_mask": "sep_mask_lip"}
FRAME_SLACK = 3  # extract_meta_info_stage2.py: abs(len(video_frames) - audio_emb.shape[0]) > 3 -> left out


def audio_key(layers: str) -> str:
    """The meta key of the audio embedding: ``{audio_type}_emb_{model_scale}_{features}`` of stage2.yaml."""
    return f"vocals_emb_base_{'all' if layers == 'all' else 'last'}"


def meta_name(split: str) -> str:
    return f"{split}_stage2.json"


def plan(selection: Selection) -> Plan:
    result = Plan()
    layout = selection.layout
    for split, clips in selection.by_split.items():
        meta = []
        for clip in clips:
            wanted = {f"{kind} mask (hdtf prepare --masks)": fields.mask_path(clip, kind) for kind in MASKS}
            wanted["face embedding (--face-embedding-weights)"] = clip.get(fields.FACE_EMBEDDING_PATH)
            wanted["audio embedding (--audio-encoder)"] = clip.get(fields.AUDIO_EMBEDDING_PATH)
            why = missing(wanted) or _frame_mismatch(selection, clip)
            if why is not None:
                result.left_out[why] += 1
                continue
            stem = clip["id"]
            names = {"video_path": f"{split}/videos/{stem}.mp4", "audio_path": f"{split}/audios/{stem}.wav",
                     "face_emb_path": f"{split}/face_emb/{stem}.pt"}
            names.update({key: f"{split}/{kind}/{stem}.png" for kind, key in MASKS.items()})
            audio_emb = f"{split}/audio_emb/{stem}.pt"
            result.files[names["video_path"]] = linked(layout, clip["path"])
            result.files[names["audio_path"]] = linked(layout, clip["audio_path"])
            for kind, key in MASKS.items():
                result.files[names[key]] = linked(layout, fields.mask_path(clip, kind))
            face_emb = clip[fields.FACE_EMBEDDING_PATH]
            result.files[names["face_emb_path"]] = _tensor(selection, face_emb, drop_input=False)
            all_layers = clip.get(fields.AUDIO_EMBEDDING_LAYERS) == "all"
            result.files[audio_emb] = _tensor(selection, clip[fields.AUDIO_EMBEDDING_PATH], drop_input=all_layers)
            entry = {key: absolute(selection, name) for key, name in names.items()}
            entry[audio_key("all" if all_layers else "last")] = absolute(selection, audio_emb)
            meta.append(entry)
            result.clips += 1
        if meta:
            result.files[meta_name(split)] = json_file(meta)
            result.lists.append(meta_name(split))
    return result


def _frame_mismatch(selection: Selection, clip: dict) -> str | None:
    """Hallo's check that the audio embedding covers the video's frames (within :data:`FRAME_SLACK`)."""
    import numpy as np

    frames = np.load(selection.layout.file(clip[fields.AUDIO_EMBEDDING_PATH]), mmap_mode="r").shape[0]
    if abs(frames - int(clip.get("num_frames") or 0)) > FRAME_SLACK:
        return "audio embedding frame count differs from the video's (Hallo's meta script leaves it out)"
    return None


def _tensor(selection: Selection, name: str, *, drop_input: bool) -> Writer:
    """A torch tensor file (float32) of the run's .npy ``name``; ``drop_input``: without hidden state 0."""

    def write(temp: Path) -> None:
        import numpy as np
        import torch

        array = np.load(selection.layout.file(name)).astype(np.float32)
        if drop_input:
            array = array[:, 1:]
        torch.save(torch.from_numpy(np.ascontiguousarray(array)), temp)

    return write
