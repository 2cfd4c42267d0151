# Build and test harness of the inferops.exoscale collection (the repo root is the collection root).
# GNU make + bash. Every target works from a fresh clone: `make test` is what CI runs (.ci/run).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules
.SUFFIXES:

ROOT := $(CURDIR)
PYTHON ?= python3
VENV := $(ROOT)/.venv
VBIN := $(VENV)/bin
VPY := $(VBIN)/python
VENV_STAMP := $(VENV)/.requirements-dev.stamp

BUILD := $(ROOT)/build
COLLECTIONS := $(BUILD)/collections
COLLECTION_DIR := $(COLLECTIONS)/ansible_collections/inferops/exoscale
REPORTS := $(BUILD)/reports
DIST := $(BUILD)/dist
INSTALLED := $(BUILD)/installed

# ansible-test looks for its get-pip bootstrap script here and cannot download it (offline machine).
GET_PIP_SHIM_SRC := $(ROOT)/.ci/get_pip_offline.py
# Found through the venv's own Python (whatever its version), when the recipe runs.
ANSIBLE_TEST_REQS_PY = $(shell "$(VPY)" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))' 2>/dev/null)

SANITY_PYTHON ?= 3.11
SANITY_ARGS ?=
PYTEST_ARGS ?=
# The playbook tests mostly wait (simulated provisioning, polls): more workers than cores overlap those waits;
# worksteal hands the remaining tests to idle workers (a few tests take minutes, most take seconds).
INTEGRATION_WORKERS ?= 4
PYTEST := $(VPY) -m pytest -p no:pytest-ansible

# Deterministic, offline-friendly environment for every recipe.
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_HOME := $(BUILD)/ansible-home
export ANSIBLE_LOCAL_TEMP := $(BUILD)/ansible-tmp
# Python writes bytecode (__pycache__/, ignored by git and by the collection build), even where the environment says
# PYTHONDONTWRITEBYTECODE (this machine's image does): every pytest process and xdist worker would otherwise compile the
# collection, the simulator and the tests again, and pytest would rewrite the asserts of every module it imports from
# its plugins' packages (schemathesis, hypothesis, anyio: about 260 files) - about 4 CPU-s per process, and make test
# starts about twenty.
unexport PYTHONDONTWRITEBYTECODE
export NO_PROXY := 127.0.0.1,localhost
export no_proxy := 127.0.0.1,localhost
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
# Tools that spawn ansible/ansible-doc/ansible-playbook by name (antsibull-docs, tests) find the venv's.
export PATH := $(VBIN):$(PATH)

# The steps of `make test`, in order: the whole list is here (mk/*.mk only define recipes). Cheapest first, so a
# typo fails within a minute: file-diff and lint checks (seconds), then units, sanity, the simulator's suites and the
# property test, then the playbook suites with the packaging checks, the version matrix and molecule beside them.
# It stops at the first failing step unless KEEP_GOING=1; each step is timed (wall and CPU seconds) in the summary.
# The expensive suites beside it: `make fuzz` (property), `make bench` (bench-smoke), `make matrix` (the matrix
# steps' smoke in full).
# Steps joined by "+" run at the same time; their output is shown when the group has finished, step by step. The
# machine has 2 cores and the suites are CPU-bound, so what counts is the CPU seconds of a group against twice its
# length: most steps wait part of the time (sanity is one ansible-test process, the property shards wait on real
# socket timeouts, bench-smoke and molecule run one ansible-playbook at a time, integration's tests wait on
# simulated provisioning), and a group fills those waits. Integration (about 850 CPU-s of the 1300 in all) leaves
# about a fifth of its two cores idle: the packaging checks, the matrix and molecule fit in it. Measured on CI from a
# fresh clone: this grouping 920 s in all (the integration group 693 s, 1286 CPU-s), the previous one (integration
# alone, the rest in two groups around it) 949 s: only less work makes the run shorter, not another grouping. The
# harness's internal_poll_interval (tests/integration/harness-ansible.cfg) took 990 s / 1763 CPU-s to 887 s / 1578.
# Never group two ansible-test runs (sanity, matrix-*: they share tests/output/; matrix-smoke runs its versions one
# after the other), nor a step with one it depends on.
TEST_STEPS := \
  build changelog-lint docs-check docsite-check pep8 ansible-lint+docs-lint \
  package units+sanity+simulator-tests+conformance+property+demo-check \
  integration+bench-smoke+matrix-smoke+galaxy-importer+molecule

.PHONY: help venv get-pip-shim build pep8 sanity units simulator-tests integration lint ansible-lint \
        docs-lint changelog-lint package test test-steps selftest-failfast clean distclean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_. -]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort | expand -t 22

