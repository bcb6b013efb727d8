"""One way to open a user's ONNX weights (ArcFace, an image-quality model): onnxruntime on the CPU, or CUDA when
asked for and present; every failure one line naming the weights and what they were expected to be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError


def onnx_session(weights: str | Path, what: str, expected: str, needed_by: str, device: str = "cpu") -> Any:
    """An ``onnxruntime.InferenceSession`` of ``weights``; ``what`` names them in errors ("ArcFace"), ``expected``
    says what the file should be, ``needed_by`` what needs onnxruntime."""
    path = Path(weights)
    if not path.is_file():
        raise HDTFError(f"{what} weights {path}: file not found (expected {expected})")
    try:
        import onnxruntime
    except ImportError as exc:
        raise HDTFError(f"{needed_by} needs onnxruntime (pip install 'hdtf[eval]')") from exc
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return onnxruntime.InferenceSession(str(path), providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise HDTFError(f"{what} weights {path}: not a loadable ONNX model ({str(exc).splitlines()[0]})") from exc
