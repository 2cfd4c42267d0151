# property / fuzz: fault sequences against a full serve_model run (tests/property, docs/reliability.md).
# Included from the Makefile (uses its ROOT, REPORTS, VPY, run_pytest, venv and build targets).
#
#   make property   200 sequences, fixed seed (part of `make test`; about 1-3 min on 2 cores)
#   make fuzz       2000 sequences, same seed and property (not part of `make test`; about 15-25 min)
#
# `make property` also runs tests/property/test_plan_parity.py: 200 examples (PROPERTY_EXAMPLES) of check mode
# against the run over the resource modules and the rollout plan, plus the rollout role on a fixed sample.
#
# Both print the counts (sequences, faults placed and fired, per fault kind) from
# build/reports/property-faults.json. PROPERTY_EXAMPLES overrides the number of sequences.

PROPERTY_EXAMPLES ?= 200
FUZZ_EXAMPLES ?= 2000
PROPERTY_COUNTS = "$(VPY)" -c 'import json, sys; counts = json.load(open(sys.argv[1])); \
  print("\n".join("  %-28s %s" % item for item in counts.items()))' "$(REPORTS)/property-faults.json"

.PHONY: property fuzz

property: venv build ## Property test: 200 fault sequences over a full role run (fixed seed), prints the counts
	@started=$$(date +%s); export PROPERTY_EXAMPLES=$(PROPERTY_EXAMPLES); \
	$(call run_pytest,property,tests/property,--timeout=900 -q -n 2 --dist worksteal); \
	echo "property: $$(( $$(date +%s) - started )) s"; $(PROPERTY_COUNTS)

fuzz: venv build ## The property test with 2000 fault sequences (not part of `make test`), prints the counts
	@started=$$(date +%s); export PROPERTY_EXAMPLES=$(FUZZ_EXAMPLES); \
	$(call run_pytest,fuzz,tests/property,--timeout=0 -q -k any_fault_sequence); \
	echo "fuzz: $$(( $$(date +%s) - started )) s"; $(PROPERTY_COUNTS)

