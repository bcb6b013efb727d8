"""Recipes: the documented numbers (docs/recipes.md) are the recipes' data, a user's flag overrides a recipe's value,
and the record the manifest and card keep names the recipe and its version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hdtf.errors import HDTFError
from hdtf.recipes import RECIPES, apply_recipe, get_recipe, recipe_options, recipe_record, recorded_recipe

DOCS = Path(__file__).resolve().parent.parent / "docs" / "recipes.md"
ROW = re.compile(r"^\| `(?P<key>\w+)` \| `(?P<value>[^`]+)` \| (?P<source>[^|]+) \| (?P<note>[^|]+) \|$")


def documented() -> dict[str, dict[str, tuple[str, str, str]]]:
    """docs/recipes.md's tables: recipe -> option -> (value as written, source, note)."""
    tables: dict[str, dict[str, tuple[str, str, str]]] = {}
    current = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## `(\w+)` \(version (\d+), ([^)]+)\)$", line)
        if heading:
            current = heading.group(1)
            tables[current] = {"__version__": (heading.group(2), heading.group(3), "")}
        elif current and (row := ROW.match(line)):
            tables[current][row["key"]] = (row["value"], row["source"].strip(), row["note"].strip())
    return tables


def test_documented_recipes_equal_their_data():
    docs = documented()
    assert sorted(docs) == sorted(RECIPES)
    for name in RECIPES:
        recipe = get_recipe(name)
        table = docs[name]
        assert table.pop("__version__")[:2] == (str(recipe.VERSION), recipe.TRAINER)
        assert {key: value for key, (value, _, _) in table.items()} == {
            key: repr(setting.value) for key, setting in recipe.OPTIONS.items()}, name
        for key, setting in recipe.OPTIONS.items():
            assert table[key][1] == setting.source and setting.source.startswith(recipe.TRAINER), (name, key)
            assert table[key][2] == (setting.note or "—")


def test_the_issue_numbers_are_in_the_recipes():
    assert {k: recipe_options("latentsync")[k] for k in ("fps", "sample_rate", "scene_cuts", "scene_threshold",
                                                         "aligned", "min_sync_confidence", "max_av_offset",
                                                         "min_iqa", "min_clip_frames")} == {
        "fps": 25.0, "sample_rate": 16000, "scene_cuts": True, "scene_threshold": 2.0, "aligned": 256,
        "min_sync_confidence": 3.0, "max_av_offset": 6, "min_iqa": 40.0, "min_clip_frames": 48}
    hallo = recipe_options("hallo")
    assert (hallo["size"], hallo["min_face_share"], hallo["max_face_share"], hallo["max_head_angle"],
            hallo["audio_embedding_layers"], hallo["masks"]) == (512, 0.5, 0.7, 30.0, "all", True)
    assert recipe_options("musetalk")["min_face_px"] == 200 and recipe_options("musetalk")["face_json"] is True


def test_a_users_flag_overrides_the_recipe():
    from hdtf.cli import build_parser

    args = build_parser().parse_args(["prepare", "--output", "out", "--fps", "30", "--size", "256"])
    given = {k: v for k, v in vars(args).items() if k in ("fps", "size", "sample_rate")}  # unset flags are absent
    assert given == {"fps": 30.0, "size": 256}
    options = apply_recipe("hallo", given)
    assert options["fps"] == 30.0 and options["size"] == 256  # the user's
    assert options["sample_rate"] == 16000 and options["max_head_angle"] == 30.0  # the recipe's
    assert apply_recipe(None, given) == given
    with pytest.raises(HDTFError, match="not one of latentsync, hallo, musetalk"):
        apply_recipe("wav2lip", given)


def test_the_record_names_recipe_and_version():
    record = recipe_record("latentsync")
    assert record["name"] == "latentsync" and record["version"] == 1 and record["options"]["aligned"] == 256
    assert recorded_recipe({"recipe": record}) == {"name": "latentsync", "version": 1}
    assert recorded_recipe({}) is None and recorded_recipe(None) is None


def test_settings_that_need_the_users_weights_wait_for_them():
    """SyncNet and IQA thresholds apply once the user gives the weights: a recipe never names a file."""
    without = apply_recipe("latentsync", {})
    assert not {"min_sync_confidence", "max_sync_offset", "max_av_offset", "min_iqa"} & set(without)
    assert without["aligned"] == 256 and without["min_clip_frames"] == 48 and without["scene_cuts"] is True
    given = apply_recipe("latentsync", {"sync_check": Path("syncnet.pt"), "iqa_weights": Path("hyperiqa.onnx")})
    assert (given["min_sync_confidence"], given["max_sync_offset"], given["max_av_offset"], given["min_iqa"]) == (
        3.0, 6, 6, 40.0)


def test_prepare_with_a_recipe_adds_its_stages_to_a_finished_run_and_records_it(tmp_path):
    """`hdtf prepare --recipe musetalk` on a finished run: MuseTalk's face JSON and face size measured for every clip
    without a re-cut, the user's own --min-face-px over the recipe's 200, and the recipe in the manifest."""
    import json
    import subprocess
    import sys

    from fixtures.prepared_faces import build_prepared_faces

    from hdtf.loopback import serve_directory

    run = build_prepared_faces(tmp_path)
    mp4s = {p.name: p.read_bytes() for p in (run.root / "clips").glob("*.mp4")}
    with serve_directory(tmp_path / "served") as base:
        done = subprocess.run(
            [sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(run.root), "--metadata-dir",
             str(tmp_path / "metadata"), "--subsets", "RD", "--url-template", base + "/{subset}_{name}.mp4",
             "--crop-method", "landmarks", "--size", "128", "--recipe", "musetalk", "--min-face-px", "1",
             "--no-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((run.root / "manifest.json").read_text())
    assert manifest["recipe"]["name"] == "musetalk" and manifest["recipe"]["version"] == 1
    options = manifest["options"]
    assert options["min_face_px"] == 1.0 and options["face_json"] is True and options["measures"] is True
    assert {p.name: p.read_bytes() for p in (run.root / "clips").glob("*.mp4")} == mp4s, "no clip cut again"
    clips = [c for c in manifest["clips"] if c["status"] == "done"]
    assert clips and all(not c.get("filtered") for c in clips)  # faces far wider than 1 px
    for clip in clips:
        face = json.loads((run.root / clip["face_json_path"]).read_text())
        assert face["isvalid"] is True and len(face["face_list"]) == clip["num_frames"]
        assert clip["face_px"] > 1
