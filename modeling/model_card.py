"""README.md model cards for hdtf models: YAML metadata the Hub reads, then what the weights are and how to use them.

Every model directory the project writes (converted checkpoints, init-model, training runs) gets one, so the same
facts (origin, hyper-parameters, intended use, limits) travel with the weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hdtf import atomic

__all__ = ["build_model_card", "write_model_card"]

_INTENDED_USE = (
    "Research on talking-face synthesis and its detection. Generated videos of real people can deceive: label them as "
    "synthetic, obtain consent from the person shown, and do not use them to impersonate anyone."
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
) -> str:
    """Markdown text of a model card: front matter (library, licence, tags), summary, usage, config table, notes."""
    meta = ["---", "library_name: transformers", f"license: {license}", "tags:"]
    meta += [f"- {tag}" for tag in ["hdtf", *(t for t in (tags or []) if t != "hdtf")]]
    meta.append("---")
    body = [f"# {title}", "", summary, ""]
    if parameters is not None:
        body += [f"Parameters: {parameters / 1e6:.1f} M.", ""]
    body += ["## Usage", "", "```python", usage.strip(), "```", "", "## Configuration", "", _config_table(config), ""]
    body += ["## Intended use and limits", "", _INTENDED_USE, ""]
    if notes:
        body += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(meta + body)


def write_model_card(directory: str | os.PathLike, text: str) -> Path:
    """Write ``README.md`` in ``directory`` atomically (temporary file in the same folder, then rename)."""
    target = Path(directory) / "README.md"
    atomic.write_text(target, text)
    return target
