# matrix: the collection on the oldest ansible-core it claims (meta/runtime.yml) and on the newest, besides the
# main venv's 2.19 (which every other step uses). Included from the Makefile (ROOT, BUILD, COLLECTION_DIR, REPORTS,
# GET_PIP_SHIM_SRC, venv and build targets, exported ANSIBLE_* settings).
#
#   make matrix-2.16 / make matrix-2.21 / make matrix     (matrix-2.16 and matrix-2.21 are part of `make test`)
#
# Per version: its own venv under build/matrix/ from tests/matrix/requirements-<version>.txt (exact pins), then
#   1. ansible-test sanity, limited to the tests whose verdict depends on the ansible-core version (MATRIX_SANITY_TESTS:
#      the doc schema, the import rules, the Python the plugins are compiled with, ansible-doc);
#      the version-independent ones (pep8, yamllint, shebang, ...) already ran on 2.19 in `make sanity`;
#   2. the plugin unit tests (tests/unit/plugins), plain pytest;
#   3. the integration tests marked `core_subset` (a module, the role, the inventory plugin), with that venv's
#      ansible-playbook / ansible-inventory (tests/integration/conftest.py runs the tools beside sys.executable);
#      only the files that contain such tests are collected (the others import tools this venv does not need).
#
# The interpreter (2.16: Python 3.12, the newest its controller supports; 2.21: Python 3.13, 2.20+ need >= 3.12) is
# looked up at run time: MATRIX_PYTHON_<version> if set, else pyenv's builds ($(PYENV_ROOT)/versions/3.X.*), else
# python3.X on PATH. Without one, that version is SKIPPED with a message saying so; with MATRIX_STRICT set (CI=...
# sets it) a missing interpreter fails instead.

MATRIX := $(BUILD)/matrix
MATRIX_VERSIONS := 2.16 2.21
MATRIX_PYTHON_MINOR_2.16 := 3.12
MATRIX_PYTHON_MINOR_2.21 := 3.13
# Empty skips sanity (e.g. `make matrix-2.21 MATRIX_SANITY_TESTS=` while iterating on tests).
MATRIX_SANITY_TESTS ?= compile import validate-modules ansible-doc
MATRIX_PYTEST_ARGS ?=
MATRIX_STRICT ?= $(CI)
PYENV_ROOT ?= $(HOME)/.pyenv

TEST_STEPS += $(addprefix matrix-,$(MATRIX_VERSIONS))

.PHONY: matrix $(addprefix matrix-,$(MATRIX_VERSIONS))

matrix: $(addprefix matrix-,$(MATRIX_VERSIONS)) ## sanity + units + core integration subset on ansible-core 2.16 and 2.21

