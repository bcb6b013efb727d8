"""Video runners: stream frames with PyAV and score a generated clip against its real counterpart frame by frame.

Nothing here holds a whole video: real frames are decoded one at a time, every metric keeps running sums, FID keeps
feature statistics and SyncNet a 5-frame window. The per-clip result is a flat dict of floats (the CSV row).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hdtf.errors import HDTFError
from hdtf.metrics.faces import observe_face
from hdtf.metrics.fid import FeatureStats, InceptionFeatures
from hdtf.metrics.identity import cosine, face_descriptor
from hdtf.metrics.image import psnr, ssim
from hdtf.metrics.landmarks import lmd_per_frame
from hdtf.metrics.sharpness import cpbd
from hdtf.metrics.sync import SyncScorer, face_crop

METRICS = ("psnr", "ssim", "cpbd", "lmd", "csim", "fid", "lse")
FACE_METRICS = frozenset({"lmd", "csim", "lse"})
FID_BATCH = 16


def iter_frames(
    path: str | Path, window: tuple[int, int, int] | None = None, size: int | None = None
) -> Iterator[np.ndarray]:
    """RGB uint8 frames of a video, decoded one at a time; optionally cropped to the square ``window`` (x, y, side)
    and resized to ``size`` x ``size`` (Lanczos, like the generator's reference crop)."""
    import av
    from PIL import Image

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise HDTFError(f"{path}: cannot open video ({exc})") from exc
    with container:
        if not container.streams.video:
            raise HDTFError(f"{path}: has no video stream")
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            if window is not None:
                x, y, side = window
                image = image[y : y + side, x : x + side]
            if size is not None and image.shape[:2] != (size, size):
                image = np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))
            yield image


@dataclass
class MetricTools:
    """What the metrics need across clips: the selection, the optional networks, FID's running statistics."""

    metrics: frozenset[str]
    face_every: int = 1  # run the face detector/recogniser on every n-th frame (LMD, CSIM); LSE holds the box
    inception: InceptionFeatures | None = None
    sync: SyncScorer | None = None  # scores the generated frames
    sync_real: SyncScorer | None = None  # scores the real frames too (the reference LSE of the data)
    fid_generated: FeatureStats = field(default_factory=FeatureStats)
    fid_real: FeatureStats = field(default_factory=FeatureStats)

    def __post_init__(self) -> None:
        unknown = set(self.metrics) - set(METRICS)
        if unknown:
            raise HDTFError(f"unknown metric(s) {sorted(unknown)}; choose from {', '.join(METRICS)}")
        if self.face_every < 1:
            raise HDTFError(f"face_every must be at least 1, got {self.face_every}")


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def score_clip(
    generated: Iterable[np.ndarray],
    real: Iterable[np.ndarray],
    tools: MetricTools,
    source: np.ndarray | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
) -> dict[str, Any]:
    """Per-clip metrics of generated vs real frames (paired in order, up to the shorter of the two).

    ``source`` is the identity image (CSIM) and the prior face box for the SyncNet crop; ``audio`` the 16 kHz speech
    the clip should be in sync with (LSE). Frames without a face are counted, not scored, by the face metrics; with
    ``tools.face_every`` > 1 only every n-th frame is observed (the SyncNet crop keeps the last box in between).
    """
    wanted = tools.metrics
    sums: dict[str, list[float]] = {k: [] for k in ("psnr", "ssim", "cpbd", "cpbd_real", "csim")}
    lmd_rows: list[tuple[np.ndarray, np.ndarray]] = []
    missing_generated = missing_real = frames = 0
    source_face = observe_face(source) if source is not None and wanted & FACE_METRICS else None
    source_id = face_descriptor(source, source_face) if source_face is not None and "csim" in wanted else None
    last_box = source_face.box if source_face is not None else None
    use_sync = "lse" in wanted and tools.sync is not None and audio is not None
    use_sync_real = use_sync and tools.sync_real is not None
    last_real_box = last_box
    fid_batch: list[tuple[np.ndarray, np.ndarray]] = []
    if use_sync:
        tools.sync.reset()
    if use_sync_real:
        tools.sync_real.reset()

    def flush_fid() -> None:
        tools.fid_generated.update(tools.inception(np.stack([g for g, _ in fid_batch])))
        tools.fid_real.update(tools.inception(np.stack([r for _, r in fid_batch])))
        fid_batch.clear()

    try:
        for gen, ref in zip(generated, real):
            if gen.shape != ref.shape:
                raise HDTFError(f"generated frame {gen.shape} and real frame {ref.shape} differ in size")
            frames += 1
            frame_size = gen.shape[:2]
            if "psnr" in wanted:
                sums["psnr"].append(psnr(gen, ref))
            if "ssim" in wanted:
                sums["ssim"].append(ssim(gen, ref))
            if "cpbd" in wanted:
                sums["cpbd"].append(cpbd(gen))
                sums["cpbd_real"].append(cpbd(ref))
            if "fid" in wanted and tools.inception is not None:
                fid_batch.append((gen, ref))
                if len(fid_batch) == FID_BATCH:
                    flush_fid()
            if not wanted & FACE_METRICS:
                continue
            observed = (frames - 1) % tools.face_every == 0
            face = observe_face(gen) if observed else None
            real_face = observe_face(ref) if observed and ("lmd" in wanted or use_sync_real) else None
            if use_sync:
                last_box = face.box if face is not None else last_box
                if last_box is None:
                    raise HDTFError("LSE: no face in the source image or the first generated frame to crop")
                tools.sync.add(face_crop(gen, last_box))
            if use_sync_real:
                last_real_box = real_face.box if real_face is not None else last_real_box
                if last_real_box is not None:
                    tools.sync_real.add(face_crop(ref, last_real_box))
            if not observed:
                continue
            missing_generated += face is None
            if "lmd" in wanted:
                missing_real += real_face is None
                if face is not None and real_face is not None:
                    lmd_rows.append((face.points, real_face.points))
            if source_id is not None and face is not None:
                sums["csim"].append(cosine(source_id, face_descriptor(gen, face)))
    finally:  # stop the decoders early when one side is shorter
        for side in (generated, real):
            close = getattr(side, "close", None)
            if close is not None:
                close()
    if fid_batch:
        flush_fid()

    row: dict[str, Any] = {"frames": frames}
    for key in ("psnr", "ssim", "cpbd", "cpbd_real", "csim"):
        if key.split("_")[0] in wanted:
            row[key] = _mean(sums[key])
    if "lmd" in wanted:
        gen_pts = np.stack([g for g, _ in lmd_rows]) if lmd_rows else None
        ref_pts = np.stack([r for _, r in lmd_rows]) if lmd_rows else None
        for region, prefix in (("mouth", "m_lmd"), ("face", "f_lmd")):
            for normalise, suffix in (("pixels", ""), ("interocular", "_iod")):
                row[prefix + suffix] = (
                    float(lmd_per_frame(gen_pts, ref_pts, region, normalise, frame_size=frame_size).mean())
                    if lmd_rows else math.nan
                )
    if wanted & FACE_METRICS:
        row["no_face_generated"] = missing_generated
        row["no_face_real"] = missing_real
    if use_sync:
        result = tools.sync.finish(audio, sample_rate)
        row.update(lse_d=result.distance, lse_c=result.confidence, lse_offset=result.offset)
    if use_sync_real and tools.sync_real.frames == frames:
        result = tools.sync_real.finish(audio, sample_rate)
        row.update(lse_d_real=result.distance, lse_c_real=result.confidence, lse_offset_real=result.offset)
    return row
