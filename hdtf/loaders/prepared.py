"""The generic prepared-clips ``datasets`` builder: a source's lists as rows, or its clips made by the per-video job.

Two configs, for every source:

* ``metadata``: one row per annotated clip straight from the lists (no download, instant);
* ``clips``: runs the job of ``hdtf prepare`` (download, cut, crop, resize) over the selected videos and yields one
  row per finished clip: the mp4 bytes with audio, the waveform, the metadata fields and the clip facts.

A source's builder is derived from the source (:func:`derive_builder`: a subclass naming it; its ``DatasetInfo``
from the source's ``CARD``), in a module of its own that ``hdtf.loaders`` makes on import. Its config fields are
derived from the declarations (the source's ``Options``, ``hdtf.run.RunOptions``, ``hdtf.options.PrepareOptions``):
every field is optional (None keeps the default) and the ones that change rows enter the config id, spelled
canonically, so different choices never share a cache entry and the same choice spelled differently does. Sharding
is by video: ``num_proc=N`` runs N shards of jobs at once, and each shard runs its jobs through the executor named by
``executor=`` (default: in the shard's process).

The run itself is :mod:`hdtf.run`'s, as for ``hdtf prepare``: its lists (``list_videos``), its checks (``validate``)
and its jobs (``JobRun``: each shard's results as they finish, then the manifest with the parse report, the options,
how the jobs ran and where each did).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import datasets
from datasets.data_files import DataFilesDict

from hdtf import rows
from hdtf.errors import HDTFError
from hdtf.layout import MANIFEST, Layout
from hdtf.options import PrepareOptions, builder_fields, canonical, declared, from_config, required_missing
from hdtf.records import ParseReport, VideoSpec
from hdtf.run import JobRun, RunOptions, list_videos, select_videos, validate
from hdtf.sources import get_source

logger = logging.getLogger("hdtf.loader")


class PreparedClipsConfig(datasets.BuilderConfig):
    """Base of the derived configs: the config id keeps only what changes rows, each value spelled one way, and the
    contents of the files behind ``contents`` options."""

    def create_config_id(self, config_kwargs: dict, custom_features: datasets.Features | None = None) -> str:
        options = {f.name: f for f in dataclasses.fields(self) if "cache_key" in f.metadata}
        kept = {}
        for key, value in config_kwargs.items():
            spec = options.get(key)
            if (spec is not None and not spec.metadata["cache_key"]) or (key == "data_files" and not value):
                continue
            kept[key] = value if spec is None else canonical(spec, value)
            if spec is not None and spec.metadata.get("contents") and value is not None:
                kept[f"{key}:contents"] = contents_digest(Path(value))
        return super().create_config_id(kept, custom_features=custom_features)


def contents_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (relative names and bytes, in name order; hidden ones too,
    such as a fetched folder's ``.commit``); "missing" when there is nothing at ``path`` (the list reader says so)."""
    import hashlib

    path = Path(path).expanduser()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    if not files:
        return "missing"
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() + b"\0" if file != path else b"\0")
        digest.update(file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def config_class(name: str, source_options: type, module: str) -> type[PreparedClipsConfig]:
    """The builder config of a source: its list options, then the run's and the job's builder options.

    The class is made an attribute of ``module`` (the builder's), so that pickle finds it by name when ``datasets``
    sends a builder to its ``num_proc`` workers.
    """
    fields = [spec for cls in (source_options, RunOptions, PrepareOptions) for spec in builder_fields(cls)]
    config = dataclasses.make_dataclass(name, fields, bases=(PreparedClipsConfig,))
    config.__module__ = module
    setattr(sys.modules[module], name, config)
    return config


# What every builder's description adds to its source's: the two configs.
CONFIGS = (" The `clips` config turns the lists into square face clips with mono audio (16 kHz unless `sample_rate` "
           "says otherwise); the `metadata` config lists the annotated clips, without a download.")


class PreparedClipsBuilder(datasets.GeneratorBasedBuilder):
    """Prepared clips (``clips``) or the annotated clips (``metadata``) of the source named by ``SOURCE``."""

    # -- hooks a subclass sets (derive_builder sets SOURCE) ---------------------------------------------------------
    SOURCE: ClassVar[str]  # the name in hdtf.sources.SOURCES (also the dataset name and the cache folder names)
    # What DatasetInfo says. Unset, each comes from the source's card facts (its module's CARD), so builders and
    # exported cards say the same; LICENSE says in words which licence covers which part (metadata, videos).
    DESCRIPTION: ClassVar[str] = ""
    CITATION: ClassVar[str] = ""
    LICENSE: ClassVar[str] = ""
    HOMEPAGE: ClassVar[str] = ""

    # 2.0.0: the clips config's video is a datasets.Video(decode=False) column ({bytes, path}), no longer binary.
    VERSION = datasets.Version("2.0.0")
    DEFAULT_CONFIG_NAME = "metadata"
    # A clips row holds a whole mp4; keep few of them in memory before each arrow write.
    DEFAULT_WRITER_BATCH_SIZE = 8

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Derive the subclass's config class and its two configs from its source's declarations, and the info
        hooks it leaves unset from its source's card facts."""
        super().__init_subclass__(**kwargs)
        card = get_source(cls.SOURCE).CARD
        for hook, fact in (("DESCRIPTION", card.description + CONFIGS), ("CITATION", card.citation),
                           ("LICENSE", card.licence), ("HOMEPAGE", card.homepage)):
            if not getattr(cls, hook):
                setattr(cls, hook, fact)
        config = config_class(f"{cls.__name__}Config", get_source(cls.SOURCE).Options, cls.__module__)
        cls.BUILDER_CONFIG_CLASS = config
        # Empty data files: these builders read none (hdtf._registry keeps load_dataset from searching for them).
        cls.BUILDER_CONFIGS = [
            config(name="metadata", version=cls.VERSION, data_files=DataFilesDict(),
                   description="One row per annotated clip; no download."),
            config(name="clips", version=cls.VERSION, data_files=DataFilesDict(),
                   description="Prepared face clips with audio, one row per clip."),
        ]

    def _info(self) -> datasets.DatasetInfo:
        columns = rows.SourceColumns.of(get_source(self.SOURCE))
        features = rows.clip_features(columns) if self.config.name == "clips" else rows.metadata_features(columns)
        return datasets.DatasetInfo(description=self.DESCRIPTION, features=features, homepage=self.HOMEPAGE,
                                    license=self.LICENSE, citation=self.CITATION)

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        listed = self._videos_by_split()
        # Only splits that hold videos: an empty one breaks load_dataset ("Instruction 'train' corresponds to no
        # data!"), e.g. when the selected videos' persons are all in HDTF's test split.
        by_split = {split: videos for split, videos in listed.items() if videos}
        if not by_split:
            raise HDTFError(f"{self.SOURCE}: the chosen lists hold no video in the split(s) {', '.join(listed)}: "
                            f"name others with splits= (the {self.SOURCE} splits are "
                            f"{', '.join(get_source(self.SOURCE).SPLITS)})")
        self._videos = [video for videos in by_split.values() for video in videos]
        kwargs: dict[str, Any] = {}
        if self.config.name == "clips":
            options = self.prepare_options()
            run = from_config(RunOptions, self.config)
            validate(options, run, builder=True)
            kwargs = {"options": options, "run": run, "report": self._report}
        return [datasets.SplitGenerator(name=split, gen_kwargs={"videos": videos, **kwargs})
                for split, videos in by_split.items()]

    def _generate_examples(self, videos: list[VideoSpec], options: PrepareOptions | None = None,
                           run: RunOptions | None = None, report: ParseReport | None = None):
        """Metadata rows, or (clips: ``options`` given) run this shard's videos and yield their finished clips (those
        a stage filtered out only with the run's ``include_filtered``)."""
        columns = rows.SourceColumns.of(get_source(self.SOURCE))
        if options is None:
            yield from rows.metadata_rows(videos, columns)
            return
        run = run or RunOptions()
        yield from _prepared_rows(JobRun(videos, options, run, report), run.include_filtered, columns)

    def _download_and_prepare(self, dl_manager, verification_mode, **prepare_splits_kwargs):
        super()._download_and_prepare(dl_manager, verification_mode, **prepare_splits_kwargs)
        if self.config.name == "clips":
            layout = self.prepare_options().layout  # each shard's run wrote the manifest
            line, complete = _skip_summary(self.SOURCE, self._videos, layout, layout.statuses())
            logger.log(logging.INFO if complete else logging.WARNING, line)

    # -- helpers -------------------------------------------------------------------------------------------------

    def source_options(self) -> Any:
        """The source's list options this config stands for (HDTFError when a required one is missing)."""
        options = from_config(get_source(self.SOURCE).Options, self.config)
        missing = required_missing(options)
        if missing:
            spec = missing[0]
            raise HDTFError(f"{self.SOURCE} needs {spec.name}= ({spec.metadata['help']})")
        return options

    def _videos_by_split(self) -> dict[str, list[VideoSpec]]:
        source = get_source(self.SOURCE)
        lists = self.source_options()
        splits = chosen_splits = source.selected_splits(lists)
        if splits is None:
            if self.config.name == "clips" and len(source.SPLITS) > 1:
                raise HDTFError(f"the clips config prepares whole splits: name them, e.g. splits=[{source.SPLITS[0]!r}]"
                                f" (the {self.SOURCE} splits are {', '.join(source.SPLITS)})")
            splits = list(source.SPLITS)
        fetch_dir = Path(self._cache_downloaded_dir) / f"{self.SOURCE}_metadata"
        by_split, self._report = list_videos(source, lists, splits, fetch_dir=fetch_dir,
                                             offline=datasets.config.HF_HUB_OFFLINE)
        wanted = self.config.videos
        chosen = None
        if wanted is not None:
            try:
                chosen = {v.key for v in select_videos([v for vs in by_split.values() for v in vs],
                                                       [wanted] if isinstance(wanted, str) else wanted)}
            except HDTFError as exc:
                if chosen_splits is None:
                    raise
                raise HDTFError(f"{exc}; splits= chose {', '.join(splits)}: a video of another split is named "
                                "there (HDTF's standard split puts each person in train or test)") from None
            by_split = {split: [v for v in videos if v.key in chosen] for split, videos in by_split.items()}
        if self._report.issues:
            logger.info(self._report.summary(chosen))
        return by_split

    def prepare_options(self) -> PrepareOptions:
        """The ``PrepareOptions`` this config stands for; unset fields keep the declared defaults."""
        output_dir = self.config.output_dir or self._default_output_dir()
        return from_config(PrepareOptions, self.config, output_dir=output_dir)

    def _default_output_dir(self) -> Path:
        """Prepared clips live beside the cache, keyed by what they are made from and how (not the selection)."""
        from datasets.fingerprint import Hasher

        keyed = declared((get_source(self.SOURCE).Options, PrepareOptions), folder_key=True)
        key = {f.name: canonical(f, getattr(self.config, f.name)) for f in keyed}
        return Path(self._cache_dir_root) / f"{self.SOURCE}_prepared" / Hasher.hash(key)[:16]


def derive_builder(source: str, module: str) -> type[PreparedClipsBuilder]:
    """The builder of ``source`` (a name in :data:`hdtf.sources.SOURCES`), defined in ``module`` (a module being
    imported: ``datasets`` imports it by name and takes its builder class; pickle finds the classes there) and named
    after the source's ``CARD.pretty_name`` (``TalkingHead1KH``)."""
    card = get_source(source).CARD
    name = re.sub(r"\W", "", card.pretty_name)
    name = name if name.isidentifier() else f"Source{name}"
    builder = type(name, (PreparedClipsBuilder,), {
        "SOURCE": source, "__module__": module,
        "__doc__": f"{card.pretty_name}: annotated clips (``metadata``) or prepared face clips (``clips``)."})
    setattr(sys.modules[module], name, builder)
    return builder


def _prepared_rows(jobs: JobRun, include_filtered: bool = False,
                   columns: rows.SourceColumns = rows.NO_COLUMNS) -> Iterator[tuple[str, dict[str, Any]]]:
    """Run the jobs of this shard's videos and yield their finished clips (less those a stage filtered out, unless
    ``include_filtered``), in list order whatever order the executor finishes them in."""
    layout = jobs.options.layout
    finished: dict[str, list[dict[str, Any]]] = {}
    upcoming = iter(jobs.videos)
    following = next(upcoming, None)
    for result in jobs:
        finished[result.key] = result.clips
        while following is not None and following.key in finished:
            for record in finished.pop(following.key):
                if layout.finished(record) and (include_filtered or not rows.is_filtered(record)):
                    yield record["id"], rows.clip_row(layout, record, columns)
            following = next(upcoming, None)


def _skip_summary(name: str, videos: list[VideoSpec], layout: Layout,
                  statuses: list[dict[str, Any]]) -> tuple[str, bool]:
    """One line: how many selected clips became rows, how many did not and why, and where to look; and whether
    every selected clip made it (``statuses``: the run's status documents, as read for the manifest)."""
    from hdtf.manifest import video_clips

    records = video_clips(statuses, (video.key for video in videos))
    wanted = sum(len(video.clips) for video in videos)
    done = sum(1 for r in records if r.get("status") == "done")
    reasons = Counter(f"{r.get('status')}: {r.get('reason')}" for r in records if r.get("status") != "done")
    if len(records) < wanted:
        reasons["no status recorded"] += wanted - len(records)
    if not reasons:
        return f"{name}: all {done} selected clips prepared in {layout.where}", True
    why = "; ".join(f"{n} {reason}" for reason, n in reasons.most_common(3))
    more = f"; {len(reasons) - 3} more reason(s)" if len(reasons) > 3 else ""
    line = (f"{name}: {done} of {wanted} clips prepared, {wanted - done} left out ({why}{more}); "
            f"details in {layout.location(MANIFEST)}")
    return line, False
