# The two commands of the README: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every dependency (runtime and dev) pinned with its hashes: two fresh installs get the same packages.
LOCK := requirements.lock
LOCK_COMMAND := $(BIN)/uv pip compile pyproject.toml --extra dev --extra spark --extra postgres \
	--generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock" --quiet -o $(LOCK)

.PHONY: run test install lint typecheck bench clean system-deps lock lock-upgrade audit

## The locked packages first (hashes required), then the project itself without resolving anything again;
## `pip check` fails when pyproject.toml asks for a package the lock does not hold (run `make lock`).
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

## Regenerate the lock from pyproject.toml, keeping today's pins where they still fit (uv, from the dev extra).
lock:
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv; }
	$(LOCK_COMMAND)

## The same, moving every pin to the newest release allowed by pyproject.toml.
lock-upgrade:
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv; }
	$(LOCK_COMMAND) --upgrade

## Known vulnerabilities in the locked packages (pip-audit); says so and passes when no service answers.
audit: $(STAMP)
	$(BIN)/python scripts/audit_dependencies.py $(LOCK)

## Set up, train what has no champion, print the evaluations, then start the API on 127.0.0.1:8000.
run: $(STAMP)
	$(BIN)/cma-predict run
	$(BIN)/cma-predict serve --admin-key

## The browser and PDF tests drive Debian's Chromium and read PDFs with poppler; the Spark tests need a Java 17
## runtime and the PostgreSQL tests start a throw-away cluster with Debian's server: installed when missing.
SYSTEM_TOOLS := chromium chromedriver pdftoppm pdffonts pdftotext pdfinfo java
SYSTEM_PACKAGES := chromium chromium-driver poppler-utils openjdk-17-jre-headless postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
system-deps:
	@for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian $(SYSTEM_PACKAGES) (browser, PDF, Spark and PostgreSQL tests)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    $(SUDO) apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

## Set up and run the checks and the whole test suite (slow training tests included).
test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy models pipelines service catalog bench scripts
	$(BIN)/python scripts/audit_dependencies.py $(LOCK)
	SE_OFFLINE=true $(BIN)/pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## The load bench's clients are `hey` (Debian package), installed when missing.
bench: $(STAMP)
	@command -v hey >/dev/null || { echo "Installing Debian hey (load bench clients)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq hey >/dev/null; }
	$(BIN)/python bench/bench_apprenticeship_host.py
	$(BIN)/python bench/bench_site_potential.py
	$(BIN)/python bench/bench_service.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_diagnostic.py
	$(BIN)/python bench/bench_monitoring.py

clean:
	rm -rf var
