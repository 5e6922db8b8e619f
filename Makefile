# `make demo` and `make test` set everything up on first use (a .venv next to this file).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-exhaustive lint clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tfrestore demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q tests

test-exhaustive: $(STAMP)
	$(VENV)/bin/python -m pytest -q tests --exhaustive

lint: $(STAMP)
	$(VENV)/bin/ruff check tfrestore training export tests

clean:
	rm -rf $(VENV) outputs
