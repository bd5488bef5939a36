# The two commands: `make site` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WHEELHOUSE := $(VENV)/test-wheelhouse
export UV_PYTHON_DOWNLOADS := never

.PHONY: site test serve venv system-deps bench clean

$(STAMP): pyproject.toml tests/data/build-backends.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip uv
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'
	@# the build backends the fixture sdists need, served by the tests' own upstream (never fetched by a test)
	@$(BIN)/python -m pip download --quiet --no-deps --only-binary :all: --dest $(WHEELHOUSE) -r tests/data/build-backends.txt
	@touch $(STAMP)

venv: $(STAMP)

## make site: download the catalog's files missing from the cache (it says how much first; an interrupted
## download resumes on the next run), then build the catalog site (index + docs) into public/
site: $(STAMP)
	$(BIN)/curate fetch
	$(BIN)/curate build
	@echo "Built public/. Browse it with: make serve   (then open http://127.0.0.1:8000/)"

serve: $(STAMP)
	$(BIN)/curate serve --port 8000

## system packages the tests drive for real (nginx, chromium); installed when missing and we are root
system-deps:
	@bash .ci/system-deps

## make test: lint, type-check and run the whole offline suite
test: $(STAMP) system-deps
	$(BIN)/ruff check scripts tests benchmarks tools
	$(BIN)/ruff format --check scripts tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --cov --cov-report=term:skip-covered

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH)

clean:
	rm -rf public .pytest_cache .mypy_cache .ruff_cache
