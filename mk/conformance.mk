# conformance: schemathesis against the simulator with the simulator's spec copy (tests/simulator/tests/test_sim_conformance.py).
# Included from the Makefile (uses its ROOT, COLLECTIONS, REPORTS, PYTEST and venv/build targets).
#
#   make conformance    every operation (examples, coverage, fuzzing; positive and negative data) + stateful sequences,
#                       signed with requests-exoscale-auth, fixed seed; part of `make test`
#
# CONFORMANCE_EXAMPLES (per operation and mode, default 25) and CONFORMANCE_SCENARIOS (stateful, default 30) bound it.
# `pytest tests/simulator` skips this file: SIM_CONFORMANCE=1 enables it here, so it runs once, in its own step.

.PHONY: conformance

conformance: venv build ## Schemathesis conformance of the simulator against its spec copy (bounded, fixed seed)
	@started=$$(date +%s); \
	echo "+ SIM_CONFORMANCE=1 $(PYTEST) tests/simulator/tests/test_sim_conformance.py $(PYTEST_ARGS)"; \
	SIM_CONFORMANCE=1 \
	  $(PYTEST) --junitxml="$(REPORTS)/conformance.xml" $(PYTEST_ARGS) tests/simulator/tests/test_sim_conformance.py; \
	rc=$$?; echo "conformance: $$(( $$(date +%s) - started )) s"; exit $$rc

