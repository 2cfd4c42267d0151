# Documentation and packaging gates (included by the Makefile: `-include mk/*.mk`).
#
#   make docs          regenerate the module/role reference (docs/modules/, docs/roles/) from the plugins' docs
#   make docs-check    fail if the committed reference differs from what the docs generate  (part of `make test`)
#   make examples      run every module's EXAMPLES against the simulator (a slice of `make integration`, to iterate on)
#   make ee-check      ansible-builder create + build-time introspection of the EE (a slice of `make units`)

.PHONY: docs docs-check examples ee-check

docs: venv ## Regenerate docs/modules/ and docs/roles/ from the modules' and roles' own documentation
	"$(VPY)" docs/generate_reference.py

docs-check: venv ## The committed module reference is up to date (docs cannot drift from the code)
	"$(VPY)" docs/generate_reference.py --check

examples: venv build ## Run every module's EXAMPLES block against the simulator
	$(PYTEST) --junitxml="$(REPORTS)/examples.xml" $(PYTEST_ARGS) tests/integration/test_examples.py

ee-check: venv build ## ansible-builder create for the execution environment, offline (no image build)
	$(PYTEST) --junitxml="$(REPORTS)/ee-check.xml" $(PYTEST_ARGS) tests/unit/test_packaging.py
