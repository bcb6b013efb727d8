# The two entry points of the README. Each one does the whole set-up first (idempotent).
.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/python examples/demo.py --output demo_output

test: setup
	.venv/bin/python -m pytest -q tests

bench: setup
	for b in benchmarks/bench_*.py; do .venv/bin/python $$b || exit 1; done
