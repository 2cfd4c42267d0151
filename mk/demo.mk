# demo: playbooks/demo.yml against a simulator started here in the background and always stopped afterwards.
# Included from the Makefile (uses its ROOT, BUILD, PYTHON and build targets and exported ANSIBLE_* settings).
#
# The demo has a venv of its own, DEMO_VENV, with only requirements-demo.txt (ansible-core, httpx and their
# dependencies; the simulator is stdlib only): any Python >= 3.11 works (`make demo PYTHON=/path/to/python3.13`),
# and it installs in seconds. `make test` uses .venv with everything in requirements-dev.txt.

DEMO_VENV ?= $(BUILD)/demo-venv
DEMO_PY := $(DEMO_VENV)/bin/python
DEMO_VENV_STAMP := $(DEMO_VENV)/.requirements-demo.stamp

# Simulated durations are divided by DEMO_SPEED: 10 keeps each deployment state visible for a poll or more
# (creating, preparing, deploying, ready) and the whole demo well under two minutes.
DEMO_SPEED ?= 4
DEMO_API_KEY := EXOsimulatorkey000000000000
DEMO_API_SECRET := simulator-secret

.PHONY: demo demo-venv

# (Re)created when missing, when requirements-demo.txt is newer than its stamp, or when PYTHON is another version.
demo-venv: ## The demo's venv (DEMO_VENV) with requirements-demo.txt, from PYTHON (>= 3.11)
	@wanted="$$("$(PYTHON)" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3]); sys.exit(sys.version_info < (3, 11))')" \
	  || { echo "demo: $(PYTHON) is Python $${wanted:-?}; the demo needs Python >= 3.11 (make demo PYTHON=/path/to/python3.x)" >&2; exit 1; }; \
	have="$$("$(DEMO_PY)" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true)"; \
	if [ "$$have" != "$$wanted" ] || [ ! -f "$(DEMO_VENV_STAMP)" ] || [ requirements-demo.txt -nt "$(DEMO_VENV_STAMP)" ]; then \
	  echo "demo: creating $(DEMO_VENV) with $(PYTHON) (Python $$wanted)"; rm -rf "$(DEMO_VENV)"; \
	  "$(PYTHON)" -m venv "$(DEMO_VENV)"; \
	  $(call install_requirements,$(DEMO_PY),requirements-demo.txt); \
	  touch "$(DEMO_VENV_STAMP)"; \
	fi

demo: demo-venv build ## Run playbooks/demo.yml against a local simulator (own venv: requirements-demo.txt; any Python >= 3.11)
	@work="$$(mktemp -d "$(BUILD)/demo.XXXXXX")"; pid=""; started=$$(date +%s); \
	cleanup() { \
	  if [ -n "$$pid" ] && kill -0 "$$pid" 2>/dev/null; then kill "$$pid" 2>/dev/null || true; wait "$$pid" 2>/dev/null || true; fi; \
	  rm -rf "$$work"; \
	}; \
	trap cleanup EXIT; trap 'exit 130' INT TERM; \
	cd "$(ROOT)"; \
	"$(DEMO_PY)" -m tests.simulator --port 0 --speed $(DEMO_SPEED) --state-file "$$work/sim.state.json" \
	  --api-key "$(DEMO_API_KEY)" --api-secret "$(DEMO_API_SECRET)" >"$$work/sim.log" 2>&1 </dev/null & pid=$$!; \
	url=""; \
	for _ in $$(seq 300); do \
	  url="$$(sed -n 's/^SIMULATOR_URL=//p' "$$work/sim.log")"; [ -z "$$url" ] || break; \
	  kill -0 "$$pid" 2>/dev/null || { echo "demo: the simulator exited:" >&2; cat "$$work/sim.log" >&2; exit 1; }; \
	  sleep 0.1; \
	done; \
	[ -n "$$url" ] || { echo "demo: the simulator printed no SIMULATOR_URL within 30 s" >&2; exit 1; }; \
	echo "demo: simulator at $$url (pid $$pid, speed $(DEMO_SPEED))"; \
	env -u EXOSCALE_ZONE -u EXOSCALE_ACCOUNT -u EXOSCALE_CONFIG \
	  EXOSCALE_API_ENDPOINT="$$url" EXOSCALE_API_KEY="$(DEMO_API_KEY)" EXOSCALE_API_SECRET="$(DEMO_API_SECRET)" \
	  HF_ENDPOINT="$${url%/v2}/hf" \
	  "$(DEMO_VENV)/bin/ansible-playbook" playbooks/demo.yml; \
	echo "demo: done in $$(( $$(date +%s) - started )) s; stopping the simulator"

# demo-check (part of `make test`): `make demo` end to end on another Python than the dev venv's, fast simulated
# durations, then the demo venv holds exactly requirements-demo.txt (nothing of requirements-dev.txt crept in).
# The interpreter: DEMO_CHECK_PYTHON if set, else the newest pyenv build >= 3.12, else PYTHON (said so).
DEMO_CHECK_VENV := $(BUILD)/demo-check-venv
PYENV_ROOT ?= $(HOME)/.pyenv

.PHONY: demo-check


demo-check: build ## make demo on the newest other Python found (>= 3.12), and the demo venv holds only requirements-demo.txt
	@python="$(DEMO_CHECK_PYTHON)"; \
	if [ -z "$$python" ]; then \
	  python="$$(ls -d "$(PYENV_ROOT)"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V | tail -n 1)"; fi; \
	if [ -z "$$python" ]; then \
	  python="$(PYTHON)"; echo "demo-check: no Python >= 3.12 found under $(PYENV_ROOT)/versions; checking with $(PYTHON) only"; fi; \
	log="$(REPORTS)/demo-check.log"; mkdir -p "$(REPORTS)"; t0=$$(date +%s); \
	if ! $(MAKE) --no-print-directory demo PYTHON="$$python" DEMO_VENV="$(DEMO_CHECK_VENV)" DEMO_SPEED=50 >"$$log" 2>&1; then \
	  cat "$$log"; echo "demo-check: make demo failed with $$python (log $$log)" >&2; exit 1; fi; \
	grep -q 'Smoke test: \[Qwen/Qwen2.5-0.5B-Instruct\]' "$$log" && grep -qE 'localhost +: ok=[0-9]+ +changed=2 .*failed=0' "$$log" \
	  || { cat "$$log"; echo "demo-check: the demo did not end with a served, smoke-tested model (log $$log)" >&2; exit 1; }; \
	extra="$$(diff <(grep -vE '^\s*(#|$$)' requirements-demo.txt | tr 'A-Z_' 'a-z-' | sort) \
	               <("$(DEMO_CHECK_VENV)/bin/python" -m pip freeze --disable-pip-version-check | tr 'A-Z_' 'a-z-' | sort) || true)"; \
	[ -z "$$extra" ] || { echo "demo-check: the demo venv differs from requirements-demo.txt:"; echo "$$extra"; exit 1; } >&2; \
	echo "demo-check: make demo passed on $$("$(DEMO_CHECK_VENV)/bin/python" --version) ($$python) in $$(( $$(date +%s) - t0 )) s;" \
	     "its venv holds exactly requirements-demo.txt ($$(grep -cvE '^\s*(#|$$)' requirements-demo.txt) packages)"
