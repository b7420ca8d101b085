# The same commands everywhere: the README's quick start, developers and CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

## Set up and run calchub (server + local agent on SQLite under ~/.calchub).
run: $(VENV)/.server
	$(BIN)/calchub up

## Set up and pass the tests (lint, types, import contracts, unit, integration, acceptance).
test: $(VENV)/.dev
	scripts/test

lint: $(VENV)/.dev
	scripts/lint

bench: $(VENV)/.server
	$(BIN)/python bench/throughput.py

$(VENV)/.server: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server]'
	touch $@

$(VENV)/.dev: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,dev]'
	touch $(VENV)/.server $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
