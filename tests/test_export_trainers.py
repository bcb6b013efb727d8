"""hdtf export --to latentsync|hallo|musetalk on a curated run of real loopback clips, each read back by a reader
that follows the trainer's own loading code step by step (written from the trainers' sources, named per reader, not
from hdtf's writers): the files it lists, the keys it reads, the shapes and dtypes it needs, the frames it requires.
Random choices of the trainers are made with a seeded generator; a reader that cannot build an item returns None."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fixtures.curated_run import curated_run  # noqa: F401
from hdtf.errors import HDTFError
from hdtf.export.owned import MANIFEST
from hdtf.export.trainers import export_for

# -- readers ---------------------------------------------------------------------------------------------------------


def _stft_frames(wav: np.ndarray, n_fft: int = 800, hop: int = 200) -> np.ndarray:
    """LatentSync's ``latentsync/utils/audio.py`` melspectrogram, as far as its shape goes: ``librosa.stft`` (centred,
    reflect padding, n_fft 800, hop 200 at 16 kHz: configs/audio.yaml) then 80 mel bands. librosa is no dependency
    here, so the 401 linear bins are pooled into 80 bands: the same (80, frames) shape, which is what the trainer
    checks."""
    padded = np.pad(wav, n_fft // 2, mode="reflect")
    count = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[i * hop:i * hop + n_fft] * np.hanning(n_fft) for i in range(count)])
    magnitude = np.abs(np.fft.rfft(frames, axis=1)).T  # (401, frames)
    return np.stack([band.mean(axis=0) for band in np.array_split(magnitude, 80)])


def latentsync_item(fileslist: Path, rng: random.Random, num_frames: int = 16, resolution: int = 256,
                    video_fps: int = 25, audio_sample_rate: int = 16000):
    """``UNetDataset`` (bytedance/LatentSync latentsync/data/unet_dataset.py) with configs/unet/stage2.yaml."""
    import torch
    from decord import AudioReader, VideoReader, cpu

    with open(fileslist) as file:
        video_paths = [line.rstrip() for line in file]
    mel_window_length = math.ceil(num_frames / 5 * 16)
    for video_path in video_paths:  # the trainer draws them at random; here each in turn
        vr = VideoReader(video_path, ctx=cpu(0))
        if len(vr) < 3 * num_frames:
            continue
        total = len(vr)
        start_idx = rng.randint(0, total - num_frames)
        gt_index = np.arange(start_idx, start_idx + num_frames, dtype=int)
        while True:
            ref_start = rng.randint(0, total - num_frames)
            if start_idx - num_frames < ref_start < start_idx + num_frames:
                continue
            ref_index = np.arange(ref_start, ref_start + num_frames, dtype=int)
            break
        gt_frames, ref_frames = vr.get_batch(gt_index).asnumpy(), vr.get_batch(ref_index).asnumpy()
        ar = AudioReader(video_path, ctx=cpu(0), sample_rate=audio_sample_rate)
        original_mel = torch.from_numpy(_stft_frames(ar[:].asnumpy().squeeze(0)))
        start = int(80.0 * (start_idx / float(video_fps)))
        mel = original_mel[:, start:start + mel_window_length].unsqueeze(0)
        if mel.shape[-1] != mel_window_length:
            continue
        assert gt_frames.shape == (num_frames, resolution, resolution, 3)  # ImageProcessor takes them at resolution
        return {"gt": gt_frames, "ref": ref_frames, "mel": mel, "video_path": video_path, "start_idx": start_idx}
    return None


def hallo_item(meta_paths: list[Path], rng: random.Random, index: int = 0, img_size: int = 512,
               n_sample_frames: int = 14, n_motion_frames: int = 2, audio_margin: int = 2,
               audio_type: str = "vocals", model_scale: str = "base", features: str = "all"):
    """``TalkingVideoDataset.__getitem__`` (fudan-generative-vision/hallo hallo/datasets/talk_video.py) with
    configs/train/stage2.yaml; ``torch.load(..., weights_only=True)`` for the .pt files; torchvision's Resize is done
    with PIL (the same sizes)."""
    import torch
    from decord import VideoReader, cpu
    from PIL import Image

    vid_meta = []
    for data_meta_path in meta_paths:
        with open(data_meta_path, encoding="utf-8") as f:
            vid_meta.extend(json.load(f))
    video_meta = vid_meta[index]
    video_path, mask_path = video_meta["video_path"], video_meta["mask_path"]
    lip_mask_union_path = video_meta.get("sep_mask_lip", None)
    face_mask_union_path = video_meta.get("sep_mask_face", None)
    full_mask_union_path = video_meta.get("sep_mask_border", None)
    face_emb_path = video_meta["face_emb_path"]
    audio_emb_path = video_meta[f"{audio_type}_emb_{model_scale}_{features}"]
    tgt_mask_pil = Image.open(mask_path)
    video_frames = VideoReader(video_path, ctx=cpu(0))
    video_length = len(video_frames)
    assert video_length > n_sample_frames + n_motion_frames + 2 * audio_margin
    start_idx = rng.randint(n_motion_frames, video_length - n_sample_frames - audio_margin - 1)
    videos = video_frames.get_batch(list(range(start_idx, start_idx + n_sample_frames))).asnumpy()
    frame_list = [Image.fromarray(v).convert("RGB").resize((img_size, img_size)) for v in videos]
    masks = {name: Image.open(path) for name, path in (("face", face_mask_union_path), ("lip", lip_mask_union_path),
                                                         ("full", full_mask_union_path))}
    face_emb = torch.load(face_emb_path, weights_only=True)
    audio_emb = torch.load(audio_emb_path, weights_only=True)
    indices = torch.arange(2 * audio_margin + 1) - audio_margin
    center_indices = torch.arange(start_idx, start_idx + n_sample_frames).unsqueeze(1) + indices.unsqueeze(0)
    audio_tensor = audio_emb[center_indices]
    ref_img_idx = rng.randint(n_motion_frames, video_length - n_sample_frames - audio_margin - 1)
    ref_img = Image.fromarray(video_frames[ref_img_idx].asnumpy())
    motions = video_frames.get_batch(list(range(start_idx - n_motion_frames, start_idx))).asnumpy()
    attn = {side: {name: np.asarray(m.resize((img_size // side, img_size // side))) for name, m in masks.items()}
            for side in (8, 16, 32, 64)}
    return {"pixel_values_vid": np.stack([np.asarray(f) for f in frame_list]),
            "pixel_values_mask": np.asarray(tgt_mask_pil.resize((img_size, img_size))), "attn_masks": attn,
            "audio_tensor": audio_tensor, "ref_img": np.asarray(ref_img), "motions": motions, "face_emb": face_emb}


def musetalk_item(root_path: Path, list_paths: list[Path], rng: random.Random, T: int = 16,
                  min_face_size: int = 200, image_size: int = 256):
    """``FaceDataset.__getitem__`` (TMElyralab/MuseTalk musetalk/data/dataset.py, HDTFDataset's root ``meta`` and
    ``train.txt``) with configs/training/stage2.yaml (n_sample_frames 16, min_face_size 200, image_size 256,
    contorl_face_min_size True); librosa.load is soundfile at the wav's own 16 kHz (the trainer asserts 16 kHz)."""
    import soundfile
    from decord import AudioReader, VideoReader, cpu
    from PIL import Image
    from transformers import WhisperFeatureExtractor

    meta_paths = []
    for list_path in list_paths:
        with open(list_path) as f:
            f.readline()  # the trainer skips the first line
            for line in f.readlines():
                meta_paths.append(os.path.join(root_path, line.strip().split()[0]))
    for meta_path in meta_paths:  # the trainer samples at random, up to 200 attempts
        with open(meta_path) as f:
            meta_data = json.load(f)
        video_path, wav_path = meta_data["mp4_path"], meta_data["wav_path"]
        bbox_list, landmark_list = meta_data["face_list"], meta_data["landmark_list"]
        s, e = 0, meta_data["frames"]
        if e - s < T * 10:
            continue
        cap = VideoReader(video_path, fault_tol=1, ctx=cpu(0))
        total_frames = len(cap)
        assert total_frames == len(landmark_list) and total_frames == len(bbox_list)
        if np.array(landmark_list).shape != (total_frames, 68, 2):
            continue
        union, shapes = [], []  # sample_method.shift_landmarks_to_face_coordinates / process_bbox_musetalk
        for face, points in zip(bbox_list, landmark_list, strict=True):
            x1, y1, x2, y2 = map(int, face)
            xs, ys = [int(x) for x, _ in points], [int(y) for _, y in points]
            box = [max(min(x1, min(xs)), 0), max(min(y1, min(ys)), 0), max(x2, max(xs)), max(y2, max(ys))]
            union.append(box)
            shapes.append((box[2] - box[0], box[3] - box[1]))
        if shapes[0][0] < min_face_size:
            continue
        drive_start = rng.randint(s, e - T)
        faces = []
        for drive_idx in range(drive_start, drive_start + T):
            x1, y1, x2, y2 = union[drive_idx]
            faces.append(np.asarray(Image.fromarray(cap[drive_idx].asnumpy()).crop((x1, y1, x2, y2))
                                    .resize((image_size, image_size))))
        audio_input, sampling_rate = soundfile.read(wav_path, dtype="float32")
        assert sampling_rate == 16000 and audio_input.ndim == 1
        assert drive_start + 2 * 25 < 25 * 30  # a clip under 30 s: get_audio_file takes the first 30 s window
        audio_feature = WhisperFeatureExtractor()(audio_input[:16000 * 30], return_tensors="pt",
                                                  sampling_rate=sampling_rate).input_features
        ar = AudioReader(video_path, sample_rate=16000)  # get_syncnet_input
        spec = _stft_frames(ar[:].asnumpy().squeeze(0)).T
        start = int(80.0 * (drive_start / 25.0))
        mel = spec[start:start + math.ceil(16 / 5 * 16)]
        if mel.shape[0] != math.ceil(16 / 5 * 16):
            continue
        return {"faces": np.stack(faces), "audio_feature": audio_feature[0], "mel": mel, "wav_path": wav_path,
                "face_width": shapes[0][0]}
    return None