# ---------------------------------------------------------------------------------------------------
# venv

venv: $(VENV_STAMP) get-pip-shim ## .venv with requirements-dev.txt (exact pins) + ansible-test get-pip shim

# uv (its exact pin is in requirements-dev.txt) installs the pins in seconds where pip takes minutes: pip fetches one
# file at a time (requirements-dev.txt from a fresh clone here: pip 212 s, uv 14 s with bytecode compiled). pip
# installs uv itself, and everything when uv cannot be had (say, no wheel for the platform).
UV := $(VBIN)/uv
UV_PIN = $(shell sed -n 's/^uv==/uv==/p' "$(ROOT)/requirements-dev.txt")

# install_requirements(python, requirements file): into the venv of that python, with uv when the dev venv has it.
# Bytecode is compiled at install (pip does it too), so nothing installed is compiled again at its first import.
define install_requirements
if [ -x "$(UV)" ]; then "$(UV)" pip install --quiet --compile-bytecode --python "$(1)" -r "$(2)"; \
else "$(1)" -m pip install --quiet --disable-pip-version-check -r "$(2)"; fi
endef

$(VENV_STAMP): requirements-dev.txt
	@if [ ! -x "$(VPY)" ]; then echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv "$(VENV)"; fi
	@if [ ! -x "$(UV)" ]; then $(VPY) -m pip install --quiet --disable-pip-version-check "$(UV_PIN)" \
	  || echo "venv: uv could not be installed; pip installs requirements-dev.txt (slower)"; fi
	@started=$$(date +%s); $(call install_requirements,$(VPY),requirements-dev.txt); \
	echo "venv: requirements-dev.txt installed in $$(( $$(date +%s) - started )) s ($$([ -x "$(UV)" ] && echo uv || echo pip))"
	@touch "$@"

get-pip-shim: $(VENV_STAMP) ## Write ~/.ansible/test/cache/get_pip_<version>.py (offline get-pip for ansible-test) and its wheels
	@$(call install_get_pip_shim,$(ANSIBLE_TEST_REQS_PY))

# install_get_pip_shim(ansible-test's python_requirements.py): the shim at the path that ansible-test looks for, and
# beside it the wheels of what it bootstraps in each environment (pip, and on older ansible-test setuptools and wheel:
# the first version of each that file names). .ci/get_pip_offline.py has uv install them offline instead of ensurepip
# then pip; the wheels come once from the machine's pip configuration. Without them the shim falls back to ensurepip.
define install_get_pip_shim
requirements="$$(sed -nE "s/^[[:space:]]*(pip|setuptools|wheel)='([0-9.]+)',.*/\1 \2/p" "$(1)" | awk '!seen[$$1]++')"; \
version="$$(echo "$$requirements" | awk '$$1 == "pip" {print $$2}')"; \
if [ -z "$$version" ]; then echo "cannot find the pip version ansible-test wants in $(1)" >&2; exit 1; fi; \
shim="$$HOME/.ansible/test/cache/get_pip_$${version//./_}.py"; wheels="$$(dirname "$$shim")/wheels"; \
if ! cmp -s "$(GET_PIP_SHIM_SRC)" "$$shim"; then \
  mkdir -p "$$(dirname "$$shim")"; cp "$(GET_PIP_SHIM_SRC)" "$$shim"; echo "wrote $$shim"; fi; \
missing="$$(echo "$$requirements" | while read -r name pinned; do \
  ls "$$wheels/$$name-$$pinned-"*.whl >/dev/null 2>&1 || echo "$$name==$$pinned"; done)"; \
