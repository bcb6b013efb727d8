#!/usr/bin/env bash
# GPU figures in one run of under 8 minutes: generation frames/s at 512 px (fp32 and bf16, 1 and 4 references),
# animation-to-video training steps/s at batch 8, peak memory (benchmarks/bench_gpu.py says what each row is).
#
#   bash benchmarks/gpu.sh [--json rows.json]     # on a machine with a CUDA GPU
#   bash benchmarks/gpu.sh --smoke                # CPU, tiny sizes: checks that it starts and runs (CI)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python}"
if [[ -x "$here/../.venv/bin/python" && -z "${PYTHON:-}" ]]; then
    python="$here/../.venv/bin/python"
fi
exec timeout 480 "$python" "$here/bench_gpu.py" "$@"
