"""Dataset cards: README.md (YAML front matter + text) and LICENSE.md written next to exported shards, from the facts
each source module declares (its ``CARD``: description, homepage, citation, licence, splits), which the ``datasets``
builders' ``DatasetInfo`` shows too.

The YAML carries what the Hub reads (licence, task, configs with their data files, the features, splits and sizes in
``dataset_info`` form), so a pushed export loads with ``load_dataset(repo_id)`` with the declared features and no
inference (which would type webdataset ``.wav`` members as ``Audio`` and need torchcodec). The licence is stated per
source and per part: a source's metadata licence never stands for the videos the clips are cut from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hdtf.records import SourceCard
from hdtf.sources import get_source

if TYPE_CHECKING:
    import datasets

LICENSE_FILE = "LICENSE.md"


def source_card(name: str) -> SourceCard:
    """The card facts of source ``name`` (its module's ``CARD``)."""
    return get_source(name).CARD


@dataclass(frozen=True)
class SplitFacts:
    """One split of an export: its data files pattern, clips, shard bytes and hours of video."""

    name: str
    pattern: str
    num_examples: int
    num_bytes: int
    hours: float


@dataclass(frozen=True)
class Availability:
    """How the source videos fared at preparation time: videos per status, the unavailable ones' reasons and the
    dates (UTC) they were tried."""

    videos: Mapping[str, int] = field(default_factory=dict)
    unavailable_reasons: Mapping[str, int] = field(default_factory=dict)
    first_tried: str | None = None
    last_tried: str | None = None

    @property
    def total(self) -> int:
        return sum(self.videos.values())

    @property
    def unavailable(self) -> int:
        return self.videos.get("unavailable", 0)


@dataclass(frozen=True)
class DatasetFacts:
    """Everything a dataset card states, gathered by ``hdtf.export``."""

    layout: str  # "parquet" | "webdataset"
    features: datasets.Features  # of one example, as load_dataset gives it
    splits: Sequence[SplitFacts]
    sources: Sequence[str]
    options: Mapping[str, Any]  # the prepare options that describe the clips (no paths or secrets)
    skipped: Mapping[str, int]  # clips not included, by "status: reason"
    availability: Availability
    prepared: str | None = None  # when the clips were prepared (the manifest's date)
    repo_id: str | None = None  # where it is pushed, for the loading recipe
    config_name: str = "clips"
    split_notes: Sequence[str] = ()  # facts about the standard split in this export (how many test clips it holds)
    metadata: Mapping[str, Any] | None = None  # where the lists came from (the manifest's "metadata")
    recipe: Mapping[str, Any] | None = None  # the recipe the run was prepared with (name, version), if any

    @property
    def num_examples(self) -> int:
        return sum(s.num_examples for s in self.splits)

    @property
    def num_bytes(self) -> int:
        return sum(s.num_bytes for s in self.splits)


def edited_metadata(provenance: Mapping[str, Any] | None) -> bool:
    """Whether a run's lists (the manifest's ``metadata``) are a folder whose clips differ from the pinned release."""
    return bool(provenance) and provenance.get("lists") == "folder" and bool(provenance.get("differ"))


def metadata_words(provenance: Mapping[str, Any] | None) -> str:
    """One sentence on where a run's lists came from, for cards and evaluation reports: the pinned release, or a
    user's folder by its content hash and how many of its clips differ from the release."""
    if not provenance:
        return "Where the metadata came from is not recorded with this data."
    release = f"{provenance.get('release')} at commit {str(provenance.get('commit'))[:12]}"
    if provenance.get("lists") == "release":
        return f"Metadata: the release pinned by hdtf ({release})."
    folder = f"a user's metadata folder (SHA-256 {str(provenance.get('sha256'))[:16]}...)"
    missing = f" ({provenance['missing']} of the release's clips are not in it)" if provenance.get("missing") else ""
    if not provenance.get("differ"):
        return (f"Metadata: {folder} whose {provenance.get('clips')} clips all match the pinned release "
                f"({release}){missing}.")
    return (f"Metadata: EDITED, {folder}, not the release: {provenance['differ']} of its {provenance.get('clips')} "
            f"clips differ from the pinned release ({release}): {provenance.get('changed')} changed, "
            f"{provenance.get('added')} added{missing}.")


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def licence_of(sources: Sequence[str]) -> dict[str, str]:
    """The YAML licence keys for clips of ``sources``: the shared licence id, else ``other`` (see LICENSE.md)."""
    cards = [source_card(s) for s in sources]
    ids = {c.license for c in cards}
    if len(ids) == 1 and "other" not in ids:
        return {"license": ids.pop()}
    names = sorted({c.license_name or c.license for c in cards})
    return {"license": "other", "license_name": names[0] if len(names) == 1 else "mixed-per-source",
            "license_link": LICENSE_FILE}


def front_matter(facts: DatasetFacts) -> dict[str, Any]:
    """The card's YAML data: what the Hub and ``load_dataset`` read."""
    cards = [source_card(s) for s in facts.sources]
    edited = " (edited metadata)" if edited_metadata(facts.metadata) else ""
    meta: dict[str, Any] = {
        "pretty_name": " + ".join(c.pretty_name for c in cards) + edited + " talking-face clips",
        **licence_of(facts.sources),
        "task_categories": ["image-to-video"],
        "tags": ["talking-face", "audio-visual", "lip-sync", "video", *facts.sources],
        "size_categories": [_size_category(facts.num_examples)],
        "configs": [{
            "config_name": facts.config_name,
            "data_files": [{"split": s.name, "path": s.pattern} for s in facts.splits],
            "default": True,
        }],
        "dataset_info": {
            "config_name": facts.config_name,
            "features": facts.features._to_yaml_list(),
            "splits": [{"name": s.name, "num_bytes": int(s.num_bytes), "num_examples": int(s.num_examples)}
                       for s in facts.splits],
            "download_size": int(facts.num_bytes),
            "dataset_size": int(facts.num_bytes),
        },
    }
    return meta


_CLIP_COLUMNS = """\
| column | type | content |
|---|---|---|
| `id`, `source`, `subset`, `video_name`, `clip_index`, `youtube_id`, `url`, `start`, `end`, `resolution`, `crop_ratio`, `crop_x`, `crop_y`, `crop_w`, `crop_h` | scalars | the source's metadata of the clip (crop fields null where it has no window) |
| `video` | `Video(decode=False)` | the mp4 file as `{bytes, path}`: H.264 with AAC audio |
| `audio` | `list<float32>` | the clip's audio, mono, at `sample_rate` |
| `fps`, `num_frames`, `width`, `height`, `duration`, `sample_rate`, `source_width`, `source_height` | scalars | the clip as made, and the raw video's size |
| `applied_crop` | 4 × int32 | the window actually cut, `[x, y, w, h]` in raw-video pixels |
| `adjustments` | list of strings | what preparation changed (scaled window, truncated end, ...) |
"""
_FILTERED_COLUMN = ("| `filtered` | list of strings | the stages that rejected the clip (`stage: reason, measured value`); "
                    "such clips are left out unless asked for |")


def clip_columns() -> str:
    """The card's column table: the cut's columns, then each stage's lines (``hdtf.stages``)."""
    from hdtf.stages import stage_classes

    classes = stage_classes()
    lines = [line for cls in classes for line in cls.card]
    if any(cls.filters for cls in classes):
        lines.append(_FILTERED_COLUMN)
    return _CLIP_COLUMNS + "".join(f"{line}\n" for line in lines)

_WEBDATASET_MEMBERS = """\
Each tar shard holds, per clip `{key}` (the clip id with any `.` replaced by `_`, since webdataset splits member names
at the first dot):

| member | column | content |
|---|---|---|
| `{key}.mp4` | `mp4`: `Video(decode=False)` | H.264 video with AAC audio, as `{bytes, path}` |
| `{key}.wav` | `wav`: `binary` | the same audio, 16-bit PCM mono |
| `{key}.json` | `json`: struct | every non-media column of the parquet layout, plus `landmarks_found` |
| `{key}.landmarks.npy` | `landmarks.npy`: (T, 68, 2) float32 | landmarks in frame pixels, when they were computed |
"""


def _loading(facts: DatasetFacts) -> str:
    where = facts.repo_id or "path/to/this/folder"
    split = facts.splits[0].name
    if facts.layout == "parquet":
        return f"""```python
from datasets import load_dataset
from hdtf.decode import decode_clip  # pip install hdtf[decode]

ds = load_dataset("{where}", split="{split}")
clip = decode_clip(ds[0])  # frames (T, H, W, 3) uint8 RGB, audio (N,) float32 at clip.sample_rate
mp4 = ds[0]["video"]["bytes"]  # or the mp4 file itself
```

Nothing here needs torchcodec. `video` is a `datasets.Video(decode=False)` column: with torchcodec installed,
`ds.cast_column("video", Video())` gives torchcodec decoders instead. `audio` is a float32 array rather than
`datasets.Audio`, whose encoding needs torchcodec in datasets 5.

{clip_columns()}"""
    return f"""```python
from datasets import load_dataset
from hdtf.decode import decode_clip  # pip install hdtf[decode]

ds = load_dataset("{where}", split="{split}", streaming=True)
clip = decode_clip(next(iter(ds)))  # frames (T, H, W, 3) uint8 RGB, audio (N,) float32 at clip.sample_rate
```

The card declares the columns, so `datasets` does not guess them (it would type `.wav` members as `Audio`, which needs
torchcodec). The shards are plain webdataset tars: `webdataset.WebDataset(urls)` reads the same samples.

{_WEBDATASET_MEMBERS}"""


def _audio(options: Mapping[str, Any]) -> str:
    """The clips' audio as the recorded options made it (``sample_rate`` None keeps the source's rate)."""
    if "sample_rate" not in options:
        return "mono"
    rate = options["sample_rate"]
    return "mono at the source's sample rate" if rate is None else f"{rate / 1000:g} kHz mono"


def duration_text(hours: float) -> str:
    """Hours of video in the unit that shows them: ``2.50 h``, ``12.5 min``, ``40.0 s`` (a short run is not 0.00 h)."""
    seconds = hours * 3600
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{hours:.2f} h"


def _structure(facts: DatasetFacts) -> str:
    rows = "\n".join(f"| `{s.name}` | {s.num_examples} | {duration_text(s.hours)} | {s.num_bytes / 1e6:.1f} MB | "
                     f"`{s.pattern}` |" for s in facts.splits)
    table = f"| split | clips | duration | size | files |\n|---|---|---|---|---|\n{rows}"
    about = [source_card(s).splits for s in facts.sources] + list(facts.split_notes)
    return table + "\n\n" + " ".join(about)


# Advice in a recorded reason for whoever ran ``hdtf prepare`` ("(recorded earlier; --retry-unavailable to try again)",
# "; use --crop-method landmarks|auto to find the face", ": pip install ..."): a card is a shared document and states
# the reason only. A hint is a parenthesised group, or a last clause after "; " or ": ", naming a flag or pip.
_HINT = r"(?:(?<![\w-])--[a-z]|\bpip install\b)"
_HINT_GROUP = re.compile(rf"\s*\([^()]*{_HINT}[^()]*\)")
_HINT_TAIL = re.compile(rf"\s*[;:]\s(?:(?![;:]\s).)*{_HINT}(?:(?![;:]\s).)*$")


def shared_reason(reason: str | None) -> str:
    """``reason`` without the command-line hints it carries (see ``_HINT``), as a card states it."""
    text = _HINT_GROUP.sub("", reason or "")
    while (shorter := _HINT_TAIL.sub("", text)) != text:
        text = shorter
    return text.strip() or "no reason recorded"


def _availability(facts: DatasetFacts) -> str:
    a = facts.availability
    if not a.total:
        return "The preparation record (status files) was not available, so source availability is not known."
    when = a.first_tried if a.first_tried == a.last_tried else f"{a.first_tried} to {a.last_tried}"
    counts = ", ".join(f"{n} {status}" for status, n in sorted(a.videos.items(), key=lambda kv: (-kv[1], kv[0])))
    text = f"{a.total} source video(s) were selected ({counts})."
    if a.unavailable:
        why = "; ".join(f"{reason} ({n} video(s))" for reason, n in sorted(a.unavailable_reasons.items(),
                                                                          key=lambda kv: (-kv[1], kv[0])))
        text += (f" {a.unavailable} could not be had when tried ({when}, UTC). Why: {why}. Videos disappear from "
                 "YouTube over time, so a later preparation may find fewer.")
    else:
        text += f" None was unavailable when they were tried ({when}, UTC)."
    return text


def _licence_section(sources: Sequence[str]) -> str:
    return "\n\n".join(f"**{source_card(s).pretty_name}.** {source_card(s).licence}" for s in sources)


def _metadata(facts: DatasetFacts) -> str:
    """The card's sentence on the lists' provenance (HDTF records it; other sources' lists are the user's files)."""
    return f"{metadata_words(facts.metadata)} " if facts.metadata or "hdtf" in facts.sources else ""


def licence_file(sources: Sequence[str]) -> str:
    """LICENSE.md of an export: which licence covers which part, per source (the YAML's ``license_link``)."""
    return (
        "# Licence of these clips\n\n" + _licence_section(sources) + "\n\n"
        "The code that made them (the `hdtf` package) is Apache-2.0; that licence does not extend to the clips.\n"
    )


def _recipe(facts: DatasetFacts) -> str:
    """The sentence naming the recipe the clips were prepared with (docs/recipes.md), or nothing."""
    if not facts.recipe:
        return ""
    return (f"Prepared with hdtf's `{facts.recipe.get('name')}` recipe, version {facts.recipe.get('version')} "
            "(`hdtf prepare --recipe`; its numbers and their sources: hdtf's docs/recipes.md). ")


def dataset_card(facts: DatasetFacts) -> str:
    """README.md text of an export: front matter, description, loading recipe, structure, how it was made and from
    what, licence and citation."""
    import yaml

    cards = [source_card(s) for s in facts.sources]
    options = "\n".join(f"| `{key}` | `{value}` |" for key, value in sorted(facts.options.items()) if value is not None)
    skipped = ("\n".join(f"- {n} clip(s): {reason}" for reason, n in sorted(facts.skipped.items(),
                                                                            key=lambda kv: (-kv[1], kv[0])))
               if facts.skipped else "- none")
    homepages = ", ".join(f"[{c.pretty_name}]({c.homepage})" for c in cards)
    citations = "\n\n".join(c.citation for c in cards)
    edited = edited_metadata(facts.metadata)
    warning = ("\n**These clips were cut by edited metadata, not by the release**: times or windows differ from it "
               "(see How it was made).\n" if edited else "")
    body = f"""# {' + '.join(c.pretty_name for c in cards)}{" (edited metadata)" if edited else ""} talking-face clips

{' '.join(c.description for c in cards)}
{warning}
These are the annotated clips cut from the source videos, cropped to the face window, resized and resampled to a
constant frame rate, with the audio as {_audio(facts.options)}: {facts.num_examples} clip(s) in {len(facts.splits)} split(s),
stored as {facts.layout} shards. Source: {homepages}.

## Loading

{_loading(facts)}
## Structure

{_structure(facts)}

## How it was made

Prepared with the `hdtf` package (`hdtf prepare`, then `hdtf export --to {facts.layout}`)
{f"on {facts.prepared} (UTC)" if facts.prepared else ""}: yt-dlp downloads each source video once, one ffmpeg pass per
clip cuts, crops, resizes and encodes the video and the audio. {_metadata(facts)}{_recipe(facts)}Options:

| option | value |
|---|---|
{options}

## Source availability

{_availability(facts)}

Clips not included, by reason:

{skipped}

## Licence

{_licence_section(facts.sources)}

## Citation

```bibtex
{citations}
```
"""
    return "---\n" + yaml.safe_dump(front_matter(facts), sort_keys=False, allow_unicode=True) + "---\n\n" + body
