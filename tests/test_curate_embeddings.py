"""Face and audio embeddings: a random ArcFace stand-in (ONNX, made here) on a real-face video, and tiny randomly
initialised wav2vec2 / Whisper encoders built from configs here, saved with save_pretrained and loaded by path
(no downloads), on the real speech wav."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.arcface_onnx import random_arcface
from fixtures.talking_face import talking_face_factory, talking_face_small  # noqa: F401
from hdtf.curate.base import run_accumulators
from hdtf.curate.embeddings import AudioEncoder, FaceEmbedding
from hdtf.decode import stream_frames
from hdtf.errors import HDTFError
from hdtf.metrics.arcface import ArcFaceModel, align_face

FPS = 25.0


@pytest.fixture(scope="module")
def wav2vec2_dir(tmp_path_factory):
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=48,
                            conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                            vocab_size=10)
    path = tmp_path_factory.mktemp("wav2vec2")
    Wav2Vec2Model(config).eval().save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(0)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=48,
                           decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=48, num_mel_bins=80,
                           max_source_positions=1500, vocab_size=51865)
    path = tmp_path_factory.mktemp("whisper")
    WhisperEncoder(config).eval().save_pretrained(path)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def speaking(talking_face_factory, speech_wav):
    """A real-face video speaking the real speech wav (4 s)."""
    return talking_face_factory(seconds=4.0, size=(320, 180), audio=speech_wav)


def test_wav2vec2_embeddings_have_one_vector_per_video_frame(wav2vec2_dir, speaking):
    import torch
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from hdtf.video_io import read_audio

    frames = sum(1 for _ in stream_frames(speaking.path))
    assert frames == speaking.num_frames == 100
    last = AudioEncoder(wav2vec2_dir).embed_file(speaking.path, frames, FPS)
    every = AudioEncoder(wav2vec2_dir, layers="all").embed_file(speaking.path, frames, FPS)
    assert last.shape == (frames, 32) and last.dtype == np.float16
    assert every.shape == (frames, 3 + 1, 32) and every.dtype == np.float16  # the input embedding + 3 layers
    assert np.array_equal(every[:, -1], last)
    # Independently: run the model on the same 4 s of audio, resample with torch's align_corners interpolation.
    wav = read_audio(speaking.path, 16000)[: int(frames / FPS * 16000)]
    wav = np.pad(wav, (0, int(frames / FPS * 16000) - wav.size))
    inputs = Wav2Vec2FeatureExtractor.from_pretrained(wav2vec2_dir)(wav, sampling_rate=16000,
                                                                    return_tensors="pt").input_values
    with torch.inference_mode():
        hidden = Wav2Vec2Model.from_pretrained(wav2vec2_dir)(inputs).last_hidden_state  # (1, ~200, 32)
    assert hidden.shape[1] == pytest.approx(4 * 50, abs=1)  # wav2vec2's 50 positions a second
    want = torch.nn.functional.interpolate(hidden.transpose(1, 2), size=frames, mode="linear",
                                           align_corners=True)[0].T.numpy()
    assert last.astype(np.float32) == pytest.approx(want, abs=2e-3, rel=2e-3)
    assert np.abs(np.diff(last.astype(np.float32), axis=0)).mean() > 1e-3  # the speech moves it frame to frame


def test_audio_shorter_than_the_video_is_padded_and_longer_trimmed(wav2vec2_dir, speech_wav):
    from hdtf.decode import read_wav

    wav, rate = read_wav(speech_wav)
    encoder = AudioEncoder(wav2vec2_dir)
    short = encoder.embed(wav[: rate * 2], rate, 75, FPS)  # 2 s of audio for a 3 s clip
    full = encoder.embed(wav[: rate * 3], rate, 75, FPS)
    assert short.shape == full.shape == (75, 32)
    assert encoder.embed(wav, rate, 75, FPS) == pytest.approx(full, abs=1e-3)  # 19 s trimmed to the clip's 3 s
    assert not np.allclose(short[60:], full[60:], atol=1e-2)  # silence where the speech was cut
    from scipy.signal import resample_poly

    resampled = encoder.embed(resample_poly(wav[: rate * 3], 3, 1), rate * 3, 75, FPS)  # 48 kHz in: back to 16 kHz
    difference = np.abs(resampled.astype(np.float32) - full.astype(np.float32)).mean()
    assert difference < 0.05 * full.astype(np.float32).std()


def test_whisper_encoder_embeddings(whisper_dir, speech_wav):
    from hdtf.decode import read_wav

    wav, rate = read_wav(speech_wav)
    encoder = AudioEncoder(whisper_dir, layers="all")
    assert encoder.whisper
    got = encoder.embed(wav, rate, 120, FPS)  # 4.8 s of 25 fps video
    assert got.shape == (120, 2 + 1, 32) and got.dtype == np.float16
    assert np.abs(np.diff(got[:, -1].astype(np.float32), axis=0)).mean() > 1e-3  # the speech moves it
    long = encoder.embed(np.concatenate([wav, wav]), rate, 35 * 25, FPS)  # 35 s: two 30 s windows
    assert long.shape == (875, 3, 32) and np.isfinite(long.astype(np.float32)).all()


def test_bad_encoder_and_layers_fail_in_one_clear_line(tmp_path, wav2vec2_dir):
    with pytest.raises(HDTFError, match="layers must be one of last, all"):
        AudioEncoder(wav2vec2_dir, layers="middle")
    with pytest.raises(HDTFError, match="cannot load it"):
        AudioEncoder(tmp_path / "nothing-here")


def test_face_embedding_is_the_raw_arcface_output_of_the_first_frame_with_a_face(tmp_path, talking_face_small):
    model = ArcFaceModel(random_arcface(tmp_path / "arcface.onnx"))
    frames = list(stream_frames(talking_face_small.path))[:12]
    points = [None, None, *talking_face_small.landmarks[2:12]]
    first = FaceEmbedding(model)
    got = run_accumulators([first], frames, points, FPS)["face_embedding"]
    want = model.features(align_face(frames[2], points[2])[None])[0]
    assert got["face_embedding_frames"] == [2] and got["face_embedding_dim"] == 512
    assert first.artifacts["face_emb"].dtype == np.float32 and first.artifacts["face_emb"].shape == (512,)
    assert np.allclose(first.artifacts["face_emb"], want, atol=1e-5)
    assert got["face_embedding_norm"] == pytest.approx(float(np.linalg.norm(want)), rel=1e-5)
    assert abs(got["face_embedding_norm"] - 1.0) > 0.05  # raw, not normalised (insightface's "embedding")
    mean = FaceEmbedding(model, mode="mean", every=4)
    got = run_accumulators([mean], frames, points, FPS)["face_embedding"]
    assert got["face_embedding_frames"] == [2, 6, 10]
    want = np.mean([model.features(align_face(frames[i], points[i])[None])[0] for i in (2, 6, 10)], axis=0)
    assert np.allclose(mean.artifacts["face_emb"], want, atol=1e-5)
    none = FaceEmbedding(model)
    assert run_accumulators([none], frames, None, FPS)["face_embedding"]["face_embedding_dim"] is None
    assert none.artifacts == {}
