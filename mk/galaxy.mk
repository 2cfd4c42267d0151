# galaxy-importer: the checks Galaxy runs when the collection tarball is uploaded, offline and without a container
# engine (mk/galaxy-importer.cfg: RUN_ANSIBLE_TEST = False; `make sanity` runs ansible-test).
# Included from the Makefile (uses its ROOT, BUILD, DIST, REPORTS, PYTHON and package targets).
#
#   make galaxy-importer   build the tarball (make package), import it; fails on any ERROR or WARNING line
#
# galaxy-importer 0.4.44 pins attrs==23.2.0 and flake8 6.1, which conflict with requirements-dev.txt: it gets its own
# venv, from the exact pins in mk/requirements-galaxy-importer.txt (about 20 s to create; about 15 s per import).
# Its bin/ goes first on PATH: galaxy-importer runs ansible-doc and ansible-lint by name (and skips them with a
# warning when it cannot find them).

GALAXY_IMPORTER_VENV := $(BUILD)/galaxy-importer-venv
GALAXY_IMPORTER_REQS := $(ROOT)/mk/requirements-galaxy-importer.txt
GALAXY_IMPORTER_STAMP := $(GALAXY_IMPORTER_VENV)/.requirements.stamp
GALAXY_IMPORTER_WORK := $(BUILD)/galaxy-importer


.PHONY: galaxy-importer galaxy-importer-venv

galaxy-importer-venv: $(GALAXY_IMPORTER_STAMP)

$(GALAXY_IMPORTER_STAMP): $(GALAXY_IMPORTER_REQS)
	@if [ ! -x "$(GALAXY_IMPORTER_VENV)/bin/python" ]; then \
	  echo "creating $(GALAXY_IMPORTER_VENV) with $(PYTHON)"; $(PYTHON) -m venv "$(GALAXY_IMPORTER_VENV)"; fi
	@$(call install_requirements,$(GALAXY_IMPORTER_VENV)/bin/python,$(GALAXY_IMPORTER_REQS))
	@touch "$@"

# The tarball of `make package` (an earlier step of `make test`); built here only when it is missing.
galaxy-importer: venv build galaxy-importer-venv ## galaxy-importer on the built tarball (make package when missing): zero errors, zero warnings
	@ls "$(DIST)"/inferops-exoscale-*.tar.gz >/dev/null 2>&1 || $(MAKE) --no-print-directory package
	@tarballs=("$(DIST)"/inferops-exoscale-*.tar.gz); \
	if [ "$${#tarballs[@]}" -ne 1 ] || [ ! -f "$${tarballs[0]}" ]; then \
	  echo "galaxy-importer: expected one tarball in $(DIST), found: $${tarballs[*]}" >&2; exit 1; fi; \
	rm -rf "$(GALAXY_IMPORTER_WORK)"; mkdir -p "$(GALAXY_IMPORTER_WORK)" "$(REPORTS)"; \
	log="$(REPORTS)/galaxy-importer.log"; \
	echo "+ galaxy-importer $${tarballs[0]#$(ROOT)/}"; \
	rc=0; cd "$(GALAXY_IMPORTER_WORK)" && \
	  env -u ANSIBLE_COLLECTIONS_PATH PATH="$(GALAXY_IMPORTER_VENV)/bin:$$PATH" \
	    GALAXY_IMPORTER_CONFIG="$(ROOT)/mk/galaxy-importer.cfg" \
	    "$(GALAXY_IMPORTER_VENV)/bin/python" -m galaxy_importer.main "$${tarballs[0]}" >"$$log" 2>&1 || rc=$$?; \
	problems="$$(grep -E '^(WARNING|ERROR|CRITICAL)' "$$log" || true)"; \
	if [ $$rc -ne 0 ] || [ -n "$$problems" ] || ! grep -q '^Importer processing completed successfully' "$$log"; then \
	  cat "$$log"; echo; \
	  echo "galaxy-importer: FAILED (rc=$$rc, $$(grep -cE '^(WARNING|ERROR|CRITICAL)' "$$log" || true) warning/error lines; log $$log)" >&2; \
	  exit 1; fi; \
	echo "galaxy-importer: imported $$(grep -c '^Loading ' "$$log") contents, 0 warnings, 0 errors (log $${log#$(ROOT)/})"
