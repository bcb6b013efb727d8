"""README.md model cards for hdtf models: YAML metadata the Hub reads, then what the weights are, how they were made
and how to use them.

Every model directory the project writes (converted checkpoints, init-model, training runs) gets one, so the same
facts (origin, hyper-parameters, intended use, limits) travel with the weights. How the weights were made is an
:class:`Origin`: trained here (data, steps, hardware), untrained, or converted from the original release (with its
source); its licence keys go into the YAML. Nothing in a card names a local path (``hdtf.redact``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdtf import atomic

__all__ = ["Origin", "build_model_card", "converted_origin", "describe_hardware", "generator_origin",
           "write_model_card"]

ORIGINAL_RELEASE = "https://github.com/MRzzm/HDTF"

_INTENDED_USE = (
    "Research on talking-face synthesis and its detection. Generated videos of real people can deceive: label them as "
    "synthetic, obtain consent from the person shown, and do not use them to impersonate anyone."
)


@dataclass(frozen=True)
class Origin:
    """How the weights were made (the card's "Weights" section) and the licence keys that follow from it."""

    text: str
    license: str = "apache-2.0"
    license_name: str | None = None
    license_link: str | None = None
    datasets: tuple[str, ...] = ()  # Hub dataset ids the weights were trained on


def describe_hardware() -> str:
    """What this process trains on, for a card: accelerator names (or CPU cores) and the number of processes."""
    import torch

    processes = int(os.environ.get("WORLD_SIZE", "1"))
    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(torch.cuda.current_device())
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "Apple MPS"
    else:
        device = f"CPU ({os.cpu_count()} cores)"
    return f"{processes} x {device}" if processes > 1 else device


def generator_origin(config: Mapping[str, Any]) -> Origin:
    """The origin of a generator's weights from its config: ``training`` facts (written by examples/train.py) or
    untrained."""
    facts = config.get("training") or {}
    if not config.get("trained") or not facts:
        return Origin("Untrained: seeded random initial weights, for tests and as the starting point of training. "
                      "It renders noise-like frames until trained (`examples/train.py`).")
    hardware = facts.get("hardware") or "not recorded"
    minutes = float(facts.get("seconds") or 0) / 60
    text = (f"Trained here with `examples/train.py --stage {facts.get('stage')}`: {facts.get('steps')} optimisation "
            f"steps on {facts.get('clips')} clip(s) of {facts.get('data')} (batch {facts.get('train_batch_size')} x "
            f"{facts.get('gradient_accumulation_steps')} accumulation, lr {facts.get('learning_rate')}, "
            f"{facts.get('resolution')} px), on {hardware}, in {minutes:.1f} min. The training clips are cut from "
            f"videos that belong to their owners; check the data's terms before sharing the weights.")
    dataset = facts.get("dataset")
    return Origin(text, datasets=(dataset,) if dataset else ())


def converted_origin(checkpoint_name: str, max_diff: float | None) -> Origin:
    """The origin of weights converted from the original release by ``hdtf convert-checkpoint``."""
    check = "not run" if max_diff is None else f"{max_diff:.2e}"
    return Origin(
        f"Converted from the original release of the HDTF authors ({ORIGINAL_RELEASE}: `{checkpoint_name}`, from "
        "the Google Drive folder linked in `code_animation2video/readme.md`) by `hdtf convert-checkpoint`: the same "
        "tensors, with the image-channel ones reordered so that inputs and outputs are RGB (the original reads BGR). "
        f"Largest difference from the original network's output on a probe picture: {check}. The original release "
        "states no licence for its weights: ask its authors before redistributing them.",
        license="other", license_name="hdtf-original-release", license_link=ORIGINAL_RELEASE,
    )


def _config_table(config: Any) -> str:
    values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    skip = {"transformers_version", "architectures", "dtype", "torch_dtype", "output_hidden_states", "return_dict"}
    rows = [
        f"| `{key}` | `{json.dumps(value)}` |"
        for key, value in sorted(values.items())
        if key not in skip and not key.startswith("_") and isinstance(value, (int, float, str, bool, type(None), list))
    ]
    return "\n".join(["| hyper-parameter | value |", "| --- | --- |", *rows])


def build_model_card(
    title: str,
    summary: str,
    config: Any,
    usage: str,
    parameters: int | None = None,
    notes: list[str] | None = None,
    tags: list[str] | None = None,
    license: str = "apache-2.0",
    *,
    origin: Origin | None = None,
    library_name: str = "transformers",
    pipeline_tag: str | None = None,
    datasets: Sequence[str] = (),
) -> str:
    """Markdown text of a model card: front matter (library, licence, pipeline, datasets, tags), summary, how the
    weights were made (``origin``; its licence keys override ``license``), usage, config table, notes."""
    meta: dict[str, Any] = {"library_name": library_name, "license": origin.license if origin else license}
    if origin is not None and origin.license_name:
        meta.update(license_name=origin.license_name, license_link=origin.license_link)
    if pipeline_tag:
        meta["pipeline_tag"] = pipeline_tag
    trained_on = list(dict.fromkeys([*datasets, *(origin.datasets if origin else ())]))
    if trained_on:
        meta["datasets"] = trained_on
    meta["tags"] = ["hdtf", *(t for t in (tags or []) if t != "hdtf")]
    front = ["---", *_yaml(meta), "---"]
    body = [f"# {title}", "", summary, ""]
    if parameters is not None:
        body += [f"Parameters: {parameters / 1e6:.1f} M.", ""]
    if origin is not None:
        body += ["## How the weights were made", "", origin.text, ""]
    body += ["## Usage", "", "```python", usage.strip(), "```", "", "## Configuration", "", _config_table(config), ""]
    body += ["## Intended use and limits", "", _INTENDED_USE, ""]
    if notes:
        body += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(front + body)


def _yaml(meta: Mapping[str, Any]) -> list[str]:
    """Front-matter lines, keys in the order given, values quoted by YAML where needed."""
    import yaml

    return yaml.safe_dump(dict(meta), sort_keys=False, allow_unicode=True, default_flow_style=False).splitlines()


def write_model_card(directory: str | os.PathLike, text: str) -> Path:
    """Write ``README.md`` in ``directory`` atomically (temporary file in the same folder, then rename)."""
    target = Path(directory) / "README.md"
    atomic.write_text(target, text)
    return target
