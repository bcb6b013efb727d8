"""Outputs on object storage: ``hdtf prepare --output s3://bucket/prefix`` against moto's S3 server on 127.0.0.1 with
the real ``s3fs`` client. Objects appear whole (one PUT each), every status object is written after the clip objects
it names, a run killed mid-upload leaves nothing that looks finished, its resume downloads and uploads nothing twice,
``hdtf status`` / ``hdtf export`` / ``load_dataset(..., output_dir="s3://...")`` read the run, and a destination that
cannot be used is one line before any download."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from fixtures.sources import hdtf_sources  # noqa: F401

pytest.importorskip("s3fs", reason="outputs on S3 need s3fs (pip install 'hdtf[s3]')")
pytest.importorskip("moto", reason="the S3 stand-in is moto's server (pip install 'moto[server]')")

from fixtures.s3_server import serve_s3  # noqa: E402

from hdtf.cli import main  # noqa: E402
from hdtf.errors import HDTFError  # noqa: E402
from hdtf.layout import Layout  # noqa: E402
from hdtf.lock import FileLock, LockLost, ObjectLock, boot_id, pid_namespace, process_start  # noqa: E402
from hdtf.loopback import serve_directory  # noqa: E402
from hdtf.storage import Store  # noqa: E402

CLIPS = ("RD_Alpha_000", "RD_Alpha_001", "RD_Beta_000")
FILES = tuple(f"clips/{c}.{ext}" for c in CLIPS for ext in ("mp4", "wav"))


@pytest.fixture(scope="module")
def s3():
    with serve_s3() as server, pytest.MonkeyPatch.context() as env:
        for key, value in server.env.items():
            env.setenv(key, value)
        for bucket in ("runs", "kill", "locks"):
            server.create_bucket(bucket)
        yield server


@pytest.fixture(scope="module")
def videos(hdtf_sources):
    requests: list = []
    with serve_directory(hdtf_sources.served, requests) as base:
        yield base + "/{subset}_{name}.mp4", requests


def _args(hdtf_sources, template: str, output: str, *extra: str) -> list[str]:
    return ["prepare", "--metadata-dir", str(hdtf_sources.metadata), "--subsets", "RD", "--videos", "Alpha,Beta",
            "--url-template", template, "--output", output, "--no-progress", *extra]


@pytest.fixture(scope="module")
def local_run(hdtf_sources, videos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    assert main(_args(hdtf_sources, videos[0], str(out))) == 0
    return out


@pytest.fixture(scope="module")
def remote_run(hdtf_sources, videos, s3, tmp_path_factory):
    """The same run into s3://runs/full, from a folder where a stray local "s3:" folder would show."""
    cwd, scratch = tmp_path_factory.mktemp("cwd"), tmp_path_factory.mktemp("scratch")
    before = len(s3.log)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        assert main(_args(hdtf_sources, videos[0], "s3://runs/full/", "--scratch-dir", str(scratch))) == 0
    return {"cwd": cwd, "scratch": scratch, "log": s3.log[before:]}


def _keys(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    keys = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).keys
    return {k[len(prefix):]: bytes(keys[k].value) for k in keys if k.startswith(prefix)}


def _done_files(status: dict) -> list[str]:
    return [c[k] for c in status["clips"] if c["status"] == "done" for k in ("path", "audio_path", "landmarks_path")
            if c.get(k)]


def _assert_statuses_follow_their_files(log, bucket: str, prefix: str) -> None:
    """Every status object, as stored by each of its PUTs, names as done only files uploaded before it."""
    stored: set[str] = set()
    for request in log:
        if request.bucket != bucket or request.method != "PUT" or not request.ok:
            continue
        name = request.key[len(prefix):]
        if name.startswith("status/"):
            missing = set(_done_files(json.loads(request.body))) - stored
            assert not missing, f"{name} (request {request.seq}) named {missing} before they were uploaded"
        stored.add(name)


