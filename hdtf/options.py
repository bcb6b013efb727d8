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
clip           changes a clip's content: part of :meth:`PrepareOptions.clip_settings` (a folder has one set: a run
               asking for others stops unless it resettles, ``hdtf.run.check_settings``; then a done clip made with
               other values is made again, kept aside until its replacement is verified)
extra          (with ``clip``) a stage's option (landmarks): it is left out of :meth:`cut_settings`; the stage keys
               its own outputs (``hdtf.stages``), so changing it runs the stage on finished clips, without a download
               or a re-cut
rerun          (a stage's option; default True) a change re-runs the stage on finished clips; False for a value that
               does not change its outputs (where the SyncNet weights are)
contents       a path whose files' contents (not only its name) key a builder's cache (a metadata folder)
path_or_id     a name that is a local file or folder where one exists by that name, else an id (a Hub model): the Ray
               driver sends an existing relative one absolute, as it does every ``Path`` option
folder_key     keys a builder's default prepared-clips folder (what the clips are made from, and how)
card           shown in an export's dataset card (default: the value of ``clip``)
=============  ======================================================================================================
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdtf.errors import HDTFError
from hdtf.storage import clean_url, is_url, local_path

if TYPE_CHECKING:
    from hdtf.layout import Layout

CROP_METHODS = ("fixed", "landmarks", "auto")
# Bounds no clip can succeed outside of: libx264 needs even sides, and no source of these datasets has a frame side
# beyond 4K; audio rates beyond those of any real recording are a typo.
MIN_SIZE, MAX_SIZE = 16, 4096
MAX_FPS = 240.0
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 192000
# The default cap on one raw download: an hour of 1080p H.264 from YouTube is 1-3 GB, so this stops a runaway
# (a wrong --url-template, an endless stream) long before a disk fills, without refusing a real source video.
MAX_FILESIZE = "8G"
_DEFAULTS = {"flag": None, "parser": None, "choices": None, "action": None, "metavar": None, "required": False,
             "cli": True, "builder": False, "cache_key": True, "canonical": None, "clip": False, "folder_key": False,
             "extra": False, "contents": False, "rerun": True, "path_or_id": False}


def option(default: Any = MISSING, *, help: str, **meta: Any) -> Any:  # noqa: A002 - argparse's own word
    """A dataclass field with option metadata (keys in this module's docstring; unknown keys are an error)."""
    unknown = set(meta) - set(_DEFAULTS) - {"cli_default", "card"}
    if unknown:
        raise TypeError(f"unknown option metadata {sorted(unknown)}")
    metadata = {**_DEFAULTS, **meta, "help": help}
    metadata.setdefault("card", metadata["clip"])
    return field(default=default, metadata=metadata)


def option_fields(cls: type, **wanted: Any) -> list[Field]:
    """The option fields of dataclass ``cls`` whose metadata has the ``wanted`` values (e.g. ``builder=True``); for
    :class:`PrepareOptions`, its own and then those the stages declare (``hdtf.stages``)."""
    found = [*fields(cls), *(cls.stage_fields() if hasattr(cls, "stage_fields") else ())]
    return [f for f in found if "help" in f.metadata and all(f.metadata[k] == v for k, v in wanted.items())]


def flag(f: Field) -> str:
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def spelled(f: Field, value: Any, builder: bool = False) -> str:
    """How a user gives ``value`` to option ``f``: ``--size 128`` on the command line, ``size=128`` to a builder."""
    if builder:
        return f"{f.name}={value!r}"
    text = "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return f"{flag(f)} {text}"


# ------------------------------------------------------------------------------------------------ parsers


def names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``: comma-separated selections on the command line."""
    return [part.strip() for part in text.split(",") if part.strip()]


def single(text: str) -> list[str]:
    """One name as a one-item selection: a flag that picks one value of a list option (a source's ``--split``)."""
    return [text.strip()]


def size_or_none(text: str) -> int | None:
    """A whole number of pixels or samples, or ``none`` (keep the source's)."""
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'none', not {text!r}") from None


def seconds(text: str) -> float:
    """A duration in seconds (``0`` allowed)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seconds cannot be negative: {text!r}")
    return value


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


def output_location(text: str) -> str | Path:
    """An output folder, or an fsspec URL (``s3://bucket/prefix``) kept as text: a path would fold its ``//``. The
    URL is checked when the options are made (one line, no usage text)."""
    return text.strip() if is_url(text) else local_path(text)


# ------------------------------------------------------------------------------------------ the two shells


def add_arguments(parser: Any, cls: type, *, enforce_required: bool = True) -> list[argparse.Action]:
    """Add the command-line options of ``cls`` to ``parser`` (an ``ArgumentParser`` or an argument group).

    Defaults are left out of the namespace (argparse ``SUPPRESS``): :func:`from_args` fills them from the
    declarations, so a flag shared by two sources' groups (declared by the first) keeps each source's own default.
    ``enforce_required`` False: the options of one choice among several (a source's), checked once it is chosen.
    Returns the actions added.
    """
    added = []
    for f in option_fields(cls, cli=True):
        meta = f.metadata
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta["help"], "default": argparse.SUPPRESS}
        for key, arg in (("parser", "type"), ("choices", "choices"), ("action", "action"), ("metavar", "metavar")):
            if meta[key] is not None:
                kwargs[arg] = meta[key]
        if meta["required"] and enforce_required:
            kwargs["required"] = True
        try:
            added.append(parser.add_argument(flag(f), **kwargs))
        except argparse.ArgumentError:  # another source declared the flag (same field name): it reads it for both
            continue
    return added


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
        if is_url(value):
            return clean_url(str(value))
        return str(local_path(value).expanduser().resolve())
    if f.metadata["canonical"] == "set":
        return sorted({str(v) for v in ([value] if isinstance(value, str) else value)})
    return value


def required_missing(options: Any) -> list[Field]:
    """The required options of ``options`` (a dataclass instance) that were not given."""
    return [f for f in option_fields(type(options), required=True) if getattr(options, f.name) is None]


# -------------------------------------------------------------------------------------------- the job's


@dataclass(frozen=True)
class _Declared:
    """The fields and methods of :class:`PrepareOptions` (which adds the stages' options to them)."""

    output_dir: Path | str = option(flag="--output", parser=output_location, metavar="OUTPUT", required=True,
                                    builder=True, canonical="path",
                                    help="dataset folder (clips/, status/, manifest.json), or an fsspec URL such as "
                                         "s3://bucket/prefix (docs/storage.md)")
    crop_method: str = option("fixed", choices=CROP_METHODS, builder=True, clip=True, folder_key=True,
                              help="fixed: the metadata crop window; landmarks: track the face; auto: metadata, "
                                   "else face")
    size: int | None = option(512, parser=size_or_none, builder=True, clip=True, folder_key=True,
                              help=f"output side in pixels, even, {MIN_SIZE}..{MAX_SIZE} (default 512), or 'none' "
                                   "to keep the window's size")
    fps: float | None = option(25.0, parser=frame_rate, builder=True, clip=True, folder_key=True,
                               help="output frame rate, or 'none' to keep the source's")
    sample_rate: int | None = option(16000, parser=size_or_none, builder=True, clip=True, folder_key=True,
                                     help="audio sample rate (default 16000, mono), or 'none' to keep the source's")
    keep_raw: bool = option(False, action="store_true", help="keep downloaded raw videos in OUTPUT/raw")
    url_template: str | None = option(None, builder=True, folder_key=True,
                                      help="URL to fetch instead of the metadata's, with {name} {subset} "
                                           "{youtube_id}")
    raw_dir: Path | None = option(None, parser=Path, builder=True, cache_key=False, canonical="path",
                                  help="folder of raw videos you already have ({subset}_{name}.mp4 or {name}.mp4)")
    # How videos are fetched, not what they become: builder options left out of the cache id. hdtf.download checks
    # them (FetchOptions.validate, called by hdtf.run.validate): only it knows yt-dlp.
    cookies: Path | None = option(None, parser=Path, builder=True, cache_key=False, canonical="path",
                                  help="Netscape cookies file for yt-dlp")
    cookies_from_browser: str | None = option(None, metavar="BROWSER[:PROFILE]", builder=True,
                                              cache_key=False,
                                              help="read YouTube cookies from a browser profile (firefox, chrome, "
                                                   "...; yt-dlp's BROWSER[+KEYRING][:PROFILE][::CONTAINER])")
    js_runtime: str | None = option(None, metavar="NAME[:PATH]", builder=True,
                                    cache_key=False,
                                    help="JavaScript runtime for YouTube: deno, node, bun or quickjs, with the path "
                                         "of its binary (default: $HDTF_JS_RUNTIME, else the deno package's)")
    proxy: str | None = option(None, builder=True, cache_key=False, help="proxy URL for yt-dlp")
    rate_limit: str | None = option(None, builder=True, cache_key=False,
                                    help="download rate limit such as 2M (bytes per second)")
    max_filesize: str | None = option(MAX_FILESIZE, builder=True, cache_key=False, metavar="SIZE",
                                      help=f"largest raw download, such as 500M or 8G (default {MAX_FILESIZE}: hours "
                                           "of 1080p; a larger one fails with the reason), or 'none' for no cap")
    sections: bool = option(False, action="store_true", card=True, help="download only the clips' time ranges")
    retry_unavailable: bool = option(False, action="store_true",
                                     help="try videos recorded as unavailable again")
    # ffmpeg alone leaves part of 2 cores idle, so two cuts of one video run at once by default
    clip_workers: int = option(2, parser=int, help="ffmpeg cuts of one video running at once (default 2)")
    allow_short: bool = option(False, action="store_true", builder=True, card=True,
                               help="keep a clip whose source ends before the annotated end (a short download, "
                                    "audio that stops early) at the length it really has, noted in its row; "
                                    "default: such a clip fails with the reason")
    scratch_dir: Path | None = option(None, parser=Path, builder=True, cache_key=False, canonical="path",
                                      metavar="DIR",
                                      help="with an OUTPUT URL: the local folder where downloads and clips are made "
                                           "before upload (default: one per OUTPUT under the system temp folder)")
    lock_wait: float | None = option(None, parser=seconds, builder=True, cache_key=False, metavar="SECONDS",
                                     help="how long to wait for a video that another run is preparing in the same "
                                          "OUTPUT (default: until it is done; 0: leave it to that run)")
    # The stages' options (hdtf.stages: --landmarks, --sync-check, ...), every one with its value for this run; given
    # as keywords like the fields above (PrepareOptions(landmarks=True)) and read as attributes (options.landmarks).
    stage_options: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        output = self.output_dir
        object.__setattr__(self, "output_dir", clean_url(output) if is_url(output) else local_path(output))
        for name in ("raw_dir", "cookies", "scratch_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        from hdtf import stages

        object.__setattr__(self, "stage_options", stages.resolve(dict(self.stage_options), self))

    @cached_property
    def layout(self) -> Layout:
        """Where this run's files live (one value per options value: what it learns of a store is kept)."""
        from hdtf.layout import Layout

        return Layout.for_output(self.output_dir, scratch=self.scratch_dir)

    def validate(self) -> None:
        """Raise HDTFError for options no video could succeed with, before any work starts (the download options are
        checked by ``hdtf.download.FetchOptions.validate``; ``hdtf.run.validate`` calls both)."""
        if self.crop_method not in CROP_METHODS:
            raise HDTFError(f"crop method {self.crop_method!r} is not one of {', '.join(CROP_METHODS)}")
        _check_number("output size", self.size, int, MIN_SIZE, MAX_SIZE, "pixels")
        if self.size is not None and self.size % 2:
            raise HDTFError(f"output size {self.size} must be even (H.264 with 4:2:0 colour needs even sides): use "
                            f"{self.size - 1} or {self.size + 1}")
        if self.fps is not None and not self.fps > 0:
            raise HDTFError(f"fps {self.fps} must be positive (or None to keep the source rate)")
        _check_number("fps", self.fps, (int, float), 0, MAX_FPS, "frames per second")
        _check_number("sample rate", self.sample_rate, int, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, "Hz")
        _check_number("clip workers", self.clip_workers, int, 1, None, "")
        _check_number("lock wait", self.lock_wait, (int, float), 0, None, "seconds")
        if self.raw_dir is not None and not self.raw_dir.is_dir():
            raise HDTFError(f"raw video folder {self.raw_dir} does not exist")
        self.layout.check_output()

    def clip_settings(self) -> dict[str, Any]:
        """The options that change a clip's content (recorded with every clip)."""
        return {f.name: getattr(self, f.name) for f in option_fields(PrepareOptions, clip=True)}

    def cut_settings(self) -> dict[str, Any]:
        """The clip settings that change its video or audio: a done clip made with other values is made again (the
        ``extra`` ones only add files to it)."""
        return {f.name: getattr(self, f.name) for f in option_fields(PrepareOptions, clip=True, extra=False)}

    def to_json(self) -> dict[str, Any]:
        """The options as the manifest records them: shareable (no credentials in URLs, paths relative to the
        output folder or only their names; ``hdtf.redact``). The scratch folder of a run on a store is this machine's
        business and is left out."""
        from hdtf.redact import redact_url, shareable_path

        values = {**{k: v for k, v in asdict(self).items() if k != "stage_options"}, **self.stage_options}
        data = {k: (shareable_path(v, self.output_dir) if isinstance(v, Path) else v)
                for k, v in values.items() if k != "scratch_dir"}
        for name in ("url_template", "proxy"):
            if data[name]:
                data[name] = redact_url(data[name])
        return data


class PrepareOptions(_Declared):
    """Everything a per-video job needs besides the video itself (picklable; stored in status and manifest): the
    fields above, and every stage's options (``hdtf.stages``), given as keywords and read as attributes alike."""

    def __init__(self, stage_options: Mapping[str, Any] | None = None, **values: Any) -> None:
        own = {f.name for f in fields(_Declared)}
        given = {**(stage_options or {}), **{k: values.pop(k) for k in list(values) if k not in own}}
        super().__init__(stage_options=given, **values)

    def __getattr__(self, name: str) -> Any:
        """A stage's option (only names that are not fields come here)."""
        values = self.__dict__.get("stage_options")
        if name.startswith("__") or values is None or name not in values:
            raise AttributeError(f"{type(self).__name__!r} has no option {name!r}")
        return values[name]

    @staticmethod
    def stage_fields() -> list[Field]:
        """The option fields the stages declare (``hdtf.stages``): they follow this class's own in every listing."""
        from hdtf import stages

        return stages.option_fields()



def _check_number(what: str, value: Any, kind: type | tuple[type, ...], low: float, high: float | None,
                  unit: str) -> None:
    """HDTFError unless ``value`` is None or a ``kind`` number in ``[low, high]``."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, kind):
        raise HDTFError(f"{what} {value!r} is not a number")
    if value < low:
        raise HDTFError(f"{what} {value} is too small (at least {low:g}{unit and ' ' + unit})")
    if high is not None and value > high:
        raise HDTFError(f"{what} {value} is too large (at most {high:g}{unit and ' ' + unit})")


def card_options(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The options a dataset card shows, from a manifest's recorded options (no paths, proxies or cookies)."""
    shown = {f.name for f in option_fields(PrepareOptions, card=True)}
    return {k: v for k, v in recorded.items() if k in shown}


def declared(classes: Iterable[type], **wanted: Any) -> Iterator[Field]:
    """The option fields of several declaration classes, in order (e.g. a builder's config fields)."""
    for cls in classes:
        yield from option_fields(cls, **wanted)

