"""The options of a prepare run, declared once.

Each option is a dataclass field whose metadata says everything the two shells need, so the ``hdtf prepare`` flags,
the ``datasets`` builders' config fields, the clip settings and the card's option table are derived from these
declarations and never restated. :class:`PrepareOptions` (the per-video job's options) is declared here; a source's
list options (``hdtf.sources.*.Options``) and the run's options (``hdtf.run.RunOptions``) use the same keys:

=============  ======================================================================================================
key            meaning
=============  ======================================================================================================
help           the option's one help text (``hdtf prepare --help``)
flag           its command-line flag (default: ``--`` and the name with dashes)
parser         argparse ``type`` (text -> value)
choices        the allowed values
action         argparse action of a switch (``store_true``, ``store_false``, ``BooleanOptionalAction``)
metavar        how ``--help`` shows the value
required       no run without it (argparse enforces it; a source's required options are checked once it is chosen)
cli_default    the command line's default where it differs from the field's (a source's ``--split``)
cli            offered by ``hdtf prepare`` (default True)
builder        a field of the ``datasets`` builder configs; there it is optional (None keeps the default)
cache_key      enters the builder's config id (default True; False for where-to-find and how-to-run options)
canonical      ``"path"`` (resolved) or ``"set"`` (sorted, unique): spellings of one choice share one config id
clip           changes a clip's content: part of :meth:`PrepareOptions.clip_settings` (a done clip made with other
               values is made again)
folder_key     keys a builder's default prepared-clips folder (what the clips are made from, and how)
card           shown in an export's dataset card (default: the value of ``clip``)
=============  ======================================================================================================
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hdtf.errors import HDTFError
from hdtf.layout import Layout

CROP_METHODS = ("fixed", "landmarks", "auto")
_DEFAULTS = {"flag": None, "parser": None, "choices": None, "action": None, "metavar": None, "required": False,
             "cli": True, "builder": False, "cache_key": True, "canonical": None, "clip": False, "folder_key": False}


def option(default: Any = MISSING, *, help: str, **meta: Any) -> Any:  # noqa: A002 - argparse's own word
    """A dataclass field with option metadata (keys in this module's docstring; unknown keys are an error)."""
    unknown = set(meta) - set(_DEFAULTS) - {"cli_default", "card"}
    if unknown:
        raise TypeError(f"unknown option metadata {sorted(unknown)}")
    metadata = {**_DEFAULTS, **meta, "help": help}
    metadata.setdefault("card", metadata["clip"])
    return field(default=default, metadata=metadata)


def option_fields(cls: type, **wanted: Any) -> list[Field]:
    """The option fields of dataclass ``cls`` whose metadata has the ``wanted`` values (e.g. ``builder=True``)."""
    return [f for f in fields(cls) if "help" in f.metadata and all(f.metadata[k] == v for k, v in wanted.items())]


def flag(f: Field) -> str:
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


# ------------------------------------------------------------------------------------------------ parsers


def names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``: comma-separated selections on the command line."""
    return [part.strip() for part in text.split(",") if part.strip()]


def single(text: str) -> list[str]:
    """One name as a one-item selection: a flag that picks one value of a list option (a source's ``--split``)."""
    return [text.strip()]


def frame_rate(text: str) -> float | None:
    """A positive frame rate, or ``none`` to keep the source's."""
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fps must be a number or 'none', not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"fps must be positive, not {text!r}")
    return value


# ------------------------------------------------------------------------------------------ the two shells


def add_arguments(parser: Any, cls: type, *, enforce_required: bool = True) -> None:
    """Add the command-line options of ``cls`` to ``parser`` (an ``ArgumentParser`` or an argument group).

    Defaults are left out of the namespace (argparse ``SUPPRESS``): :func:`from_args` fills them from the
    declarations, so a flag shared by two sources' groups (declared by the first) keeps each source's own default.
    ``enforce_required`` False: the options of one choice among several (a source's), checked once it is chosen.
    """
    for f in option_fields(cls, cli=True):
        meta = f.metadata
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta["help"], "default": argparse.SUPPRESS}
        for key, arg in (("parser", "type"), ("choices", "choices"), ("action", "action"), ("metavar", "metavar")):
            if meta[key] is not None:
                kwargs[arg] = meta[key]
        if meta["required"] and enforce_required:
            kwargs["required"] = True
        try:
            parser.add_argument(flag(f), **kwargs)
        except argparse.ArgumentError:  # another source declared the flag (same field name): it reads it for both
            continue


