# One venv in .venv; every target sets it up first if it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: serving needs the core dependencies only; tests, lint and benchmarks add the
# extras. The full install touches both, so `make run` after `make test` installs nothing.
RUN_STAMP := $(VENV)/.installed-core
STAMP := $(VENV)/.installed-dev
# MLflow is only a benchmark baseline: it lives in its own venv, never in the project's.
# 3.17.2: mlflow 3.18.0 is on PyPI but its mlflow-skinny/mlflow-tracing 3.18.0 are not (yet).
MLFLOW_VERSION ?= 3.17.2
# Under .mlflow/.venv: every tool that skips .venv folders skips this one too.
MLFLOW_VENV := .mlflow/.venv
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed-$(MLFLOW_VERSION)
# FLAML, the quality benchmark's baseline, likewise in its own venv; ISLP in it brings the
# ISLR tables as CSV files (--no-deps: its own dependencies, torch among them, serve the
# book's labs, which the benchmark never imports).
FLAML_VERSION ?= 2.8.0
ISLP_VERSION ?= 0.6.0
FLAML_VENV ?= .flaml/.venv
FLAML_STAMP := $(FLAML_VENV)/.installed-$(FLAML_VERSION)-$(ISLP_VERSION)
HOST ?= 127.0.0.1
PORT ?= 8000
export DSBA_REGISTRY_DIR ?= $(CURDIR)/models/registry

# The real Azure CLI, only to check the azure/ scripts' plans (make check-azure): a venv of
# its own (about 700 MB; azure-cli pins many packages), never the project's.
AZCLI_VENV ?= .azcli/.venv

.PHONY: setup run test test-fast lint bench bench-deps bench-mlflow-deps bench-flaml-deps bench-quality browser-deps clean check-azure

# The pip a venv starts with is kept when it already builds editable installs from
# pyproject.toml (PEP 660): upgrading it costs a download on every fresh clone.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet 'pip>=22.3'

# --no-compile: pip would byte-compile every installed module (about 20 CPU seconds here);
# Python compiles the few hundred the server imports on first use, within the noise of a start.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-compile -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,dask,azure]'
	touch $(STAMP) $(RUN_STAMP)

setup: $(STAMP)

## run: start the web app with gunicorn on http://$(HOST):$(PORT) (local folder registry)
run: $(RUN_STAMP)
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

$(MLFLOW_STAMP):
	rm -rf $(MLFLOW_VENV)
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(MLFLOW_VENV)/bin/pip install --quiet mlflow==$(MLFLOW_VERSION) 'xgboost-cpu>=3.0,<4'
	touch $(MLFLOW_STAMP)

## bench-mlflow-deps: MLflow's scoring server in .mlflow/.venv, the serving benchmark's baseline
bench-mlflow-deps: $(MLFLOW_STAMP)

## bench: print overhead and serving ratios against baselines measured in the same run
bench: $(STAMP) bench-deps bench-mlflow-deps
	$(BIN)/python benchmarks/train_overhead.py
	$(BIN)/python benchmarks/serve.py
	$(BIN)/python benchmarks/soak.py
	$(BIN)/python benchmarks/dask_train.py
	$(BIN)/python benchmarks/monitoring.py

$(FLAML_STAMP):
	rm -rf $(FLAML_VENV)
	$(PYTHON) -m venv $(FLAML_VENV)
	$(FLAML_VENV)/bin/pip install --quiet --upgrade pip
	$(FLAML_VENV)/bin/pip install --quiet 'flaml[automl]==$(FLAML_VERSION)' pyarrow
	$(FLAML_VENV)/bin/pip install --quiet --no-deps islp==$(ISLP_VERSION)
	touch $(FLAML_STAMP)

## bench-flaml-deps: FLAML and ISLP's tables in .flaml/.venv (FLAML_VENV=path for another)
bench-flaml-deps: $(FLAML_STAMP)

## bench-quality: our search and defaults against FLAML on 8 real tables (about 55 min; ARGS=--quick)
bench-quality: $(STAMP) bench-flaml-deps
	$(BIN)/python benchmarks/quality.py --flaml-venv $(FLAML_VENV) $(ARGS)

$(AZCLI_VENV)/bin/az:
	rm -rf $(AZCLI_VENV)
	$(PYTHON) -m venv $(AZCLI_VENV)
	$(AZCLI_VENV)/bin/pip install --quiet azure-cli

## check-azure: every az command the azure/ scripts plan (--dry-run), through the real az parser, offline
check-azure: $(AZCLI_VENV)/bin/az
	$(AZCLI_VENV)/bin/python tests/deploy/check_az_plans.py

clean:
	rm -rf $(VENV) .mlflow .flaml .azcli .pytest_cache .ruff_cache
