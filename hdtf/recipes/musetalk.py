"""MuseTalk's preprocessing (TMElyralab/MuseTalk ``scripts/preprocess.py``) and the faces its trainer takes
(``configs/training/stage2.yaml``, ``musetalk/data/dataset.py``)."""

from hdtf.recipes.base import Setting

NAME = "musetalk"
VERSION = 1
TRAINER = "TMElyralab/MuseTalk"

OPTIONS = {
    "fps": Setting(25.0, "TMElyralab/MuseTalk scripts/preprocess.py (convert_video: ffmpeg -r 25)"),
    "sample_rate": Setting(16000, "TMElyralab/MuseTalk scripts/preprocess.py (extract_audio: -ar 16000 -ac 1)"),
    "landmarks": Setting(True, "TMElyralab/MuseTalk scripts/preprocess.py (analyze_video: 68 face keypoints per "
                               "frame)", "dlib's tracked 68 points where MuseTalk runs dwpose"),
    "face_json": Setting(True, "TMElyralab/MuseTalk scripts/preprocess.py (meta JSON: face_list, landmark_list, "
                               "isvalid)"),
    "measures": Setting(True, "TMElyralab/MuseTalk musetalk/data/dataset.py (the face size it checks per clip)",
                        "the face width is measured once and kept for every clip"),
    "min_face_px": Setting(200, "TMElyralab/MuseTalk configs/training/stage2.yaml (min_face_size: 200), "
                                "musetalk/data/dataset.py (face_shapes[0][0] < min_face_size is skipped)",
                           "filtered at preparation on the face width, so the trainer does not skip the clip"),
}
