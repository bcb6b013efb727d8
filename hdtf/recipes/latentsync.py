"""LatentSync's preprocessing (bytedance/LatentSync ``data_processing_pipeline.sh``, ``preprocess/``) and the
frames its trainer needs (``latentsync/data/unet_dataset.py``, ``configs/unet/stage2.yaml``)."""

from hdtf.recipes.base import Setting

NAME = "latentsync"
VERSION = 1
TRAINER = "bytedance/LatentSync"

OPTIONS = {
    "fps": Setting(25.0, "bytedance/LatentSync preprocess/resample_fps_hz.py (ffmpeg -r 25)",
                   "hdtf resamples in its one cutting pass instead of a pass of its own"),
    "sample_rate": Setting(16000, "bytedance/LatentSync preprocess/resample_fps_hz.py (ffmpeg -ar 16000)"),
    "scene_cuts": Setting(True, "bytedance/LatentSync preprocess/detect_shot.py (scenedetect detect-adaptive)",
                          "a clip spanning a cut is filtered (or split with --split-at-cuts) instead of every video "
                          "being split into shots and re-encoded"),
    "scene_detector": Setting("adaptive", "bytedance/LatentSync preprocess/detect_shot.py (detect-adaptive)"),
    "scene_threshold": Setting(2.0, "bytedance/LatentSync preprocess/detect_shot.py (--threshold 2)"),
    "aligned": Setting(256, "bytedance/LatentSync data_processing_pipeline.sh (--resolution 256), "
                            "configs/unet/stage2.yaml (data.resolution: 256)",
                       "use --aligned 512 for configs/unet/stage2_512.yaml; hdtf's alignment is smoothed over time "
                       "(centred, no lag) where LatentSync blends with the previous frame"),
    "min_sync_confidence": Setting(3.0, "bytedance/LatentSync data_processing_pipeline.sh (--sync_conf_threshold 3), "
                                        "preprocess/sync_av.py (conf >= sync_conf_threshold)",
                                   "needs --sync-check SYNCNET_WEIGHTS; measured on the aligned view",
                                   needs="sync_check"),
    "max_sync_offset": Setting(6, "bytedance/LatentSync preprocess/sync_av.py (abs(av_offset) <= 6, else the clip "
                                  "is dropped)", "the clip is marked filtered, not deleted", needs="sync_check"),
    "max_av_offset": Setting(6, "bytedance/LatentSync preprocess/sync_av.py (abs(av_offset) <= 6, then "
                                "adjust_offset)",
                             "hdtf trims audio against video (never pads) and does so before the aligned view is "
                             "written", needs="sync_check"),
    "min_iqa": Setting(40.0, "bytedance/LatentSync preprocess/filter_visual_quality.py (quality_score >= 40, mean "
                             "of first, middle and last frame)",
                       "applied only when --iqa-weights gives an ONNX export of the HyperIQA model",
                       needs="iqa_weights"),
    "min_clip_frames": Setting(48, "bytedance/LatentSync latentsync/data/unet_dataset.py (len(vr) < 3 * num_frames is "
                              "skipped), configs/unet/stage2.yaml (num_frames: 16)",
                          "filtered at preparation, so a clip the trainer would skip is not exported"),
}
