# Two commands for a fresh machine: `make demo` (install what autoal needs + a real active-learning run) and
# `make test` (also the test tools: test extras, Debian's chromium, Label Studio; then the whole suite).
VENV := .venv
STAMP := $(VENV)/.autoal-installed
TEST_STAMP := $(VENV)/.autoal-test-tools-installed

.PHONY: setup test-setup demo test test-fast

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh scripts/setup_common.sh
	bash scripts/setup.sh
	touch $(STAMP)

test-setup: $(TEST_STAMP)

$(TEST_STAMP): $(STAMP) scripts/setup_test_tools.sh
	bash scripts/setup_test_tools.sh
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(VENV)/bin/autoal demo

test: $(TEST_STAMP)
	$(VENV)/bin/python -m pytest

test-fast: $(TEST_STAMP)
	$(VENV)/bin/python -m pytest -m "not autogluon"
