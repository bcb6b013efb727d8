"""Sharded runs: deterministic, disjoint slices by a hash of the video key, whose outputs merge into one folder
equal to an unsharded run's; the manifest written last covers every shard."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time

import pytest
from fixtures.sources import hdtf_sources  # noqa: F401

from hdtf.cli import main
from hdtf.errors import HDTFError
from hdtf.layout import Layout
from hdtf.manifest import done_clips, load_manifest
from hdtf.run import RunOptions, shard, shard_of
from hdtf.sources.hdtf import parse_metadata

KEYS = [f"{subset}_{name}{i}" for subset in ("RD", "WDA", "WRA") for name in ("Alice", "Bob", "Carol") for i in
        range(200)]


def test_slices_are_disjoint_complete_balanced_and_stable():
    slices = {k: [key for key in KEYS if shard_of(key, 4) == k] for k in range(4)}
    assert sorted(key for part in slices.values() for key in part) == sorted(KEYS)  # complete and disjoint
    assert all(len(part) > len(KEYS) / 4 * 0.8 for part in slices.values()), {k: len(v) for k, v in slices.items()}
    shuffled = random.Random(0).sample(KEYS, len(KEYS))
    assert {key: shard_of(key, 4) for key in shuffled} == {key: shard_of(key, 4) for key in KEYS}
    # The documented contract (docs/cluster.md): the first 8 bytes of the key's SHA-256, big-endian, modulo N; not
    # Python's salted hash(), so the same slice on every machine and every run.
    for n in (2, 3, 7, 1000):
        assert shard_of("RD_Radio1_000", n) == int(hashlib.sha256(b"RD_Radio1_000").hexdigest()[:16], 16) % n


def test_shard_options_are_checked(hdtf_sources):  # noqa: F811
    with pytest.raises(HDTFError, match=r"shard index 2 is not one of 0..1 \(--num-shards 2\)"):
        RunOptions(num_shards=2, shard_index=2).validate()
    videos, _ = parse_metadata(hdtf_sources.metadata, ["RD"])
    parts = [RunOptions(num_shards=3, shard_index=k).choose(videos) for k in range(3)]
    assert sorted(v.key for part in parts for v in part) == sorted(v.key for v in videos)
    assert shard(videos, 1, 0) == videos


def _cli(hdtf_sources, out, *extra):  # noqa: F811
    return main(["prepare", "--output", str(out), "--metadata-dir", str(hdtf_sources.metadata), "--subsets", "RD",
                 "--raw-dir", str(hdtf_sources.served), "--url-template", "http://127.0.0.1:9/{name}.mp4",
                 "--size", "64", "--no-progress", *extra])


def test_shards_merge_into_the_unsharded_result(hdtf_sources, tmp_path, capsys):  # noqa: F811
    videos, _ = parse_metadata(hdtf_sources.metadata, ["RD"])
    count = next(n for n in range(2, 10) if len({shard_of(v.key, n) for v in videos if v.name in ("Alpha", "Beta")})
                 == 2)  # Alpha and Beta (the videos with clips) in different slices
    whole, merged = tmp_path / "whole", tmp_path / "merged"
    assert _cli(hdtf_sources, whole) == 3  # Gamma's URL leads nowhere: its clip failed
    codes = [_cli(hdtf_sources, merged, "--num-shards", str(count), "--shard-index", str(k)) for k in range(count)]
    # 0: the slice's clips are done; 3: some failed (Gamma's); 1: the slice made none (only Gamma, or Delta skipped)
    assert 0 in codes and set(codes) <= {0, 1, 3} and any(code in (1, 3) for code in codes)
    printed = capsys.readouterr().out
    assert f"(shard {count - 1} of {count})" in printed

    def facts(folder):
        return {c["id"]: (c["num_frames"], c["applied_crop"], (folder / c["path"]).read_bytes()) for c in
                done_clips(folder)}

    assert facts(merged) == facts(whole) and len(facts(whole)) == 3
    one, two = load_manifest(whole), load_manifest(merged)
    assert two["counts"] == one["counts"] and one["counts"]["videos"]["done"] == 2
    assert [(v["key"], v["status"]) for v in two["videos"]] == [(v["key"], v["status"]) for v in one["videos"]]
    assert two["run"]["shard"] == {"index": count - 1, "count": count} and "shard" not in one["run"]
    assert {v["key"] for v in two["videos"] if v.get("worker")} == {v.key for v in videos}
    before = load_manifest(merged)
    (merged / "manifest.json").unlink()  # shards that ended together may each have missed the other's last status
    assert main(["status", str(merged), "--write-manifest"]) == 0
    rebuilt = load_manifest(merged)
    run_facts = ("updated", "options", "run", "parse_report", "metadata", "videos")  # not in the status files
    assert {k: v for k, v in rebuilt.items() if k not in run_facts} == \
        {k: v for k, v in before.items() if k not in run_facts}


def test_shards_ending_together_leave_a_manifest_of_both(hdtf_sources, tmp_path):  # noqa: F811
    """Two slices finish while a third party holds the manifest lock: neither writes the manifest before it gets the
    lock, and the manifest left behind lists both slices' videos with where each ran."""
    videos, _ = parse_metadata(hdtf_sources.metadata, ["RD"])
    keys = {v.name: v.key for v in videos}
    count = next(n for n in range(2, 10) if shard_of(keys["Alpha"], n) != shard_of(keys["Beta"], n))
    out = tmp_path / "out"
    held = Layout.for_output(out).manifest_lock()
    held.acquire()
    runs = [subprocess.Popen([sys.executable, "-m", "hdtf.cli", "prepare", "--output", str(out), "--metadata-dir",
                              str(hdtf_sources.metadata), "--subsets", "RD", "--videos", name, "--raw-dir",
                              str(hdtf_sources.served), "--url-template", "http://127.0.0.1:9/{name}.mp4", "--size",
                              "64", "--no-progress", "--num-shards", str(count), "--shard-index",
                              str(shard_of(keys[name], count))], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for name in ("Alpha", "Beta")]
    try:
        deadline = time.monotonic() + 120
        while not all(_finished(out, keys[name]) for name in ("Alpha", "Beta")):
            assert time.monotonic() < deadline and all(r.poll() is None for r in runs), "the slices did not finish"
            time.sleep(0.2)
        time.sleep(1.5)
        assert all(r.poll() is None for r in runs) and not (out / "manifest.json").exists(), \
            "a slice wrote the manifest without holding its lock"
    finally:
        held.release()
    assert [r.wait(timeout=60) for r in runs] == [0, 0], [r.stderr.read().decode() for r in runs]
    manifest = load_manifest(out)
    assert {v["key"]: v["status"] for v in manifest["videos"]} == {keys["Alpha"]: "done", keys["Beta"]: "done"}
    assert all(v["worker"]["pid"] in {r.pid for r in runs} for v in manifest["videos"])
    assert not list((out / "locks").iterdir())


def _finished(out, key: str) -> bool:
    try:
        return json.loads((out / "status" / f"{key}.json").read_text())["status"] != "running"
    except (OSError, ValueError):
        return False