if [ -n "$$missing" ]; then \
  "$(VPY)" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$$wheels" $$missing \
    || echo "get-pip shim: no wheels for $$missing (ansible-test's environments get pip through ensurepip, slower)"; fi
endef

# ---------------------------------------------------------------------------------------------------
# build: the collection must sit at .../ansible_collections/inferops/exoscale

build: ## build/collections/ansible_collections/inferops/exoscale -> repo root (symlink)
	@mkdir -p "$(dir $(COLLECTION_DIR))" "$(ANSIBLE_HOME)" "$(ANSIBLE_LOCAL_TEMP)" "$(REPORTS)"
	@if [ "$$(readlink "$(COLLECTION_DIR)" 2>/dev/null)" != "../../../.." ]; then \
	  rm -rf "$(COLLECTION_DIR)"; ln -s ../../../.. "$(COLLECTION_DIR)"; fi

# ---------------------------------------------------------------------------------------------------
# checks

# ansible-test resolves its working directory with os.getcwd(), which follows the symlink back to the
# repo root (no ansible_collections/ parent): ANSIBLE_TEST_CONTENT_ROOT names the symlinked path instead.
# --venv re-executes itself with the resolved path and fails, so run --local (the .venv python is the
# controller; each sanity test still gets its own cached venv under ~/.ansible/test/venv).
ANSIBLE_TEST_SANITY = cd "$(COLLECTION_DIR)" && ANSIBLE_TEST_CONTENT_ROOT="$(COLLECTION_DIR)" \
  "$(VBIN)/ansible-test" sanity --python $(SANITY_PYTHON) --local --color no

pep8: venv build ## ansible-test sanity --test pep8 alone (seconds: a style error fails `make test` early)
	$(ANSIBLE_TEST_SANITY) --test pep8

sanity: venv build ## ansible-test sanity (from the build path), every test but pep8 (its own step); SANITY_ARGS adds options
	$(ANSIBLE_TEST_SANITY) --skip-test pep8 $(SANITY_ARGS)

units: venv build ## pytest tests/unit
	@$(call run_pytest,units,tests/unit)

simulator-tests: venv build ## pytest tests/simulator/tests
	@$(call run_pytest,simulator,tests/simulator/tests,-n 2)

integration: venv build ## pytest tests/integration (real ansible-playbook against the simulator)
	@$(call run_pytest,integration,tests/integration,-n $(INTEGRATION_WORKERS) --dist worksteal --durations=15)

# run_pytest(report-name, path, extra pytest args): missing directory = skipped loudly; "no tests collected" (exit 5) fails.
# pytest.ini puts the repo root, build/collections and tests/simulator/src on the path.
define run_pytest
if [ ! -d "$(2)" ]; then echo "SKIPPED $(1): $(2) does not exist yet"; exit 0; fi; \
echo "+ $(PYTEST) $(3) $(PYTEST_ARGS) $(2)"; \
$(PYTEST) --junitxml="$(REPORTS)/$(1).xml" $(3) $(PYTEST_ARGS) "$(2)"
endef

lint: ansible-lint docs-lint changelog-lint ## ansible-lint + antsibull-docs + antsibull-changelog

ansible-lint: venv build ## ansible-lint --profile production (roles, playbooks, extensions)
	"$(VBIN)/ansible-lint" --profile production

docs-lint: venv build ## antsibull-docs lint-collection-docs (plugin docs, docsite extra docs and links)
	cd "$(COLLECTION_DIR)" && "$(VBIN)/antsibull-docs" lint-collection-docs --plugin-docs --check-extra-docs-refs .

changelog-lint: venv ## antsibull-changelog lint (changelogs/fragments)
	"$(VBIN)/antsibull-changelog" lint

package: venv build ## ansible-galaxy collection build -> build/dist, install -> build/installed
	rm -rf "$(DIST)" "$(INSTALLED)"
	"$(VBIN)/ansible-galaxy" collection build --force --output-path "$(DIST)" .
	ANSIBLE_COLLECTIONS_PATH="$(INSTALLED)" "$(VBIN)/ansible-galaxy" collection install --offline --force \
	  -p "$(INSTALLED)" "$(DIST)"/inferops-exoscale-*.tar.gz
	@# the tarball must carry every plugin file of the tree
	@diff <(cd plugins && find . -name '*.py' | sort) \
	      <(cd "$(INSTALLED)/ansible_collections/inferops/exoscale/plugins" && find . -name '*.py' | sort) \
	  || { echo "package: plugin files differ between the tree and the installed tarball" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------
# test: everything CI runs, fail fast, then a summary

test: venv ## Run every check (TEST_STEPS, in order, fail fast) and print a timed summary
	@rm -rf "$(REPORTS)"; mkdir -p "$(REPORTS)"; \
	TIMEFORMAT='%0U+%0S'; \
	results=(); rc=0; failed=""; cpu=0; started=$$(date +%s); \
	for group in $(TEST_STEPS); do \
	  t0=$$(date +%s); \
	  if [ "$${group//+/}" = "$$group" ]; then \
	    echo; echo "==================== make $$group ($$(( t0 - started )) s into make test) ===================="; \
	    code=0; { time $(MAKE) --no-print-directory "$$group" 2>&3 || code=$$?; } 3>&2 2>"$(REPORTS)/$$group.step.cpu"; \
	    if [ "$$code" = 0 ]; then status=PASS; else status=FAIL; rc=1; failed="$$failed $$group"; fi; \
	    cpu=$$(( cpu + $$(<"$(REPORTS)/$$group.step.cpu") )); \
	    results+=("$$(printf '%-4s  %-18s %4ss %5s CPU-s' "$$status" "$$group" "$$(( $$(date +%s) - t0 ))" "$$(( $$(<"$(REPORTS)/$$group.step.cpu") ))")"); \
	  else \
	    echo; echo "==================== make $${group//+/ and } at once ($$(( t0 - started )) s into make test) ===================="; \
	    pids=(); for step in $${group//+/ }; do \
	      ( s0=$$(date +%s); code=0; \
	        { time $(MAKE) --no-print-directory "$$step" >"$(REPORTS)/$$step.step.log" 2>&1 || code=$$?; } 2>"$(REPORTS)/$$step.step.cpu"; \
	        echo "$$code $$(( $$(date +%s) - s0 ))" >"$(REPORTS)/$$step.step.rc" ) & pids+=($$!); done; \
	    wait "$${pids[@]}"; \
	    for step in $${group//+/ }; do \
	      read -r code seconds <"$(REPORTS)/$$step.step.rc"; \
	      echo; echo "-------------------- make $$step (run at the same time as the others of $$group: $$seconds s) --------------------"; \
	      cat "$(REPORTS)/$$step.step.log"; \
	      if [ "$$code" = 0 ]; then status=PASS; else status=FAIL; rc=1; failed="$$failed $$step"; fi; \
	      cpu=$$(( cpu + $$(<"$(REPORTS)/$$step.step.cpu") )); \
	      results+=("$$(printf '%-4s  %-18s %4ss %5s CPU-s  (with %s)' "$$status" "$$step" "$$seconds" "$$(( $$(<"$(REPORTS)/$$step.step.cpu") ))" "$$group")"); \
	    done; \
	  fi; \
	  [ $$rc -eq 0 ] || [ -n "$(KEEP_GOING)" ] || break; \
	done; \
	echo; echo "==================== make test summary ===================="; \
	printf '%s\n' "$${results[@]}"; \
	echo "total $$(( $$(date +%s) - started )) s, $$cpu CPU-s"; \
	if [ $$rc -ne 0 ] && [ -z "$(KEEP_GOING)" ]; then echo "FAILED at step: $$failed (later steps not run; KEEP_GOING=1 runs them all)"; fi; \
	"$(VPY)" "$(ROOT)/.ci/summary.py" "$(REPORTS)" || rc=1; \
	exit $$rc

test-steps: ## Print the steps of `make test`, in order (a+b: run at the same time)
	@printf '%s\n' $(TEST_STEPS)

# A deliberate lint error must stop `make test` within FAILFAST_LIMIT seconds: a throwaway clone of the committed
# tree (sharing this .venv and ~/.ansible) with an unused import and a trailing space in a module, then `make test`.
FAILFAST_LIMIT ?= 120
selftest-failfast: venv ## Prove a lint error fails `make test` within FAILFAST_LIMIT s (clones HEAD to a temp dir; not in `make test`)
	@work="$$(mktemp -d)"; trap 'rm -rf "$$work"' EXIT; \
	git clone -q "$(ROOT)" "$$work/clone"; ln -s "$(VENV)" "$$work/clone/.venv"; \
	touch -r "$(VENV_STAMP)" "$$work/clone/requirements-dev.txt"; \
	printf 'import os \n' >> "$$work/clone/plugins/modules/ai_model.py"; \
	t0=$$(date +%s); rc=0; \
	$(MAKE) --no-print-directory -C "$$work/clone" test >"$$work/log" 2>&1 || rc=$$?; \
	seconds=$$(( $$(date +%s) - t0 )); sed -n '/make test summary/,$$p' "$$work/log"; \
	if [ $$rc -eq 0 ]; then echo "selftest-failfast: make test PASSED with a lint error" >&2; exit 1; fi; \
	grep -q '^FAILED at step:' "$$work/log" || { tail -40 "$$work/log"; echo "selftest-failfast: make test failed, not at a step" >&2; exit 1; }; \
	if [ $$seconds -gt $(FAILFAST_LIMIT) ]; then echo "selftest-failfast: the lint error took $$seconds s to fail make test (limit $(FAILFAST_LIMIT) s)" >&2; exit 1; fi; \
	echo "selftest-failfast: a lint error failed make test at step $$(sed -n 's/^FAILED at step: *\([^ ]*\).*/\1/p' "$$work/log") after $$seconds s (limit $(FAILFAST_LIMIT) s)"

# ---------------------------------------------------------------------------------------------------

clean: ## Remove build/, tests/output/, caches (keeps .venv)
	rm -rf "$(BUILD)" tests/output .pytest_cache .ansible
	find . -path ./.venv -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf

distclean: clean ## clean + remove .venv
	rm -rf "$(VENV)"

# Recipes of the other steps and suites (docs, docsite, demo, bench, conformance, fuzz/property, galaxy, matrix, molecule).
-include mk/*.mk
