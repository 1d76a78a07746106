# One venv in .venv; every target sets it up first if it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
export DSBA_REGISTRY_DIR ?= $(CURDIR)/models/registry

.PHONY: setup run test test-fast lint bench bench-deps browser-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,dask]'
	touch $(STAMP)

setup: $(STAMP)

## run: start the web app with gunicorn on http://$(HOST):$(PORT) (local folder registry)
run: $(STAMP)
	mkdir -p $(DSBA_REGISTRY_DIR)
	DSBA_BIND=$(HOST):$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## browser-deps: Debian's Chromium for the Playwright tests (needs root and apt)
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

## test: set up, lint, and run every test (core, web, browser, deploy)
test: $(STAMP) browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/pytest -q -x -m "not browser and not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## bench-deps: wrk from Debian drives the serving benchmark (a Python load generator otherwise)
bench-deps:
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } || true

## bench: print overhead and serving ratios against baselines measured in the same run
bench: $(STAMP) bench-deps
	$(BIN)/python benchmarks/train_overhead.py
	$(BIN)/python benchmarks/serve.py
	$(BIN)/python benchmarks/soak.py
	$(BIN)/python benchmarks/dask_train.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
