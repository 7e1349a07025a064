# WMS2 developer commands. Everything runs from a project-local virtualenv (.venv).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo up down clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project metadata changes.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the import contracts in pyproject.toml ([tool.importlinter])

# Two pytest workers, a test module each at a time (--dist loadfile): most of the suite
# waits on dev servers, runners and timers, so two halve its time on a 2-core machine.
PYTEST_WORKERS ?= 2

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The embedded stack: Temporal dev server (Web UI http://127.0.0.1:8233) + a WMS2 worker.
demo: $(STAMP)
	$(BIN)/python tools/devstack.py demo

up: $(STAMP)
	$(BIN)/python tools/devstack.py up

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python tools/devstack.py down; fi

clean: down
	rm -rf $(VENV) .wms2 .pytest_cache .ruff_cache
