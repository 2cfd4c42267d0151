# demo: playbooks/demo.yml against a simulator started here in the background and always stopped afterwards.
# Included from the Makefile (uses its ROOT, BUILD, VBIN, VPY, venv and build targets and exported ANSIBLE_* settings).

# Simulated durations are divided by DEMO_SPEED: 10 keeps each deployment state visible for a poll or more
# (creating, preparing, deploying, ready) and the whole demo well under two minutes.
DEMO_SPEED ?= 4
DEMO_API_KEY := EXOsimulatorkey000000000000
DEMO_API_SECRET := simulator-secret

.PHONY: demo

demo: venv build ## Run playbooks/demo.yml against a local simulator (started and stopped here)
	@work="$$(mktemp -d "$(BUILD)/demo.XXXXXX")"; pid=""; started=$$(date +%s); \
	cleanup() { \
	  if [ -n "$$pid" ] && kill -0 "$$pid" 2>/dev/null; then kill "$$pid" 2>/dev/null || true; wait "$$pid" 2>/dev/null || true; fi; \
	  rm -rf "$$work"; \
	}; \
	trap cleanup EXIT; trap 'exit 130' INT TERM; \
	cd "$(ROOT)"; \
	"$(VPY)" -m tests.simulator --port 0 --speed $(DEMO_SPEED) --state-file "$$work/sim.state.json" \
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
	  "$(VBIN)/ansible-playbook" playbooks/demo.yml; \
	echo "demo: done in $$(( $$(date +%s) - started )) s; stopping the simulator"