# -- tests -----------------------------------------------------------------------------------------------------------


def test_latentsync_export_is_read_by_its_trainer(curated_run, tmp_path):
    out = tmp_path / "latentsync"
    result = export_for(curated_run.root, out, "latentsync")
    kept, filtered = curated_run.ids
    lists = [out / "fileslist.txt", *sorted(out.glob("fileslist_*.txt"))]
    listed = [line for p in lists if p.exists() for line in p.read_text().splitlines()]
    assert len(listed) == 1 and listed[0].endswith(f"/{kept}.mp4") and Path(listed[0]).is_absolute()
    assert result.num_examples == 1 and result.left_out == {"filtered (--include-filtered takes them)": 1}
    exported = Path(listed[0])
    aligned = curated_run.root / "aligned" / f"{kept}.mp4"
    assert os.stat(exported).st_ino == os.stat(aligned).st_ino  # a hard link of the run's aligned view
    split = exported.parent.name
    item = latentsync_item(out / ("fileslist.txt" if split == "train" else f"fileslist_{split}.txt"),
                           random.Random(0))
    assert item is not None and item["gt"].shape == (16, 256, 256, 3) and item["mel"].shape == (1, 80, 52)
    assert item["gt"].std() > 10  # real pixels, not a blank view

    again = export_for(curated_run.root, out, "latentsync", include_filtered=True)
    assert again.num_examples == 2 and any(p.name == f"{filtered}.mp4" for p in again.files)


