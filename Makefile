# `make demo` and `make test` set everything up on first use (a .venv next to this file).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# pytest-xdist worker processes: much of a test's time is single-threaded Python (tracing,
# building models), so two processes on 2 cores take 557 s where one took 992 s. `worksteal`:
# a worker that runs out of tests takes pending ones from the other (the slowest take ~50 s).
TEST_WORKERS ?= 2

.PHONY: demo test test-exhaustive lint clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tfrestore demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal tests

test-exhaustive: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal tests --exhaustive

lint: $(STAMP)
	$(VENV)/bin/ruff check tfrestore training export tests

clean:
	rm -rf $(VENV) outputs
