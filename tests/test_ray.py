"""The Ray executor on a real cluster started as users start one (``ray start --head``), driven by the real CLI over
loopback videos: a Ray worker SIGKILLed mid-cut is retried and the run ends as an uninterrupted one would; a hung
video is stopped at its wall-clock limit; a missing Ray is one line with the fix."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.curate_clips import hard_cut  # noqa: F401
from fixtures.ray_cluster import ray_cluster  # noqa: F401
from fixtures.sources import hdtf_sources, nothing_partial_looks_finished  # noqa: F401
from fixtures.stage_outputs import check_stage_outputs

from hdtf.errors import HDTFError
from hdtf.executors import get_executor
from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips, load_manifest
from hdtf.options import PrepareOptions
from hdtf.run import prepare
from hdtf.sources.hdtf import parse_metadata

pytestmark = pytest.mark.slow
SIZE = "128"
FACTS = ("status", "num_frames", "width", "height", "fps", "sample_rate", "applied_crop", "audio_path", "path")


def _prepare(sources, out: Path, base: str, cluster, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--metadata-dir", str(sources.metadata),
            "--subsets", "RD", "--url-template", base + "/{subset}_{name}.mp4", "--no-progress", "--size", SIZE,
            "--executor", "ray", "--address", cluster.address, *extra]


def _metadata(folder: Path, name: str, side: int, seconds: str) -> Path:
    """One-video HDTF metadata (RD): the whole ``side`` x ``side`` frame as the crop window, ``00:00-seconds``."""
    folder.mkdir(parents=True)
    lines = {"video_url": f"{name} https://www.youtube.com/watch?v={name[0] * 11}\n",
             "resolution": f"{name}.mp4 {side}\n", "annotion_time": f"{name}.mp4 00:00-{seconds}\n",
             "crop_wh": f"{name}_0.mp4 0 {side} 0 {side}\n", "crop_ratio": f"{name}_0.mp4 1.0\n"}
    for kind, text in lines.items():
        (folder / f"RD_{kind}.txt").write_text(text, encoding="utf-8")
    return folder


def _processes() -> dict[int, tuple[int, list[str]]]:
    """pid -> (parent pid, argv) of every process, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found[int(entry.name)] = (parent, argv)
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _worker_cutting(clips: Path, key: str) -> tuple[int, list[int]] | None:
    """(Ray worker, the processes below it down to its ffmpeg) writing one of ``key``'s clips into ``clips`` right now.

    The worker is the nearest ``ray::`` ancestor of that ffmpeg: under a video timeout (the Ray executor's default)
    the job runs in a deadline child process of the worker, so the ffmpeg is the worker's grandchild."""
    table = _processes()
    for pid, (parent, argv) in table.items():
        if argv and Path(argv[0]).name == "ffmpeg" and any(a.startswith(str(clips / f".{key}_")) for a in argv):
            below = [pid]
            while parent in table and parent not in below:
                if table[parent][1][0].startswith("ray::"):
                    return parent, below
                below.append(parent)
                parent = table[parent][0]
    return None


@pytest.fixture(scope="module")
def videos(hdtf_sources):  # noqa: F811
    listed, _ = parse_metadata(hdtf_sources.metadata, ["RD"])
    return [v for v in listed if v.name in ("Alpha", "Beta")]


@pytest.fixture(scope="module")
def reference(hdtf_sources, videos, tmp_path_factory):  # noqa: F811
    """Alpha and Beta made in this process, uninterrupted, from the same raw videos."""
    options = PrepareOptions(output_dir=tmp_path_factory.mktemp("reference"), raw_dir=hdtf_sources.served,
                             size=int(SIZE))
    prepare(videos, options, executor="serial", progress=False)
    return options.output_dir


