"""Audio front-end: frame alignment to video, resampling/downmix, masks, MFCC option, save/load."""

from __future__ import annotations

import numpy as np
import pytest
from hdtf.modeling.feature_extraction_hdtf import HDTFFeatureExtractor


def _speech(speech_wav, seconds: float) -> np.ndarray:
    import soundfile as sf

    audio, rate = sf.read(str(speech_wav), dtype="float32")
    assert rate == 16000
    return audio[: int(seconds * rate)]


def test_one_window_per_video_frame(speech_wav):
    fe = HDTFFeatureExtractor(feature_size=40, context_frames=2)
    assert fe.samples_per_frame == 640 and fe.mel_per_frame == 4 and fe.window_length == 20
    out = fe(_speech(speech_wav, 3.0))
    assert out["input_features"].shape == (1, 75, 20, 40)
    assert out["frame_mask"].sum() == 75
    mask = out["attention_mask"][0]
    assert mask[0, :8].sum() == 0 and mask[0, 8:].all()  # two frames of context before the audio starts
    assert mask[-1, -8:].sum() == 0 and mask[-1, :12].all()  # ... and after it ends
    assert mask[10].all()
    assert fe.num_frames(16000 * 19 + 4000) == 19 * 25 + 6  # 40 ms per frame, rounded


def test_window_is_centred_on_its_frame():
    """A click at frame 30 appears in frame 30's window centre and moves one frame (4 mel rows) per frame."""
    fe = HDTFFeatureExtractor(feature_size=40, do_normalize=False)
    audio = np.zeros(16000 * 2, np.float32)
    audio[30 * 640 + 300 : 30 * 640 + 340] = 1.0
    feats = fe(audio)["input_features"][0].mean(-1)  # (T, window)
    centre = fe.context_frames * fe.mel_per_frame
    assert centre <= int(np.argmax(feats[30])) < centre + fe.mel_per_frame
    assert int(np.argmax(feats[29])) == int(np.argmax(feats[30])) + fe.mel_per_frame


def test_resample_and_downmix_match(speech_wav):
    from scipy.signal import resample_poly

    fe = HDTFFeatureExtractor(feature_size=40)
    mono = _speech(speech_wav, 2.0)
    ref = fe(mono)["input_features"]
    stereo = np.stack([mono, mono], 1)
    np.testing.assert_allclose(fe(stereo)["input_features"], ref, atol=1e-5)
    at44 = resample_poly(mono, 441, 160).astype(np.float32)
    resampled = fe(at44, sampling_rate=44100)["input_features"]
    assert resampled.shape == ref.shape
    assert np.corrcoef(resampled.ravel(), ref.ravel())[0, 1] > 0.95


def test_batch_padding_and_tensors(speech_wav):
    fe = HDTFFeatureExtractor(feature_size=40)
    a = _speech(speech_wav, 2.0)
    out = fe([a, a[:16000]], return_tensors="pt")
    assert tuple(out["input_features"].shape) == (2, 50, 20, 40)
    assert out["frame_mask"][1].sum().item() == 25
    np.testing.assert_allclose(out["input_features"][0].numpy(), fe(a)["input_features"][0], atol=1e-6)


def test_mfcc_option_and_save_load(tmp_path, speech_wav):
    fe = HDTFFeatureExtractor(feature_size=13, feature_type="mfcc", context_frames=3)
    out = fe(_speech(speech_wav, 1.0))["input_features"]
    assert out.shape == (1, 25, 28, 13)
    fe.save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").is_file()
    loaded = HDTFFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.feature_type == "mfcc" and loaded.context_frames == 3 and loaded.n_mels == 40
    np.testing.assert_array_equal(loaded(_speech(speech_wav, 1.0))["input_features"], out)


def test_rejects_misaligned_hop():
    with pytest.raises(ValueError, match="not a multiple of hop"):
        HDTFFeatureExtractor(hop_length=300)
    with pytest.raises(ValueError, match="feature_type"):
        HDTFFeatureExtractor(feature_type="wav2vec")
