# matrix: the collection on the oldest ansible-core it claims (meta/runtime.yml) and on the newest, besides the
# main venv's 2.19 (which every other step uses). Included from the Makefile (ROOT, BUILD, COLLECTION_DIR, REPORTS,
# GET_PIP_SHIM_SRC, venv and build targets, exported ANSIBLE_* settings).
#
#   make matrix-2.16 / make matrix-2.21   one version, the smoke (no many-hosts scenario)
#   make matrix-smoke                    both smokes, one after the other (part of `make test`)
#   make matrix                          both versions, in full (MATRIX_FULL=1; not part of `make test`)
#
# Per version: its own venv under build/matrix/ from tests/matrix/requirements-<version>.txt (exact pins), then
#   1. ansible-test sanity, limited to the tests whose verdict depends on the ansible-core version (MATRIX_SANITY_TESTS:
#      the doc schema, the import rules, the Python the plugins are compiled with, ansible-doc);
#      the version-independent ones (pep8, yamllint, shebang, ...) already ran on 2.19 in `make sanity`;
#   2. the plugin unit tests (tests/unit/plugins), plain pytest;
#   3. the integration tests marked `core_subset` (a module, the role, the inventory plugin), with that venv's
#      ansible-playbook / ansible-inventory (tests/integration/conftest.py runs the tools beside sys.executable);
#      only the files that contain such tests are collected (the others import tools this venv does not need).
#      On 2.16 the modules run on Python 3.9 (the oldest the README claims for the host that runs them), from a venv
#      with tests/matrix/requirements-2.16-modules.txt (INTEGRATION_MODULE_PYTHON, read by the integration harness).
#
# Interpreters (2.16: Python 3.12, the newest its controller supports; 2.21: Python 3.13, 2.20+ need >= 3.12; 3.9 for
# the 2.16 modules) are looked up at run time: MATRIX_PYTHON_<minor> from the environment if set (for example
# MATRIX_PYTHON_3_13=/usr/bin/python3.13),
# else pyenv's builds ($(PYENV_ROOT)/versions/<minor>.*), else python<minor> on PATH. Without one, what needs it is
# SKIPPED with a message saying so; with MATRIX_STRICT set (CI=... sets it) a missing interpreter fails instead.

MATRIX := $(BUILD)/matrix
MATRIX_VERSIONS := 2.16 2.21  # also named in the matrix-% rule below and in TEST_STEPS
MATRIX_PYTHON_MINOR_2.16 := 3.12
MATRIX_PYTHON_MINOR_2.21 := 3.13
MATRIX_MODULE_PYTHON_MINOR_2.16 := 3.9
# Empty skips sanity (e.g. `make matrix-2.21 MATRIX_SANITY_TESTS=` while iterating on tests).
MATRIX_SANITY_TESTS ?= compile import validate-modules ansible-doc
MATRIX_PYTEST_ARGS ?=
# `make test` runs the matrix's smoke: the core subset without the many-hosts scenario (about 90 CPU-s of its
# forked hosts per version; the main venv runs it in `make integration`). `make matrix` (MATRIX_FULL=1) runs it too.
MATRIX_FULL ?=
MATRIX_SMOKE_ARGS = $(if $(MATRIX_FULL),,-k "not test_many_hosts")
MATRIX_STRICT ?= $(CI)
PYENV_ROOT ?= $(HOME)/.pyenv


.PHONY: matrix matrix-smoke $(addprefix matrix-,$(MATRIX_VERSIONS))

# One version after the other: their ansible-test runs share tests/output/ (so does `make sanity`: never at once).
matrix-smoke: ## The matrix's smoke (part of `make test`): matrix-2.21, then matrix-2.16
	@$(MAKE) --no-print-directory matrix-2.21 && $(MAKE) --no-print-directory matrix-2.16

matrix: ## The full matrix: matrix-2.16 and matrix-2.21 with the many-hosts scenario (MATRIX_FULL=1)
	@for version in $(MATRIX_VERSIONS); do $(MAKE) --no-print-directory matrix-$$version MATRIX_FULL=1 || exit 1; done

