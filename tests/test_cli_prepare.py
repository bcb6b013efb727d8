"""The real CLI in subprocesses over loopback: a full run, `hdtf status`, exit codes, and resume after SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.awkward import awkward_sources  # noqa: F401
from fixtures.sources import ALPHA, BETA, hdtf_sources, nothing_partial_looks_finished  # noqa: F401

from hdtf.loopback import serve_directory
from hdtf.manifest import done_clips, load_manifest

pytestmark = pytest.mark.slow
FACTS = ("status", "num_frames", "width", "height", "fps", "sample_rate", "applied_crop", "audio_path", "path")


def _args(sources, out: Path, base: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--metadata-dir", str(sources.metadata),
            "--subsets", "RD", "--url-template", base + "/{subset}_{name}.mp4", "--no-progress", *extra]


def _facts(out: Path) -> dict[str, tuple]:
    return {c["id"]: tuple(str(c[k]) for k in FACTS) for c in done_clips(out)}


@pytest.fixture(scope="module")
def server(hdtf_sources):
    requests: list = []
    with serve_directory(hdtf_sources.served, requests) as base:
        yield base, requests


@pytest.fixture(scope="module")
def full_run(hdtf_sources, server, tmp_path_factory):
    base, _ = server
    out = tmp_path_factory.mktemp("cli_full")
    done = subprocess.run(_args(hdtf_sources, out, base, "--workers", "2"), capture_output=True, text=True, timeout=300)
    return out, done


def test_prepare_prints_the_report_and_succeeds(full_run):
    out, done = full_run
    assert done.returncode == 0, done.stderr
    assert "Zeta_0.mp4" in done.stdout and "00:0x" in done.stdout, "parse issues are printed one per line"
    assert "clips: 3 done, 1 skipped, 1 unavailable" in done.stdout
    manifest = load_manifest(out)
    assert manifest["counts"]["clips"] == {"done": 3, "skipped": 1, "unavailable": 1}
    assert len(_facts(out)) == 3


def test_status_summarises_counts_and_reasons(full_run):
    out, _ = full_run
    shown = subprocess.run([sys.executable, "-m", "hdtf.cli", "status", str(out)], capture_output=True, text=True)
    assert shown.returncode == 0
    assert "clips:  5 (3 done, 1 skipped, 1 unavailable)" in shown.stdout
    assert "HTTP Error 404" in shown.stdout and "--crop-method landmarks|auto" in shown.stdout


def test_exit_code_when_nothing_can_be_done(hdtf_sources, server, tmp_path, capsys):
    from hdtf.cli import main

    base, _ = server
    assert main(_args(hdtf_sources, tmp_path / "a", base, "--videos", "Gamma,Delta")[3:]) == 1
    assert "no clip could be made" in capsys.readouterr().err
    assert main(_args(hdtf_sources, tmp_path / "b", base, "--videos", "Nobody")[3:]) == 2
    assert "unknown video name(s) Nobody" in capsys.readouterr().err


def test_raw_dir_needs_no_network(hdtf_sources, server, tmp_path, capsys):
    from hdtf.cli import main

    _, requests = server
    requests.clear()
    args = _args(hdtf_sources, tmp_path, "http://127.0.0.1:9", "--videos", "Beta", "--raw-dir",
                 str(hdtf_sources.served))
    assert main(args[3:]) == 0
    assert requests == [] and [c["id"] for c in done_clips(tmp_path)] == ["RD_Beta_000"]
    assert (hdtf_sources.served / "RD_Beta.mp4").is_file()


def _kill_when(args: list[str], ready, timeout: float = 120) -> None:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the run finished before it could be killed"


@pytest.mark.parametrize("moment", ["downloading", "cutting"])
def test_resume_after_sigkill_matches_an_uninterrupted_run(hdtf_sources, server, full_run, tmp_path, moment):
    base, requests = server
    out = tmp_path / "out"
    ready = {
        "downloading": lambda: (out / "raw" / ".RD_Alpha.partial").exists(),
        "cutting": lambda: any((out / "clips").glob(".*partial*")) and (out / "clips" / "RD_Alpha_000.mp4").exists(),
    }[moment]
    _kill_when(_args(hdtf_sources, out, base), ready)
    nothing_partial_looks_finished(out, hdtf_sources.served)
    resumed = subprocess.run(_args(hdtf_sources, out, base), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert _facts(out) == _facts(full_run[0])
    if moment != "cutting":
        return
    requests.clear()
    again = subprocess.run(_args(hdtf_sources, out, base), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and requests == [], "a finished dataset must not download anything again"
    assert "downloaded 0 video(s)" in again.stdout


def test_options_no_clip_can_succeed_with_stop_before_any_download(hdtf_sources, server, tmp_path, capsys):
    from hdtf.cli import main

    base, requests = server
    requests.clear()
    for size, why in (("511", "output size 511 must be even"), ("100000", "output size 100000 is too large")):
        assert main(_args(hdtf_sources, tmp_path / size, base, "--size", size)[3:]) == 2
        assert why in capsys.readouterr().err
    assert requests == [] and not (tmp_path / "511").exists()
    # The documented 'none' values: the window's own size, the source's sample rate.
    args = _args(hdtf_sources, tmp_path / "native", base, "--videos", "Beta", "--size", "none", "--sample-rate", "none")
    assert main(args[3:]) == 0
    clip = done_clips(tmp_path / "native")[0]
    assert (clip["width"], clip["height"], clip["sample_rate"]) == (360, 360, 44100)


def test_exit_status_3_and_status_notes_when_some_clips_fail(awkward_sources, tmp_path, capsys):
    from hdtf.cli import main

    with serve_directory(awkward_sources.served) as base:
        args = _args(awkward_sources, tmp_path, base, "--videos", "Cut,Turned")[3:]
        assert main(args) == 3
        assert "1 of 3 clip(s) not made (e.g. RD_Cut_001)" in capsys.readouterr().err
        assert main(["status", str(tmp_path)]) == 0
        shown = capsys.readouterr().out
        assert re.search(r"1 failed: source ends at [\d.]+ s; the clip needs 1\u20138 s", shown), shown
        assert re.search(r"1 rotated sources \(display matrix\) \[RD_Turned_000\]", shown), shown
        assert main([*args, "--allow-short"]) == 0
    shown = subprocess.run([sys.executable, "-m", "hdtf.cli", "status", str(tmp_path)], capture_output=True,
                           text=True).stdout
    assert re.search(r"1 short clips \(kept with --allow-short; true duration recorded\) \[RD_Cut_001\]", shown), shown
    # A reader that stops early (`hdtf status DIR | head`) is no error: no trace, exit 0.
    read_end, write_end = os.pipe()
    os.close(read_end)
    closed = subprocess.run([sys.executable, "-m", "hdtf.cli", "status", str(tmp_path)], stdout=write_end,
                            stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert closed.returncode == 0 and closed.stderr == ""


def test_two_names_that_sanitise_alike_are_two_videos(hdtf_sources, tmp_path, capsys):
    """``Foo(1)`` and ``Foo[1]`` (both ``Foo_1_`` as file names) get a status, clips and a raw file each."""
    import json
    import shutil

    from hdtf.cli import main
    from hdtf.records import name_digest

    served = tmp_path / "served"  # by YouTube id: Foo(1) is Alpha's video, Foo[1] Beta's
    served.mkdir()
    shutil.copy(hdtf_sources.served / "RD_Alpha.mp4", served / "AAAAAAAAAAA.mp4")
    shutil.copy(hdtf_sources.served / "RD_Beta.mp4", served / "BBBBBBBBBBB.mp4")
    metadata = tmp_path / "metadata"
    metadata.mkdir()
    lines = {"video_url": [], "resolution": [], "annotion_time": [], "crop_wh": [], "crop_ratio": []}
    for name, source, yt in (("Foo(1)", ALPHA, "A"), ("Foo[1]", BETA, "B")):
        x, y, w, h = source.meta_window
        lines["video_url"].append(f"{name} https://www.youtube.com/watch?v={yt * 11}")
        lines["resolution"].append(f"{name}.mp4 {source.meta_resolution}")
        lines["annotion_time"].append(f"{name}.mp4 " + " ".join(f"00:{a:02d}-00:{b:02d}" for a, b in source.clips))
        lines["crop_wh"] += [f"{name}_{k}.mp4 {x} {w} {y} {h}" for k in range(len(source.clips))]
        lines["crop_ratio"] += [f"{name}_{k}.mp4 1.2" for k in range(len(source.clips))]
    for kind, text in lines.items():
        (metadata / f"RD_{kind}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    with serve_directory(served) as base:
        assert main(["prepare", "--output", str(out), "--metadata-dir", str(metadata), "--subsets", "RD",
                     "--url-template", base + "/{youtube_id}.mp4", "--no-progress", "--keep-raw"]) == 0
    printed = capsys.readouterr().out
    assert "sanitise to one file name" in printed and "'Foo(1)' -> RD_Foo_1_-" in printed
    paren, bracket = f"RD_Foo_1_-{name_digest('RD_Foo(1)')}", f"RD_Foo_1_-{name_digest('RD_Foo[1]')}"
    statuses = {p.stem: json.loads(p.read_text()) for p in (out / "status").glob("*.json")}
    assert sorted(statuses) == sorted([paren, bracket])
    assert statuses[paren]["video"]["name"] == "Foo(1)" and statuses[bracket]["video"]["name"] == "Foo[1]"
    clips = {c["id"]: c for c in done_clips(out)}
    assert sorted(clips) == sorted([f"{paren}_000", f"{paren}_001", f"{bracket}_000"])
    # Each clip is cut from its own video: Alpha's clips are 3 s, Beta's 4 s (25 fps), and the files differ.
    assert [clips[f"{paren}_00{k}"]["num_frames"] for k in (0, 1)] == [75, 75]
    assert clips[f"{bracket}_000"]["num_frames"] == 100
    assert len({(out / c["path"]).read_bytes() for c in clips.values()}) == 3
    assert (out / "raw" / f"{paren}.mp4").read_bytes() == (served / "AAAAAAAAAAA.mp4").read_bytes()
    assert (out / "raw" / f"{bracket}.mp4").read_bytes() == (served / "BBBBBBBBBBB.mp4").read_bytes()


def test_offline_without_metadata_dir_names_the_flag_and_leaves_no_metadata_folder(tmp_path):
    """The pinned lists cannot be fetched (here: every HTTPS request goes to a proxy port nobody listens on): one line
    naming --metadata-dir, exit 2, and no empty OUTPUT/metadata/ left behind."""
    out = tmp_path / "out"
    env = {**os.environ, "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": ""}
    done = subprocess.run([sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot download HDTF metadata https://" in lines[0], done.stderr
    assert "--metadata-dir DIR" in lines[0] and "metadata_dir=" in lines[0]
    assert not (out / "metadata").exists()


def _real_run(metadata_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """`hdtf prepare` over the real HDTF metadata; downloads go to a closed loopback port (they fail at once)."""
    return subprocess.run([sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--metadata-dir",
                           str(metadata_dir), "--url-template", "http://127.0.0.1:9/{subset}_{name}.mp4",
                           "--no-progress", *extra], capture_output=True, text=True, timeout=300)


def test_a_run_of_two_videos_prints_their_metadata_issues_and_counts_the_rest(metadata_dir, tmp_path):
    out = tmp_path / "two"
    done = _real_run(metadata_dir, out, "--videos", "Radio15,KevinMcCarthy1")
    printed = done.stdout.split("\n2 video(s)")[0].splitlines()
    assert printed[0] == "metadata: 29 issue(s), 3 about the 2 selected video(s)", done.stdout
    assert [line.split(":")[0].strip() for line in printed[1:4]] == [
        "RD_annotion_time.txt", "WRA_annotion_time.txt", "WRA_resolution.txt"]
    assert "Radio15" in printed[1] and all("KevinMcCarthy1" in line for line in printed[2:4])
    assert printed[4:] == ["  ... 26 more about other videos or whole files (all of them in the run's manifest.json)"]
    recorded = load_manifest(out)["parse_report"]  # the manifest keeps every issue, each with its video
    assert len(recorded) == 29
    assert sorted(i["video"] for i in recorded if i["video"] in ("RD_Radio15", "WRA_KevinMcCarthy1")) == [
        "RD_Radio15", "WRA_KevinMcCarthy1", "WRA_KevinMcCarthy1"]
    assert [i["video"] for i in recorded if i["file"] == "WDA_video_url.txt"] == [None, None], "whole-file issues"
    everything = _real_run(metadata_dir, tmp_path / "all", "--videos", "Radio15", "--num-shards", "4",
                           "--shard-index", "0", "--subsets", "RD")
    assert everything.stdout.startswith("metadata: 3 issue(s), 1 about the 1 selected video(s)\n")  # RD only


def test_an_empty_shard_says_so_and_exits_0_as_documented(metadata_dir, tmp_path):
    """Shard 1 of 4 of these two videos holds neither: nothing to do, exit 0, which the exit table says."""
    out = tmp_path / "empty"
    done = _real_run(metadata_dir, out, "--videos", "Radio15,KevinMcCarthy1", "--num-shards", "4", "--shard-index", "1")
    assert done.returncode == 0, done.stderr
    assert "0 video(s), 0 clip(s) selected (shard 1 of 4); nothing to do" in done.stdout
    assert "metadata: 29 issue(s), 0 about the 0 selected video(s)" in done.stdout
    assert not (out / "clips").exists() or not any((out / "clips").iterdir())
    helped = subprocess.run([sys.executable, "-m", "hdtf.cli", "prepare", "--help"], capture_output=True, text=True)
    assert "or nothing selected (an empty shard)" in " ".join(helped.stdout.split())
    table = (Path(__file__).resolve().parents[1] / "docs" / "datasets.md").read_text()
    assert "or nothing was selected (an empty shard" in table


def test_the_manifest_and_the_card_say_where_the_metadata_came_from(full_run, metadata_dir, hdtf_sources, tmp_path):
    """A folder of edited lists (the fixture's: none of its clips is the release's) is recorded with its content hash
    and counts, and the exported card calls the clips edited; a folder equal to the release says it matches."""
    from hdtf.card import metadata_words
    from hdtf.cli import main
    from hdtf.sources.hdtf import folder_digest

    out, _ = full_run
    recorded = load_manifest(out)["metadata"]
    assert recorded["lists"] == "folder" and recorded["sha256"] == folder_digest(hdtf_sources.metadata)
    assert recorded["changed"] == 0 and recorded["added"] == recorded["clips"] == recorded["differ"] > 0
    assert main(["export", str(out), "--to", "parquet", "--output", str(tmp_path / "export")]) == 0
    card = (tmp_path / "export" / "README.md").read_text()
    assert "pretty_name: HDTF (edited metadata) talking-face clips" in card
    assert "# HDTF (edited metadata) talking-face clips" in card and "**These clips were cut by edited metadata" in card
    assert f"Metadata: EDITED, a user's metadata folder (SHA-256 {recorded['sha256'][:16]}...), not the release" in card
    released = _real_run(metadata_dir, tmp_path / "release", "--videos", "Radio15")  # the release's own files
    same = load_manifest(tmp_path / "release")["metadata"]
    assert released.returncode == 1 and (same["differ"], same["missing"], same["clips"]) == (0, 0, 436)
    assert metadata_words(same).startswith("Metadata: a user's metadata folder (SHA-256 ")
    assert "whose 436 clips all match the pinned release (MRzzm/HDTF at commit bbde889bbab9)." in metadata_words(same)
