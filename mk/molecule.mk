# molecule: the serve_model role (scenario extensions/molecule/default) and the rollout role (extensions/molecule/rollout)
# against the simulator; no container engine.
# Included from the Makefile (uses its ROOT, BUILD, VBIN, venv and build targets and exported ANSIBLE_* settings).

MOLECULE_SCENARIOS ?= default rollout
MOLECULE_SCENARIO ?= default
# A fixed ephemeral directory under build/ (instead of ~/.cache): its sim.pid lets this recipe stop a simulator
# that molecule could not (molecule interrupted before its destroy step), and its sim.log survives a failure.
MOLECULE_EPHEMERAL := $(BUILD)/molecule/$(MOLECULE_SCENARIO)


.PHONY: molecule molecule-scenario

molecule: venv build ## molecule test of every scenario (create -> converge -> idempotence -> verify -> destroy)
	@for scenario in $(MOLECULE_SCENARIOS); do \
	  $(MAKE) --no-print-directory molecule-scenario MOLECULE_SCENARIO="$$scenario" || exit 1; done

molecule-scenario: venv build ## molecule test of MOLECULE_SCENARIO (default: the serve_model role)
	@mkdir -p "$(MOLECULE_EPHEMERAL)"
	@stop_leftover() { \
	  pid="$$(cat "$(MOLECULE_EPHEMERAL)/sim.pid" 2>/dev/null || true)"; \
	  if [ -n "$$pid" ] && grep -qa tests.simulator "/proc/$$pid/cmdline" 2>/dev/null; then \
	    echo "molecule: stopping the leftover simulator $$pid"; kill "$$pid" || true; fi; \
	  rm -f "$(MOLECULE_EPHEMERAL)/sim.pid"; \
	}; \
	trap stop_leftover EXIT; trap 'exit 130' INT TERM; \
	cd "$(ROOT)" && MOLECULE_EPHEMERAL_DIRECTORY="$(MOLECULE_EPHEMERAL)" NO_COLOR=1 \
	  "$(VBIN)/molecule" test --scenario-name "$(MOLECULE_SCENARIO)"
