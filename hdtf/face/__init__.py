"""Faces: dlib detection and 68-point landmarks, video tracking, the landmark crop window, alignment.

``import hdtf`` never imports this package; dlib and cv2 load inside the functions that use them.
"""

from hdtf.face.align import alignment_transform
from hdtf.face.clips import clip_window, landmarks_path, write_clip_landmarks
from hdtf.face.detect import FaceBox, MultipleFacesWarning, NoFaceError, detect_faces, landmarks, landmarks_for_image
from hdtf.face.models import FACE_RECOGNITION, LANDMARKS_68, model_path
from hdtf.face.track import LandmarkTrack, read_video_gray, track_video
from hdtf.face.window import DEFAULT_CROP_RATIO, landmark_crop_window

__all__ = [
    "DEFAULT_CROP_RATIO", "FACE_RECOGNITION", "LANDMARKS_68", "FaceBox", "LandmarkTrack", "MultipleFacesWarning",
    "NoFaceError", "alignment_transform", "clip_window", "detect_faces", "landmark_crop_window", "landmarks",
    "landmarks_for_image", "landmarks_path", "model_path", "read_video_gray", "track_video", "write_clip_landmarks",
]
