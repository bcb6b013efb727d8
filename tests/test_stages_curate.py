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


def test_a_clip_spanning_a_cut_is_filtered_with_the_cut_time_and_split_into_its_shots(cut_run, hard_cut,  # noqa: F811
                                                                                      capsys):
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


def test_the_aligned_view_is_added_to_a_finished_run_with_audio_and_the_eyes_on_the_template(
        prepared_faces, tmp_path, capsys):  # noqa: F811
    from hdtf.cli import main
    from hdtf.curate.aligned import load_matrices, rigid_anchors, template_points
    from hdtf.face.track import track_video
    from hdtf.media import probe
    from hdtf.video_io import read_audio

    out = tmp_path / "out"
    shutil.copytree(prepared_faces.root, out)
    before = _mtimes(out)
    root = prepared_faces.root.parent
    requests: list = []
    with serve_directory(root / "served", requests) as base:
        args = ["prepare", "--output", str(out), "--metadata-dir", str(root / "metadata"), "--subsets", "RD",
                "--url-template", base + "/{subset}_{name}.mp4", "--crop-method", "landmarks", "--size", "128",
                "--no-progress", "--aligned", "256"]
        assert main(args) == 0
    assert requests == [] and _mtimes(out) == before, "no download, no re-cut"
    (record,) = done_clips(out)
    assert record["aligned_path"] == f"aligned/{record['id']}.mp4" and record["aligned_size"] == 256
    assert record["aligned_matrices_path"] == f"aligned/{record['id']}.npz" and record["aligned_jitter_px"] < 1.0
    view = out / record["aligned_path"]
    info = probe(view, count_frames=True, timeline=False)
    assert (info.width, info.height, info.nb_frames) == (256, 256, record["num_frames"]) and info.has_audio
    assert np.array_equal(read_audio(view), read_audio(out / record["path"])), "the clip's audio, copied"
    assert load_matrices(out / record["aligned_matrices_path"]).shape == (record["num_frames"], 2, 3)
    # Content: dlib's landmarks found on the decoded view put the eyes on the template.
    found = track_video(view)
    assert found.found.all()
    eyes = np.stack([rigid_anchors(p)[:2] for p in found.points])
    assert np.linalg.norm(eyes - template_points(256)[:2], axis=-1).max() < EYE_BOUND_PX
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    jitter = record["aligned_jitter_px"]
    assert f"aligned_jitter_px: {jitter:g}..{jitter:g} over 1 of 1 done clip(s)" in capsys.readouterr().out
    manifest = load_manifest(out)
    assert manifest["options"]["aligned"] == 256 and manifest["clips"][0]["aligned_jitter_px"] == record[
        "aligned_jitter_px"]