$(addprefix matrix-,$(MATRIX_VERSIONS)): matrix-%: venv build ## (matrix-2.16, matrix-2.21) one ansible-core version of the matrix
	@core="$*"; minor="$(MATRIX_PYTHON_MINOR_$*)"; requirements="$(ROOT)/tests/matrix/requirements-$$core.txt"; \
	venv="$(MATRIX)/venv-$$core"; override="$(MATRIX_PYTHON_$*)"; \
	[ -f "$$requirements" ] || { echo "matrix-$$core: $$requirements is missing" >&2; exit 1; }; \
	works() { [ -n "$$1" ] && [ -x "$$1" ] && [ "$$("$$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$$minor" ]; }; \
	python=""; \
	for candidate in $$override $$(ls -d "$(PYENV_ROOT)"/versions/$$minor.*/bin/python$$minor 2>/dev/null | sort -V -r) \
	                 $$(command -v python$$minor 2>/dev/null || true); do \
	  if works "$$candidate"; then python="$$candidate"; break; fi; \
	done; \
	if [ -z "$$python" ]; then \
	  echo "SKIPPED matrix-$$core: ansible-core $$core needs Python $$minor and none was found" \
	       "(MATRIX_PYTHON_$$core, $(PYENV_ROOT)/versions/$$minor.*, python$$minor on PATH)."; \
	  echo "SKIPPED matrix-$$core: its sanity tests, unit tests and core integration subset did not run here."; \
	  if [ -n "$(MATRIX_STRICT)" ]; then echo "matrix-$$core: MATRIX_STRICT is set (CI): a missing interpreter fails" >&2; exit 1; fi; \
	  exit 0; \
	fi; \
	t0=$$(date +%s); \
	stamp="$$venv/.requirements.stamp"; \
	if [ ! -f "$$stamp" ] || [ "$$requirements" -nt "$$stamp" ] || [ "$$(cat "$$stamp")" != "$$python" ]; then \
	  rm -rf "$$venv"; "$$python" -m venv "$$venv"; \
	  "$$venv/bin/python" -m pip install --disable-pip-version-check -r "$$requirements" >"$$venv.install.log" 2>&1 \
	    || { tail -40 "$$venv.install.log" >&2; echo "matrix-$$core: pip install failed (log: $$venv.install.log)" >&2; exit 1; }; \
	  echo "$$python" > "$$stamp"; \
	fi; \
	echo "matrix-$$core: $$("$$venv/bin/ansible" --version | sed -n 1p) on $$("$$venv/bin/python" --version) ($$python)"; \
	t1=$$(date +%s); \
	pip_version="$$(sed -nE "s/^[[:space:]]*pip='([0-9.]+)',.*/\1/p" \
	  "$$venv"/lib/python$$minor/site-packages/ansible_test/_internal/python_requirements.py | sed -n 1p)"; \
	[ -n "$$pip_version" ] || { echo "matrix-$$core: cannot find the pip version its ansible-test wants" >&2; exit 1; }; \
	shim="$$HOME/.ansible/test/cache/get_pip_$${pip_version//./_}.py"; \
	cmp -s "$(GET_PIP_SHIM_SRC)" "$$shim" || { mkdir -p "$$(dirname "$$shim")"; cp "$(GET_PIP_SHIM_SRC)" "$$shim"; }; \
	if [ -n "$(strip $(MATRIX_SANITY_TESTS))" ]; then \
	  echo "+ ansible-test sanity --python $$minor --local $(addprefix --test ,$(MATRIX_SANITY_TESTS))"; \
	  ( cd "$(COLLECTION_DIR)" && ANSIBLE_TEST_CONTENT_ROOT="$(COLLECTION_DIR)" \
	    "$$venv/bin/ansible-test" sanity --python $$minor --local --color no $(addprefix --test ,$(MATRIX_SANITY_TESTS)) ); \
	else echo "SKIPPED matrix-$$core sanity: MATRIX_SANITY_TESTS is empty"; fi; \
	t2=$$(date +%s); \
	export PYTHONPATH="$(COLLECTIONS):$(ROOT)$${PYTHONPATH:+:$$PYTHONPATH}"; \
	echo "+ pytest tests/unit/plugins (ansible-core $$core)"; \
	"$$venv/bin/python" -m pytest -p no:pytest-ansible -q --junitxml="$(REPORTS)/matrix-$$core-units.xml" \
	  $(MATRIX_PYTEST_ARGS) tests/unit/plugins; \
	t3=$$(date +%s); \
	subset="$$(grep -l 'pytest.mark.core_subset' tests/integration/test_*.py)"; \
	echo "+ pytest -m core_subset" $$subset "(ansible-core $$core)"; \
	"$$venv/bin/python" -m pytest -p no:pytest-ansible -q -m core_subset -n 2 --durations=5 \
	  --junitxml="$(REPORTS)/matrix-$$core-integration.xml" $(MATRIX_PYTEST_ARGS) $$subset; \
	t4=$$(date +%s); \
	echo "matrix-$$core: venv $$((t1 - t0)) s, sanity $$((t2 - t1)) s, units $$((t3 - t2)) s, integration subset $$((t4 - t3)) s"
