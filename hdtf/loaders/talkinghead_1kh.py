"""``datasets`` builder for TalkingHead-1KH: ``load_dataset("talkinghead_1kh", data_list=..., split="small")``.

It is HDTF's builder (``hdtf_loader.HDTF``) with another metadata source: the same two configs (``metadata``: the
tubes as rows, no download; ``clips``: the per-video job of ``hdtf prepare`` and one row per prepared clip), the same
features and keyword arguments, plus ``data_list`` (the release's ``data_list`` folder or ``data_list.zip``),
``splits`` and ``min_frames``. The splits are the release's: ``small``, ``train``, ``val``.

``datasets`` prepares every split a builder declares before returning the one asked for, so the ``clips`` config
needs ``splits`` named explicitly: preparing ``train`` by accident would download hundreds of hours of video.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from datasets.data_files import DataFilesDict

import hdtf_loader
from hdtf.errors import HDTFError
from hdtf.records import VideoSpec
from hdtf.sources import talkinghead_1kh as source

_DESCRIPTION = (
    "TalkingHead-1KH: about 1000 hours of Creative-Commons YouTube talking-head videos, listed as face tubes "
    "(frame range and box inside one-minute chunks). The `clips` config reproduces the official tubes' frames from "
    "the whole video and makes square face clips with 16 kHz mono audio; `metadata` lists the tubes."
)

_CITATION = """\
@inproceedings{wang2021facevid2vid,
  title     = {One-Shot Free-View Neural Talking-Head Synthesis for Video Conferencing},
  author    = {Wang, Ting-Chun and Mallya, Arun and Liu, Ming-Yu},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2021}
}
"""


@dataclass
class TalkingHead1KHConfig(hdtf_loader.HDTFConfig):
    """HDTF's config plus the data list; ``metadata_dir`` and ``subsets`` do not apply here."""

    data_list: str | None = None
    splits: list[str] | None = None
    min_frames: int | None = None

    def create_config_id(self, config_kwargs: dict, custom_features: datasets.Features | None = None) -> str:
        canonical = dict(config_kwargs)
        if canonical.get("data_list") is not None:
            canonical["data_list"] = str(Path(canonical["data_list"]).expanduser().resolve())
        if canonical.get("splits") is not None:
            canonical["splits"] = sorted(set(_as_list(canonical["splits"])))
        return super().create_config_id(canonical, custom_features=custom_features)


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class TalkingHead1KH(hdtf_loader.HDTF):
    """TalkingHead-1KH tubes (``metadata``) or prepared face clips (``clips``), in the release's splits."""

    BUILDER_CONFIG_CLASS = TalkingHead1KHConfig
    BUILDER_CONFIGS = [
        TalkingHead1KHConfig(name="metadata", version=hdtf_loader._VERSION, data_files=DataFilesDict(),
                             description="One row per tube."),
        TalkingHead1KHConfig(name="clips", version=hdtf_loader._VERSION, data_files=DataFilesDict(),
                             description="Prepared face clips with audio, one row per tube."),
    ]
    DEFAULT_CONFIG_NAME = "metadata"

    def _info(self) -> datasets.DatasetInfo:
        info = super()._info()
        info.description, info.citation, info.homepage = _DESCRIPTION, _CITATION, source.REPOSITORY
        info.license = "cc-by-3.0"
        return info

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        cfg = self.config
        if cfg.metadata_dir is not None or cfg.subsets is not None:
            raise HDTFError("talkinghead_1kh takes data_list= and splits=, not metadata_dir= or subsets=")
        if cfg.data_list is None:
            raise HDTFError(f"talkinghead_1kh needs data_list= (the data_list folder or data_list.zip of "
                            f"{source.REPOSITORY})")
        if cfg.splits is None and cfg.name == "clips":
            raise HDTFError("the clips config prepares whole splits: name them, e.g. splits=['small']")
        splits = _as_list(cfg.splits) if cfg.splits is not None else list(source.SPLITS)
        unknown = sorted(set(splits) - set(source.SPLITS))
        if unknown:
            raise HDTFError(f"splits {unknown} are not TalkingHead-1KH splits ({', '.join(source.SPLITS)})")
        by_split = self._videos_by_split(splits)
        self._videos = [video for videos in by_split.values() for video in videos]
        options = self.prepare_options() if cfg.name == "clips" else None
        return [datasets.SplitGenerator(name=split, gen_kwargs={"videos": videos, "options": options})
                for split, videos in by_split.items()]

    def _videos_by_split(self, splits: list[str]) -> dict[str, list[VideoSpec]]:
        kwargs: dict[str, Any] = {}
        if self.config.min_frames is not None:
            kwargs["min_frames"] = self.config.min_frames
        wanted = None if self.config.videos is None else set(_as_list(self.config.videos))
        chosen: dict[str, list[VideoSpec]] = {}
        seen: set[str] = set()
        for split in splits:
            videos, report = source.parse_data_list(Path(self.config.data_list), split, **kwargs)
            if report.issues:
                hdtf_loader.logger.info(report.summary())
            if wanted is not None:
                videos = [v for v in videos if v.name in wanted or v.key in wanted]
                seen.update(name for v in videos for name in (v.name, v.key))
            chosen[split] = videos
        if wanted is not None and wanted - seen:
            raise HDTFError(f"videos {sorted(wanted - seen)} are not in the splits {', '.join(splits)}")
        return chosen

    def _default_output_dir(self) -> Path:
        """Prepared clips beside the cache, keyed by the data list and what changes a clip (not the selection)."""
        from datasets.fingerprint import Hasher

        key = {name: getattr(self.config, name) for name in hdtf_loader._PIPELINE_FIELDS if name != "metadata_dir"}
        key["data_list"] = str(Path(self.config.data_list).expanduser().resolve())
        key["min_frames"] = self.config.min_frames
        return Path(self._cache_dir_root) / "talkinghead_1kh_prepared" / Hasher.hash(key)[:16]
