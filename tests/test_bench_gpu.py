"""benchmarks/gpu.sh --smoke: the GPU figures' script starts and runs every row on the CPU (issue 25, item 6)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.sh"


def test_gpu_script_runs_in_smoke_mode(tmp_path):
    rows_file = tmp_path / "rows.json"
    done = subprocess.run(["bash", str(SCRIPT), "--smoke", "--json", str(rows_file)], check=False,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(rows_file.read_text())
    generate = [(r["dtype"], r["references"]) for r in rows if r["kind"] == "generate"]
    assert generate == [("float32", 1), ("float32", 4), ("bfloat16", 1), ("bfloat16", 4)]
    assert all(r["render_frames_per_s"] > 0 and r["network_frames_per_s"] > 0 for r in rows if r["kind"] == "generate")
    train = [r for r in rows if r["kind"] == "train"]
    assert [(r["references"], r["batch"]) for r in train] == [(1, 2), (1, 2), (4, 2)] and train[0]["steps_per_s"] > 0
    assert "total" in done.stdout and done.stdout.count("refs 4") == 3


def test_gpu_script_refuses_without_a_gpu_in_one_line():
    import pytest
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the full run is the one to make")
    done = subprocess.run(["bash", str(SCRIPT)], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and done.stderr.strip() == "no CUDA device: run with --smoke on a CPU"
