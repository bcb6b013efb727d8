# Shortcuts for scripts/run.sh (which works without make).
.PHONY: demo test bench
demo test bench:
	bash scripts/run.sh $@
