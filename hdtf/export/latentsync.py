"""LatentSync's training folder (bytedance/LatentSync ``latentsync/data/unet_dataset.py``,
``configs/unet/stage2.yaml``).

``UNetDataset`` reads the paths of ``data.train_fileslist`` (one path per line, ``line.rstrip()``), opens each with
decord's ``VideoReader`` for the frames and ``AudioReader(video_path, sample_rate=16000)`` for the audio (so the audio
is inside the mp4), skips a video with fewer than ``3 * num_frames`` frames (48 with ``num_frames: 16``) and takes its
frames as they are, at ``data.resolution`` (256): LatentSync trains on its affine-aligned faces.

The export: the aligned view of each clip (``aligned_path``, mp4 with the clip's audio) as ``{split}/{id}.mp4``, and
``fileslist.txt`` (the ``train`` split) and ``fileslist_{split}.txt`` (every other split) with one absolute path per
line. Clips without an aligned view or shorter than :data:`MIN_FRAMES` are left out, counted by reason.
"""

from __future__ import annotations

from hdtf.export import fields
from hdtf.export.trainers import Plan, Selection, absolute, linked, missing, text

NUM_FRAMES = 16  # configs/unet/stage2.yaml data.num_frames
MIN_FRAMES = 3 * NUM_FRAMES  # unet_dataset.py: `if len(vr) < 3 * self.num_frames: continue`


def list_name(split: str) -> str:
    """The list a split's paths go to: ``fileslist.txt`` for ``train`` (``data.train_fileslist``)."""
    return "fileslist.txt" if split == "train" else f"fileslist_{split}.txt"


def plan(selection: Selection) -> Plan:
    result = Plan()
    for split, clips in selection.by_split.items():
        paths = []
        for clip in clips:
            why = missing({"aligned view (hdtf prepare --aligned 256)": clip.get(fields.ALIGNED_PATH)})
            if why is None and int(clip.get("num_frames") or 0) < MIN_FRAMES:
                why = f"shorter than {MIN_FRAMES} frames (LatentSync's trainer skips it)"
            if why is not None:
                result.left_out[why] += 1
                continue
            name = f"{split}/{clip['id']}.mp4"
            result.files[name] = linked(selection.layout, clip[fields.ALIGNED_PATH])
            paths.append(absolute(selection, name))
            result.clips += 1
        if paths:
            result.files[list_name(split)] = text("".join(f"{p}\n" for p in paths))
            result.lists.append(list_name(split))
    return result
