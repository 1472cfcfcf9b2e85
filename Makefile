# `make run` serves the API on the local stack; `make test` runs every test.
# Both create .venv (Python 3.11, pinned versions) on a fresh machine first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | cksum | cut -d' ' -f1)

# checkov has its own venv: its pins clash with the project's (requirements-checkov.txt)
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements-checkov.txt constraints-checkov.txt | cksum | cut -d' ' -f1)

.PHONY: run test check bench package clean minisign-tool browser

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@"$(PYTHON)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || { \
	  echo "make: Python 3.11 is required, but '$(PYTHON)' is $$("$(PYTHON)" --version 2>/dev/null | head -n1 | grep . || echo missing). Install python3.11, or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@echo "make: setting up .venv (Python 3.11 and the pinned packages; the first time takes a few minutes)"
	@test -x $(VENV)/bin/python || "$(PYTHON)" -m venv $(VENV) || { \
	  echo "make: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3.11-venv, then run make again" >&2; exit 1; }
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements-dev.txt || { \
	  echo "make: installing the pinned packages into .venv failed (pip's message is above); check access to PyPI, then run make again" >&2; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@
	@echo "make: .venv is ready"

$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt $(STAMP)
	@echo "make: setting up $(CHECKOV_VENV) (checkov and its pinned packages, for the template's scan)"
	@test -x $(CHECKOV_VENV)/bin/python || "$(PYTHON)" -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -c constraints-checkov.txt -r requirements-checkov.txt || { \
	  echo "make: installing checkov into $(CHECKOV_VENV) failed (pip's message is above); check access to PyPI, then run make again" >&2; exit 1; }
	@rm -f $(CHECKOV_VENV)/.installed-* && touch $@

run: $(STAMP)
	$(VENV)/bin/python -m devstack

# Two workers, one per core; a test file runs whole in one worker (its module fixtures and
# the local stack it starts are its own). TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2

test: check $(CHECKOV_STAMP) minisign-tool browser
	$(VENV)/bin/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# The signed-image tests sign with Debian's `minisign`: installed with apt-get when missing
# (sudo unless root). In CI (CI set) a failed install stops here; elsewhere one line says the
# tests that need it are skipped (tests/minisign_tool.py).
minisign-tool:
	@command -v minisign >/dev/null 2>&1 || { \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  echo "make: installing minisign (apt-get install minisign; the signed-image tests use it)"; \
	  { DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq minisign >/dev/null 2>&1 \
	    || { $$sudo apt-get update -qq >/dev/null 2>&1 \
	         && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq minisign >/dev/null 2>&1; }; } \
	  || if [ -n "$$CI" ]; then echo "make: could not install minisign (apt-get install minisign); the signed-image tests need it" >&2; exit 1; \
	     else echo "make: minisign is missing and could not be installed (apt-get install minisign): the signed-image tests are skipped" >&2; fi; }

# Debian's chromium + chromium-driver for the console's browser tests, when missing (apt-get as
# root or with sudo; in CI a browser that cannot be installed fails here).
browser:
	@bash tests/browser/install_chromium.sh

# Static checks (settings in pyproject.toml): ruff's rule set, mypy (strict on the domain),
# and import-linter's layer contracts.
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

bench: $(STAMP)
	$(VENV)/bin/python bench/coldstart.py
	$(VENV)/bin/python bench/transfer.py
	$(VENV)/bin/python bench/ingest.py
	$(VENV)/bin/python bench/export.py
	$(VENV)/bin/python bench/upload.py
	$(VENV)/bin/python bench/api_budget.py
	$(VENV)/bin/python bench/catalogue.py
	$(VENV)/bin/python bench/idle.py
	$(VENV)/bin/python bench/soak.py

# CloudFormation/SAM template + deployment.zip for AWS (SPEC §12), in build/package/.
package: $(STAMP)
	$(VENV)/bin/python -m infra.template --stage prod build/package

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache
