# docsite: the Markdown guides in docs/*.md as the collection's docsite extra docs (antsibull-docs reads RST only,
# from docs/docsite/rst/, listed in docs/docsite/extra-docs.yml; docs/docsite/links.yml is written by hand).
# Included from the Makefile (uses its VPY and venv targets). `make docs-lint` lints the result with
# `antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs`.
#
#   make docsite         regenerate docs/docsite/rst/*.rst and docs/docsite/extra-docs.yml from docs/*.md
#   make docsite-check   fail if they differ from what the guides generate (part of `make test`, about 1 s)

.PHONY: docsite docsite-check


docsite: venv ## Regenerate the docsite pages (docs/docsite/rst/) from the guides in docs/*.md
	"$(VPY)" docs/docsite/generate_rst.py

docsite-check: venv ## The docsite pages are up to date with the guides
	"$(VPY)" docs/docsite/generate_rst.py --check
