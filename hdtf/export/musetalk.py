"""MuseTalk's training folder (TMElyralab/MuseTalk ``scripts/preprocess.py``, ``configs/training/preprocess.yaml``,
``musetalk/data/dataset.py``).

MuseTalk's preprocessing cuts 25 fps clips with a 16 kHz mono wav beside each (``wav_path = mp4_path.replace(".mp4",
".wav")``), writes one JSON per clip into ``meta/`` (``mp4_path``, ``wav_path``, ``video_size``, ``face_size``,
``frames``, ``face_list``, ``landmark_list``, ``isvalid``) and lists the JSON file names in ``train.txt`` and
``val.txt``, a clip going to ``val`` when one of the 20 HDTF video names of ``val_list_hdtf`` is part of its name.
Its ``HDTFDataset`` reads ``./dataset/HDTF/train.txt`` against the root ``./dataset/HDTF/meta``; ``FaceDataset``
skips the first line of a list (``f.readline()  # Skip header line``), takes the first word of each other line,
requires ``len(landmark_list) == frames`` of the video and ``(frames, 68, 2)`` landmarks, and at least ``T * 10``
frames.

The export (made to be that ``dataset/HDTF`` folder): ``clips/{id}.mp4`` and ``clips/{id}.wav``, ``meta/{id}.json``
with MuseTalk's fields (absolute paths), and ``train.txt`` / ``val.txt`` whose first line is a header, so that no
clip is skipped. ``val_split``: ``"v1"`` (hdtf's standard split: its ``test`` or ``val`` clips) or ``"musetalk"``
(:data:`VAL_LIST_HDTF`, by the clip's ``{subset}_{video name}``). A clip whose face JSON is not valid (a frame
without a face: MuseTalk's trainer cannot use it) is left out.
"""

from __future__ import annotations

import json

from hdtf.export import fields
from hdtf.export.trainers import Plan, Selection, absolute, json_file, linked, missing, text

# TMElyralab/MuseTalk configs/training/preprocess.yaml val_list_hdtf: MuseTalk's fixed HDTF validation videos
VAL_LIST_HDTF = (
    "RD_Radio7_000", "RD_Radio8_000", "RD_Radio9_000", "WDA_TinaSmith_000", "WDA_TomCarper_000", "WDA_TomPerez_000",
    "WDA_TomUdall_000", "WDA_VeronicaEscobar0_000", "WDA_VeronicaEscobar1_000", "WDA_WhipJimClyburn_000",
    "WDA_XavierBecerra_000", "WDA_XavierBecerra_001", "WDA_XavierBecerra_002", "WDA_ZoeLofgren_000",
    "WRA_SteveScalise1_000", "WRA_TimScott_000", "WRA_ToddYoung_000", "WRA_TomCotton_000", "WRA_TomPrice_000",
    "WRA_VickyHartzler_000",
)
VAL_SPLITS = ("v1", "musetalk")
_FIELDS = ("video_size", "face_size", "frames", "face_list", "landmark_list", "isvalid")
HEADER = "# hdtf export: one meta/*.json name per line (MuseTalk's FaceDataset skips this first line)\n"


def in_val(clip: dict, split: str, val_split: str) -> bool:
    """Whether the clip goes to ``val.txt``: by hdtf's standard split, or by MuseTalk's list of HDTF videos."""
    if val_split == "musetalk":
        return f"{clip.get('subset')}_{clip.get('video_name')}" in VAL_LIST_HDTF
    return split in ("test", "val")


def plan(selection: Selection) -> Plan:
    val_split = selection.options.get("val_split") or "v1"
    if val_split not in VAL_SPLITS:
        from hdtf.errors import HDTFError

        raise HDTFError(f"MuseTalk validation split {val_split!r} is not one of {', '.join(VAL_SPLITS)}")
    result = Plan()
    lists: dict[str, list[str]] = {"train.txt": [], "val.txt": []}
    for split, clips in selection.by_split.items():
        for clip in clips:
            why = missing({"face JSON (hdtf prepare --face-json)": clip.get(fields.FACE_JSON_PATH)})
            face = None if why else json.loads(selection.layout.read_bytes(clip[fields.FACE_JSON_PATH]))
            if face is not None and not face.get("isvalid"):
                why = "face JSON not valid (a frame without a face)"
            if why is not None:
                result.left_out[why] += 1
                continue
            stem = clip["id"]
            mp4, wav, meta = f"clips/{stem}.mp4", f"clips/{stem}.wav", f"meta/{stem}.json"
            result.files[mp4] = linked(selection.layout, clip["path"])
            result.files[wav] = linked(selection.layout, clip["audio_path"])
            document = {"mp4_path": absolute(selection, mp4), "wav_path": absolute(selection, wav),
                        **{key: face.get(key) for key in _FIELDS}}
            result.files[meta] = json_file(document)
            lists["val.txt" if in_val(clip, split, val_split) else "train.txt"].append(f"{stem}.json")
            result.clips += 1
    for name, entries in lists.items():
        result.files[name] = text(HEADER + "".join(f"{e}\n" for e in entries))
        result.lists.append(name)
    return result
