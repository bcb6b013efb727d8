"""``datasets`` builder for HDTF, registered by ``import hdtf`` so that ``load_dataset("hdtf", ...)`` works offline.

Two configs:

* ``metadata``: one row per annotated clip straight from the metadata lists (no download, instant).
* ``clips``: runs the same per-video job as ``hdtf prepare`` (download, cut, crop, resize) and yields one row per
  prepared clip: the mp4 bytes with audio, the 16 kHz waveform, the metadata fields and the clip facts.

Builder keyword arguments mirror the CLI (``metadata_dir``, ``url_template``, ``raw_dir``, ``subsets``, ``videos``,
``crop_method``, ``size``, ``fps``, ``sample_rate``, ``landmarks``, ``output_dir``). They are ``BuilderConfig`` fields, so
they enter the config id and different choices never share a cache entry. Sharding is by video, so
``num_proc=N`` runs N per-video jobs at once. HDTF has no official split: everything is in ``train``.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
from datasets.data_files import DataFilesDict

from hdtf.card import CITATION
from hdtf.errors import HDTFError
from hdtf.records import VideoSpec

if TYPE_CHECKING:
    from hdtf.pipeline import PrepareOptions

logger = logging.getLogger("hdtf.loader")

_VERSION = datasets.Version("1.0.0")

_DESCRIPTION = (
    "HDTF (High-Definition Talking Face): about 16 hours of 720p/1080p YouTube interview and speech videos of "
    "roughly 300 subjects, annotated as clips with face crop windows. The `clips` config turns the metadata into "
    "square face clips with 16 kHz mono audio; the `metadata` config lists the annotated clips."
)

_HOMEPAGE = "https://github.com/MRzzm/HDTF"

# Config fields that change what the pipeline produces; they key the default prepared-clips folder.
_PIPELINE_FIELDS = ("metadata_dir", "url_template", "crop_method", "size", "fps", "sample_rate", "landmarks")
_PATH_FIELDS = ("metadata_dir", "raw_dir", "output_dir")
# Fields that do not change the rows and so stay out of the cache key.
_NOT_IN_CACHE_KEY = ("raw_dir",)


@dataclass
class HDTFConfig(datasets.BuilderConfig):
    """Config with the CLI's options; None means the pipeline's default (``hdtf.pipeline.PrepareOptions``)."""

    metadata_dir: str | None = None
    url_template: str | None = None
    raw_dir: str | None = None
    subsets: list[str] | None = None
    videos: list[str] | None = None
    crop_method: str | None = None
    size: int | None = None
    fps: float | None = None
    sample_rate: int | None = None
    landmarks: bool | None = None
    output_dir: str | None = None

    def create_config_id(self, config_kwargs: dict, custom_features: datasets.Features | None = None) -> str:
        """Canonicalise paths and selections first, so ``./meta`` and ``/abs/meta`` share one cache entry."""
        canonical = {}
        for key, value in config_kwargs.items():
            if key in _NOT_IN_CACHE_KEY or (key == "data_files" and not value):
                continue
            if key in _PATH_FIELDS and value is not None:
                value = str(Path(value).expanduser().resolve())
            elif key in ("subsets", "videos") and value is not None:
                value = sorted({str(v) for v in ([value] if isinstance(value, str) else value)})
            canonical[key] = value
        return super().create_config_id(canonical, custom_features=custom_features)


class HDTF(datasets.GeneratorBasedBuilder):
    """HDTF talking-face clips (``clips``) or their annotations (``metadata``); a single ``train`` split."""

    BUILDER_CONFIG_CLASS = HDTFConfig
    # Empty data files: this builder reads none (hdtf._registry keeps load_dataset from searching for them).
    BUILDER_CONFIGS = [
        HDTFConfig(name="metadata", version=_VERSION, data_files=DataFilesDict(),
                   description="One row per annotated clip; no download."),
        HDTFConfig(name="clips", version=_VERSION, data_files=DataFilesDict(),
                   description="Prepared face clips with audio, one row per clip."),
    ]
    DEFAULT_CONFIG_NAME = "metadata"
    # A clips row holds a whole mp4; keep few of them in memory before each arrow write.
    DEFAULT_WRITER_BATCH_SIZE = 8

    def _info(self) -> datasets.DatasetInfo:
        from hdtf import rows

        features = rows.clip_features() if self.config.name == "clips" else rows.metadata_features()
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=features,
            homepage=_HOMEPAGE,
            license="cc-by-4.0",
            citation=CITATION,
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        videos = self._selected_videos()
        self._videos = videos
        gen_kwargs: dict[str, Any] = {"videos": videos}
        if self.config.name == "clips":
            options = self.prepare_options()
            options.validate()
            for sub in ("clips", "status"):
                (options.output_dir / sub).mkdir(parents=True, exist_ok=True)
            gen_kwargs["options"] = options
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs=gen_kwargs)]

    def _generate_examples(self, videos: list[VideoSpec], options: PrepareOptions | None = None):
        """Metadata rows, or (clips: ``options`` given) run this shard's videos and yield their finished clips."""
        from hdtf import rows

        if options is None:
            yield from rows.metadata_rows(videos)
            return
        yield from _prepared_rows(videos, options)

    def _download_and_prepare(self, dl_manager, verification_mode, **prepare_splits_kwargs):
        super()._download_and_prepare(dl_manager, verification_mode, **prepare_splits_kwargs)
        if self.config.name == "clips":
            from hdtf.manifest import write_manifest

            options = self.prepare_options()
            write_manifest(options.output_dir, report=getattr(self, "_report", None), options=options.to_json())
            line, complete = _skip_summary(self._videos, options.output_dir)
            logger.log(logging.INFO if complete else logging.WARNING, line)

    # -- helpers -------------------------------------------------------------------------------------------------

    def metadata_dir(self) -> Path:
        """The metadata folder: the configured one, else the pinned lists fetched once into the cache."""
        if self.config.metadata_dir is not None:
            return Path(self.config.metadata_dir)
        from hdtf.sources.hdtf import fetch_metadata

        dest = Path(self._cache_downloaded_dir) / "hdtf_metadata"
        if datasets.config.HF_HUB_OFFLINE and not (dest / ".commit").is_file():
            raise HDTFError(f"offline mode and the HDTF metadata lists are not in {dest} yet: pass metadata_dir=")
        fetch_metadata(dest)
        return dest

    def _selected_videos(self) -> list[VideoSpec]:
        from hdtf.sources.hdtf import parse_metadata

        subsets = self.config.subsets
        subsets = [subsets] if isinstance(subsets, str) else subsets
        videos, report = parse_metadata(self.metadata_dir(), subsets=subsets)
        self._report = report
        if report.issues:
            logger.info(report.summary())
        wanted = self.config.videos
        if wanted is None:
            return list(videos)
        wanted = {wanted} if isinstance(wanted, str) else set(wanted)
        chosen = [v for v in videos if v.key in wanted or v.name in wanted]
        unknown = wanted - {v.key for v in chosen} - {v.name for v in chosen}
        if unknown:
            raise HDTFError(f"videos {sorted(unknown)} are not in the metadata (use names or SUBSET_NAME keys)")
        return chosen

    def prepare_options(self) -> PrepareOptions:
        """The ``PrepareOptions`` this config stands for; unset fields keep the pipeline's defaults."""
        from hdtf.pipeline import PrepareOptions

        cfg = self.config
        names = ("url_template", "crop_method", "size", "fps", "sample_rate", "landmarks", "raw_dir")
        given = {name: getattr(cfg, name) for name in names if getattr(cfg, name) is not None}
        output_dir = Path(cfg.output_dir) if cfg.output_dir else self._default_output_dir()
        return PrepareOptions(output_dir=output_dir, **given)

    def _default_output_dir(self) -> Path:
        """Prepared clips live beside the cache, keyed by what changes them (not by the video selection)."""
        from datasets.fingerprint import Hasher

        key = {name: getattr(self.config, name) for name in _PIPELINE_FIELDS}
        if key["metadata_dir"] is not None:
            key["metadata_dir"] = str(Path(key["metadata_dir"]).expanduser().resolve())
        return Path(self._cache_dir_root) / "hdtf_prepared" / Hasher.hash(key)[:16]