def test_prepare_to_s3_uploads_whole_objects_and_each_status_last(s3, local_run, remote_run):
    objects = _keys(s3, "runs", "full/")
    assert set(objects) == {*FILES, "status/RD_Alpha.json", "status/RD_Beta.json", "manifest.json"}, \
        "clips, statuses and the manifest only: no lock, probe marker or partial object left"
    for name in FILES:
        assert objects[name] == (local_run / name).read_bytes(), f"{name} differs from the local run's"
    _assert_statuses_follow_their_files(remote_run["log"], "runs", "full/")
    # Each video's final status comes after its last clip upload; nothing is uploaded twice.
    puts = [r for r in remote_run["log"] if r.method == "PUT" and r.bucket == "runs"]
    for video in ("RD_Alpha", "RD_Beta"):
        last_clip = max(r.seq for r in puts if r.key.startswith(f"full/clips/{video}_"))
        assert max(r.seq for r in puts if r.key == f"full/status/{video}.json") > last_clip
    assert Counter(r.key for r in puts if "/clips/" in r.key) == Counter(f"full/{n}" for n in FILES)
    manifest = json.loads(objects["manifest.json"])
    assert manifest["options"]["output_dir"] == "s3://runs/full" and "scratch_dir" not in manifest["options"]
    assert manifest["counts"]["clips"] == {"done": 3}
    assert list(remote_run["cwd"].iterdir()) == [], "no local folder named after the URL"
    leftovers = [p for p in remote_run["scratch"].rglob("*") if p.is_file()]
    assert leftovers == [], "uploaded clips and used raw videos leave the scratch folder"


