"""LSE: the offset search on embeddings with a known shift, SyncNet's MFCCs, the network's shapes, weights loading."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from hdtf.errors import HDTFError
from hdtf.metrics.sync import MAX_SHIFT, face_crop, load_syncnet, mfcc, sync_from_embeddings


def _shifted(shift: int, n: int = 90, dim: int = 32, noise: float = 0.1):
    """Video embeddings and audio embeddings where audio window j matches video window j - shift."""
    rng = np.random.default_rng(shift + 100)
    video = rng.normal(size=(n, dim))
    audio = np.roll(video, shift, axis=0) + rng.normal(0, noise, video.shape)
    return video, audio


@pytest.mark.parametrize("shift", [0, 3, -7, 15])
def test_offset_search_finds_a_known_audio_shift(shift):
    video, audio = _shifted(shift)
    result = sync_from_embeddings(video, audio)
    assert result.offset == -shift  # audio lagging by `shift` frames reads as a negative offset
    assert result.curve.shape == (2 * MAX_SHIFT + 1,)
    assert result.distance == pytest.approx(result.curve.min())
    assert result.confidence == pytest.approx(np.median(result.curve) - result.curve.min())
    assert result.confidence > 3.0


def test_unrelated_audio_has_low_confidence():
    rng = np.random.default_rng(5)
    video, audio = rng.normal(size=(90, 32)), rng.normal(size=(90, 32))
    assert sync_from_embeddings(video, audio).confidence < 0.5 < sync_from_embeddings(*_shifted(2)).confidence


def test_mfcc_matches_reference_features(speech_wav):
    audio, rate = sf.read(speech_wav, dtype="int16")
    coeffs = mfcc(audio[8000:16000], rate)
    assert coeffs.shape == (13, 49)  # 100 Hz frames of 25 ms over 0.5 s
    # Recorded from python_speech_features 0.6 ``mfcc(signal, 16000)`` (what syncnet_python feeds SyncNet).
    reference = [
        [16.282491, 7.254654, -8.953128, -20.818298],
        [17.895199, 7.369938, -13.856859, -20.567938],
        [19.160241, 7.528257, -44.45332, -0.047364],
    ]
    np.testing.assert_allclose(coeffs[[0, 1, 6, 12]][:, [0, 20, 48]].T, reference, atol=1e-4)
    np.testing.assert_allclose(mfcc(audio[8000:16000] / 32768.0, rate), coeffs, atol=1e-9)


def test_face_crop_is_square_and_pads_outside_the_frame():
    frame = np.full((100, 100, 3), 255, np.uint8)
    crop = face_crop(frame, np.array([0, 0, 60, 60]), size=64)
    assert crop.shape == (64, 64, 3)
    assert crop[0, 0].tolist() == [110, 110, 110] and crop[-1, -1].tolist() == [255, 255, 255]


def test_missing_and_mismatched_weights_are_named(tmp_path):
    torch = pytest.importorskip("torch")
    with pytest.raises(HDTFError, match="weights not provided: --syncnet-weights"):
        load_syncnet(None)
    with pytest.raises(HDTFError, match="file not found"):
        load_syncnet(tmp_path / "syncnet_v2.model")
    wrong = tmp_path / "wrong.model"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(HDTFError, match="keys do not match"):
        load_syncnet(wrong)


def test_network_loads_its_own_state_dict_and_scores_a_clip(tmp_path):
    torch = pytest.importorskip("torch")
    from hdtf.metrics.sync import SyncScorer, build_syncnet

    torch.manual_seed(0)
    path = tmp_path / "syncnet_v2.model"
    torch.save(build_syncnet().state_dict(), path)
    net = load_syncnet(path)
    rng = np.random.default_rng(0)
    crops = (rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(8))
    audio = rng.normal(0, 0.1, 16000 * 8 // 25)
    result = SyncScorer(net, batch=4).score(crops, audio)
    assert result.curve.shape == (31,) and np.isfinite(result.distance) and result.confidence >= 0
