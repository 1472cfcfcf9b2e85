# `make run` serves the API on the local stack; `make test` runs every test.
# Both create .venv (Python 3.11, pinned versions) on a fresh machine first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | cksum | cut -d' ' -f1)

.PHONY: run test bench package clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(VENV)/bin/python -m devstack

test: $(STAMP)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python bench/coldstart.py
	$(VENV)/bin/python bench/transfer.py
	$(VENV)/bin/python bench/api_budget.py

# CloudFormation/SAM template + deployment.zip for AWS (SPEC §12), in build/package/.
package: $(STAMP)
	$(VENV)/bin/python -m infra.template --stage prod build/package

clean:
	rm -rf $(VENV) .pytest_cache
