"""Options declared once: the ``hdtf prepare`` flags, the builders' config fields and the clip settings are exactly
what ``PrepareOptions``, ``RunOptions`` and each source's ``Options`` declare."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from hdtf.commands import prepare
from hdtf.layout import Layout
from hdtf.options import PrepareOptions, flag, from_args, option_fields
from hdtf.run import RunOptions
from hdtf.sources import SOURCES, get_source

DECLARED = {name: get_source(name).Options for name in SOURCES}


def _prepare_parser(source: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hdtf prepare", add_help=False)
    prepare.add_arguments(parser, source)
    return parser


@pytest.mark.parametrize("source", [None, *SOURCES])
def test_every_declared_option_is_a_flag_with_its_help_and_nothing_else_is(source):
    """Every source's flags (``source`` None: ``hdtf prepare --help``), or one source's (``--source NAME --help``)
    with its own help; a flag several sources declare (``--split``) shows each one's help."""
    actions = {a.dest: a for a in _prepare_parser(source)._actions if a.dest not in ("help", "source")}
    sources = DECLARED.values() if source is None else [DECLARED[source]]
    declared = [f for cls in (PrepareOptions, RunOptions, *sources) for f in option_fields(cls, cli=True)]
    assert sorted(actions) == sorted({f.name for f in declared})
    shared = {flag(f) for f in declared if sum(flag(g) == flag(f) for g in declared) > 1}
    for f in declared:
        action = actions[f.name]
        assert flag(f) in action.option_strings
        if flag(f) in shared:
            assert f.metadata["help"] in action.help and action.help.startswith("per source; ")
        else:
            assert action.help == f.metadata["help"]
        assert action.default is argparse.SUPPRESS  # defaults come from the declarations, not from argparse
    assert actions["output_dir"].required and actions["crop_method"].choices == ("fixed", "landmarks", "auto")
    assert option_fields(get_source("talkinghead_1kh").Options, cli=False)[0].name == "min_frames"
    assert (source is None) == bool(shared)


def test_prepare_help_after_a_source_lists_only_its_flags():
    import subprocess
    import sys

    def helped(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "hdtf.cli", "prepare", *args, "--help"], capture_output=True,
                              text=True, check=True)
        return done.stdout

    whole, talking = helped(), helped("--source", "talkinghead-1kh")
    assert "--metadata-dir" in whole and "--data-list" in whole and "--output" in whole
    assert "--data-list" in talking and "--output" in talking and "--executor" in talking
    assert "--metadata-dir" not in talking and "--subsets" not in talking and "--source hdtf" not in talking
    assert "small, train or val" in talking and "train, test or all" not in talking


def test_command_line_defaults_are_the_declared_defaults(tmp_path):
    args = _prepare_parser().parse_args(["--output", str(tmp_path)])
    assert from_args(PrepareOptions, args) == PrepareOptions(output_dir=tmp_path)
    assert from_args(RunOptions, args) == RunOptions()
    assert from_args(DECLARED["talkinghead_1kh"], args).splits == ["small"]  # the command line's own default
    given = _prepare_parser().parse_args(["--output", "o", "--fps", "none", "--no-landmarks", "--split", "val",
                                          "--subsets", "RD, WRA", "--executor", "process", "--no-progress"])
    options = from_args(PrepareOptions, given)
    assert options.fps is None and options.landmarks is False and options.output_dir == Path("o")
    assert from_args(DECLARED["talkinghead_1kh"], given).splits == ["val"]
    assert from_args(DECLARED["hdtf"], given).subsets == ["RD", "WRA"]
    assert from_args(RunOptions, given) == RunOptions(executor="process", progress=False)


def test_clip_settings_are_the_options_that_change_a_clip(tmp_path):
    options = PrepareOptions(output_dir=tmp_path, crop_method="landmarks", fps=None)
    assert options.clip_settings() == {"crop_method": "landmarks", "size": 512, "fps": None, "sample_rate": 16000,
                                       "landmarks": True}
    assert options.layout == Layout(tmp_path)


@pytest.mark.parametrize("name", list(SOURCES))
def test_builder_config_fields_are_the_declared_builder_options(name, tmp_path):
    datasets = pytest.importorskip("datasets")
    import hdtf  # noqa: F401 - registers the builders

    (tmp_path / "data_list").mkdir()  # apart from the cache: the config id hashes the data_list's contents
    kwargs = {"data_list": str(tmp_path / "data_list")} if name == "talkinghead_1kh" else {}
    builder = datasets.load_dataset_builder(name, "clips", cache_dir=str(tmp_path), **kwargs)
    config = type(builder.config)
    assert dataclasses.is_dataclass(config) and issubclass(config, datasets.BuilderConfig)
    base = {f.name for f in dataclasses.fields(datasets.BuilderConfig)}
    own = [f for f in dataclasses.fields(config) if f.name not in base]
    classes = (DECLARED[name], RunOptions, PrepareOptions)
    expected = [f.name for cls in classes for f in option_fields(cls, builder=True)]
    assert [f.name for f in own] == expected
    assert all(f.default is None for f in own), "a builder option left unset keeps the declared default"
    assert builder.prepare_options() == PrepareOptions(output_dir=builder.prepare_options().output_dir)
    # What changes rows keys the cache; where raw videos are found and how jobs run does not.
    ids = {kw: datasets.load_dataset_builder(name, "clips", cache_dir=str(tmp_path), **kwargs, **{kw: value}).cache_dir
           for kw, value in (("size", 256), ("raw_dir", str(tmp_path)), ("executor", "process"), ("workers", 4))}
    assert ids["size"] != builder.cache_dir
    assert ids["raw_dir"] == ids["executor"] == ids["workers"] == builder.cache_dir
