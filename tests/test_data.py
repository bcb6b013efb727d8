"""hdtf.data over a real prepared folder (hdtf prepare --crop-method landmarks on a real-face video)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from fixtures.prepared_faces import SIZE, prepared_faces  # noqa: F401

from hdtf.data import (
    AnimationPairDataset,
    AudioAnimationDataset,
    PreparedClip,
    clips_from_rows,
    load_prepared_clips,
)
from hdtf.errors import HDTFError

RATE, FPS = 16000, 25
SPF = RATE // FPS  # samples per video frame


@pytest.fixture(scope="module")
def clips(prepared_faces) -> list[PreparedClip]:  # noqa: F811 - the imported fixture is this one's argument
    return load_prepared_clips(prepared_faces.root)


def _decode(path, indices, size):
    import decord

    return decord.VideoReader(str(path), width=size, height=size).get_batch(list(indices)).asnumpy()


def test_prepared_clip_facts(clips):
    (clip,) = clips
    assert clip.size == SIZE and clip.fps == FPS and clip.sample_rate == RATE
    assert clip.num_frames == 100 and clip.points.shape == (100, 68, 2) and clip.found.sum() > 90
    inside = clip.points[clip.found]
    assert (inside > 0).all() and (inside < SIZE).all(), "landmarks are in output pixels"


def test_pair_items_shapes_values_and_decoded_frames(clips):
    ds = AnimationPairDataset(clips, resolution=64, samples_per_clip=4, seed=3)
    assert len(ds) == 4
    item = ds[1]
    assert item["reference_image"].shape == item["driving_image"].shape == (3, 64, 64)
    assert item["reference_image"].dtype == torch.float32 and 0 <= item["reference_image"].min() <= 1
    assert item["dense_flow"].shape == (64, 64, 2) and item["dense_flow"].abs().max() <= 2
    ref, drv = int(item["reference_index"]), int(item["driving_index"])
    frames = _decode(clips[0].video_path, [ref, drv], 64)
    assert np.array_equal((item["driving_image"].permute(1, 2, 0).numpy() * 255).round(), frames[1])
    np.testing.assert_allclose(item["reference_points"].numpy(), clips[0].points[ref] * 0.5, rtol=1e-6)
    with pytest.raises(IndexError):
        ds[4]


def test_pairs_are_deterministic_per_seed_and_change_per_epoch(clips):
    def pairs(ds):
        return [(int(it["reference_index"]), int(it["driving_index"])) for it in (ds[i] for i in range(len(ds)))]

    kwargs = {"resolution": 32, "samples_per_clip": 12, "build_fapp": False}
    first = pairs(AnimationPairDataset(clips, seed=7, **kwargs))
    assert first == pairs(AnimationPairDataset(clips, seed=7, **kwargs))
    assert first != pairs(AnimationPairDataset(clips, seed=8, **kwargs))
    ds = AnimationPairDataset(clips, seed=7, **kwargs)
    ds.set_epoch(1)
    assert pairs(ds) != first
    ds.set_epoch(0)
    assert pairs(ds) == first


def test_only_frames_with_a_face_are_sampled(clips):
    found = np.zeros(clips[0].num_frames, bool)
    found[[5, 40, 77]] = True
    sparse = dataclasses.replace(clips[0], found=found)
    ds = AnimationPairDataset([sparse], resolution=32, samples_per_clip=20, build_fapp=False)
    used = {int(ds[i][k]) for i in range(len(ds)) for k in ("reference_index", "driving_index")}
    assert used == {5, 40, 77}


def _click_clip(clips, tmp_path, frame: int, offset: int = 100) -> PreparedClip:
    import soundfile

    audio = np.zeros(clips[0].num_frames * SPF, np.float32)
    audio[frame * SPF + offset] = 0.9
    path = tmp_path / "click.wav"
    soundfile.write(str(path), audio, RATE, subtype="PCM_16")
    return dataclasses.replace(clips[0], id="click", audio_path=path)


def test_audio_windows_are_aligned_to_frames(clips, tmp_path):
    frame, offset, ctx, length = 37, 100, 2, 16
    ds = AudioAnimationDataset([_click_clip(clips, tmp_path, frame, offset)], num_frames=length, context_frames=ctx,
                               samples_per_clip=40, seed=1)
    covered = 0
    for i in range(len(ds)):
        item = ds[i]
        start = int(item["start"])
        assert item["audio"].shape == ((length + 2 * ctx) * SPF,) and item["landmarks"].shape == (length, 68, 2)
        np.testing.assert_array_equal(item["landmarks"].numpy(), clips[0].points[start : start + length])
        if start - ctx <= frame < start + length + ctx:
            covered += 1
            assert int(item["audio"].abs().argmax()) == (frame - start + ctx) * SPF + offset
        else:
            assert float(item["audio"].abs().max()) < 1e-3
    assert covered >= 5, "the windows drawn should cover the click several times"


def test_audio_window_at_the_clip_start_is_zero_padded(clips, tmp_path):
    ds = AudioAnimationDataset([_click_clip(clips, tmp_path, 1, 0)], num_frames=8, context_frames=2,
                               samples_per_clip=200, seed=0)
    item = next(it for it in (ds[i] for i in range(len(ds))) if int(it["start"]) == 0)
    assert int(item["audio"].abs().argmax()) == (1 + 2) * SPF, "two frames of silence, then frame 0"


def test_model_inputs_and_targets_line_up_with_the_window(clips, tmp_path):
    from hdtf.modeling.animation_params import default_basis
    from hdtf.modeling.feature_extraction_hdtf import HDTFFeatureExtractor

    fe, basis, frame = HDTFFeatureExtractor(feature_size=40, context_frames=2), default_basis(), 30
    ds = AudioAnimationDataset([_click_clip(clips, tmp_path, frame, 320)], num_frames=16, samples_per_clip=40,
                               feature_extractor=fe, expression_basis=basis)
    item = next(it for it in (ds[i] for i in range(len(ds))) if int(it["start"]) + 2 <= frame < int(it["start"]) + 14)
    assert item["input_features"].shape == (16, fe.window_length, 40)
    assert item["attention_mask"].shape == (16, fe.window_length) and bool(item["attention_mask"].all())
    centre = slice(2 * fe.mel_per_frame, 3 * fe.mel_per_frame)  # the mel frames of the window's own video frame
    loudest = int(item["input_features"][:, centre].mean(dim=(1, 2)).argmax())
    assert loudest == frame - int(item["start"])
    assert item["expression_target"].shape == (16, basis.num_components) and item["pose_target"].shape == (16, 6)
    assert torch.isfinite(item["expression_target"]).all() and item["pose_target"].abs().sum() > 0


def test_loader_workers_give_the_same_batches(clips):
    ds = AnimationPairDataset(clips, resolution=32, samples_per_clip=8, seed=5)
    ds[0]  # a reader is open in this process before the workers fork: they must open their own
    loader = lambda workers: torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers, timeout=60 if workers else 0)
    serial = list(loader(0))
    parallel = list(loader(2))
    assert len(parallel) == 4
    for a, b in zip(serial, parallel, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_rows_become_the_same_clips(prepared_faces, clips, tmp_path):  # noqa: F811
    from hdtf.manifest import done_clips
    from hdtf.rows import clip_row

    rows = [clip_row(prepared_faces.root, entry) for entry in done_clips(prepared_faces.root)]
    (clip,) = clips_from_rows(rows, tmp_path / "cache")
    assert clip.video_path.read_bytes() == clips[0].video_path.read_bytes()
    np.testing.assert_array_equal(clip.points, clips[0].points)
    a = AnimationPairDataset([clip], resolution=32, samples_per_clip=2, seed=1, build_fapp=False)[1]
    b = AnimationPairDataset(clips, resolution=32, samples_per_clip=2, seed=1, build_fapp=False)[1]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(HDTFError, match="no landmarks"):
        clips_from_rows([{**rows[0], "landmarks": None}], tmp_path / "other")


def test_folder_without_done_clips_is_a_clear_error(tmp_path):
    with pytest.raises(HDTFError, match="no done clips"):
        load_prepared_clips(tmp_path)