def test_hallo_export_is_read_by_its_trainer(curated_run, tmp_path):
    import torch

    out = tmp_path / "hallo"
    result = export_for(curated_run.root, out, "hallo")
    (meta,) = result.lists
    entries = json.loads(meta.read_text())
    kept = curated_run.ids[0]
    assert [Path(e["video_path"]).name for e in entries] == [f"{kept}.mp4"]
    root = Path(entries[0]["video_path"]).parent.parent  # Hallo's own layout: <root>/videos, <root>/face_mask, ...
    for folder, suffix in (("audios", ".wav"), ("face_mask", ".png"), ("sep_pose_mask", ".png"),
                           ("sep_face_mask", ".png"), ("sep_lip_mask", ".png"), ("face_emb", ".pt"),
                           ("audio_emb", ".pt")):
        assert (root / folder / f"{kept}{suffix}").is_file(), folder
    item = hallo_item([meta], random.Random(0))
    layers = curated_run.audio_layers - 1  # hidden_states[1:]
    assert tuple(item["audio_tensor"].shape) == (14, 5, layers, 32) and item["audio_tensor"].dtype == torch.float32
    assert tuple(item["face_emb"].shape) == (512,) and item["face_emb"].dtype == torch.float32
    run_emb = np.load(curated_run.root / f"embeddings/{kept}.audio.npy")
    assert np.allclose(torch.load(entries[0]["vocals_emb_base_all"], weights_only=True).numpy(),
                       run_emb[:, 1:].astype(np.float32))
    assert item["pixel_values_vid"].shape == (14, 512, 512, 3) and item["motions"].shape[0] == 2
    assert item["attn_masks"][8]["face"].shape == (64, 64) and item["pixel_values_mask"].max() == 255


