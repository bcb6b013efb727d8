"""decode_clip holds every frame only up to a bound; stream_frames gives the same frames a batch at a time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("decord", reason="decoding needs decord (pip install 'hdtf[decode]')")

from hdtf.decode import decode_clip, stream_frames  # noqa: E402
from hdtf.errors import HDTFError  # noqa: E402


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 2 s 64x48 clip at 25 fps whose frames differ (a moving test pattern), with its wav beside it."""
    root = tmp_path_factory.mktemp("decode")
    path = root / "c.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=2",
                    "-f", "lavfi", "-i", "sine=d=2:sample_rate=16000", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)], check=True)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(path), "-ac", "1", "-c:a", "pcm_s16le",
                    str(path.with_suffix(".wav"))], check=True)
    return path


def test_a_clip_too_large_to_hold_is_refused_before_decoding_and_streams_instead(clip):
    whole = decode_clip(clip)
    assert whole.frames.shape == (50, 48, 64, 3)
    need = 50 * 48 * 64 * 3
    assert decode_clip(clip, max_bytes=need).frames.shape == whole.frames.shape
    with pytest.raises(HDTFError) as refused:
        decode_clip(clip, max_bytes=need - 1)
    message = str(refused.value)
    assert "\n" not in message and "50 frames of 64x48" in message and "hdtf.decode.stream_frames" in message
    streamed = list(stream_frames(clip, batch=7))
    assert len(streamed) == 50 and all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in streamed)
    np.testing.assert_array_equal(np.stack(streamed), whole.frames)
    row = {"id": "c", "video": {"bytes": clip.read_bytes(), "path": None}, "audio": whole.audio,
           "sample_rate": whole.sample_rate}
    np.testing.assert_array_equal(np.stack(list(stream_frames(row))), whole.frames)
    with pytest.raises(HDTFError, match="50 frames of 64x48"):
        decode_clip(row, max_bytes=need - 1)
