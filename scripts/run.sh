#!/usr/bin/env bash
# The README's entry points. Each does the whole (idempotent) set-up first, then its job:
#   bash scripts/run.sh demo    the full chain on the built-in real-face fixture (offline)
#   bash scripts/run.sh test    the test suite (what CI runs)
#   bash scripts/run.sh bench   every benchmark script
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
case "${1:-}" in
    demo) exec .venv/bin/python examples/demo.py --output demo_output ;;
    # two workers, whole modules each: half the wall time on 2 cores; HDTF_TEST_WORKERS=0 runs in one process
    test) exec .venv/bin/python -m pytest -q -n "${HDTF_TEST_WORKERS:-2}" --dist loadfile tests ;;
    bench) for b in benchmarks/bench_*.py; do .venv/bin/python "$b"; done ;;
    *) echo "usage: bash scripts/run.sh demo|test|bench" >&2; exit 2 ;;
esac
