# bench: performance of the collection against the simulator (tests/benchmarks/run.py).
# Included from the Makefile (uses its ROOT, BUILD, VPY, venv and build targets and exported ANSIBLE_* settings).
#
#   make bench        full run (~15 min on 2 cores): prints the Markdown report, writes tests/benchmarks/results.md
#   make bench-smoke  the same code paths with tiny sizes; writes build/bench-smoke/results.md (part of `make test`)
#
# The simulator is started and stopped by run.py itself (127.0.0.1, a free port). BENCH_ARGS passes options,
# e.g. BENCH_ARGS="--sections 1,4".

BENCH_ARGS ?=

.PHONY: bench bench-smoke

bench: venv build ## Benchmarks against the simulator -> tests/benchmarks/results.md (not part of `make test`)
	@started=$$(date +%s); \
	cd "$(ROOT)" && "$(VPY)" tests/benchmarks/run.py --raw "$(BUILD)/bench/raw.json" $(BENCH_ARGS); \
	echo "bench: $$(( $$(date +%s) - started )) s"

bench-smoke: venv build ## Tiny version of `make bench` (same code paths) -> build/bench-smoke/results.md
	@started=$$(date +%s); \
	cd "$(ROOT)" && "$(VPY)" tests/benchmarks/run.py --smoke --raw "$(BUILD)/bench-smoke/raw.json" $(BENCH_ARGS); \
	echo "bench-smoke: $$(( $$(date +%s) - started )) s"

