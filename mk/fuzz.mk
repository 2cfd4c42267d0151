# property / fuzz: fault sequences against a full serve_model run (tests/property, docs/reliability.md).
# Included from the Makefile (uses its ROOT, REPORTS, VPY, run_pytest, venv and build targets).
#
#   make property   200 sequences in 2 shards with fixed seeds, one per core (part of `make test`; 1-2 min on 2 cores)
#   make fuzz       2000 sequences, same seeds and property (not part of `make test`; about 10-15 min)
#
# `make property` also runs tests/property/test_plan_parity.py: 200 examples (PROPERTY_EXAMPLES) of check mode
# against the run over the resource modules and the rollout plan, plus the rollout role on a fixed sample.
#
# Both print the counts (sequences, faults placed and fired, per fault kind) from
# build/reports/property-faults.json. PROPERTY_EXAMPLES overrides the number of sequences, PROPERTY_SHARDS of shards.

PROPERTY_EXAMPLES ?= 200
FUZZ_EXAMPLES ?= 2000
# The shards' counts (build/reports/property-faults-<shard>.json) added up into property-faults.json and printed;
# "seconds" is the longest shard's (they run at once).
PROPERTY_COUNTS = "$(VPY)" -c 'import collections, glob, json, sys; \
  shards = [json.load(open(path)) for path in sorted(glob.glob(sys.argv[1] + "-*.json"))]; \
  counts = collections.Counter(); [counts.update({k: v for k, v in shard.items() if k != "seconds"}) for shard in shards]; \
  counts = dict(sorted(counts.items()), shards=len(shards), seconds=max([s.get("seconds", 0) for s in shards] or [0])); \
  json.dump(counts, open(sys.argv[1] + ".json", "w"), indent=1); \
  print("\n".join("  %-28s %s" % item for item in counts.items()))' "$(REPORTS)/property-faults"
PROPERTY_CLEAN = rm -f "$(REPORTS)"/property-faults*.json

.PHONY: property fuzz

property: venv build ## Property test: 200 fault sequences over a full role run (fixed seeds), prints the counts
	@$(PROPERTY_CLEAN); started=$$(date +%s); export PROPERTY_EXAMPLES=$(PROPERTY_EXAMPLES); \
	$(call run_pytest,property,tests/property,--timeout=900 -q -n 2 --dist worksteal); \
	echo "property: $$(( $$(date +%s) - started )) s"; $(PROPERTY_COUNTS)

fuzz: venv build ## The property test with 2000 fault sequences (not part of `make test`), prints the counts
	@$(PROPERTY_CLEAN); started=$$(date +%s); export PROPERTY_EXAMPLES=$(FUZZ_EXAMPLES); \
	$(call run_pytest,fuzz,tests/property,--timeout=0 -q -n 2 -k any_fault_sequence); \
	echo "fuzz: $$(( $$(date +%s) - started )) s"; $(PROPERTY_COUNTS)

