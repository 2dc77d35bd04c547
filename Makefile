# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DIFFSTREAM_HOME ?= $(HOME)/.cache/diffstream
export PIP_CACHE_DIR ?= $(DIFFSTREAM_HOME)/pip-cache
# uv installs from its cache by linking: a fresh venv with torch takes seconds, not minutes.
export UV_CACHE_DIR ?= $(DIFFSTREAM_HOME)/uv-cache
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv install demo test lint typecheck pytest stack-install chaos bench-peers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# --compile-bytecode: without .pyc files every process compiles torch and diffusers again
# (about 6 s of a processor start on 2 cores, where PYTHONDONTWRITEBYTECODE is set).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[inference,view,gateway,dev]'
	touch $@

venv install: $(VENV)/.installed

stack-install: install
	$(BIN)/diffstream stack install

demo: install
	$(BIN)/diffstream stack up
	$(BIN)/diffstream demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy .

# One worker per core (at most 4), each with a stack of its own; a file's tests stay on one
# worker, as its module fixtures (a loaded engine, running roles) are built once per file.
pytest: stack-install
	$(BIN)/pytest -n auto --maxprocesses 4 --dist loadfile

test: lint typecheck pytest

# The fault suite: kill -9 of roles, the broker and MinIO under load, on a stack of its own.
chaos: stack-install
	$(BIN)/diffstream chaos

# diffstream against Ray Serve, BentoML, LitServe and plain FastAPI: installs the peers extra
# into the venv (never part of `install`), then runs the comparison (about 15 minutes).
bench-peers: stack-install
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[inference,view,gateway,dev,peers]'
	$(BIN)/diffstream bench peers --json bench-peers.json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
