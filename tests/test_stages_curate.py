"""The curation stages of ``hdtf prepare`` on real prepared runs: scene cuts (a clip spanning a hard cut is
filtered with the cut time, kept on disk; ``--split-at-cuts`` makes its shots clips of their own), the face-aligned
view added to a finished run (no download, no re-cut; audio inside; the eyes on the template), A/V sync measured on
the aligned view with the correction applied before the view is kept, and the aligned view on the S3 stand-in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures.curate_clips import hard_cut  # noqa: F401
from fixtures.prepared_faces import prepared_faces  # noqa: F401

from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips, load_manifest

pytest.importorskip("scenedetect")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:hdtf.sources.hdtf")  # fixtures have only RD lists

EYE_BOUND_PX = 3.0  # at 256: how far dlib's eye centres on the aligned view may land from the template's


def _metadata(folder: Path, name: str, side: int, seconds: str, crop: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = {"video_url": f"{name} https://www.youtube.com/watch?v={name[0] * 11}\n",
             "resolution": f"{name}.mp4 {side}\n", "annotion_time": f"{name}.mp4 00:00-{seconds}\n",
             "crop_wh": f"{name}_0.mp4 0 {side} 0 {side}\n" if crop else "",
             "crop_ratio": f"{name}_0.mp4 1.0\n" if crop else ""}
    for kind, text in lines.items():
        (folder / f"RD_{kind}.txt").write_text(text, encoding="utf-8")
    return folder


def _frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _mtimes(out: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((out / "clips").glob("*.mp4"))}


@pytest.fixture(scope="module")
def cut_run(hard_cut, tmp_path_factory):  # noqa: F811
    """A prepared run of one clip that spans the hard cut (3 s of it, fixed window: 512 -> 256), served on loopback."""
    from hdtf.cli import main

    root = tmp_path_factory.mktemp("cut_run")
    served = root / "served"
    served.mkdir()
    shutil.copyfile(hard_cut.path, served / "RD_Cut.mp4")
    metadata = _metadata(root / "metadata", "Cut", 512, "00:03", crop=True)
    requests: list = []
    with serve_directory(served, requests) as base:
        common = ["--output", str(root / "out"), "--metadata-dir", str(metadata), "--subsets", "RD",
                  "--url-template", base + "/{subset}_{name}.mp4", "--size", "256", "--no-progress"]
        assert main(["prepare", *common]) == 0
        requests.clear()
        yield root / "out", common, requests


def test_a_clip_spanning_a_cut_is_filtered_with_the_cut_time_and_split_into_its_shots(cut_run, hard_cut, capsys):  # noqa: F811
    import datasets

    import hdtf  # noqa: F401 - registers the builders
    from hdtf.cli import main

    out, common, requests = cut_run
    before = _mtimes(out)
    (clip_id,) = [Path(n).stem for n in before]
    frames = _frames(out / "clips" / f"{clip_id}.mp4")
    assert len(frames) == 75

    assert main(["prepare", *common, "--scene-cuts"]) == 0
    assert requests == [] and _mtimes(out) == before, "no download, no re-cut"
    (record,) = done_clips(out)
    cut = hard_cut.cut_frame / hard_cut.fps
    assert record["scene_cuts"] == [pytest.approx(cut, abs=1e-3)]
    assert record["filtered"] == [{"stage": "scene_cuts", "reason": f"spans a scene cut at {cut:.2f} s",
                                   "value": pytest.approx(cut, abs=1e-3)}]
    assert (out / record["path"]).is_file(), "a filtered clip stays on disk"

    assert main(["prepare", *common, "--split-at-cuts"]) == 0
    assert requests == [] and _mtimes(out).items() >= before.items()
    clips = {c["id"]: c for c in done_clips(out)}
    subs = {i: c for i, c in clips.items() if c.get("parent") == clip_id}
    assert sorted(subs) == [f"{clip_id}_s0", f"{clip_id}_s1"]
    first, second = (_frames(out / subs[f"{clip_id}_s{k}"]["path"]) for k in (0, 1))
    assert (len(first), len(second)) == (hard_cut.cut_frame, 75 - hard_cut.cut_frame)
    assert [subs[f"{clip_id}_s{k}"]["num_frames"] for k in (0, 1)] == [37, 38]
    # Each sub-clip shows its own shot: its frames are the clip's frames on that side of the cut.
    for shown, source in ((first[0], frames[0]), (first[-1], frames[36]), (second[0], frames[37])):
        assert np.abs(shown.astype(int) - source).mean() < 3
    assert np.abs(second[0].astype(int) - frames[36]).mean() > 20, "the shots differ"
    import soundfile as sf

    audio, rate = sf.read(out / subs[f"{clip_id}_s1"]["audio_path"])
    whole, _ = sf.read(out / clips[clip_id]["audio_path"])
    assert len(audio) == 38 * rate // 25 and np.allclose(audio, whole[37 * rate // 25:][:len(audio)], atol=1e-4)
    assert all(s.get("scene_cuts") is None and not s.get("filtered") for s in subs.values())
    assert clips[clip_id]["filtered"][0]["reason"].endswith("(split into sub-clips at the cuts)")

    # The manifest, hdtf status and the rows show the sub-clips; the clip that spans the cut is left out of rows.
    manifest = {c["id"]: c for c in load_manifest(out)["clips"]}
    assert set(subs) <= set(manifest) and manifest[f"{clip_id}_s1"]["parent"] == clip_id
    status = json.loads(next((out / "status").glob("*.json")).read_bytes())
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "filtered by scene_cuts: 1 of 3 done clip(s)" in shown, shown
    load = {"metadata_dir": common[common.index("--metadata-dir") + 1], "subsets": ["RD"], "output_dir": str(out),
            "url_template": common[common.index("--url-template") + 1], "size": 256, "split_at_cuts": True,
            "cache_dir": str(out.parent / "cache")}
    rows = datasets.load_dataset("hdtf", "clips", split="train", **load)
    assert sorted(rows["id"]) == sorted(subs) and set(rows["parent"]) == {clip_id}
    assert sorted(r["num_frames"] for r in rows) == [37, 38]
    # A re-run is a no-op: the same status, no file touched.
    stamps = _mtimes(out)
    assert main(["prepare", *common, "--split-at-cuts"]) == 0
    assert json.loads(next((out / "status").glob("*.json")).read_bytes())["clips"] == status["clips"]
    assert _mtimes(out) == stamps and requests == []
