"""LMD: zero on identity, known offsets in both normalisations, region selection, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from hdtf.metrics.landmarks import lmd, lmd_per_frame


@pytest.fixture()
def track() -> np.ndarray:
    rng = np.random.default_rng(0)
    points = rng.uniform(100, 400, size=(6, 68, 2))
    points[:, 36] = (180, 200)  # outer eye corners 140 px apart
    points[:, 45] = (320, 200)
    return points


def test_identity_gives_zero(track):
    assert lmd(track, track) == 0.0
    assert lmd(track, track, region="face", normalise="interocular") == 0.0


def test_known_shift_in_pixels_and_interocular_units(track):
    moved = track.copy()
    moved[:, 48:68] += (3.0, 4.0)  # the mouth moves 5 px, the rest stays
    assert lmd(moved, track) == pytest.approx(5.0)
    assert lmd(moved, track, region="face") == pytest.approx(5.0 * 20 / 68)
    assert lmd(moved, track, normalise="interocular") == pytest.approx(5.0 / 140.0)
    # Points measured on 256 px frames are reported in 512 px units.
    assert lmd(moved / 2, track / 2, frame_size=256) == pytest.approx(5.0)
    assert lmd_per_frame(moved, track).shape == (6,)


def test_bad_input_is_named(track):
    with pytest.raises(ValueError, match="equal shape"):
        lmd(track[:, :20], track[:, :20])
    with pytest.raises(ValueError, match="region"):
        lmd(track, track, region="eyes")
    with pytest.raises(ValueError, match="normalise"):
        lmd(track, track, normalise="box")
