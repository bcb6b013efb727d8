"""Adding a source is one module and one registry line: a toy source from the test folder
(``fixtures/toy_source.py``), registered by one line in ``hdtf.sources.SOURCES``, gets ``hdtf prepare --source
toy`` with its own flags, a ``datasets`` builder derived from it and its card facts in exports, with no other file
touched."""

from __future__ import annotations

import json
import sys

import pytest
from fixtures.sources import ALPHA, hdtf_sources  # noqa: F401

from hdtf.cli import main
from hdtf.sources import SOURCES

datasets = pytest.importorskip("datasets")


@pytest.fixture
def toy(monkeypatch):
    """The one line: ``SOURCES["toy"]``; the builder table and the derived module are put back afterwards."""
    import hdtf._registry
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES as table

    monkeypatch.setitem(SOURCES, "toy", "fixtures.toy_source")
    hdtf._registry.register_datasets_builders()
    yield
    table.pop("toy", None)
    sys.modules.pop("hdtf.loaders.toy", None)


def test_a_source_from_the_test_folder_is_one_module_and_one_line(toy, hdtf_sources, tmp_path, capsys):  # noqa: F811
    from hdtf.export import export
    from hdtf.loopback import serve_directory

    x, y, w, h = ALPHA.window
    listed = tmp_path / "toy.txt"
    listed.write_text(f"RD_Alpha https://www.youtube.com/watch?v=abcdefghijk 1 4 {x} {y} {w} {h}\n"
                      "broken line\n")

    # hdtf prepare --source toy --help: its flag, and no other source's
    with pytest.raises(SystemExit) as stop:
        main(["prepare", "--source", "toy", "--help"])
    helped = capsys.readouterr().out
    assert stop.value.code == 0 and "--toy-list" in helped and "NAME URL START END" in helped
    assert "--metadata-dir" not in helped and "--data-list" not in helped
    assert main(["prepare", "--source", "toy", "--output", str(tmp_path / "x")]) == 2
    assert "--source toy needs --toy-list" in capsys.readouterr().err

    # hdtf prepare --source toy: the job cuts its clip from the loopback video
    out = tmp_path / "out"
    with serve_directory(hdtf_sources.served) as base:
        code = main(["prepare", "--source", "toy", "--toy-list", str(listed), "--output", str(out), "--size", "64",
                     "--url-template", base + "/{name}.mp4", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "expected NAME URL START END" in printed  # the parse report of the toy list
    manifest = json.loads((out / "manifest.json").read_text())
    (clip,) = manifest["clips"]
    assert (clip["id"], clip["source"], clip["status"]) == ("RD_Alpha_000", "toy", "done")
    assert clip["applied_crop"] == [x, y, w, h] and manifest["run"]["executor"] == "serial"
    from hdtf.decode import decode_clip

    decoded = decode_clip(out / clip["path"])
    assert decoded.frames.shape[1:] == (64, 64, 3) and abs(decoded.frames.shape[0] - 75) <= 1  # 3 s at 25 fps
    centre = decoded.frames[0, 24:40, 24:40].reshape(-1, 3).mean(axis=0)
    assert centre[0] > 200 and centre[1] < 60 and centre[2] < 60, "the window's red core, cut from the right place"

    # load_dataset("toy", ...): the builder derived from the source, its info from the source's card
    ds = datasets.load_dataset("toy", "metadata", split="train", toy_list=str(listed), cache_dir=str(tmp_path / "c"))
    assert ds["id"] == ["RD_Alpha_000"] and ds[0]["start"] == 1.0 and ds[0]["crop_w"] == w
    assert type(ds).__name__ == "Dataset" and ds.info.license.startswith("The toy list is the test's own")
    assert ds.info.description.startswith("Toy: a one-file list") and ds.info.homepage == "https://example.org/toy"
    builder = datasets.load_dataset_builder("toy", "clips", toy_list=str(listed), cache_dir=str(tmp_path / "c"))
    assert type(builder).__name__ == "Toy" and type(builder).__module__ == "hdtf.loaders.toy"
    assert builder.config.toy_list == str(listed) and hasattr(builder.config, "size")

    # its card facts in an export of its clips
    result = export(out, tmp_path / "export")
    card = result.card.read_text()
    assert "pretty_name: Toy talking-face clips" in card and "license_name: toy-clips" in card
    assert "@misc{toy2026" in card and "[Toy](https://example.org/toy)" in card
    assert "synthetic, made by ffmpeg" in (tmp_path / "export" / "LICENSE.md").read_text()