def test_musetalk_export_is_read_by_its_trainer_with_either_validation_split(curated_run, tmp_path):
    from hdtf.sources import get_source

    kept = curated_run.ids[0]
    out = tmp_path / "musetalk"
    export_for(curated_run.root, out, "musetalk", val_split="musetalk")  # RD_Radio7_000 is on MuseTalk's list
    train, val = (out / "train.txt").read_text().splitlines(), (out / "val.txt").read_text().splitlines()
    assert train[1:] == [] and val[1:] == [f"{kept}.json"] and val[0].startswith("#")
    meta = json.loads((out / "meta" / f"{kept}.json").read_text())
    assert set(meta) == {"mp4_path", "wav_path", "video_size", "face_size", "frames", "face_list", "landmark_list",
                         "isvalid"}
    assert meta["wav_path"] == meta["mp4_path"][:-4] + ".wav"  # beside the mp4, as MuseTalk's preprocessing puts it
    assert musetalk_item(out / "meta", [out / "train.txt"], random.Random(0)) is None
    item = musetalk_item(out / "meta", [out / "val.txt"], random.Random(0))
    assert item is not None and item["faces"].shape == (16, 256, 256, 3) and item["mel"].shape == (52, 80)
    assert item["face_width"] >= 200 and tuple(item["audio_feature"].shape) == (80, 3000)

    export_for(curated_run.root, out, "musetalk", val_split="v1")  # hdtf's own split decides
    record = {"id": kept, "subset": "RD", "video_name": "Radio7_000", "source": "hdtf"}
    in_val = get_source("hdtf").standard_split(record) == "test"
    lines = (out / ("val.txt" if in_val else "train.txt")).read_text().splitlines()
    assert lines[1:] == [f"{kept}.json"]


def test_trainer_exports_own_only_their_files(curated_run, tmp_path):
    out = tmp_path / "own"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(HDTFError, match="not empty"):
        export_for(curated_run.root, out, "latentsync")
    (out / "notes.txt").unlink()
    first = export_for(curated_run.root, out, "hallo")
    (out / "notes.txt").write_text("mine")  # a user's file beside the export stays
    second = export_for(curated_run.root, out, "latentsync")
    assert (out / "notes.txt").read_text() == "mine"
    assert not any(p.exists() for p in first.files if p not in second.files)  # hallo's files went
    assert not any(out.rglob("face_mask"))  # and the folders they left empty
    names = json.loads((out / MANIFEST).read_text())["files"]
    assert sorted(names) == sorted(p.relative_to(out).as_posix() for p in second.files)


def test_cli_exports_for_a_trainer_and_refuses_a_push(curated_run, tmp_path):
    out = tmp_path / "cli"
    done = subprocess.run([sys.executable, "-m", "hdtf.cli", "export", str(curated_run.root), "--to", "musetalk",
                           "--output", str(out), "--include-filtered"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "exported 2 clip(s) for musetalk" in done.stdout and len(list((out / "meta").glob("*.json"))) == 2
    refused = subprocess.run([sys.executable, "-m", "hdtf.cli", "export", str(curated_run.root), "--to", "hallo",
                              "--output", str(tmp_path / "x"), "--push-to-hub", "me/x"], capture_output=True,
                             text=True, check=False)
    assert refused.returncode == 2 and "--push-to-hub" in refused.stderr


def test_parquet_export_carries_the_curated_columns_and_the_recipe(curated_run, tmp_path):
    import datasets
    from PIL import Image

    from hdtf.export import export
    from hdtf.manifest import write_manifest
    from hdtf.recipes import recipe_record

    write_manifest(curated_run.root, recipe=recipe_record("hallo"))
    out = tmp_path / "parquet"
    result = export(curated_run.root, out, to="parquet")
    assert result.num_examples == 1  # the filtered clip is not a done clip
    assert "`hallo` recipe, version 1" in result.card.read_text()
    trainer = export_for(curated_run.root, tmp_path / "hallo", "hallo")
    assert json.loads((tmp_path / "hallo" / MANIFEST).read_text())["recipe"] == {"name": "hallo", "version": 1}
    assert trainer.num_examples == 1
    row = datasets.load_dataset(str(out), split="train" if any((out / "data").glob("train-*")) else "test")[0]
    kept = curated_run.ids[0]
    assert row["aligned_video"]["bytes"] == (curated_run.root / "aligned" / f"{kept}.mp4").read_bytes()
    assert np.asarray(row["aligned_matrices"]).shape == (row["num_frames"], 2, 3)
    run_audio = np.load(curated_run.root / f"embeddings/{kept}.audio.npy")
    assert np.array_equal(np.asarray(row["audio_embedding"], dtype=np.float16), run_audio)
    assert np.allclose(row["face_embedding"], np.load(curated_run.root / f"embeddings/{kept}.face.npy"))
    assert isinstance(row["sep_lip_mask"], Image.Image) and row["sep_lip_mask"].size == (64, 64)
    assert np.array_equal(np.asarray(row["face_mask"]),
                          np.asarray(Image.open(curated_run.root / f"masks/{kept}.face_mask.png")))
    assert 0 < row["face_share"] < 1 and row["face_px"] > 0
    assert row["aligned_size"] == 256 and json.loads(row["face_json"])["isvalid"] is True
