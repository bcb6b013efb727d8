"""hdtf.video_io's gray frames: the values of PyAV's own conversion, taken from the luma plane (the per-frame stages'
and the tracker's gray images; a different gray would move every landmark)."""

from __future__ import annotations

import subprocess

import av
import numpy as np
import pytest

from hdtf.video_io import gray_frame, open_video

WIDTH, HEIGHT = 256, 18  # odd rows of chroma in 4:2:0 (18 / 2 = 9) and a line size padded past the width


@pytest.mark.parametrize("name", ["yuv420p", "yuvj420p", "yuv422p", "yuv444p", "yuvj444p", "nv12", "rgb24"])
@pytest.mark.parametrize("colour_range", [0, 1, 2])
def test_every_luma_value_grays_as_pyav_converts_it(name, colour_range):
    frame = av.VideoFrame(WIDTH, HEIGHT, name)
    rows = np.tile(np.arange(256, dtype=np.uint8), (HEIGHT, 1))  # all 256 values on each row
    for plane in frame.planes:
        plane.update(np.full(plane.buffer_size, 128, np.uint8).tobytes())
    luma = frame.planes[0]
    per_row = luma.line_size
    stored = np.zeros((luma.height, per_row), np.uint8)
    stored[:, :WIDTH * (3 if name == "rgb24" else 1)] = np.repeat(rows, 3, axis=1) if name == "rgb24" else rows
    luma.update(stored.tobytes())
    frame.color_range = colour_range

    gray = gray_frame(frame)
    assert gray.dtype == np.uint8 and gray.shape == (HEIGHT, WIDTH)
    assert np.array_equal(gray, frame.to_ndarray(format="gray"))
    if name.startswith("yuv") and colour_range != 2 and not name.startswith("yuvj"):
        assert gray[0, 16] == 0 and gray[0, 235] == 255  # limited range stretched to full


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuvj420p"])
def test_a_decoded_talking_face_grays_as_pyav_converts_it(tmp_path, pix_fmt):
    from hdtf.synthetic import make_talking_face_video

    made = tmp_path / "face.mp4"
    make_talking_face_video(made, seconds=0.4, size=(202, 144), fps=25, seed=3)
    clip = tmp_path / f"{pix_fmt}.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(made), "-pix_fmt", pix_fmt,
                    "-c:v", "libx264", str(clip)], check=True)
    frames = 0
    with open_video(clip) as (container, stream):
        for frame in container.decode(stream):
            gray = gray_frame(frame)
            assert np.array_equal(gray, frame.to_ndarray(format="gray"))
            assert gray.std() > 10  # a face on a background, not a flat frame
            frames += 1
    assert frames == 10