def test_status_export_and_load_dataset_read_the_remote_run(s3, videos, hdtf_sources, local_run, remote_run,
                                                            tmp_path, capsys):
    capsys.readouterr()
    assert main(["status", "s3://runs/full"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "s3://runs/full" and "clips:  3 (3 done)" in out

    before = len(s3.log)
    assert main(["export", "s3://runs/full", "--to", "parquet", "--output", str(tmp_path / "export")]) == 0
    reads = s3.log[before:]
    lists = [r for r in reads if r.method == "GET" and "list-type" in r.query]
    assert len(lists) == 2, "one listing of status/ and one of clips/, not a request per clip"
    assert not [r for r in reads if r.method == "HEAD" and "/clips/" in r.key]
    assert not [r for r in reads if r.method in ("PUT", "POST", "DELETE")], "reading writes nothing"
    import datasets

    exported = datasets.load_dataset("parquet", data_files=str(tmp_path / "export" / "data" / "*.parquet"),
                                     split="train", cache_dir=str(tmp_path / "pq"))
    assert sorted(exported["id"]) == list(CLIPS)
    for row in exported:
        assert row["video"] == {"bytes": (local_run / "clips" / f"{row['id']}.mp4").read_bytes(),
                                "path": f"{row['id']}.mp4"}

    # A reader that needs a file (decord, numpy) gets a local copy, fetched once while the object is unchanged.
    layout = Layout.for_output("s3://runs/full", scratch=tmp_path / "copies")
    before = len(s3.log)
    copies = [layout.file("clips/RD_Beta_000.mp4") for _ in range(2)]
    assert copies[0] == copies[1] and copies[0].read_bytes() == (local_run / "clips/RD_Beta_000.mp4").read_bytes()
    assert [r.method for r in s3.log[before:]] == ["HEAD", "GET", "HEAD"]

    import hdtf  # noqa: F401 - registers the builders

    template, requests = videos
    requests.clear()
    before = len(s3.log)
    ds = datasets.load_dataset("hdtf", "clips", metadata_dir=str(hdtf_sources.metadata), subsets=["RD"],
                               videos=["Alpha", "Beta"], url_template=template, output_dir="s3://runs/full",
                               scratch_dir=str(tmp_path / "scratch"), cache_dir=str(tmp_path / "cache"), split="train")
    assert sorted(ds["id"]) == list(CLIPS)
    for row in ds:
        assert row["video"] == {"bytes": (local_run / "clips" / f"{row['id']}.mp4").read_bytes(),
                                "path": f"{row['id']}.mp4"}
        assert row["num_frames"] > 0 and len(row["audio"]) > 0
    assert requests == [], "the finished run was read, nothing downloaded"
    writes = [r.key for r in s3.log[before:] if r.method == "PUT" and r.bucket == "runs"]
    assert not [k for k in writes if "/clips/" in k or "/status/" in k], writes



def test_a_run_reads_each_status_object_once_and_again_only_when_it_changed(s3, videos, hdtf_sources, remote_run):
    """A no-op re-run asks for the statuses several times (the settings check, the settled videos, the manifest):
    the listing's ETags tell which objects it has read already, so each is fetched once; another writer's change
    to one is seen at the next listing."""
    before = len(s3.log)
    assert main(_args(hdtf_sources, videos[0], "s3://runs/full", "--scratch-dir", str(remote_run["scratch"]))) == 0
    fetched = Counter(r.key for r in s3.log[before:] if r.method == "GET" and "/status/" in r.key)
    assert fetched == {"full/status/RD_Alpha.json": 1, "full/status/RD_Beta.json": 1}

    store, layout, known = Store("s3://runs/memo"), Layout.for_output("s3://runs/memo"), {}
    store.put_bytes("status/RD_Alpha.json", _keys(s3, "runs", "full/")["status/RD_Alpha.json"])
    first = layout.statuses(known)
    before = len(s3.log)
    assert layout.statuses(known) == first
    assert not [r for r in s3.log[before:] if r.method == "GET" and "/status/" in r.key]
    changed = {**first[0], "status": "failed", "reason": "changed by another run"}
    store.put_bytes("status/RD_Alpha.json", json.dumps(changed).encode())
    assert [s["reason"] for s in layout.statuses(known)] == ["changed by another run"]

def test_a_run_killed_mid_upload_resumes_without_fetching_anything_twice(s3, videos, hdtf_sources, local_run,
                                                                         tmp_path):
    template, requests = videos
    requests.clear()
    trap = s3.hold("kill", "run/clips/RD_Alpha_001.mp4")  # the second clip's upload: the first one is committed
    args = _args(hdtf_sources, template, "s3://kill/run", "--scratch-dir", str(tmp_path / "scratch"))
    env = {**os.environ, **s3.env}
    run = subprocess.Popen([sys.executable, "-m", "hdtf.cli", *args], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert trap.arrived.wait(120), run.stderr.read().decode() if run.poll() is not None else "no upload"
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        trap.release()
    first = Counter(r.path for r in requests if r.method == "GET")
    assert first == {"/RD_Alpha.mp4": 2}, "killed while Alpha was being uploaded: Beta not started"

    objects = _keys(s3, "kill", "run/")
    assert "clips/RD_Alpha_001.mp4" not in objects, "an upload cut short leaves no object"
    status = json.loads(objects["status/RD_Alpha.json"])
    assert {c["id"]: c["status"] for c in status["clips"]} == {"RD_Alpha_000": "done", "RD_Alpha_001": "pending"}
    assert all(name in objects for name in _done_files(status)), "the status names only objects that exist"
    assert "locks/RD_Alpha.lock" in objects, "the killed run's lock is left behind"
    assert Layout.for_output("s3://kill/run").statuses()[0]["status"] == "running"

    requests.clear()
    assert main(args) == 0, "the resume takes over the dead run's lock and finishes"
    again = Counter(r.path for r in requests if r.method == "GET")
    assert again == {"/RD_Beta.mp4": 2}, "Alpha's raw video was still in the scratch folder: not fetched again"
    puts = Counter(r.key for r in s3.requests("kill", "PUT", "run/clips/"))
    assert puts == {"run/clips/RD_Alpha_000.mp4": 1, "run/clips/RD_Alpha_000.wav": 1,
                    "run/clips/RD_Alpha_001.mp4": 2, "run/clips/RD_Alpha_001.wav": 1,
                    "run/clips/RD_Beta_000.mp4": 1, "run/clips/RD_Beta_000.wav": 1}, \
        "the committed clip is not uploaded again; the killed upload is made once more"
    objects = _keys(s3, "kill", "run/")
    for name in FILES:
        assert objects[name] == (local_run / name).read_bytes()
    assert not [k for k in objects if k.startswith("locks/")]
    _assert_statuses_follow_their_files(s3.log, "kill", "run/")


@pytest.mark.parametrize(("output", "says"), [
    ("s3://no-such-bucket/run", "bucket 'no-such-bucket' not found"),
    ("ftp-like-unknown://host/run", "unknown storage protocol 'ftp-like-unknown'"),
    ("s3://KEY:SECRET@runs/x", "credentials in the URL are not accepted"),
    ("gs://bucket/run", "needs gcsfs: pip install gcsfs"),
])
def test_an_unusable_output_is_one_line_before_any_download(s3, videos, hdtf_sources, tmp_path, monkeypatch, capsys,
                                                            output, says):
    if output.startswith("gs://"):
        try:
            import gcsfs  # noqa: F401

            pytest.skip("gcsfs is installed here")
        except ImportError:
            pass
    template, requests = videos
    requests.clear()
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(_args(hdtf_sources, template, output)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and says in err, err
    assert "SECRET" not in err
    assert requests == [] and list(tmp_path.iterdir()) == [], "nothing downloaded, no local folder made"


def test_no_credentials_is_one_line(s3, hdtf_sources, videos, tmp_path):
    env = {k: v for k, v in {**os.environ, **s3.env}.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    done = subprocess.run([sys.executable, "-m", "hdtf.cli", *_args(hdtf_sources, videos[0], "s3://runs/nocreds")],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no credentials found" in done.stderr, done.stderr


def test_object_locks_exclude_and_take_over_a_dead_runs_lock(s3):
    store = Store("s3://locks/run")
    first, second = ObjectLock(store, "locks/v.lock", "v"), ObjectLock(store, "locks/v.lock", "v")
    first.acquire()
    holder = second.try_acquire()
    assert (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
    first.release()
    assert second.try_acquire() is None
    second.release()
    assert store.info("locks/v.lock") is None

    gone = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    start = process_start(gone.pid)
    gone.communicate(b"")
    dead = json.dumps({"pid": gone.pid, "host": socket.gethostname(), "boot": boot_id(), "pidns": pid_namespace(),
                       "start": start, "token": "old", "taken": 0}).encode()
    for _ in range(3):  # two waiters find the same dead run's lock: exactly one takes it over
        store.put_bytes("locks/v.lock", dead)
        takers = [ObjectLock(store, "locks/v.lock", "v") for _ in range(2)]
        results: list = [None, None]
        start = threading.Barrier(2)

        def take(i: int) -> None:
            start.wait()
            results[i] = takers[i].try_acquire()

        threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r is None for r in results) == [False, True], results
        for taker in takers:
            taker.release()


def test_object_lock_age_is_the_stores_and_a_taken_over_holder_stops(s3, monkeypatch):
    """A live lock is judged by the store's clock, not ours: a local clock an hour ahead takes nothing over. An old
    lock is taken over, and its former holder's check then says the lock is lost; letting go removes nothing."""
    store = Store("s3://locks/clock")
    holder = ObjectLock(store, "locks/v.lock", "v", heartbeat=3600)
    holder.acquire()
    ahead = time.time() + 3600
    with monkeypatch.context() as clock:
        clock.setattr("hdtf.lock.time.time", lambda: ahead)
        busy = ObjectLock(store, "locks/v.lock", "v", stale_after=60).try_acquire()
    assert busy is not None and busy.token == holder.token and busy.age < 60
    holder.check()

    time.sleep(2.5)  # LastModified counts whole seconds
    taker = ObjectLock(store, "locks/v.lock", "v", stale_after=1, heartbeat=3600)
    assert taker.try_acquire() is None
    taken = store.read_bytes("locks/v.lock")
    with pytest.raises(LockLost, match="v: another run took over this run's lock"):
        holder.check()
    holder.release()
    assert store.read_bytes("locks/v.lock") == taken, "the old holder removed the new lock"
    taker.check()
    taker.release()
    assert not _keys(s3, "locks", "clock/"), "no lock or clock probe left behind"


def test_a_store_that_ignores_conditional_writes_gets_local_locks(s3, tmp_path):
    honest = Layout.for_output("s3://locks/honest", scratch=tmp_path)
    honest.check_output()
    assert isinstance(honest.lock("RD_Alpha"), ObjectLock)
    s3.ignore_conditions = True
    try:
        layout = Layout.for_output("s3://locks/ignored", scratch=tmp_path)
        layout.check_output()
        lock = layout.lock("RD_Alpha")
    finally:
        s3.ignore_conditions = False
    assert isinstance(lock, FileLock) and lock.path.is_relative_to(tmp_path)
    assert isinstance(pickle.loads(pickle.dumps(layout)).lock("RD_Alpha"), FileLock), "the finding travels to workers"
    assert not _keys(s3, "locks", "ignored/"), "the probe's marker is gone"


def test_a_job_under_a_deadline_runs_in_its_own_process_and_a_stopped_one_uploads_nothing(
        s3, hdtf_sources, tmp_path):  # noqa: F811
    """``--video-timeout`` runs the job in a child process (as a Ray task or pool worker runs it): the options travel
    with their layout. When a job is stopped, the status written for it keeps its committed clips and never uploads
    what it had left in the scratch folder."""
    from hdtf.executors.deadline import run_job
    from hdtf.job import interrupted
    from hdtf.options import PrepareOptions
    from hdtf.sources.hdtf import parse_metadata

    alpha = next(v for v in parse_metadata(hdtf_sources.metadata, ["RD"])[0] if v.name == "Alpha")
    options = PrepareOptions(output_dir="s3://runs/deadline", scratch_dir=tmp_path / "scratch",
                             raw_dir=hdtf_sources.served, size=64)
    result = run_job(alpha, options, timeout=120)
    assert (result.status, [c["status"] for c in result.clips]) == ("done", ["done", "done"])
    objects = _keys(s3, "runs", "deadline/")
    assert {n for n in objects if n.startswith("clips/")} == {"clips/RD_Alpha_000.mp4", "clips/RD_Alpha_000.wav",
                                                              "clips/RD_Alpha_001.mp4", "clips/RD_Alpha_001.wav"}
    assert not [n for n in objects if n.startswith("locks/")], "the child process let its object lock go"

    # A job stopped after it had changed a committed clip's file in the scratch folder (e.g. mid-correction).
    stray = options.layout.clip_files("RD_Alpha_000").video
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"half-written by a job that was stopped")
    before = s3.puts("runs", "deadline/clips/RD_Alpha_000.mp4")
    stopped = interrupted(alpha, options, "timed out after 1 s")
    assert [c["status"] for c in stopped.clips] == ["done", "done"], "committed clips stay committed"
    assert s3.puts("runs", "deadline/clips/RD_Alpha_000.mp4") == before, "nothing the stopped job left is uploaded"
    assert _keys(s3, "runs", "deadline/")["clips/RD_Alpha_000.mp4"] == objects["clips/RD_Alpha_000.mp4"]
    assert not stray.exists()


def test_a_clip_made_earlier_is_sync_corrected_on_the_store_when_its_status_is_written(s3, tmp_path):
    """``--sync-check --max-av-offset`` on a clip already on the store: corrected in the scratch folder, uploaded with
    the status that records the correction, and not before."""
    pytest.importorskip("dlib")
    import soundfile

    from fixtures.sync_markers import make_marker_clip
    from hdtf import sync_check
    from hdtf.media import probe
    from hdtf.options import PrepareOptions
    from hdtf.records import VideoSpec

    clip = make_marker_clip(tmp_path / "made", offset=-2, name="RD_Marker_000")
    store = Store("s3://runs/sync")
    for path in (clip.video, clip.audio):
        store.put_file(path, f"clips/{path.name}")
    record = {"id": "RD_Marker_000", "status": "done", "path": "clips/RD_Marker_000.mp4",
              "audio_path": "clips/RD_Marker_000.wav", "num_frames": clip.frames, "adjustments": [],
              "sync_offset": -2, "sync_confidence": 7.5, "sync_shift": 0}
    options = PrepareOptions(output_dir="s3://runs/sync", scratch_dir=tmp_path / "scratch", max_av_offset=3,
                             sync_check=tmp_path / "unused.model")
    fixed = sync_check.revisit(record, options)
    assert fixed["sync_shift"] == -2 and fixed["num_frames"] == clip.frames - 2
    stored = _keys(s3, "runs", "sync/")
    assert stored["clips/RD_Marker_000.mp4"] == clip.video.read_bytes(), "the store is unchanged before the status"

    video = VideoSpec("hdtf", "RD", "Marker", None, None, None, ())
    options.layout.write_status(video, "done", None, [fixed])
    stored = _keys(s3, "runs", "sync/")
    (tmp_path / "back.mp4").write_bytes(stored["clips/RD_Marker_000.mp4"])
    (tmp_path / "back.wav").write_bytes(stored["clips/RD_Marker_000.wav"])
    assert probe(tmp_path / "back.mp4", count_frames=True, timeline=False).nb_frames == clip.frames - 2
    assert soundfile.info(str(tmp_path / "back.wav")).frames == (clip.frames - 2) * 640
    assert json.loads(stored["status/RD_Marker.json"])["clips"][0]["sync_shift"] == -2
    assert not (tmp_path / "scratch" / "clips" / "RD_Marker_000.mp4").exists(), "uploaded copies leave the scratch"


# -------------------------------------------------------------- the scratch folder: private, and only what a job cut


@pytest.fixture
def temp_folder(tmp_path, monkeypatch):
    """A system temp folder of the test's own (sticky and world-writable, as /tmp is)."""
    import tempfile

    folder = tmp_path / "tmp"
    folder.mkdir()
    folder.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o7777


def test_the_default_scratch_folder_is_made_private(s3, temp_folder):
    layout = Layout.for_output("s3://runs/private")
    assert layout.root.parent == temp_folder / f"hdtf-scratch-{os.getuid()}"
    for folder in (layout.root.parent, layout.root):
        assert (_mode(folder), os.lstat(folder).st_uid) == (0o700, os.getuid()), folder
    again = pickle.loads(pickle.dumps(layout))  # what a worker process gets: checked there too
    assert again.root == layout.root


def _plant_link(temp_folder: Path, elsewhere: Path) -> None:
    (temp_folder / f"hdtf-scratch-{os.getuid()}").symlink_to(elsewhere, target_is_directory=True)


def _plant_open(temp_folder: Path, elsewhere: Path) -> None:
    (temp_folder / f"hdtf-scratch-{os.getuid()}").mkdir(mode=0o777)
    (temp_folder / f"hdtf-scratch-{os.getuid()}").chmod(0o777)


def _plant_leaf_link(temp_folder: Path, elsewhere: Path) -> None:
    from hdtf.storage import default_scratch

    leaf = default_scratch("s3://runs/planted")
    leaf.parent.mkdir(mode=0o700)
    leaf.symlink_to(elsewhere, target_is_directory=True)


def _plant_foreign(temp_folder: Path, elsewhere: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("only root can give a folder to another user")
    (temp_folder / f"hdtf-scratch-{os.getuid()}").mkdir(mode=0o700)
    os.chown(temp_folder / f"hdtf-scratch-{os.getuid()}", 4321, 4321)


@pytest.mark.parametrize(("plant", "says"), [
    (_plant_link, "is a symbolic link"),
    (_plant_open, "is writable by other users (mode 777)"),
    (_plant_leaf_link, "is a symbolic link"),
    (_plant_foreign, "belongs to another user (uid 4321)"),
])
def test_a_scratch_folder_someone_else_could_change_is_refused_before_any_work(
        s3, videos, hdtf_sources, temp_folder, tmp_path, capsys, plant, says):
    """Another user of the machine takes the default scratch folder's name first (or makes it writable to all): the
    run stops in one line before any download, and nothing is written where a link points."""
    elsewhere = tmp_path / "theirs"
    elsewhere.mkdir()
    plant(temp_folder, elsewhere)
    template, requests = videos
    requests.clear()
    capsys.readouterr()
    assert main(_args(hdtf_sources, template, "s3://runs/planted")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "scratch folder" in err and says in err, err
    assert requests == [] and list(elsewhere.iterdir()) == []
    assert not _keys(s3, "runs", "planted/")


def test_a_given_scratch_folder_must_be_private_too(s3, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o775)
    with pytest.raises(HDTFError, match="writable by other users"):
        Layout.for_output("s3://runs/given", scratch=shared)
    (tmp_path / "link").symlink_to(tmp_path / "mine", target_is_directory=True)
    (tmp_path / "mine").mkdir()
    with pytest.raises(HDTFError, match="is a symbolic link"):
        Layout.for_output("s3://runs/given", scratch=tmp_path / "link")
    made = Layout.for_output("s3://runs/given", scratch=tmp_path / "new" / "scratch").root
    assert _mode(made) == 0o700


def test_temporary_files_are_new_files_never_a_link_found_in_their_place(tmp_path):
    """The temporary a file is written to before its rename is created by the writer: a link planted under the name
    an earlier version used (``.{stem}.{pid}.partial{suffix}``) is not written through."""
    from hdtf import atomic

    victim = tmp_path / "victim.json"
    victim.write_bytes(b"not yours")
    target = tmp_path / "status.json"
    (tmp_path / f".status.{os.getpid()}.partial.json").symlink_to(victim)
    seen = []
    with atomic.replacing(target) as temp:
        seen.append((os.lstat(temp).st_mode, temp.suffix, temp.name.startswith(".status.")))
        temp.write_bytes(b"{}\n")
    assert target.read_bytes() == b"{}\n" and victim.read_bytes() == b"not yours"
    assert seen == [(seen[0][0], ".json", True)] and not os.path.islink(target) and seen[0][0] & 0o170000 == 0o100000
    assert atomic.temporary(target) != atomic.temporary(target), "names no one can guess"


def _alpha_options(hdtf_sources, prefix: str, scratch: Path):
    """Alpha and a new run's options (a layout that has made nothing yet) to s3://runs/PREFIX, cut from the served
    files as the user's raw videos (no download)."""
    from hdtf.options import PrepareOptions
    from hdtf.sources.hdtf import parse_metadata

    alpha = next(v for v in parse_metadata(hdtf_sources.metadata, ["RD"])[0] if v.name == "Alpha")
    return alpha, PrepareOptions(output_dir=f"s3://runs/{prefix}", scratch_dir=scratch, raw_dir=hdtf_sources.served,
                                 size=64)


def test_a_job_uploads_only_what_it_cut(s3, hdtf_sources, tmp_path):  # noqa: F811
    """A file in the scratch folder under a clip's name that this job did not cut (left by a stopped job, planted by
    anyone) never goes up, even when the status that names the clip as done is written again."""
    from hdtf.job import process_video

    scratch = tmp_path / "scratch"
    assert process_video(*_alpha_options(hdtf_sources, "planted-clip", scratch)).status == "done"
    first = _keys(s3, "runs", "planted-clip/")
    Store("s3://runs/planted-clip").delete(["clips/RD_Alpha_001.mp4"])  # one clip to make again
    planted = {scratch / "clips/RD_Alpha_000.mp4": b"planted video", scratch / "clips/RD_Alpha_000.wav": b"audio"}
    for path, data in planted.items():
        path.write_bytes(data)
    puts = {n: s3.puts("runs", f"planted-clip/{n}") for n in FILES[:4]}

    result = process_video(*_alpha_options(hdtf_sources, "planted-clip", scratch))
    assert (result.status, [c["status"] for c in result.clips]) == ("done", ["done", "done"])
    now = _keys(s3, "runs", "planted-clip/")
    assert set(now) == set(first)
    assert {n: now[n] for n in FILES[:4]} == {n: first[n] for n in FILES[:4]}, "001 made again, the same bytes"
    assert {n: s3.puts("runs", f"planted-clip/{n}") - puts[n] for n in FILES[:4]} == {
        "clips/RD_Alpha_000.mp4": 0, "clips/RD_Alpha_000.wav": 0, "clips/RD_Alpha_001.mp4": 1,
        "clips/RD_Alpha_001.wav": 1}
    assert {p: p.read_bytes() for p in planted} == planted, "not ours to delete either"


def test_links_at_a_cuts_temporary_names_are_not_written_through(s3, hdtf_sources, tmp_path):  # noqa: F811
    from hdtf.job import process_video

    scratch = tmp_path / "scratch"
    (scratch / "clips").mkdir(parents=True, mode=0o700)
    victim = tmp_path / "victim.mp4"
    victim.write_bytes(b"someone else's file")
    links = [scratch / "clips" / f".RD_Alpha_{i}.partial.{ext}" for i in ("000", "001") for ext in ("mp4", "wav")]
    for link in links:  # the names an earlier version cut to
        link.symlink_to(victim)
    result = process_video(*_alpha_options(hdtf_sources, "linked", scratch))
    assert (result.status, [c["status"] for c in result.clips]) == ("done", ["done", "done"])
    assert victim.read_bytes() == b"someone else's file"
    assert all(link.is_symlink() for link in links)
    assert {n for n in _keys(s3, "runs", "linked/") if n.startswith("clips/")} == set(FILES[:4])