def _flashes_and_beeps(video: Path, audio: Path) -> tuple[list[int], list[int]]:
    """Frames showing the marker's green patch (anywhere: the view moves it) and frames whose audio beeps."""
    from hdtf.video_io import read_audio

    flashes = [k for k, f in enumerate(_frames(video))
               if ((f[..., 1].astype(float) - f[..., [0, 2]].mean(-1)) > 100).sum() > 30]
    samples = read_audio(audio, 16000)
    per = 16000 // 25
    rms = [float(np.sqrt(np.mean(samples[k * per:(k + 1) * per] ** 2))) for k in range(len(samples) // per)]
    return flashes, [k for k, r in enumerate(rms) if r > 0.1]


def test_sync_is_measured_on_the_aligned_view_and_corrected_before_the_view_is_kept(tmp_path, capsys, monkeypatch):
    """... and the measures, which read the final track in the landmarks stage's decode, get a decode of their own
    when the correction trimmed the clip: they measure the frames delivered."""
    pytest.importorskip("torch")
    import cv2
    from fixtures.sync_markers import FLASHES, make_marker_clip, marker_syncnet

    from hdtf.cli import main
    from hdtf.media import probe
    from hdtf.stages import pipeline

    weights = marker_syncnet(make_marker_clip(tmp_path / "calibrate", 0), tmp_path / "syncnet_v2.model")
    raw = tmp_path / "raw"
    make_marker_clip(raw, offset=2, name="RD_Marker")  # the beeps 2 frames before their flashes
    metadata = _metadata(tmp_path / "metadata", "Marker", 256, "00:01.4", crop=True)
    args = ["prepare", "--metadata-dir", str(metadata), "--subsets", "RD", "--raw-dir", str(raw), "--output",
            str(tmp_path / "out"), "--size", "256", "--no-progress", "--aligned", "256", "--sync-check", str(weights),
            "--max-av-offset", "3", "--sync-preset", "latentsync", "--measures"]
    decoded: list[str] = []
    real_decode = pipeline.decode
    monkeypatch.setattr(pipeline, "decode", lambda video: decoded.append(Path(video).name) or real_decode(video))
    assert main(args) == 0
    (record,) = done_clips(tmp_path / "out")
    assert decoded == [f"{record['id']}.mp4"] * 2, "the measures decode the trimmed clip again"
    delivered = _frames(tmp_path / "out" / record["path"])
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).mean() for f in delivered]
    assert len(delivered) == 33 and record["brightness"] == round(float(np.mean(grey)), 4)
    out = tmp_path / "out"
    assert (record["sync_offset"], record["sync_shift"]) == (2, 2) and record["sync_confidence"] >= 3, record
    assert record["num_frames"] == 35 - 2 and not record.get("filtered")
    assert any(n.startswith("aligned: A/V offset +2 frames measured on the view") for n in record["adjustments"])
    # Every output matches the corrected clip frame for frame: the view's flashes meet the clip's beeps.
    view = out / record["aligned_path"]
    assert probe(view, count_frames=True, timeline=False).nb_frames == 33
    flashes, beeps = _flashes_and_beeps(view, out / record["audio_path"])
    assert flashes == beeps == [f - 2 for f in FLASHES]
    assert _flashes_and_beeps(view, view)[1] == beeps, "the view carries the corrected audio"
    with np.load(out / record["landmarks_path"]) as marks:
        assert marks["points"].shape[0] == 33
    with np.load(out / record["aligned_matrices_path"]) as saved:
        assert saved["matrices"].shape[0] == 33

    # LatentSync's thresholds filter a clip SyncNet finds no speech in (kept, marked).
    make_marker_clip(raw, offset=0, name="RD_Quiet", speech=False)
    quiet_meta = _metadata(tmp_path / "quiet", "Quiet", 256, "00:01.4", crop=True)
    assert main([*args[:2], str(quiet_meta), *args[3:]]) == 0
    quiet = next(c for c in done_clips(out) if c["id"].startswith("RD_Quiet"))
    assert quiet["filtered"][0]["stage"] == "aligned" and (out / quiet["path"]).is_file()
    assert quiet["filtered"][0]["reason"].startswith("A/V sync on the aligned view: SyncNet confidence")
    assert quiet["filtered"][0]["reason"].endswith("is below 3")


