# make demo  - set up .venv and run the demo
# make test  - set up .venv, then ruff, mypy --strict and pytest
# make bench - set up .venv and run the benchmarks
# make docs  - set up .venv and build the documentation site (strict)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest docs bench clean

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The C sources and headers too: an editable install keeps the compiled module
# beside them, and a build from older sources is not used (src/aievents/_compiled.py).
C_SOURCES := $(wildcard src/aievents/*.c src/aievents/*.h)

$(STAMP): $(BIN)/python pyproject.toml setup.py $(C_SOURCES)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aievents demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples scripts
	$(BIN)/ruff format --check src tests bench examples scripts

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

pytest: $(STAMP)
	$(BIN)/python -m pytest

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint typecheck pytest docs

bench: $(STAMP)
	$(BIN)/python bench/bench_import.py
	$(BIN)/python bench/bench_dispatch.py
	$(BIN)/python bench/bench_instrument.py
	$(BIN)/python bench/bench_pricing.py
	$(BIN)/python bench/bench_aggregate.py
	$(BIN)/python bench/bench_forward.py
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_otel.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis build dist site
