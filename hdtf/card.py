"""The dataset card (README.md with YAML front matter) written next to exported shards and pushed to the Hub.

The YAML carries what the Hub reads (licence, task, configs with their data files, the features and split sizes),
so a pushed export loads with ``load_dataset(repo_id)`` with the same features as ``load_dataset("hdtf", "clips")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

CITATION = """\
@inproceedings{zhang2021flow,
  title     = {Flow-Guided One-Shot Talking Face Generation With a High-Resolution Audio-Visual Dataset},
  author    = {Zhang, Zhimeng and Li, Lincheng and Ding, Yu and Fan, Changjie},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages     = {3661--3670},
  year      = {2021}
}"""

_WEBDATASET_MEMBERS = """\
Each tar shard holds, per clip `{key}` (the clip id with any `.` replaced by `_`):

| member | content |
|---|---|
| `{key}.mp4` | H.264 video with AAC audio |
| `{key}.wav` | the same audio, 16-bit PCM mono |
| `{key}.json` | metadata and clip facts (every column of the parquet layout except the media) |
| `{key}.landmarks.npy` | (T, 68, 2) float32 landmarks in frame pixels, when they were computed |
"""


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def front_matter(
    features: datasets.Features | None,
    *,
    num_examples: int,
    data_files: str,
    config_name: str = "clips",
    num_bytes: int | None = None,
) -> dict[str, Any]:
    """The card's YAML data. ``features`` None leaves ``dataset_info`` out (webdataset: the Hub infers it)."""
    meta: dict[str, Any] = {
        "pretty_name": "HDTF",
        "license": "cc-by-4.0",
        "task_categories": ["image-to-video"],
        "tags": ["talking-face", "audio-visual", "lip-sync", "video"],
        "size_categories": [_size_category(num_examples)],
        "configs": [
            {"config_name": config_name, "data_files": [{"split": "train", "path": data_files}], "default": True}
        ],
    }
    if features is not None:
        split: dict[str, Any] = {"name": "train", "num_examples": int(num_examples)}
        if num_bytes is not None:
            split["num_bytes"] = int(num_bytes)
        meta["dataset_info"] = {"config_name": config_name, "features": features._to_yaml_list(), "splits": [split]}
    return meta


def dataset_card(
    features: datasets.Features | None,
    *,
    num_examples: int,
    data_files: str,
    options: Mapping[str, Any],
    skipped: Mapping[str, int] | None = None,
    config_name: str = "clips",
    num_bytes: int | None = None,
    layout: str = "parquet",
) -> str:
    """README.md text for an export: front matter, description, how it was made, licence and citation.

    ``options`` are the prepare options the clips were made with (from the manifest); ``skipped`` counts clips
    that did not make it, by reason.
    """
    import yaml

    meta = front_matter(
        features, num_examples=num_examples, data_files=data_files, config_name=config_name, num_bytes=num_bytes
    )
    made = "\n".join(f"| `{key}` | `{value}` |" for key, value in sorted(options.items()) if value is not None)
    skipped_text = (
        "\n".join(f"- {n} clip(s): {reason}" for reason, n in sorted(skipped.items(), key=lambda kv: -kv[1]))
        if skipped
        else "- none"
    )
    if layout == "parquet":
        loading = (
            "```python\nfrom datasets import load_dataset\nfrom hdtf.decode import decode_clip\n\n"
            'ds = load_dataset("path/or/repo_id", split="train")\n'
            'clip = decode_clip(ds[0])  # frames (T, H, W, 3) uint8, audio (N,) float32 at clip.sample_rate\n```\n\n'
            "`video` holds the mp4 file's bytes (with AAC audio) and `audio` the 16 kHz mono waveform as float32; "
            "neither needs torchcodec. `landmarks` is (T, 68, 2) in frame pixels, or null when they were not computed."
        )
    else:
        loading = _WEBDATASET_MEMBERS
    body = f"""# HDTF talking-face clips

Face clips with audio made from the HDTF (High-Definition Talking Face) dataset: YouTube interview and speech videos,
cut to the annotated clips, cropped to the annotated face windows, resized and resampled to a constant frame rate,
with the audio as 16 kHz mono. {num_examples} clip(s), a single `train` split (HDTF has no official split).

## Loading

{loading}

## How it was made

Prepared with the `hdtf` package (`hdtf prepare`, then `hdtf export`): yt-dlp downloads each source video once,
one ffmpeg pass per clip cuts, crops, resizes and encodes the video and the audio. Options:

| option | value |
|---|---|
{made}

Clips not included, by reason:

{skipped_text}

## Licence

The HDTF metadata (clip times, crop windows, URLs) is released under CC BY 4.0 by its authors. The videos, and so
these clips made from them, belong to their owners on YouTube; the CC BY 4.0 tag covers the metadata only. Check the
terms that apply to you before using or sharing the clips.

## Citation

```bibtex
{CITATION}
```
"""
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body
