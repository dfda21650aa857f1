# The two commands of the README: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Set up, train what has no champion, print the evaluations, then start the API on 127.0.0.1:8000.
run: $(STAMP)
	$(BIN)/cma-predict run
	$(BIN)/cma-predict serve --admin-key

## Set up and run the checks and the whole test suite (slow training tests included).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy models pipelines service bench
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/bench_apprenticeship_host.py
	$(BIN)/python bench/bench_site_potential.py
	$(BIN)/python bench/bench_service.py

clean:
	rm -rf var