def _prepared_rows(videos: list[VideoSpec], options: PrepareOptions):
    """Run the per-video job for each video of this shard and yield the clips it finished, in metadata order."""
    from hdtf import rows
    from hdtf.pipeline import process_video

    out = Path(options.output_dir)
    for video in videos:
        result = process_video(video, options)
        for record in result.clips:
            if record.get("status") == "done" and record.get("path") and (out / record["path"]).is_file():
                yield record["id"], rows.clip_row(out, record)


def _skip_summary(videos: list[VideoSpec], output_dir: Path) -> tuple[str, bool]:
    """One line: how many selected clips became rows, how many did not and why, and where to look; and whether
    every selected clip made it."""
    from hdtf.pipeline import read_status, status_path

    records = [
        record
        for video in videos
        for record in (read_status(status_path(output_dir, video)) or {"clips": []})["clips"]
    ]
    wanted = sum(len(video.clips) for video in videos)
    done = sum(1 for r in records if r.get("status") == "done")
    reasons = Counter(f"{r.get('status')}: {r.get('reason')}" for r in records if r.get("status") != "done")
    if len(records) < wanted:
        reasons["no status recorded"] += wanted - len(records)
    if not reasons:
        return f"hdtf: all {done} selected clips prepared in {output_dir}", True
    why = "; ".join(f"{n} {reason}" for reason, n in reasons.most_common(3))
    more = f"; {len(reasons) - 3} more reason(s)" if len(reasons) > 3 else ""
    line = (
        f"hdtf: {done} of {wanted} clips prepared, {wanted - done} left out ({why}{more}); "
        f"details in {os.path.join(output_dir, 'manifest.json')}"
    )
    return line, False