# find_python MINOR: the first interpreter that really is Python MINOR (pyenv's shims on PATH may not be set up).
# make_venv PYTHON DIR REQUIREMENTS: (re)create DIR when the requirements or the interpreter changed; without pip when uv
# installs (ensurepip costs about 3 CPU-s per venv and nothing in these venvs runs pip).
define MATRIX_SHELL_FUNCTIONS
find_python() { \
  local minor="$$1" override candidate; eval "override=\"\$${MATRIX_PYTHON_$${minor//./_}:-}\""; \
  for candidate in $$override $$(ls -d "$(PYENV_ROOT)"/versions/$$minor.*/bin/python$$minor 2>/dev/null | sort -V -r) \
                   $$(command -v python$$minor 2>/dev/null || true); do \
    if [ -x "$$candidate" ] && [ "$$("$$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$$minor" ]; then \
      echo "$$candidate"; return 0; fi; \
  done; return 1; \
}; \
make_venv() { \
  local python="$$1" dir="$$2" requirements="$$3" stamp="$$2/.requirements.stamp"; \
  if [ -f "$$stamp" ] && [ ! "$$requirements" -nt "$$stamp" ] && [ "$$(cat "$$stamp")" = "$$python" ]; then return 0; fi; \
  rm -rf "$$dir"; "$$python" -m venv $$([ -x "$(UV)" ] && echo --without-pip) "$$dir"; \
  { $(call install_requirements,$$dir/bin/python,$$requirements); } >"$$dir.install.log" 2>&1 \
    || { tail -40 "$$dir.install.log" >&2; echo "installing $$requirements failed (log: $$dir.install.log)" >&2; return 1; }; \
  echo "$$python" > "$$stamp"; \
}; \
skipped() { \
  echo "SKIPPED $$1: no Python $$2 found (MATRIX_PYTHON_$${2//./_}, $(PYENV_ROOT)/versions/$$2.*, python$$2 on PATH)."; \
  echo "SKIPPED $$1: $$3 did not run here."; \
  if [ -n "$(MATRIX_STRICT)" ]; then echo "$$1: MATRIX_STRICT is set (CI): a missing interpreter fails" >&2; return 1; fi; \
};
endef

matrix-2.16 matrix-2.21: matrix-%: venv build ## One ansible-core version: sanity subset, plugin units, core integration subset (smoke: no many-hosts)
	@$(MATRIX_SHELL_FUNCTIONS) \
	core="$*"; minor="$(MATRIX_PYTHON_MINOR_$*)"; module_minor="$(MATRIX_MODULE_PYTHON_MINOR_$*)"; \
	venv="$(MATRIX)/venv-$$core"; t0=$$(date +%s); \
	if ! python="$$(find_python "$$minor")"; then \
	  skipped "matrix-$$core" "$$minor" "ansible-core $$core (its sanity tests, unit tests and core integration subset)"; \
	  exit 0; \
	fi; \
	make_venv "$$python" "$$venv" "$(ROOT)/tests/matrix/requirements-$$core.txt"; \
	echo "matrix-$$core: $$("$$venv/bin/ansible" --version | sed -n 1p) on $$("$$venv/bin/python" --version) ($$python)"; \
	module_env=""; \
	if [ -n "$$module_minor" ]; then \
	  if module_python="$$(find_python "$$module_minor")"; then \
	    make_venv "$$module_python" "$(MATRIX)/modules-$$core" "$(ROOT)/tests/matrix/requirements-$$core-modules.txt"; \
	    module_env="INTEGRATION_MODULE_PYTHON=$(MATRIX)/modules-$$core/bin/python"; \
	    echo "matrix-$$core: modules run on $$("$(MATRIX)/modules-$$core/bin/python" --version) ($$module_python)"; \
	  else \
	    skipped "matrix-$$core" "$$module_minor" "modules on Python $$module_minor (they run on the controller's $$minor instead)"; \
	  fi; \
	fi; \
	t1=$$(date +%s); \
	if [ -n "$(strip $(MATRIX_SANITY_TESTS))" ]; then \
	  ( $(call install_get_pip_shim,$$venv/lib/python$$minor/site-packages/ansible_test/_internal/python_requirements.py) ); \
	  echo "+ ansible-test sanity --python $$minor --local $(addprefix --test ,$(MATRIX_SANITY_TESTS))"; \
	  ( cd "$(COLLECTION_DIR)" && ANSIBLE_TEST_CONTENT_ROOT="$(COLLECTION_DIR)" \
	    "$$venv/bin/ansible-test" sanity --python $$minor --local --color no $(addprefix --test ,$(MATRIX_SANITY_TESTS)) ); \
	else echo "SKIPPED matrix-$$core sanity: MATRIX_SANITY_TESTS is empty"; fi; \
	t2=$$(date +%s); \
	echo "+ pytest tests/unit/plugins (ansible-core $$core)"; \
	"$$venv/bin/python" -m pytest -p no:pytest-ansible -q --junitxml="$(REPORTS)/matrix-$$core-units.xml" \
	  $(MATRIX_PYTEST_ARGS) tests/unit/plugins; \
	t3=$$(date +%s); \
	subset="$$(grep -l 'pytest.mark.core_subset' tests/integration/test_*.py)"; \
	echo "+ $$module_env pytest -m core_subset" $$subset "(ansible-core $$core)"; \
	env $$module_env "$$venv/bin/python" -m pytest -p no:pytest-ansible -q -m core_subset $(MATRIX_SMOKE_ARGS) -n 2 --durations=5 \
	  --junitxml="$(REPORTS)/matrix-$$core-integration.xml" $(MATRIX_PYTEST_ARGS) $$subset; \
	t4=$$(date +%s); \
	echo "matrix-$$core: venvs $$((t1 - t0)) s, sanity $$((t2 - t1)) s, units $$((t3 - t2)) s, integration subset $$((t4 - t3)) s"
