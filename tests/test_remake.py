"""Nothing made is lost when a clip is made again, and a folder keeps one set of clip settings.

A finished clip that is made again is copied under ``kept/`` and named by its new record until a replacement is
recorded as done: a re-make that fails (the video is no longer served) leaves the earlier files byte for byte, on a
folder and on a store, and ``hdtf status`` lists them. A store that rate-limits reads (a transient error) never makes
a clip again nor discards one. A run asking for other clip settings than the folder's stops before any work unless
it resettles; landmark files follow their clip through a resettle.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures.curate_clips import hard_cut  # noqa: F401
from fixtures.sources import hdtf_sources  # noqa: F401
from fixtures.talking_face import talking_face, talking_face_factory  # noqa: F401

from hdtf.cli import main
from hdtf.errors import HDTFError
from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _args(sources, out, base: str, *extra: str) -> list[str]:
    return ["prepare", "--output", str(out), "--metadata-dir", str(sources.metadata), "--subsets", "RD",
            "--videos", "Beta", "--url-template", base + "/{subset}_{name}.mp4", "--no-progress", *extra]


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, _sha(p.read_bytes()))
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def served(hdtf_sources, tmp_path):  # noqa: F811
    """Beta served from a folder of this test's own, so that the test can stop serving it (404, as a video taken
    down)."""
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copy(hdtf_sources.served / "RD_Beta.mp4", folder)
    with serve_directory(folder) as base:
        yield folder, base


def test_a_failing_remake_keeps_the_earlier_clip_byte_for_byte(hdtf_sources, served, tmp_path, capsys):  # noqa: F811
    from hdtf.media import probe

    folder, base = served
    out = tmp_path / "out"
    assert main(_args(hdtf_sources, out, base, "--size", "128")) == 0
    mp4, wav = out / "clips" / "RD_Beta_000.mp4", out / "clips" / "RD_Beta_000.wav"
    before = _sha(mp4.read_bytes()), _sha(wav.read_bytes())

    (folder / "RD_Beta.mp4").unlink()
    assert main(_args(hdtf_sources, out, base, "--size", "256", "--resettle")) == 1
    kept = out / "kept"
    assert (_sha((kept / "RD_Beta_000.mp4").read_bytes()), _sha((kept / "RD_Beta_000.wav").read_bytes())) == before
    assert not mp4.exists() and not wav.exists(), "nothing under clips/ looks finished"
    record = json.loads((out / "status" / "RD_Beta.json").read_text())["clips"][0]
    assert record["status"] == "unavailable" and "404" in record["reason"]
    assert (record["kept"]["path"], record["kept"]["audio_path"]) == ("kept/RD_Beta_000.mp4", "kept/RD_Beta_000.wav")
    assert (record["kept"]["settings"]["size"], record["kept"]["width"]) == (128, 128)
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"kept from an earlier setting: 1 clip\(s\) .*kept/ \[RD_Beta_000: size 128\]", shown), shown

    # Back at the folder's own settings, the video still gone: the earlier clip is put back, no download needed.
    assert main(_args(hdtf_sources, out, base, "--size", "128")) == 0
    assert (_sha(mp4.read_bytes()), _sha(wav.read_bytes())) == before and list(kept.iterdir()) == []
    assert json.loads((out / "status" / "RD_Beta.json").read_text())["clips"][0]["status"] == "done"

    # Served again: the replacement is made and recorded, and only then does the earlier copy go.
    shutil.copy(hdtf_sources.served / "RD_Beta.mp4", folder)
    assert main(_args(hdtf_sources, out, base, "--size", "256", "--resettle")) == 0
    assert (probe(mp4).width, probe(mp4).height) == (256, 256)
    assert list(kept.iterdir()) == []
    assert "kept" not in json.loads((out / "status" / "RD_Beta.json").read_text())["clips"][0]


def test_other_clip_settings_stop_the_cli_and_the_builder_before_any_work(hdtf_sources, tmp_path,  # noqa: F811
                                                                          capsys):
    datasets = pytest.importorskip("datasets")
    import hdtf  # noqa: F401 - registers the builders
    from hdtf.media import probe

    out = tmp_path / "out"
    raw = ["--raw-dir", str(hdtf_sources.served)]
    assert main(_args(hdtf_sources, out, "http://127.0.0.1:9", "--size", "128", *raw)) == 0
    before = _snapshot(out)
    capsys.readouterr()
    assert main(_args(hdtf_sources, out, "http://127.0.0.1:9", *raw)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "made with --size 128 (1 clip), not --size 512" in err and "(--size 128)" in err and "--resettle" in err
    assert _snapshot(out) == before, "a refused run changes no file"

    kwargs = {"metadata_dir": str(hdtf_sources.metadata), "subsets": ["RD"], "videos": ["Beta"],
              "raw_dir": str(hdtf_sources.served), "output_dir": str(out), "cache_dir": str(tmp_path / "cache")}
    with pytest.raises(HDTFError, match=r"made with size=128 \(1 clip\), not size=512.*resettle=True"):
        datasets.load_dataset("hdtf", "clips", split="train", **kwargs)
    assert _snapshot(out) == before

    clips = list(datasets.load_dataset("hdtf", "clips", split="train", resettle=True, **kwargs))
    assert [row["id"] for row in clips] == ["RD_Beta_000"] and clips[0]["width"] == 512
    assert probe(out / "clips" / "RD_Beta_000.mp4").width == 512 and list((out / "kept").iterdir()) == []


def _face_video():
    from hdtf.records import ClipSpec, CropBox, VideoSpec

    clip = ClipSpec(id="RD_Face_0", source="hdtf", subset="RD", video_name="Face", clip_index=0, youtube_id=None,
                    url=None, start=0.0, end=1.0, resolution=720, crop=CropBox(400, 0, 600, 600), crop_ratio=None)
    return VideoSpec(source="hdtf", subset="RD", name="Face", url=None, youtube_id=None, resolution=720,
                     clips=(clip,))


def test_landmark_files_follow_their_clip_through_a_resettle(talking_face, tmp_path):  # noqa: F811
    from hdtf.decode import decode_clip
    from hdtf.options import PrepareOptions
    from hdtf.run import RunOptions, prepare

    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    (raw / "RD_Face.mp4").symlink_to(talking_face.path)

    def run(size: int, landmarks: bool, resettle: bool = False) -> dict:
        options = PrepareOptions(output_dir=out, raw_dir=raw, size=size, landmarks=landmarks,
                                 url_template="http://127.0.0.1:9/{name}")
        prepare([_face_video()], options, run=RunOptions(resettle=resettle, progress=False))
        return done_clips(out)[0]

    def points(record: dict) -> np.ndarray:
        with np.load(out / record["landmarks_path"]) as npz:
            assert npz["found"].any()
            return npz["points"]

    small = run(128, True)
    assert 64 < np.nanmax(points(small)) < 128
    with pytest.raises(HDTFError, match="--size 128"):
        run(256, True)
    bigger = run(256, True, resettle=True)
    assert bigger["landmarks_path"] == small["landmarks_path"] and 128 < np.nanmax(points(bigger)) < 256
    np.testing.assert_array_equal(decode_clip(out / bigger["path"]).landmarks, points(bigger))
    plain = run(512, False, resettle=True)
    assert plain["width"] == 512 and plain["landmarks_path"] is None
    assert not (out / "clips" / "RD_Face_0.landmarks.npz").exists(), "a 256 px track must not outlive its clip"
    assert decode_clip(out / plain["path"]).landmarks is None
    assert list((out / "kept").iterdir()) == []


def _cut_video():
    from hdtf.records import ClipSpec, CropBox, VideoSpec

    clip = ClipSpec(id="RD_Cut_000", source="hdtf", subset="RD", video_name="Cut", clip_index=0, youtube_id=None,
                    url=None, start=0.0, end=3.0, resolution=512, crop=CropBox(0, 0, 512, 512), crop_ratio=None)
    return VideoSpec(source="hdtf", subset="RD", name="Cut", url=None, youtube_id=None, resolution=512,
                     clips=(clip,))


def _sub_clip_files(folder: Path, *ids: str) -> dict[str, str]:
    return {p.name: _sha(p.read_bytes()) for i in ids for p in sorted(folder.glob(f"{i}.*"))}


def test_a_sub_clip_no_longer_made_or_failing_its_remake_is_kept_byte_for_byte(hard_cut, tmp_path, capsys,  # noqa: F811
                                                                                monkeypatch):
    """A clip spanning a hard cut, split into its two shots. Split otherwise (no cut found now), the shots are no
    longer made: their files stay under kept/, named by records that say so, and `hdtf status` lists them; split as
    before, they are put back. Cut again (another size) with a stage that fails on sub-clips, each shot's re-make
    fails: a status named its kept copy before its new files were made, and the copy survives byte for byte, also
    through a job stopped from outside."""
    pytest.importorskip("scenedetect")
    from fixtures import failing_stage

    from hdtf import stages
    from hdtf.job import interrupted, process_video
    from hdtf.options import PrepareOptions

    monkeypatch.setitem(stages.STAGES, "fail_sub_clips", "fixtures.failing_stage:FailOnSubClips")
    raw, out = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    (raw / "RD_Cut.mp4").symlink_to(hard_cut.path)
    video, shots = _cut_video(), ("RD_Cut_000_s0", "RD_Cut_000_s1")

    def run(**options) -> dict[str, dict]:
        result = process_video(video, PrepareOptions(output_dir=out, raw_dir=raw, split_at_cuts=True, **options))
        return {r["id"]: r for r in result.clips}

    def status() -> dict:
        return json.loads((out / "status" / "RD_Cut.json").read_text())

    def shown() -> str:
        capsys.readouterr()
        assert main(["status", str(out)]) == 0
        return capsys.readouterr().out

    first = run(size=256)
    assert [first[i]["status"] for i in shots] == ["done", "done"]
    before = _sub_clip_files(out / "clips", *shots)
    assert sorted(before) == [f"{i}{s}" for i in shots for s in (".mp4", ".wav")]

    # Split otherwise: no cut is found, so the shots are no longer made. Their files are kept, named, listed.
    records = run(size=256, scene_threshold=1000.0)
    assert records["RD_Cut_000"]["scene_cuts"] == [] and status()["status"] == "done"
    assert _sub_clip_files(out / "kept", *shots) == before and _sub_clip_files(out / "clips", *shots) == {}
    for shot in shots:
        record = next(r for r in status()["clips"] if r["id"] == shot)
        assert (record["status"], record["parent"], record["path"]) == ("superseded", "RD_Cut_000", None)
        assert (record["kept"]["path"], record["kept"]["status"]) == (f"kept/{shot}.mp4", "done")
    assert re.search(r"kept from an earlier setting: 2 clip\(s\) whose re-make is not done or no longer made, .*"
                     r"kept/ \[RD_Cut_000_s0: no longer made of RD_Cut_000; RD_Cut_000_s1: ", shown())
    assert sorted(r["id"] for r in done_clips(out)) == ["RD_Cut_000"]
    assert run(size=256, scene_threshold=1000.0) == records and _sub_clip_files(out / "kept", *shots) == before

    # Split as before: the kept shots are put back as they were, and the copies go once recorded as done.
    back = run(size=256)
    assert [back[i]["status"] for i in shots] == ["done", "done"] and "kept" not in back[shots[0]]
    assert _sub_clip_files(out / "clips", *shots) == before and list((out / "kept").iterdir()) == []

    # Cut again (128 px), every shot's re-make failing: kept, named before the new files were made, listed.
    failed = run(size=128, fail_sub_clips=True)
    assert failed["RD_Cut_000"]["status"] == "done" and failed["RD_Cut_000"]["width"] == 128
    reasons = ["fail on sub-clips: cannot be done on a sub-clip", "OSError: [Errno 28] No space left on device"]
    for shot, reason in zip(shots, reasons):
        assert (failed[shot]["status"], failed[shot]["reason"]) == ("failed", reason)
        assert failed[shot]["kept"]["path"] == f"kept/{shot}.mp4" and failed[shot]["kept"]["width"] == 256
        seen = failing_stage.SEEN[shot]
        assert (seen["status"], seen["kept"]["path"]) == ("pending", f"kept/{shot}.mp4"), "named before the re-make"
    assert _sub_clip_files(out / "kept", *shots) == before and _sub_clip_files(out / "clips", *shots) == {}
    assert "kept from an earlier setting: 2 clip(s) whose re-make is not done, " in shown()
    assert "RD_Cut_000_s0: size 256" in shown()

    # A job stopped while making the clip again (another size) keeps every record that names a kept copy.
    stopped = interrupted(video, PrepareOptions(output_dir=out, raw_dir=raw, split_at_cuts=True, size=64),
                          "timed out after 1 s")
    assert {r["id"]: r["kept"]["path"] for r in stopped.clips if r.get("kept")} == {
        "RD_Cut_000": "kept/RD_Cut_000.mp4", **{shot: f"kept/{shot}.mp4" for shot in shots}}
    assert _sub_clip_files(out / "kept", *shots) == before

    # Made at last: the replacements are recorded as done, and only then do the copies go.
    made = run(size=128)
    assert [made[i]["width"] for i in shots] == [128, 128] and list((out / "kept").iterdir()) == []
    assert all(k not in made[i] for i in shots for k in ("kept",))


def test_status_counts_only_real_reacquisitions(tmp_path, capsys):
    from hdtf.layout import Layout, clip_record
    from hdtf.records import ClipSpec, VideoSpec

    notes = [["landmarks: face re-acquired 0×; switched 0×", "landmark window: face re-acquired 0×; switched 0×"],
             ["landmarks: face re-acquired 2×; switched 0×"], ["landmark window: face re-acquired 0×; switched 1×"]]
    clips = [ClipSpec(id=f"RD_V_{i:03d}", source="hdtf", subset="RD", video_name="V", clip_index=i, youtube_id=None,
                      url=None, start=float(i), end=i + 1.0, resolution=720, crop=None, crop_ratio=None)
             for i in range(len(notes))]
    records = [clip_record(clip, "done", None, {}, path=f"clips/{clip.id}.mp4", duration=1.0, adjustments=n)
               for clip, n in zip(clips, notes, strict=True)]
    video = VideoSpec(source="hdtf", subset="RD", name="V", url=None, youtube_id=None, resolution=720,
                      clips=tuple(clips))
    Layout(tmp_path).write_status(video, "done", None, records)
    assert main(["status", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"^ +1 re-acquired faces \[RD_V_001\]$", shown, re.M), shown
    assert re.search(r"^ +1 faces switched \[RD_V_002\]$", shown, re.M), shown
    assert "RD_V_000" not in shown, "a track that was never lost is no note worth counting"


# ------------------------------------------------------------------------------------------------ on a store


@pytest.fixture(scope="module")
def s3():
    pytest.importorskip("s3fs", reason="outputs on S3 need s3fs (pip install 'hdtf[s3]')")
    pytest.importorskip("moto", reason="the S3 stand-in is moto's server (pip install 'moto[server]')")
    from fixtures.s3_server import serve_s3

    with serve_s3() as server, pytest.MonkeyPatch.context() as env:
        for key, value in server.env.items():
            env.setenv(key, value)
        env.setenv("AWS_MAX_ATTEMPTS", "1")  # a refused read gives up after s3fs's own retries, not botocore's too
        server.create_bucket("runs")
        yield server


def _objects(prefix: str) -> dict[str, bytes]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    keys = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket("runs").keys
    return {k[len(prefix):]: bytes(keys[k].value) for k in keys if k.startswith(prefix)}


def _status_puts(log, key: str) -> list:
    return [r for r in log if r.method == "PUT" and r.ok and r.key == key]


def _removals(log, fragment: str) -> list[int]:
    """When objects whose keys contain ``fragment`` were deleted (one by one or in a bulk delete)."""
    return [r.seq for r in log if (r.method == "DELETE" and fragment in r.key)
            or (r.method == "POST" and fragment.encode() in (r.body or b""))]


def test_on_a_store_the_earlier_clip_is_copied_aside_before_a_status_drops_it(hdtf_sources, served, s3,  # noqa: F811
                                                                             tmp_path, capsys):
    folder, base = served
    url, scratch = "s3://runs/remake", ["--scratch-dir", str(tmp_path / "scratch")]
    assert main(_args(hdtf_sources, url, base, "--size", "128", *scratch)) == 0
    before = _objects("remake/")

    (folder / "RD_Beta.mp4").unlink()
    start = len(s3.log)
    assert main(_args(hdtf_sources, url, base, "--size", "256", "--resettle", *scratch)) == 1
    after = _objects("remake/")
    for suffix in (".mp4", ".wav"):
        assert _sha(after[f"kept/RD_Beta_000{suffix}"]) == _sha(before[f"clips/RD_Beta_000{suffix}"])
        assert f"clips/RD_Beta_000{suffix}" not in after
    log = s3.log[start:]
    copies = [r.seq for r in log if r.method == "PUT" and r.ok and r.key.startswith("remake/kept/")]
    statuses = _status_puts(log, "remake/status/RD_Beta.json")
    assert copies and statuses and max(copies) < statuses[0].seq, "copied aside before any status drops the clip"
    for put in statuses:
        assert json.loads(put.body)["clips"][0]["kept"]["path"] == "kept/RD_Beta_000.mp4"
    assert min(_removals(log, "remake/clips/RD_Beta_000")) > statuses[0].seq, "removed once a status names the copy"
    capsys.readouterr()
    assert main(["status", url]) == 0
    assert "kept from an earlier setting: 1 clip(s)" in capsys.readouterr().out

    assert main(_args(hdtf_sources, url, base, "--size", "128", *scratch)) == 0  # put back, no download
    after = _objects("remake/")
    assert {n: _sha(b) for n, b in after.items() if n.startswith(("clips/", "kept/"))} == {
        n: _sha(b) for n, b in before.items() if n.startswith("clips/")}

    shutil.copy(hdtf_sources.served / "RD_Beta.mp4", folder)
    start = len(s3.log)
    assert main(_args(hdtf_sources, url, base, "--size", "256", "--resettle", *scratch)) == 0
    after = _objects("remake/")
    assert not [n for n in after if n.startswith("kept/")] and "clips/RD_Beta_000.mp4" in after
    log = s3.log[start:]
    statuses = _status_puts(log, "remake/status/RD_Beta.json")
    done = min(r.seq for r in statuses if json.loads(r.body)["clips"][0]["status"] == "done")
    assert min(_removals(log, "remake/kept/RD_Beta_000")) > done, "the copy goes once its replacement is recorded"


def test_a_store_that_rate_limits_reads_never_remakes_or_discards_a_clip(hdtf_sources, s3, tmp_path):  # noqa: F811
    pytest.importorskip("dlib")
    from hdtf.job import process_video
    from hdtf.options import PrepareOptions
    from hdtf.sources.hdtf import parse_metadata
    from hdtf.storage import Store

    beta = next(v for v in parse_metadata(hdtf_sources.metadata, ["RD"])[0] if v.name == "Beta")
    url = "s3://runs/transient"
    common = {"output_dir": url, "scratch_dir": tmp_path / "scratch", "raw_dir": hdtf_sources.served, "size": 64}
    assert process_video(beta, PrepareOptions(**common)).status == "done"
    # As a run with --sync-check (and no correction allowed) leaves it: measured 2 frames off, not corrected.
    store = Store(url)
    status = json.loads(store.read_bytes("status/RD_Beta.json"))
    status["clips"][0].update(sync_offset=2, sync_confidence=7.5, sync_shift=0)
    store.put_json("status/RD_Beta.json", status)
    before = _objects("transient/")

    # Now a correction is allowed and landmarks are asked for, but every read of a clip object is rate-limited.
    checking = PrepareOptions(**common, sync_check=tmp_path / "syncnet_v2.model", max_av_offset=3, landmarks=True)
    start = len(s3.log)
    with s3.refusing("runs", "transient/clips/") as refusal:
        result = process_video(beta, checking)
    assert refusal.answered > 0
    record = result.clips[0]
    assert (result.status, record["status"], record["sync_shift"], record["landmarks_path"]) == ("done", "done", 0,
                                                                                                 None)
    assert "kept" not in record
    after = _objects("transient/")
    assert {n: _sha(b) for n, b in after.items() if n.startswith(("clips/", "kept/"))} == {
        n: _sha(b) for n, b in before.items() if n.startswith("clips/")}, "no clip object was made, moved or removed"
    assert not [r for r in s3.log[start:] if r.method in ("PUT", "POST", "DELETE") and "/clips/" in r.key]

    # A later run that the store answers makes the correction in place, from the clip (no re-cut of the source).
    fixed = process_video(beta, checking).clips[0]
    assert (fixed["sync_shift"], fixed["num_frames"]) == (2, record["num_frames"] - 2) and fixed["landmarks_path"]


def test_on_a_store_a_sub_clip_no_longer_made_or_failing_its_remake_is_kept(hard_cut, s3, tmp_path,  # noqa: F811
                                                                            monkeypatch):
    """The sub-clip test above on an s3:// output: the shots' objects are copied under kept/ before a status drops
    them, survive byte for byte a split that no longer makes them and a re-make that fails, and are put back."""
    pytest.importorskip("scenedetect")
    from hdtf import stages
    from hdtf.job import process_video
    from hdtf.options import PrepareOptions

    monkeypatch.setitem(stages.STAGES, "fail_sub_clips", "fixtures.failing_stage:FailOnSubClips")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "RD_Cut.mp4").symlink_to(hard_cut.path)
    shots = ("RD_Cut_000_s0", "RD_Cut_000_s1")
    common = {"output_dir": "s3://runs/shots", "scratch_dir": tmp_path / "scratch", "raw_dir": raw,
              "split_at_cuts": True}

    def run(**options) -> dict[str, dict]:
        return {r["id"]: r for r in process_video(_cut_video(), PrepareOptions(**common, **options)).clips}

    def files(folder: str) -> dict[str, str]:
        return {name[len(folder):]: _sha(data) for name, data in _objects("shots/").items()
                if name.startswith(folder) and name[len(folder):].startswith(shots)}

    first = run(size=256)
    assert [first[i]["status"] for i in shots] == ["done", "done"]
    before = files("clips/")
    assert sorted(before) == [f"{i}{s}" for i in shots for s in (".mp4", ".wav")]

    start = len(s3.log)
    records = run(size=256, scene_threshold=1000.0)  # no cut found now: the shots are no longer made
    assert records["RD_Cut_000"]["scene_cuts"] == []
    assert files("kept/") == before and files("clips/") == {}
    log = s3.log[start:]
    statuses = [(r.seq, {c["id"]: c for c in json.loads(r.body)["clips"]})
                for r in _status_puts(log, "shots/status/RD_Cut.json")]
    for shot in shots:  # each shot: copied aside, then a status names the copy, then the shot's clips/ objects go
        copies = [r.seq for r in log if r.method == "PUT" and r.ok and r.key.startswith(f"shots/kept/{shot}.")]
        naming = [seq for seq, records in statuses if records.get(shot, {}).get("kept")]
        assert copies and naming and max(copies) < naming[0] < min(_removals(log, f"shots/clips/{shot}."))
        last = statuses[-1][1][shot]
        assert (last["status"], last["kept"]["path"]) == ("superseded", f"kept/{shot}.mp4")

    back = run(size=256)  # split as before: put back as they were, the copies gone
    assert [back[i]["status"] for i in shots] == ["done", "done"]
    assert files("clips/") == before and files("kept/") == {}

    failed = run(size=128, fail_sub_clips=True)  # every shot's re-make fails: the earlier objects are kept
    assert [failed[i]["status"] for i in shots] == ["failed", "failed"]
    assert [failed[i]["kept"]["path"] for i in shots] == [f"kept/{i}.mp4" for i in shots]
    assert files("kept/") == before and files("clips/") == {}

    made = run(size=128)
    assert [made[i]["width"] for i in shots] == [128, 128] and files("kept/") == {}
