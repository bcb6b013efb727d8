"""The stage seam (hdtf.stages): a new stage is one module and one registry line, and it is keyed by content like
the cut. A toy stage from the test folder (mean brightness, a filter below a threshold) is added to a finished run:
it runs on the finished clips alone (no download, no re-cut) and its field reaches the status, the manifest,
``hdtf status``, the ``load_dataset`` rows and the card; the clips it rejects stay on disk and are left out of rows
unless asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures.sources import hdtf_sources  # noqa: F401

from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips, load_manifest

TESTS = Path(__file__).resolve().parent
REGISTRY_LINE = 'STAGES["brightness"] = "fixtures.brightness_stage:Brightness"'

# Run in a fresh interpreter so that the builders and the command line are derived with the toy stage registered,
# as they are for a stage added to hdtf/stages/__init__.py.
DRIVER = f"""
import json, sys
sys.path.insert(0, {str(TESTS)!r})
from hdtf.stages import STAGES
{REGISTRY_LINE}
import datasets
from hdtf.cli import main

args, load, export_to = json.loads(sys.argv[1])
code = main(args)
rows = {{}}
for include in (False, True):
    ds = datasets.load_dataset("hdtf", "clips", split="train", include_filtered=include, **load)
    rows[str(include)] = {{r["id"]: [r["brightness"], r["filtered"], len(r["video"]["bytes"])] for r in ds}}