def from_args(cls: type, namespace: argparse.Namespace, **values: Any) -> Any:
    """``cls`` from parsed flags: what was given, else the command line's default, else the field's."""
    for f in option_fields(cls, cli=True):
        if f.name in values:
            continue
        if hasattr(namespace, f.name):
            values[f.name] = getattr(namespace, f.name)
        elif "cli_default" in f.metadata:
            values[f.name] = f.metadata["cli_default"]
    return cls(**values)


def builder_fields(cls: type) -> list[tuple[str, Any, Field]]:
    """``(name, type, field)`` of the builder-config fields of ``cls``, for ``dataclasses.make_dataclass``.

    In a builder config every option is optional: None keeps the declared default. Options outside the cache key
    are left out of config equality too, so that giving only them keeps a named config (``datasets`` refuses a
    config equal in id but unequal in value to the one it is named after).
    """
    optional = [(f, f.type if "None" in str(f.type) else f"{f.type} | None") for f in option_fields(cls, builder=True)]
    return [(f.name, kind, field(default=None, compare=f.metadata["cache_key"], metadata=f.metadata))
            for f, kind in optional]


def from_config(cls: type, config: Any, **values: Any) -> Any:
    """``cls`` from a builder config's fields: the ones set (not None), canonical sets as lists."""
    for f in option_fields(cls, builder=True):
        value = getattr(config, f.name, None)
        if f.name not in values and value is not None:
            values[f.name] = [value] if f.metadata["canonical"] == "set" and isinstance(value, str) else value
    return cls(**values)


def canonical(f: Field, value: Any) -> Any:
    """One spelling of a value: resolved paths, sorted unique selections."""
    if value is None:
        return None
    if f.metadata["canonical"] == "path":
        return str(Path(value).expanduser().resolve())
    if f.metadata["canonical"] == "set":
        return sorted({str(v) for v in ([value] if isinstance(value, str) else value)})
    return value


def required_missing(options: Any) -> list[Field]:
    """The required options of ``options`` (a dataclass instance) that were not given."""
    return [f for f in option_fields(type(options), required=True) if getattr(options, f.name) is None]


# -------------------------------------------------------------------------------------------- the job's


