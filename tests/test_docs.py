"""Docs that run: every shell and Python block of README.md and docs/ is run here, or marked illustrative with a reason.

A runnable block runs with its own text, in document order in one working folder per markdown file (what a user has
beside a clone: face.jpg, speech.wav, someone.mp4, an HDTF_dataset metadata folder, a model my-model), against
loopback stand-ins: the metadata's videos are served on 127.0.0.1, ``s3://`` URLs reach moto's S3 (only the bucket
name is replaced), the Hub is tests/fixtures/hub_server.py (its user is ``user``) and package installs are
answered from this environment (``PIP_NO_INDEX``). Shell blocks run under ``bash -euo pipefail``, Python blocks with
``python -c``; the environment's ``bin/`` comes first on PATH.

Every block, illustrative ones included, is also read for what it names: each ``hdtf COMMAND --flag``,
``examples/train.py --flag`` and ``accelerate launch --flag`` must exist in that parser, each ``pip install
'hdtf[extra]'`` a declared extra, and each Python import must resolve — so a renamed flag or module fails here even
in a block that cannot run.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.doc_blocks import Block, all_blocks, hdtf_lines, invocations

REPO = Path(__file__).resolve().parents[1]
BLOCKS, MISPLACED = all_blocks(REPO)
RUNNABLE = [b for b in BLOCKS if b.kind in ("shell", "python") and b.marker is None]
NAMING = [b for b in BLOCKS if b.kind == "shell" or b.lang in ("yaml", "yml", "dockerfile")]
BLOCK_TIMEOUT = 600


# -- every block accounted for --------------------------------------------------------------------------------------


def test_blocks_are_found():
    """The extractor sees the documented examples (a broken fence pattern would pass every other test vacuously)."""
    files = {b.file for b in BLOCKS}
    assert {"README.md", "docs/storage.md", "docs/cluster.md"} <= files
    assert any(b.kind == "python" for b in RUNNABLE) and any(b.kind == "shell" for b in RUNNABLE)


def test_every_block_has_a_known_language():
    unknown = [f"{b.where}: ```{b.lang}" for b in BLOCKS if b.kind == "unknown"]
    assert not unknown, "tag these blocks with a known language (or add it to doc_blocks.EXEMPT): " + ", ".join(unknown)


def test_markers_say_why():
    """A marker stands directly before a block, says ``illustrative`` and gives a reason; exempt blocks need none."""
    bad = [f"{b.where}: {b.marker}" for b in BLOCKS if b.marker is not None and not b.reason]
    assert not bad, "a docs-test marker needs the form '<!-- docs-test: illustrative — REASON -->': " + "; ".join(bad)
    assert not MISPLACED, "; ".join(MISPLACED)


# -- what blocks name exists -----------------------------------------------------------------------------------------


def _options(parser) -> set[str]:
    return set(parser._option_string_actions)


@pytest.fixture(scope="module")
def hdtf_parsers() -> dict[str, set[str]]:
    from hdtf.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: _options(parser) for name, parser in sub.choices.items()}


@pytest.fixture(scope="module")
def train_flags() -> set[str]:
    """examples/train.py's flags, read off its --help (the script parses in one function and has heavy imports)."""
    done = subprocess.run([sys.executable, str(REPO / "examples" / "train.py"), "--help"], capture_output=True,
                          text=True, timeout=300, check=True)
    return set(re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", done.stdout))


def test_hdtf_commands_and_flags_exist(hdtf_parsers):
    wrong = []
    for block in NAMING:
        for line in hdtf_lines(block):
            command = line.removeprefix("$ ").split()[1]
            if re.fullmatch(r"[a-z][a-z-]*", command) and command not in hdtf_parsers:
                wrong.append(f"{block.where}: no command 'hdtf {command}'")
        for call in invocations(block):
            if call.program == "hdtf" and call.command in hdtf_parsers:
                wrong += [f"{call.where}: 'hdtf {call.command}' has no {flag}" for flag in call.flags
                          if flag not in hdtf_parsers[call.command]]
    assert not wrong, "\n".join(wrong)


def test_flag_check_catches_a_renamed_flag(hdtf_parsers):
    """The check itself can fail: a documented flag that is not in the parser is reported."""
    block = Block("docs/x.md", 1, "bash", "hdtf prepare --output out \\\n    --no-such-flag 3 --workers 2", None)
    calls = list(invocations(block))
    assert [c.flags for c in calls] == [("--output", "--no-such-flag", "--workers")]
    assert [f for f in calls[0].flags if f not in hdtf_parsers["prepare"]] == ["--no-such-flag"]


def test_training_script_flags_exist(train_flags):
    from accelerate.commands.launch import launch_command_parser

    accelerate_flags = _options(launch_command_parser())
    wrong = []
    for block in NAMING:
        for call in invocations(block):
            known = {"examples/train.py": train_flags, "accelerate launch": accelerate_flags}.get(call.program)
            if known is not None:
                wrong += [f"{call.where}: {call.program} has no {flag}" for flag in call.flags if flag not in known]
    assert not wrong, "\n".join(wrong)


def test_installed_extras_exist():
    extras = set(importlib.metadata.metadata("hdtf").get_all("Provides-Extra") or [])
    wrong = []
    for block in NAMING:
        for call in invocations(block):
            for word in call.words if call.program == "pip install" else ():
                named = re.fullmatch(r"hdtf\[([\w,-]+)\]", word)
                wrong += [f"{call.where}: hdtf has no extra {e!r}" for e in (named[1].split(",") if named else [])
                          if e not in extras]
    assert not wrong, "\n".join(wrong)


def _imports(block: Block) -> Iterator[tuple[str, str | None]]:
    for node in ast.walk(ast.parse(block.text)):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield from ((node.module, alias.name) for alias in node.names)


def test_python_blocks_parse_and_import():
    """Every Python block (illustrative too) is valid Python whose imports resolve (``sys.path`` additions aside)."""
    wrong = []
    sys.path.insert(0, str(REPO / "tests"))
    try:
        for block in (b for b in BLOCKS if b.kind == "python"):
            for module, name in _imports(block):
                try:
                    found = importlib.import_module(module)
                except ImportError as exc:
                    wrong.append(f"{block.where}: import {module}: {exc}")
                    continue
                if name is not None and not hasattr(found, name):
                    with contextlib.suppress(ImportError):
                        importlib.import_module(f"{module}.{name}")
                    if not hasattr(found, name):
                        wrong.append(f"{block.where}: {module} has no {name}")
    finally:
        sys.path.remove(str(REPO / "tests"))
    assert not wrong, "\n".join(wrong)