def _run_killing_alpha(sources, cluster, out: Path, *extra: str) -> tuple[int, int, str, str]:
    """`hdtf prepare --executor ray` over Alpha and Beta, Alpha's worker SIGKILLed while its job's ffmpeg cuts a clip:
    (killed worker pid, exit status, stdout, stderr)."""
    with serve_directory(sources.served) as base:
        run = subprocess.Popen(_prepare(sources, out, base, cluster, "--videos", "Alpha,Beta", *extra),
                               env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        found, deadline = None, time.monotonic() + 120
        while found is None and run.poll() is None and time.monotonic() < deadline:
            found = _worker_cutting(out / "clips", "RD_Alpha")
            time.sleep(0.005)
        if found is not None:
            os.kill(found[0], signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=300)
    assert found is not None, f"the run ended before a worker could be killed:\n{stdout}\n{stderr}"
    killed, below = found
    assert len(below) == 2, "the job runs in a deadline child of the worker (the default video timeout)"
    assert not any(_alive(pid) for pid in below), "the killed worker's job process and its ffmpeg must die with it"
    return killed, run.returncode, stdout, stderr


@pytest.fixture(scope="module")
def killed_run(hdtf_sources, ray_cluster, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("ray_killed")
    return (out, *_run_killing_alpha(hdtf_sources, ray_cluster, out))


def test_a_killed_worker_is_retried_and_the_run_matches_an_uninterrupted_one(killed_run, reference, hdtf_sources):  # noqa: F811
    out, killed, code, stdout, stderr = killed_run
    assert code == 0, stderr
    assert "clips: 3 done" in stdout
    nothing_partial_looks_finished(out, hdtf_sources.served)
    made, expected = done_clips(out), done_clips(reference)
    assert [c["id"] for c in made] == [c["id"] for c in expected] == ["RD_Alpha_000", "RD_Alpha_001", "RD_Beta_000"]
    for ours, theirs in zip(made, expected, strict=True):
        assert [ours[k] for k in FACTS] == [theirs[k] for k in FACTS]
        assert (out / ours["path"]).read_bytes() == (reference / theirs["path"]).read_bytes()
        assert (out / ours["audio_path"]).read_bytes() == (reference / theirs["audio_path"]).read_bytes()


def test_the_manifest_records_the_cluster_and_the_retry(killed_run, ray_cluster):  # noqa: F811
    out, killed, *_ = killed_run
    manifest = load_manifest(out)
    assert manifest["run"]["executor"] == "ray"
    assert manifest["run"]["address"] == ray_cluster.address
    assert manifest["run"]["cluster_cpus"] == 2 and manifest["run"]["max_in_flight"] == 4
    ran = {v["key"]: v["worker"] for v in manifest["videos"]}
    alpha, beta = ran["RD_Alpha"], ran["RD_Beta"]
    assert alpha["attempts"] == 2 and alpha["pid"] != killed
    assert len(alpha["failed_attempts"]) == 1 and alpha["failed_attempts"][0].startswith("WorkerCrashedError")
    assert beta["attempts"] == 1 and "failed_attempts" not in beta
    for worker in (alpha, beta):
        assert worker["executor"] == "ray" and worker["node_ip"] == "127.0.0.1" and len(worker["node"]) == 56


def test_out_of_retries_the_status_says_why_and_keeps_finished_clips(hdtf_sources, ray_cluster, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    _, code, stdout, stderr = _run_killing_alpha(hdtf_sources, ray_cluster, out, "--max-retries", "0")
    assert code == 3, stderr  # Beta's clip was made, Alpha's failed (hdtf prepare's exit codes)
    manifest = load_manifest(out)
    alpha = next(v for v in manifest["videos"] if v["key"] == "RD_Alpha")
    assert alpha["status"] in ("failed", "partial") and alpha["worker"]["attempts"] == 1
    assert alpha["reason"].startswith("worker error after 1 attempt(s): WorkerCrashedError")
    clips = {c["id"]: c for c in manifest["clips"]}
    assert clips["RD_Beta_000"]["status"] == "done"
    for clip in (clips["RD_Alpha_000"], clips["RD_Alpha_001"]):
        assert clip["status"] == "done" or (clip["reason"] == alpha["reason"] and clip["retry"] is True)
    nothing_partial_looks_finished(out, hdtf_sources.served)


def test_a_hung_video_is_stopped_at_its_time_limit(hdtf_sources, ray_cluster, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    began = time.monotonic()
    with serve_directory(hdtf_sources.served, rate=2000) as base:  # ~2 kB/s: the download would take minutes
        done = subprocess.run(_prepare(hdtf_sources, out, base, ray_cluster, "--videos", "Alpha",
                                       "--video-timeout", "3"),
                              env=ray_cluster.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # nothing could be made
    assert time.monotonic() - began < 60
    status = load_manifest(out)["videos"][0]
    assert (status["key"], status["status"], status["reason"]) == ("RD_Alpha", "failed", "timed out after 3 s")
    clips = [c for c in load_manifest(out)["clips"]]
    assert [(c["status"], c["reason"], c["retry"]) for c in clips] == [("failed", "timed out after 3 s", True)] * 2
    leftovers = [argv for _, argv in _processes().values() if "hdtf.executors.deadline" in argv]
    assert leftovers == [], "the timed-out job's process group must be gone"
    assert not any((out / "clips").glob("*.mp4"))


def test_without_ray_the_executor_is_one_line_with_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the package looks like
    with pytest.raises(HDTFError, match=r"needs Ray, which is not installed here: pip install 'hdtf\[ray\]'"):
        get_executor("ray", address="127.0.0.1:1")


def test_ray_settings_are_refused_by_other_executors():
    with pytest.raises(HDTFError, match="the process executor has no setting 'address' .a setting of the ray"):
        get_executor("process", 2, address="auto")
    with pytest.raises(HDTFError, match="max retries must be 0 or more"):
        get_executor("ray", max_retries=-1)


def test_import_hdtf_does_not_import_ray():
    code = ("import sys, hdtf, hdtf.run, hdtf.executors.ray, hdtf.commands.prepare; "
            "assert 'ray' not in sys.modules, sorted(m for m in sys.modules if m.startswith('ray'))")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_relative_paths_are_the_drivers_and_the_curation_stages_run_on_the_workers(hard_cut, ray_cluster,  # noqa: F811
                                                                                    tmp_path):
    """`--output NAME` and a stage's `--iqa-weights FILE` (relative) with `--address`: the workers run in the folder
    `ray start` ran in, so the driver sends the paths made absolute; the clips land under the driver's folder and
    nowhere else. On the worker, the clip (it spans a hard cut) is split at the cut and every curation stage runs
    on the clip and its two shots: each output read back and held against the clip's own frames and landmarks."""
    import av

    from test_curate_iqa import expected_score, linear_iqa

    name = f"relative-{tmp_path.name}"
    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(hard_cut.path, served / "RD_Cut.mp4")
    metadata = _metadata(tmp_path / "metadata", "Cut", 512, "00:03")
    linear_iqa(tmp_path / "iqa.onnx")
    with serve_directory(served) as base:
        args = [sys.executable, "-m", "hdtf.cli", "prepare", "--output", name, "--metadata-dir", str(metadata),
                "--subsets", "RD", "--url-template", base + "/{subset}_{name}.mp4", "--no-progress", "--size", "256",
                "--executor", "ray", "--address", ray_cluster.address, "--split-at-cuts", "--aligned", "256",
                "--measures", "--masks", "--face-json", "--iqa-weights", "iqa.onnx"]
        done = subprocess.run(args, cwd=tmp_path, env=ray_cluster.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "clips: 3 done" in done.stdout and "local folder and the Ray cluster has" not in done.stderr  # one node
    out = tmp_path / name
    manifest = load_manifest(out)
    (video,) = manifest["videos"]
    assert video["worker"]["executor"] == "ray" and video["worker"]["pid"] != os.getpid()
    clips = {c["id"]: c for c in done_clips(out)}
    assert sorted(clips) == ["RD_Cut_000", "RD_Cut_000_s0", "RD_Cut_000_s1"]
    parent = clips["RD_Cut_000"]
    cut = hard_cut.cut_frame / hard_cut.fps
    assert parent["scene_cuts"] == [pytest.approx(cut, abs=1e-3)] and parent["filtered"][0]["stage"] == "scene_cuts"
    for clip_id, frames in (("RD_Cut_000_s0", hard_cut.cut_frame), ("RD_Cut_000_s1", 75 - hard_cut.cut_frame)):
        record = clips[clip_id]
        assert (record["parent"], record["num_frames"], record["filtered"]) == ("RD_Cut_000", frames, None)
        check_stage_outputs(out, record, 256)
        with av.open(str(out / record["path"])) as container:
            shown = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        scored = np.mean([expected_score(shown[k]) for k in sorted({0, frames // 2, frames - 1})])
        assert record["iqa"] == pytest.approx(scored, abs=1e-3), "the relative weights, read on the worker"
    assert {c["id"]: c["status"] for c in manifest["clips"]} == {i: "done" for i in clips}
    assert not (Path.cwd() / name).exists(), "nothing written where the cluster was started"
    assert not (Path.cwd() / "aligned").exists() and not (Path.cwd() / "masks").exists()


def test_a_local_instance_listens_on_loopback_only(hdtf_sources, tmp_path):  # noqa: F811
    """No `--address` and no RAY_ADDRESS: the run starts its own Ray instance, on 127.0.0.1 (as the manifest
    records: the instance's address and the node each video ran on)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    out = tmp_path / "out"
    with serve_directory(hdtf_sources.served) as base:
        args = [sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--metadata-dir",
                str(hdtf_sources.metadata), "--subsets", "RD", "--url-template", base + "/{subset}_{name}.mp4",
                "--no-progress", "--size", SIZE, "--executor", "ray", "--videos", "Beta"]
        done = subprocess.run(args, env={**env, "RAY_AUTH_MODE": "disabled"}, capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = load_manifest(out)
    assert manifest["run"]["executor"] == "ray" and manifest["run"]["nodes"] == 1
    assert manifest["run"]["address"].startswith("127.0.0.1:"), manifest["run"]
    assert [v["worker"]["node_ip"] for v in manifest["videos"]] == ["127.0.0.1"]
    assert [c["id"] for c in done_clips(out)] == ["RD_Beta_000"]


def test_the_driver_sends_the_stages_relative_paths_absolute(tmp_path, monkeypatch):
    """What `absolute_paths` gives the workers: the stages' weights and an audio encoder folder that exists here made
    absolute against the driver's folder; a Hub id, absolute paths and other values as they are."""
    from hdtf.executors.ray import absolute_paths

    monkeypatch.chdir(tmp_path)
    (tmp_path / "encoder").mkdir()
    options = PrepareOptions(output_dir="run", iqa_weights=Path("iqa.onnx"), sync_check=Path("~/syncnet.model"),
                             face_embedding_weights=tmp_path / "arcface.onnx", audio_encoder="encoder",
                             audio_embedding_layers="last")
    sent = absolute_paths(options)
    assert (sent.output_dir, sent.iqa_weights) == (tmp_path / "run", tmp_path / "iqa.onnx")
    assert sent.sync_check == Path.home() / "syncnet.model" and sent.face_embedding_weights == tmp_path / "arcface.onnx"
    assert sent.audio_encoder == str(tmp_path / "encoder") and sent.audio_embedding_layers == "last"
    (tmp_path / "last").touch()  # a file that happens to share an option's value is no path of that option
    hub = absolute_paths(PrepareOptions(output_dir=tmp_path, audio_encoder="facebook/wav2vec2-base"))
    assert hub.audio_encoder == "facebook/wav2vec2-base" and hub.audio_embedding_layers == "last"
    assert absolute_paths(sent) == sent