def test_on_the_s3_stand_in_the_aligned_view_and_sub_clips_go_up_with_the_status(hard_cut, tmp_path):  # noqa: F811
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    from fixtures.s3_server import serve_s3

    from hdtf.cli import main
    from hdtf.media import probe
    from hdtf.storage import Store

    from hdtf.stages import pipeline

    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(hard_cut.path, served / "RD_Cut.mp4")
    metadata = _metadata(tmp_path / "metadata", "Cut", 512, "00:03", crop=True)
    decoded: list[str] = []
    real_decode = pipeline.decode

    def counted(video):
        decoded.append(Path(video).name)
        return real_decode(video)

    with serve_s3() as s3, pytest.MonkeyPatch.context() as env, serve_directory(served) as base:
        for key, value in s3.env.items():
            env.setenv(key, value)
        s3.create_bucket("curate")
        args = ["prepare", "--output", "s3://curate/run", "--metadata-dir", str(metadata), "--subsets", "RD",
                "--url-template", base + "/{subset}_{name}.mp4", "--size", "256", "--no-progress",
                "--scratch-dir", str(tmp_path / "scratch")]
        assert main(args) == 0
        # Added to the finished run on the store: the view of the clip and its two shots, each with its matrices;
        # the scene cuts, the landmarks and the view of each clip over one decode (the track on the frames).
        env.setattr(pipeline, "decode", counted)
        assert main([*args, "--aligned", "256", "--split-at-cuts"]) == 0
        assert sorted(decoded) == sorted(["RD_Cut_000.mp4", "RD_Cut_000_s0.mp4", "RD_Cut_000_s1.mp4"]), decoded
        store = Store("s3://curate/run")
        objects = store.listing("")
        status = json.loads(store.read_bytes(next(n for n in objects if n.startswith("status/"))))
        clips = {c["id"]: c for c in status["clips"]}
        (parent,) = [i for i, c in clips.items() if not c.get("parent")]
        assert sorted(clips) == sorted([parent, f"{parent}_s0", f"{parent}_s1"])
        for clip_id, frames in ((parent, 75), (f"{parent}_s0", 37), (f"{parent}_s1", 38)):
            record = clips[clip_id]
            assert record["status"] == "done" and record["aligned_path"] == f"aligned/{clip_id}.mp4"
            for key in ("path", "audio_path", "landmarks_path", "aligned_path", "aligned_matrices_path"):
                assert objects.get(record[key]), f"{record[key]} is on the store"
            local = tmp_path / f"{clip_id}.mp4"
            local.write_bytes(store.read_bytes(record["aligned_path"]))
            info = probe(local, count_frames=True, timeline=False)
            assert (info.width, info.nb_frames, info.has_audio) == (256, frames, True)
            assert record["num_frames"] == frames
        puts = [r.key for r in s3.requests("curate", "PUT")]
        last_status = max(i for i, k in enumerate(puts) if k.startswith("run/status/"))
        assert puts.index(f"run/aligned/{parent}_s1.mp4") < last_status, "files go up before the status naming them"


def test_per_frame_stages_share_one_decode_with_the_final_track_readers(tmp_path):
    """The decodes of a run of per-frame stages: the view reads each frame's points and the measures and the face
    embedding the final track, all in the landmarks stage's decode (with the IQA; the final track's readers get a
    decode of their own only when the points handed to them were not the track's, tests/test_stages_final_track.py);
    without the landmarks stage (a finished clip's track kept) every stage shares one decode too."""
    from hdtf.options import PrepareOptions
    from hdtf.stages import stage_classes
    from hdtf.stages.pipeline import _passes

    options = PrepareOptions(output_dir=tmp_path, landmarks=True, aligned=256, measures=True,
                             iqa_weights=tmp_path / "iqa.onnx", face_embedding_weights=tmp_path / "arcface.onnx")
    names = ["landmarks", "aligned", "iqa", "measures", "face_embedding"]
    stages = [cls(options) for cls in stage_classes() if cls.name in names]
    assert [[s.name for s in group] for group in _passes(stages)] == [names]
    assert [[s.name for s in group] for group in _passes(stages[1:])] == [names[1:]]


def test_a_stage_failing_in_a_shared_decode_is_named_in_the_reason(tmp_path):
    """The scene cuts and the IQA share one decode; the IQA's weights cannot be read (as on a Ray worker that got
    their path relative to another folder): the clip's reason names the IQA, not the first stage of the decode."""
    from hdtf.options import PrepareOptions
    from hdtf.stages import selected
    from hdtf.stages.base import ClipInput
    from hdtf.stages.pipeline import StageFailed, _frames

    options = PrepareOptions(output_dir=tmp_path, scene_cuts=True, iqa_weights=tmp_path / "gone.onnx")
    stages = [s for s in selected(options) if s.name in ("scene_cuts", "iqa")]
    assert [s.name for s in stages] == ["scene_cuts", "iqa"]
    record = {"id": "RD_X_000", "fps": 25.0, "width": 64, "height": 64, "num_frames": 10}
    clip = ClipInput(record, tmp_path / "x.mp4", tmp_path / "x.wav", options, True)
    with pytest.raises(StageFailed, match=r"^IQA: IQA weights .*gone\.onnx: file not found"):
        _frames(stages, clip)