@dataclass(frozen=True)
class PrepareOptions:
    """Everything a per-video job needs besides the video itself (picklable; stored in status and manifest)."""

    output_dir: Path = option(flag="--output", parser=Path, metavar="OUTPUT", required=True, builder=True,
                              canonical="path",
                              help="dataset folder (clips/, status/, manifest.json)")
    crop_method: str = option("fixed", choices=CROP_METHODS, builder=True, clip=True, folder_key=True,
                              help="fixed: the metadata crop window; landmarks: track the face; auto: metadata, "
                                   "else face")
    size: int | None = option(512, parser=int, builder=True, clip=True, folder_key=True,
                              help="output side in pixels (default 512)")
    fps: float | None = option(25.0, parser=frame_rate, builder=True, clip=True, folder_key=True,
                               help="output frame rate, or 'none' to keep the source's")
    sample_rate: int | None = option(16000, parser=int, builder=True, clip=True, folder_key=True,
                                     help="audio sample rate (default 16000, mono)")
    landmarks: bool | None = option(None, action=argparse.BooleanOptionalAction, builder=True, clip=True,
                                    folder_key=True,
                                    help="store 68-point landmark tracks per clip (default: on with --crop-method "
                                         "landmarks)")
    keep_raw: bool = option(False, action="store_true", help="keep downloaded raw videos in OUTPUT/raw")
    url_template: str | None = option(None, builder=True, folder_key=True,
                                      help="URL to fetch instead of the metadata's, with {name} {subset} "
                                           "{youtube_id}")
    raw_dir: Path | None = option(None, parser=Path, builder=True, cache_key=False, canonical="path",
                                  help="folder of raw videos you already have ({subset}_{name}.mp4 or {name}.mp4)")
    cookies: Path | None = option(None, parser=Path, help="Netscape cookies file for yt-dlp")
    proxy: str | None = option(None, help="proxy URL for yt-dlp")
    rate_limit: str | None = option(None, help="download rate limit such as 2M (bytes per second)")
    sections: bool = option(False, action="store_true", card=True, help="download only the clips' time ranges")
    retry_unavailable: bool = option(False, action="store_true",
                                     help="try videos recorded as unavailable again")
    # ffmpeg alone leaves part of 2 cores idle, so two cuts of one video run at once by default
    clip_workers: int = option(2, parser=int, help="ffmpeg cuts of one video running at once (default 2)")

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        if self.landmarks is None:
            object.__setattr__(self, "landmarks", self.crop_method == "landmarks")
        for name in ("raw_dir", "cookies"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))

    @property
    def layout(self) -> Layout:
        """Where this run's files live."""
        return Layout(self.output_dir)

    def validate(self) -> None:
        """Raise HDTFError for options no video could succeed with, before any work starts."""
        from hdtf.download import check_url_template, parse_rate

        if self.crop_method not in CROP_METHODS:
            raise HDTFError(f"crop method {self.crop_method!r} is not one of {', '.join(CROP_METHODS)}")
        if self.size is not None and self.size < 16:
            raise HDTFError(f"output size {self.size} is too small (at least 16 pixels)")
        if self.fps is not None and not self.fps > 0:
            raise HDTFError(f"fps {self.fps} must be positive (or None to keep the source rate)")
        if self.clip_workers < 1:
            raise HDTFError(f"clip workers {self.clip_workers} must be at least 1")
        if self.sample_rate is not None and self.sample_rate < 1000:
            raise HDTFError(f"sample rate {self.sample_rate} is too low")
        if self.url_template is not None:
            check_url_template(self.url_template)
        parse_rate(self.rate_limit)
        if self.raw_dir is not None and not self.raw_dir.is_dir():
            raise HDTFError(f"raw video folder {self.raw_dir} does not exist")
        if self.cookies is not None and not self.cookies.is_file():
            raise HDTFError(f"cookies file {self.cookies} not found")

    def clip_settings(self) -> dict[str, Any]:
        """The options that change a clip's content: a done clip made with other settings is made again."""
        return {f.name: getattr(self, f.name) for f in option_fields(PrepareOptions, clip=True)}

    def to_json(self) -> dict[str, Any]:
        """The options as the manifest records them: shareable (no credentials in URLs, paths relative to the
        output folder or only their names; ``hdtf.redact``)."""
        from hdtf.redact import redact_url, shareable_path

        data = {k: (shareable_path(v, self.output_dir) if isinstance(v, Path) else v)
                for k, v in asdict(self).items()}
        for name in ("url_template", "proxy"):
            if data[name]:
                data[name] = redact_url(data[name])
        return data


def card_options(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The options a dataset card shows, from a manifest's recorded options (no paths, proxies or cookies)."""
    shown = {f.name for f in option_fields(PrepareOptions, card=True)}
    return {k: v for k, v in recorded.items() if k in shown}


def declared(classes: Iterable[type], **wanted: Any) -> Iterator[Field]:
    """The option fields of several declaration classes, in order (e.g. a builder's config fields)."""
    for cls in classes:
        yield from option_fields(cls, **wanted)

