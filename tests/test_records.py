"""A run's records are data and its files can be cut short: a clip counts only while its files are whole (the sizes
and hashes its record keeps; files and folders synced at each commit), a status file that cannot be used is one
warning line and its video is made again, and no record can make hdtf read, pack or write a file outside the run."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from fixtures.sources import hdtf_sources  # noqa: F401

from hdtf import media, sync_check
from hdtf.export import export
from hdtf.job import process_video
from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips
from hdtf.options import PrepareOptions
from hdtf.sources.hdtf import parse_metadata

EDGE = 8192  # the bytes hashed at each end of a clip file (hdtf.layout.STAMP_EDGE)


@pytest.fixture(scope="module")
def server(hdtf_sources):  # noqa: F811
    requests: list = []
    with serve_directory(hdtf_sources.served, requests) as base:
        yield base + "/{subset}_{name}.mp4", requests


def _video(metadata, name):
    videos, _ = parse_metadata(metadata, ["RD"])
    return next(v for v in videos if v.name == name)


@pytest.fixture(scope="module")
def made(hdtf_sources, server, tmp_path_factory) -> Path:  # noqa: F811
    """Alpha (2 clips) and Beta (1 clip) prepared once; each test works on a copy."""
    out = tmp_path_factory.mktemp("made") / "out"
    options = PrepareOptions(output_dir=out, url_template=server[0])
    for name in ("Alpha", "Beta"):
        assert process_video(_video(hdtf_sources.metadata, name), options).status == "done"
    return out


@pytest.fixture
def run(made, tmp_path) -> Path:
    return shutil.copytree(made, tmp_path / "out", symlinks=True)


def _status(run: Path, key: str) -> dict:
    return json.loads((run / "status" / f"{key}.json").read_text())


def _edges(data: bytes) -> str:
    return hashlib.sha256(data[:EDGE] + (data[max(EDGE, len(data) - EDGE):] if len(data) > EDGE else b"")).hexdigest()


def _hdtf(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The hdtf command in its own process, so that its stderr is what a user sees."""
    return subprocess.run([sys.executable, "-m", "hdtf.cli", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=600)


# -- 3: durability ---------------------------------------------------------------------------------------------------


def test_a_clip_file_left_empty_short_or_zeroed_is_made_again(hdtf_sources, server, run):  # noqa: F811
    template, requests = server
    beta, options = _video(hdtf_sources.metadata, "Beta"), PrepareOptions(output_dir=run, url_template=template)
    record = _status(run, "RD_Beta")["clips"][0]
    mp4, wav = run / record["path"], run / record["audio_path"]
    good = mp4.read_bytes()
    assert record["files"][record["path"]] == {"size": len(good), "sha256": _edges(good)}
    assert record["files"][record["audio_path"]]["size"] == wav.stat().st_size

    zeroed = bytes(EDGE) + good[EDGE:]
    for file, damaged in ((mp4, b""), (mp4, good[: len(good) // 2]), (mp4, zeroed), (wav, wav.read_bytes()[:100])):
        file.write_bytes(damaged)
        # readers (export, status) compare sizes; the next prepare compares the hashed edges too
        assert ("RD_Beta_000" in [c["id"] for c in done_clips(run)]) == (damaged is zeroed)
        requests.clear()
        again = process_video(beta, options).clips[0]
        assert requests, f"{file.name} cut to {len(damaged)} bytes was made again from its source"
        assert again["status"] == "done" and file.read_bytes() != damaged
        assert media.probe(mp4, count_frames=True).nb_frames == record["num_frames"]
        stamps = _status(run, "RD_Beta")["clips"][0]["files"]
        assert stamps[record["path"]] == {"size": mp4.stat().st_size, "sha256": _edges(mp4.read_bytes())}

    # A whole clip is left alone: no download, not touched.
    before = mp4.stat().st_mtime_ns
    requests.clear()
    assert process_video(beta, options).clips[0]["status"] == "done" and requests == []
    assert mp4.stat().st_mtime_ns == before


def test_a_record_of_an_earlier_version_counts_while_its_files_are_not_empty(hdtf_sources, server, run):  # noqa: F811
    template, requests = server
    beta, options = _video(hdtf_sources.metadata, "Beta"), PrepareOptions(output_dir=run, url_template=template)
    status = _status(run, "RD_Beta")
    del status["clips"][0]["files"]  # as an earlier hdtf wrote it
    (run / "status/RD_Beta.json").write_text(json.dumps(status))
    mp4 = run / status["clips"][0]["path"]
    before = mp4.stat().st_mtime_ns
    requests.clear()
    assert process_video(beta, options).clips[0]["status"] == "done"
    assert requests == [] and mp4.stat().st_mtime_ns == before, "an old output is not made again"
    assert [c["id"] for c in done_clips(run)] == ["RD_Alpha_000", "RD_Alpha_001", "RD_Beta_000"]

    status = _status(run, "RD_Beta")
    assert "files" not in status["clips"][0], "nothing changed: the status was not rewritten"
    mp4.write_bytes(b"")
    assert "RD_Beta_000" not in [c["id"] for c in done_clips(run)]
    assert process_video(beta, options).clips[0]["status"] == "done" and requests
    assert media.probe(mp4, count_frames=True).nb_frames == status["clips"][0]["num_frames"]


def test_commits_sync_the_file_before_the_rename_and_the_folder_after(hdtf_sources, tmp_path):  # noqa: F811
    """Watched from outside with strace: the status and clip commits fsync each new file, then rename it, then fsync
    its folder."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    out = tmp_path / "run"
    script = (f"from hdtf import atomic, media\n"
              f"atomic.write_json({str(out / 'status' / 'v.json')!r}, {{'clips': []}})\n"
              f"media.cut_clip({str(hdtf_sources.served / 'RD_Beta.mp4')!r}, {str(out / 'clips' / 'c.mp4')!r}, "
              f"dst_wav={str(out / 'clips' / 'c.wav')!r}, start=2.0, end=3.0, crop=None, size=64)\n")
    trace = tmp_path / "trace.txt"
    subprocess.run([strace, "-f", "-y", "-e", "trace=fsync,rename,renameat,renameat2", "-o", str(trace),
                    sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    calls = [line for line in trace.read_text().splitlines() if "fsync(" in line or "rename" in line]
    for final, folder in ((out / "status" / "v.json", out / "status"), (out / "clips" / "c.mp4", out / "clips"),
                          (out / "clips" / "c.wav", out / "clips")):
        temp = f".{final.stem}."
        renamed = next(i for i, c in enumerate(calls) if "rename" in c and f'"{final}"' in c and temp in c)
        synced = [i for i, c in enumerate(calls[:renamed]) if "fsync(" in c and f"{folder}/{temp}" in c]
        assert synced, f"{final.name}: the new file was not synced before its rename:\n" + "\n".join(calls)
        after = [i for i, c in enumerate(calls) if i > renamed and "fsync(" in c and f"<{folder}>" in c]
        assert after, f"{final.name}: its folder was not synced after the rename:\n" + "\n".join(calls)
    assert (out / "clips" / "c.mp4").stat().st_size > 0


def test_on_a_store_a_short_clip_object_is_told_by_its_listed_size_and_made_again(hdtf_sources, server,
                                                                                     tmp_path):  # noqa: F811
    pytest.importorskip("s3fs", reason="outputs on S3 need s3fs")
    pytest.importorskip("moto", reason="the S3 stand-in is moto's server")
    from fixtures.s3_server import serve_s3

    from hdtf.storage import Store

    template, requests = server
    beta, url = _video(hdtf_sources.metadata, "Beta"), "s3://runs/short"
    with serve_s3() as s3, pytest.MonkeyPatch.context() as env:
        for key, value in s3.env.items():
            env.setenv(key, value)
        s3.create_bucket("runs")
        assert process_video(beta, PrepareOptions(output_dir=url, url_template=template,
                                                  scratch_dir=tmp_path / "scratch")).status == "done"
        store, name = Store(url), "clips/RD_Beta_000.mp4"
        good = store.read_bytes(name)
        status = json.loads(store.read_bytes("status/RD_Beta.json"))
        assert status["clips"][0]["files"][name]["size"] == len(good)
        store.put_bytes(name, good[: len(good) // 2])  # a copy cut short

        before = len(s3.log)
        assert done_clips(url) == []
        requests.clear()
        again = process_video(beta, PrepareOptions(output_dir=url, url_template=template,
                                                   scratch_dir=tmp_path / "scratch"))
        asked = [r for r in s3.log[before:] if r.key.endswith(".mp4") and r.method in ("GET", "HEAD")]
        assert not asked, "sizes come from the listings, not a request per clip"
        assert requests and again.clips[0]["status"] == "done", "made again from its source"
        remade = store.read_bytes(name)
        assert len(remade) > len(good) // 2
        local = tmp_path / "remade.mp4"
        local.write_bytes(remade)
        assert media.probe(local, count_frames=True).nb_frames == status["clips"][0]["num_frames"]


# -- 4: a status file that cannot be used ----------------------------------------------------------------------------


BAD = {
    "clips is text": b'{"version": 2, "clips": "oops"}',
    "not JSON": b'{"version": 2, "clips": [',
    "a clip that is a number": b'{"version": 2, "video": {"key": "RD_Alpha"}, "clips": [1]}',
    "a duration that is text": json.dumps({"version": 2, "video": {"key": "RD_Alpha"}, "status": "done", "clips": [
        {"id": "RD_Alpha_000", "status": "done", "path": "clips/RD_Alpha_000.mp4", "duration": "long"}]}).encode(),
    "a list": b"[]",
}


@pytest.mark.parametrize("bad", BAD, ids=list(BAD))
def test_a_bad_status_file_is_one_warning_and_status_goes_on(run, bad, tmp_path):
    (run / "status/RD_Alpha.json").write_bytes(BAD[bad])
    done = _hdtf("status", str(run), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "videos: 2 (1 done, 1 unreadable)" in done.stdout and "clips:  1 (1 done)" in done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("status/RD_Alpha.json: "), done.stderr
    assert str(tmp_path) not in done.stderr


def test_a_bad_status_file_leaves_prepare_and_export_going(hdtf_sources, server, run, tmp_path):  # noqa: F811
    (run / "status/RD_Alpha.json").write_bytes(BAD["clips is text"])
    beta_mp4 = run / "clips/RD_Beta_000.mp4"
    beta_before = beta_mp4.stat().st_mtime_ns, beta_mp4.read_bytes()

    exported = _hdtf("export", str(run), "--to", "webdataset", "--output", str(tmp_path / "wds"), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert [line for line in exported.stderr.splitlines() if "status/RD_Alpha.json" in line] == [
        exported.stderr.strip()]
    with tarfile.open(next((tmp_path / "wds").glob("*.tar"))) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert sorted(members) == ["RD_Beta_000.json", "RD_Beta_000.mp4", "RD_Beta_000.wav"]
    assert members["RD_Beta_000.mp4"] == beta_before[1]
    assert "unreadable" in (tmp_path / "wds" / "README.md").read_text()

    template, requests = server
    requests.clear()
    prepared = _hdtf("prepare", "--metadata-dir", str(hdtf_sources.metadata), "--subsets", "RD", "--videos",
                     "Alpha,Beta", "--url-template", template, "--output", str(run), "--no-progress", cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    warned = [line for line in prepared.stderr.splitlines() if "status/RD_Alpha.json" in line]
    assert len(warned) == 1 and "not started" in warned[0] and str(run) not in warned[0], prepared.stderr
    alpha = _status(run, "RD_Alpha")
    assert [c["status"] for c in alpha["clips"]] == ["done", "done"]
    for clip in alpha["clips"]:
        assert media.probe(run / clip["path"], count_frames=True).nb_frames == clip["num_frames"]
    assert (beta_mp4.stat().st_mtime_ns, beta_mp4.read_bytes()) == beta_before, "the other video was left alone"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["counts"]["clips"] == {"done": 3}


# -- 6: record paths stay inside the run -----------------------------------------------------------------------------


def _point(run: Path, clip: str, field: str, name: str) -> None:
    status = _status(run, "RD_Beta")
    record = next(c for c in status["clips"] if c["id"] == clip)
    record[field] = name
    (run / "status/RD_Beta.json").write_text(json.dumps(status))


def _tar_members(folder: Path) -> dict[str, bytes]:
    found = {}
    for shard in folder.glob("*.tar"):
        with tarfile.open(shard) as tar:
            found.update({m.name: tar.extractfile(m).read() for m in tar.getmembers()})
    return found


@pytest.mark.parametrize("how", ["absolute", "climbing", "link"])
def test_export_never_packs_a_file_outside_the_run(run, tmp_path, how):
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not for export " * 100)
    if how == "absolute":
        _point(run, "RD_Beta_000", "path", str(secret))
        _point(run, "RD_Beta_000", "audio_path", "/etc/hostname")
    elif how == "climbing":
        _point(run, "RD_Beta_000", "path", "../secret.mp4")
    else:
        (run / "clips/RD_Beta_000.mp4").unlink()
        (run / "clips/RD_Beta_000.mp4").symlink_to(secret)
    result = export(run, tmp_path / "wds", to="webdataset")
    members = _tar_members(tmp_path / "wds")
    assert result.num_examples == 2 and not [n for n in members if n.startswith("RD_Beta_000")]
    assert not [n for n, data in members.items() if b"not for export" in data]
    if how == "link":  # parquet too: the rows hold the bytes
        import pyarrow.parquet as pq

        export(run, tmp_path / "pq", to="parquet")
        table = pq.read_table(next((tmp_path / "pq" / "data").glob("*.parquet")))
        assert sorted(table.column("id").to_pylist()) == ["RD_Alpha_000", "RD_Alpha_001"]
        assert not [v for v in table.column("video").to_pylist() if b"not for export" in v["bytes"]]


@pytest.mark.parametrize("how", ["climbing", "link"])
def test_prepare_remakes_a_clip_whose_record_leads_outside_and_writes_nothing_there(hdtf_sources, server, run,
                                                                                     tmp_path, how):  # noqa: F811
    outside = tmp_path / "outside.mp4"
    shutil.copy(run / "clips/RD_Beta_000.mp4", outside)
    kept = outside.read_bytes()
    if how == "climbing":
        _point(run, "RD_Beta_000", "path", "../outside.mp4")
    else:
        (run / "clips/RD_Beta_000.mp4").unlink()
        (run / "clips/RD_Beta_000.mp4").symlink_to(outside)
    template, requests = server
    requests.clear()
    record = process_video(_video(hdtf_sources.metadata, "Beta"),
                           PrepareOptions(output_dir=run, url_template=template)).clips[0]
    assert requests and record["status"] == "done" and record["path"] == "clips/RD_Beta_000.mp4"
    mp4 = run / record["path"]
    assert not mp4.is_symlink() and media.probe(mp4, count_frames=True).nb_frames == record["num_frames"]
    assert outside.read_bytes() == kept


@pytest.mark.parametrize("how", ["climbing", "link"])
def test_the_sync_check_never_rewrites_a_file_outside_the_run(run, tmp_path, how):
    """A measured clip whose wanted correction is missing is trimmed in place (sync_check.revisit): through a record
    leading outside, the file there would be rewritten. The record is given up instead (the clip is made again)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    for ext in ("mp4", "wav"):
        shutil.copy(run / f"clips/RD_Beta_000.{ext}", outside / f"RD_Beta_000.{ext}")
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    record = _status(run, "RD_Beta")["clips"][0]
    record.update(sync_offset=2, sync_confidence=8.0, sync_shift=0)
    if how == "climbing":
        record.update(path="../outside/RD_Beta_000.mp4", audio_path="../outside/RD_Beta_000.wav")
    else:
        for ext in ("mp4", "wav"):
            (run / f"clips/RD_Beta_000.{ext}").unlink()
            (run / f"clips/RD_Beta_000.{ext}").symlink_to(outside / f"RD_Beta_000.{ext}")
    options = PrepareOptions(output_dir=run, sync_check=tmp_path / "syncnet.pt", max_av_offset=3)
    assert sync_check.revisit(record, options) is None
    assert {p.name: p.read_bytes() for p in outside.iterdir()} == before
    assert sorted(p.name for p in outside.iterdir()) == ["RD_Beta_000.mp4", "RD_Beta_000.wav"]


def test_the_same_trim_inside_the_run_does_rewrite_the_clip(run, tmp_path):
    """The control for the test above: the in-place correction it guards does write when the record is fine."""
    record = _status(run, "RD_Beta")["clips"][0]
    record.update(sync_offset=2, sync_confidence=8.0, sync_shift=0)
    before = (run / record["path"]).read_bytes()
    options = PrepareOptions(output_dir=run, sync_check=tmp_path / "syncnet.pt", max_av_offset=3)
    fixed = sync_check.revisit(record, options)
    assert fixed["sync_shift"] == 2 and (run / record["path"]).read_bytes() != before
    assert fixed["files"] is None, "the rewritten files are stamped again when the record is committed"
