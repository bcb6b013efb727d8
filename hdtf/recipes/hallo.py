"""Hallo's preprocessing (fudan-generative-vision/hallo ``scripts/data_preprocess.py``, ``README.md``) and its
stage-2 training data (``configs/train/stage2.yaml``, ``hallo/datasets/talk_video.py``)."""

from hdtf.recipes.base import Setting

NAME = "hallo"
VERSION = 1
TRAINER = "fudan-generative-vision/hallo"

OPTIONS = {
    "fps": Setting(25.0, "fudan-generative-vision/hallo configs/train/stage2.yaml (data.fps: 25), "
                         "scripts/data_preprocess.py (AudioProcessor(16000, 25, ...))"),
    "sample_rate": Setting(16000, "fudan-generative-vision/hallo configs/train/stage2.yaml (data.sample_rate: 16000)"),
    "size": Setting(512, "fudan-generative-vision/hallo configs/train/stage2.yaml (train_width/train_height: 512)"),
    "landmarks": Setting(True, "fudan-generative-vision/hallo scripts/data_preprocess.py (face landmarks per frame "
                               "for the masks)", "dlib's tracked 68 points where Hallo runs mediapipe"),
    "measures": Setting(True, "fudan-generative-vision/hallo README.md (the face share and rotation it asks of its "
                              "data)", "the values are kept for every clip, so a user can filter again"),
    "min_face_share": Setting(0.5, "fudan-generative-vision/hallo README.md (the face \"making up 50%-70% of the "
                                   "image\")",
                              "Hallo states it for its input images without code; hdtf measures the 68-landmark "
                              "box's larger side over the frame's side"),
    "max_face_share": Setting(0.7, "fudan-generative-vision/hallo README.md (50%-70%)"),
    "max_head_angle": Setting(30.0, "fudan-generative-vision/hallo README.md (\"a rotation angle of less than "
                                    "30°\")", "measured per frame from the landmarks (solvePnP)"),
    "masks": Setting(True, "fudan-generative-vision/hallo scripts/data_preprocess.py (face_mask, sep_pose_mask, "
                           "sep_face_mask, sep_lip_mask)",
                     "from dlib's 68 points with the forehead added, where Hallo uses mediapipe's face oval"),
    "audio_encoder": Setting("facebook/wav2vec2-base-960h", "fudan-generative-vision/hallo "
                                                            "scripts/data_preprocess.py (wav2vec2-base-960h)",
                             "no vocal separation (Hallo runs Kim_Vocal_2 first); hidden states resampled after "
                             "the encoder"),
    "audio_embedding_layers": Setting("all", "fudan-generative-vision/hallo configs/train/stage2.yaml "
                                             "(wav2vec_config.features: all)",
                                      "hdtf keeps layers + 1 states; hdtf export --to hallo drops the first"),
}