exported = main(["export", load["output_dir"], "--output", export_to])
status = main(["status", load["output_dir"]])
print("RESULT " + json.dumps({{"code": code, "rows": rows, "export": exported, "status": status}}))
"""


@pytest.fixture(scope="module")
def server(hdtf_sources):  # noqa: F811
    requests: list = []
    with serve_directory(hdtf_sources.served, requests) as base:
        yield base + "/{subset}_{name}.mp4", requests


def _brightness(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        levels = [frame.to_ndarray(format="gray").mean() for frame in container.decode(video=0)]
    return round(float(np.mean(levels)), 3)


def _stamps(out: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((out / "clips").glob("*.mp4"))}


def test_a_stage_added_to_a_finished_run_runs_alone_and_filters_without_deleting(hdtf_sources, server,  # noqa: F811
                                                                                 tmp_path):
    from hdtf.cli import main

    template, requests = server
    out = tmp_path / "out"
    common = ["--output", str(out), "--metadata-dir", str(hdtf_sources.metadata), "--subsets", "RD",
              "--url-template", template, "--no-progress"]
    assert main(["prepare", *common]) == 0
    before = _stamps(out)
    assert len(before) == 3
    levels = {Path(name).stem: _brightness(out / "clips" / name) for name in before}
    ranked = sorted(set(levels.values()))
    assert len(ranked) > 1, "the fixture clips must differ in brightness for the filter to split them"
    threshold = (ranked[0] + ranked[1]) / 2
    dark = {i for i, level in levels.items() if level < threshold}
    requests.clear()

    load = {"metadata_dir": str(hdtf_sources.metadata), "subsets": ["RD"], "output_dir": str(out),
            "url_template": template, "min_brightness": threshold, "cache_dir": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(
        [["prepare", *common, "--min-brightness", str(threshold)], load, str(tmp_path / "export")])],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert result["code"] == 0 and result["export"] == 0 and result["status"] == 0

    assert requests == [], "a stage added to finished clips needs no download"
    assert _stamps(out) == before, "no clip was cut again (same bytes, same mtime)"
    # The status and the manifest: the measured value for every clip, the stage's key, the rejection with its value.
    records = {r["id"]: r for r in done_clips(out)}
    assert set(records) == set(levels), "a filtered clip stays done, on disk"
    for clip_id, record in records.items():
        assert record["brightness"] == pytest.approx(levels[clip_id], abs=1e-3)
        assert record["stages"]["brightness"]["fields"] == {"brightness": "float32"}
        assert (record["filtered"] is not None) == (clip_id in dark)
    rejected = records[sorted(dark)[0]]["filtered"][0]
    assert rejected["stage"] == "brightness" and rejected["value"] == pytest.approx(levels[sorted(dark)[0]], abs=1e-3)
    manifest = {c["id"]: c for c in load_manifest(out)["clips"] if c["id"] in records}
    assert {i: c["brightness"] for i, c in manifest.items()} == {i: r["brightness"] for i, r in records.items()}
    assert load_manifest(out)["options"]["min_brightness"] == threshold
    # The rows: filtered clips left out by default, there (marked) when asked for; the clip bytes are the files'.
    rows = result["rows"]
    assert set(rows["False"]) == set(levels) - dark and set(rows["True"]) == set(levels)
    for clip_id, (level, filtered, size) in rows["True"].items():
        assert level == pytest.approx(levels[clip_id], abs=1e-2) and size == len(before[f"{clip_id}.mp4"][1])
        assert bool(filtered) == (clip_id in dark) and all(f.startswith("brightness: mean brightness") for f in filtered)
    # The card has the stage's column line; hdtf status counts what the filter rejected.
    card = (tmp_path / "export" / "README.md").read_text()
    assert "| `brightness` | float32 | mean brightness" in card and "| `filtered` |" in card
    assert f"filtered by brightness: {len(dark)} of 3 done clip(s)" in done.stdout


def test_changing_a_stage_option_reruns_it_and_removing_it_drops_its_fields(hdtf_sources, server,  # noqa: F811
                                                                            tmp_path, monkeypatch):
    from hdtf import stages
    from hdtf.job import process_video
    from hdtf.options import PrepareOptions
    from hdtf.sources.hdtf import parse_metadata

    monkeypatch.setitem(stages.STAGES, "brightness", "fixtures.brightness_stage:Brightness")
    template, requests = server
    beta = next(v for v in parse_metadata(hdtf_sources.metadata, ["RD"])[0] if v.name == "Beta")
    out = tmp_path / "out"
    first = process_video(beta, PrepareOptions(output_dir=out, url_template=template, min_brightness=1.0)).clips[0]
    level = first["brightness"]
    assert first["filtered"] is None and first["stages"]["brightness"]["version"] == 1
    mp4 = out / first["path"]
    before = (mp4.stat().st_mtime_ns, mp4.read_bytes())
    requests.clear()
    # Another threshold: the stage runs again on the finished clip and now rejects it.
    again = process_video(beta, PrepareOptions(output_dir=out, url_template=template, min_brightness=level + 1))
    record = again.clips[0]
    assert record["filtered"] == [{"stage": "brightness", "reason": f"mean brightness {level:g} is below {level + 1:g}",
                                   "value": level}]
    assert record["stages"]["brightness"]["options"] != first["stages"]["brightness"]["options"]
    # Without the stage, its fields and its rejection leave the record; the clip stays as it was.
    plain = process_video(beta, PrepareOptions(output_dir=out, url_template=template)).clips[0]
    assert "brightness" not in plain and plain["filtered"] is None and "brightness" not in (plain["stages"] or {})
    assert requests == [] and (mp4.stat().st_mtime_ns, mp4.read_bytes()) == before


def test_a_new_stage_touches_one_module_and_one_registry_line():
    """What the test above added: a module and a line; the architecture guide says the same."""
    module = (TESTS / "fixtures" / "brightness_stage.py").read_text()
    assert "class Brightness(FrameStage)" in module
    guide = " ".join((TESTS.parent / "docs" / "ARCHITECTURE.md").read_text().split())
    assert "the card): one module and one registry line." in guide and REGISTRY_LINE.split(" = ")[0] in DRIVER
    assert 'STAGES: dict[str, str] = {' in (TESTS.parent / "hdtf" / "stages" / "__init__.py").read_text()


def test_a_stage_is_keyed_by_the_file_its_weights_name_not_by_how_the_path_is_spelled(tmp_path, monkeypatch):
    """A Ray worker gets the driver's relative weights path made absolute: the same file must give the same key (no
    stage re-run on the next local run), another file another key."""
    from hdtf.options import PrepareOptions
    from hdtf.stages.features import AudioEmbedding, FaceEmbeddingStage

    (tmp_path / "arcface.onnx").write_bytes(b"weights")
    (tmp_path / "other.onnx").write_bytes(b"weights")
    (tmp_path / "encoder").mkdir()
    monkeypatch.chdir(tmp_path)

    def key(cls, **stage_options):
        return cls(PrepareOptions(output_dir=tmp_path / "out", **stage_options)).key()["options"]

    relative = key(FaceEmbeddingStage, face_embedding_weights=Path("arcface.onnx"))
    assert relative == key(FaceEmbeddingStage, face_embedding_weights=tmp_path / "arcface.onnx")
    assert relative == key(FaceEmbeddingStage, face_embedding_weights=Path("./encoder/../arcface.onnx"))
    assert relative != key(FaceEmbeddingStage, face_embedding_weights=Path("other.onnx"))
    # an encoder named by a local folder: one key however it is spelled; a Hub id stays an id
    assert key(AudioEmbedding, audio_encoder="encoder") == key(AudioEmbedding,
                                                                    audio_encoder=str(tmp_path / "encoder"))
    assert key(AudioEmbedding, audio_encoder="org/model") != key(AudioEmbedding, audio_encoder="encoder")
