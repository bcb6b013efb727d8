"""Docs that run: every shell and Python block of README.md and docs/ is run here, or marked illustrative with a reason.

A runnable block runs with its own text, in document order in one working folder per markdown file (what a user has
beside a clone: face.jpg, speech.wav, someone.mp4, a video of a person (person.mp4) with three photos of them
(front.jpg, smile.jpg, left.jpg), an HDTF_dataset metadata folder, a model my-model), against
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.doc_blocks import Block, all_blocks, invocations, leading_hdtf_words, read_blocks

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


def test_unmarked_and_badly_marked_blocks_are_told(tmp_path):
    """The rules can fail: a marker without a reason, a stray marker, an untagged command block, a quoted marker."""
    doc = tmp_path / "docs" / "x.md"
    doc.parent.mkdir()
    doc.write_text("Quoted: `<!-- docs-test: illustrative — why -->` is prose.\n\n"
                   "<!-- docs-test: illustrative -->\n```bash\nhdtf status out\n```\n\n"
                   "<!-- docs-test: illustrative — needs YouTube -->\n\nsome text\n\n"
                   "```\n$ hdtf doctor\n```\n\n```\nclips/\n  a.mp4\n```\n", encoding="utf-8")
    blocks, misplaced = read_blocks(doc, tmp_path)
    assert [(b.kind, b.reason) for b in blocks] == [("shell", ""), ("shell", None), ("exempt", None)]
    assert misplaced == ["docs/x.md:8: docs-test marker not directly before a fenced block"]
    assert leading_hdtf_words(blocks[1]) == ["doctor"]


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
        for command in leading_hdtf_words(block):
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
    synopsis = Block("docs/x.md", 1, "", "hdtf export IN [--push-to-hub user/repo [--private]]\n"
                     "pip install 'hdtf[s3]'", None)
    assert [(c.flags, c.words[-1]) for c in invocations(synopsis)] == [(("--push-to-hub", "--private"), "--private"),
                                                                       ((), "hdtf[s3]")]


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


# -- running the runnable blocks -------------------------------------------------------------------------------------

VIDEO = "Speaker"  # the one HDTF-style video of the metadata folder (a train-split person)
SECONDS = 2.0  # of it, of speech.wav and of someone.mp4: enough for every example, cheap on two cores


@dataclass(frozen=True)
class Stage:
    """What the blocks run against: the files a working folder starts with, the environment and the stand-ins."""

    inputs: Path
    env: dict[str, str]
    bucket: str
    s3: object  # fixtures.s3_server.S3Server
    hub: object  # fixtures.hub_server._Server


def _write_metadata(folder: Path, url: str, face_box: tuple[int, int, int, int], size: tuple[int, int]) -> None:
    """HDTF's five files for one video whose one clip is all of it, the window a square around the face."""
    x, y, w, h = face_box
    side = min(int(max(w, h) * 1.8), *size)
    left = min(max(0, x + w // 2 - side // 2), size[0] - side)
    top = min(max(0, y + h // 2 - side // 2), size[1] - side)
    folder.mkdir(parents=True)
    files = {"video_url": f"{VIDEO} {url}", "resolution": f"{VIDEO}.mp4 {size[1]}",
             "annotion_time": f"{VIDEO}.mp4 00:00-00:{int(SECONDS):02d}",
             "crop_wh": f"{VIDEO}_0.mp4 {left} {side} {top} {side}", "crop_ratio": f"{VIDEO}_0.mp4 1.0"}
    for subset in ("RD", "WDA", "WRA"):  # a copy of HDTF_dataset has all three subsets; two are empty here
        for kind, line in files.items():
            (folder / f"{subset}_{kind}.txt").write_text(line + "\n" if subset == "RD" else "", encoding="utf-8")


def _write_person(folder: Path, size: tuple[int, int]) -> None:
    """person.mp4, someone else than someone.mp4 (the face of face.jpg, its own head motion), and three photos of
    them taken from it (front.jpg, smile.jpg, left.jpg: the several-references examples)."""
    from hdtf.synthetic import make_talking_face_video

    person = make_talking_face_video(folder / "person.mp4", photo=folder / "face.jpg", audio=folder / "speech.wav",
                                     seconds=SECONDS, size=size, seed=1)
    for name, at in (("front.jpg", 0.0), ("smile.jpg", SECONDS * 0.4), ("left.jpg", SECONDS * 0.8)):
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", str(at), "-i", str(person.path),
                        "-frames:v", "1", str(folder / name)], check=True)


def _init_model(path: Path, env: dict[str, str]) -> None:
    subprocess.run([str(Path(sys.executable).with_name("hdtf")), "init-model", str(path), "--preset", "tiny"],
                   env=env, check=True, capture_output=True, timeout=BLOCK_TIMEOUT)


@pytest.fixture(scope="module")
def stage(tmp_path_factory, face_photo: Path, speech_wav: Path) -> Iterator[Stage]:
    from fixtures.hub_server import TOKEN, client_env, serve_hub
    from fixtures.s3_server import serve_s3

    from hdtf.loopback import serve_directory
    from hdtf.splits import split_of
    from hdtf.synthetic import make_talking_face_video

    assert split_of("RD", VIDEO) == "train"  # the storage example loads split="train"
    root = tmp_path_factory.mktemp("docs")
    inputs, served = root / "inputs", root / "served"
    inputs.mkdir()
    served.mkdir()
    shutil.copyfile(face_photo, inputs / "face.jpg")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(speech_wav), "-t", str(SECONDS),
                    str(inputs / "speech.wav")], check=True)
    size = (640, 360)
    video = make_talking_face_video(served / f"RD_{VIDEO}.mp4", audio=inputs / "speech.wav", seconds=SECONDS,
                                    size=size)
    shutil.copyfile(video.path, inputs / "someone.mp4")
    _write_person(inputs, size)
    for name in ("tests", "examples", "scripts"):  # a clone's folders, for blocks that name them
        (inputs / name).symlink_to(REPO / name)
    with serve_directory(served) as base, serve_s3() as s3, serve_hub(tokens={TOKEN: "user"}) as hub:
        _write_metadata(inputs / "HDTF_dataset", f"{base}/RD_{VIDEO}.mp4", video.face_box, size)
        bucket = "hdtf-docs-test"
        s3.create_bucket(bucket)
        env = {**client_env(hub.endpoint, root / "hf-home"), **s3.env, "PIP_NO_INDEX": "1",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        _init_model(inputs / "my-model", env)
        yield Stage(inputs, env, bucket, s3, hub)


@pytest.fixture(scope="module")
def folders(stage: Stage, tmp_path_factory) -> Callable[[str], Path]:
    """One working folder per markdown file, made on its first block; later blocks of the file see what earlier
    ones made."""
    made: dict[str, Path] = {}

    def folder(file: str) -> Path:
        if file not in made:
            made[file] = tmp_path_factory.mktemp(re.sub(r"\W", "_", file))
            shutil.copytree(stage.inputs, made[file], symlinks=True, dirs_exist_ok=True)
        return made[file]

    return folder


def substitute(text: str, bucket: str) -> str:
    """The block's text with only its bucket names replaced (by the S3 stand-in's)."""
    return re.sub(r"\bs3://[a-z0-9][a-z0-9.-]*", f"s3://{bucket}", text)


def _command(block: Block, text: str) -> list[str]:
    if block.kind == "python":
        return [sys.executable, "-c", text]
    return ["bash", "-euo", "pipefail", "-c", text]


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.where for b in RUNNABLE])
def test_block_runs(block: Block, stage: Stage, folders):
    cwd = folders(block.file)
    text = substitute(block.text, stage.bucket)
    done = subprocess.run(_command(block, text), cwd=cwd, env=stage.env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT, check=False)
    assert done.returncode == 0, f"{block.where} failed ({done.returncode}):\n{text}\n--- output ---\n" \
                                 f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    check_outputs(block, cwd, stage)


def check_outputs(block: Block, cwd: Path, stage: Stage) -> None:
    """What the block says it makes is there: each local ``--output``, each S3 run (its manifest), each Hub repo."""
    for call in invocations(block):
        words = list(call.words)
        for flag, value in zip(words, words[1:], strict=False):
            if flag == "--output" and "://" not in value:
                made = cwd / value
                assert made.exists() and (made.is_dir() or made.stat().st_size > 0), f"{block.where}: no {value}"
            if flag == "--output" and value.startswith("s3://"):
                prefix = value.split("/", 3)[3].rstrip("/") + "/manifest.json"
                assert stage.s3.requests(stage.bucket, "PUT", prefix), f"{block.where}: no manifest under {value}"
    for repo in re.findall(r"push_to_hub\(\s*[\"']([\w.-]+/[\w.-]+)[\"']", block.text):
        assert ("model", repo) in stage.hub.state.repos, f"{block.where}: {repo} not on the Hub"
