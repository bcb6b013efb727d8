"""Where dlib's model files live, and the loaded dlib objects (loaded once per process).

The files ship inside the ``face_recognition_models`` package, but its ``__init__`` imports ``pkg_resources`` (gone
from recent setuptools), so we locate the package directory through its import spec without executing it.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError

LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
FACE_RECOGNITION = "dlib_face_recognition_resnet_model_v1.dat"

_INSTALL_HINT = "install the face extra: pip install 'hdtf[face]'"


def model_path(name: str) -> Path:
    """Path of a model file shipped in ``face_recognition_models`` (e.g. :data:`LANDMARKS_68`); never imports it."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise HDTFError(f"dlib model {name}: package face_recognition_models is not installed ({_INSTALL_HINT})")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models" / name
        if candidate.is_file():
            return candidate
    where = ", ".join(spec.submodule_search_locations)
    raise HDTFError(f"dlib model {name}: not found in face_recognition_models at {where}")


def import_dlib() -> Any:
    """The dlib module, or an HDTFError saying how to install it."""
    try:
        import dlib
    except ImportError as exc:
        raise HDTFError(f"dlib is not installed ({_INSTALL_HINT})") from exc
    return dlib


@lru_cache(maxsize=1)
def face_detector() -> Any:
    """dlib's HOG frontal face detector (fast on CPU; finds faces from about 80 px at upsample 0)."""
    return import_dlib().get_frontal_face_detector()


@lru_cache(maxsize=1)
def shape_predictor() -> Any:
    """dlib's 68-point landmark regressor (iBUG 300-W layout)."""
    return import_dlib().shape_predictor(str(model_path(LANDMARKS_68)))


@lru_cache(maxsize=1)
def face_recogniser() -> Any:
    """dlib's face-recognition ResNet (128-d descriptors of faces aligned by the 68-point shape)."""
    return import_dlib().face_recognition_model_v1(str(model_path(FACE_RECOGNITION)))
