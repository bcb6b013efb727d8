"""The metric registry is the one list: CLI choices, weight options, report columns and metric classes agree."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from hdtf.errors import HDTFError
from hdtf.metrics import registry
from hdtf.metrics.base import DIRECTIONS, NO_CLIP, Metric
from hdtf.metrics.video import MetricSet


def _evaluate_parser() -> argparse.ArgumentParser:
    from hdtf.commands import evaluate

    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    return parser


def test_cli_choices_weight_options_and_report_columns_come_from_the_registry():
    names = registry.names()
    assert names == ("psnr", "ssim", "cpbd", "lmd", "csim", "csim_arcface", "lse", "fid")
    parser = _evaluate_parser()
    args = parser.parse_args(["--model", "m", "--data", "d", "--output", "o", "--fid-weights", "i.pt"])
    assert args.metrics == names and args.fid_weights.name == "i.pt" and args.syncnet_weights is None
    assert parser.parse_args(["--model", "m", "--data", "d", "--output", "o", "--metrics", "FID, lse"]).metrics == (
        "fid", "lse")
    text = " ".join(parser.format_help().split())
    assert all(registry.weights_option(key) in text for key in registry.WEIGHTS)
    assert f"subset of {','.join(names)} (default: all)" in text

    everything = MetricSet()  # no weights: FID and LSE are kept aside with the option that would enable them
    classes = [registry.metric_class(n) for n in names]
    assert list(everything.columns()) == [c.key for cls in classes for c in cls.columns]
    summary = everything.summarise([])
    assert list(summary) == list(everything.columns())
    assert summary["fid"] == "n/a (weights not provided: --fid-weights)" and summary["psnr"] == NO_CLIP
    assert summary["lse_c_real"] == "n/a (weights not provided: --syncnet-weights)"
    for name, cls in zip(names, classes):
        assert issubclass(cls, Metric) and cls.columns, name
        assert all(c.better in DIRECTIONS for c in cls.columns), name
        assert cls.faces in ("", "generated", "both") and cls.weights in (None, *registry.WEIGHTS), name
    keys = [k for cls in classes for k in (*(c.key for c in cls.columns), *cls.details)]
    assert len(keys) == len(set(keys)) and not {"frames", "no_face_generated", "no_face_real"} & set(keys)


def test_reading_the_registry_loads_no_metric_code():
    code = ("import sys, hdtf.commands.evaluate, hdtf.metrics.registry as r; r.names(); "
            "print([m for m in ('numpy', 'hdtf.metrics.base', 'hdtf.metrics.image') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_register_checks_names_and_targets(monkeypatch):
    monkeypatch.setattr(registry, "METRICS", dict(registry.METRICS))
    for bad in ("PSNR", "my-metric", ""):
        with pytest.raises(HDTFError, match="lowercase"):
            registry.register(bad, "hdtf.metrics.image:PSNR")
    with pytest.raises(HDTFError, match="already registered"):
        registry.register("psnr", "hdtf.metrics.image:PSNR")
    with pytest.raises(HDTFError, match="expected 'module:Class'"):
        registry.register("again", "hdtf.metrics.image.PSNR")
    registry.register("again", "hdtf.metrics.image:PSNR")
    registry.register("not_a_metric", "hdtf.metrics.image:psnr")
    assert registry.names()[-2:] == ("again", "not_a_metric")
    assert registry.metric_class("again") is registry.metric_class("psnr")
    with pytest.raises(HDTFError, match="not a hdtf.metrics.base.Metric subclass"):
        registry.metric_class("not_a_metric")
    with pytest.raises(HDTFError, match="unknown metric 'niqe'"):
        registry.metric_class("niqe")


def test_metric_set_names_bad_selections():
    with pytest.raises(HDTFError, match=r"unknown metric\(s\) \['niqe'\]"):
        MetricSet(["psnr", "niqe"])
    with pytest.raises(HDTFError, match=r"unknown weights \['inception'\]"):
        MetricSet(["fid"], weights={"inception": "x.pt"})
    with pytest.raises(HDTFError, match="face_every must be at least 1"):
        MetricSet(["lmd"], face_every=0)
    chosen = MetricSet(["fid", "psnr", "lmd"])  # report order is the registry's, whatever the selection order
    assert chosen.names == ("psnr", "lmd", "fid") and list(chosen.active) == ["psnr", "lmd"]
    assert chosen.faces == {"both"} and chosen.notes() == ["FID pools all frames"]
