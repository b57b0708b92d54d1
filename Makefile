# Two commands for a fresh machine: `make demo` (install + a real active-learning run) and `make test`.
VENV := .venv
STAMP := $(VENV)/.autoal-installed

.PHONY: setup demo test test-fast

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh scripts/setup_test_tools.sh
	bash scripts/setup.sh
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/autoal demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not autogluon"
