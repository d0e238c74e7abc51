# avprep: every target strings avprep CLI calls together; `make demo` and `make test` do all set-up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.avprep-installed
WORKERS ?= 2
AVPREP := $(BIN)/avprep

.PHONY: install test demo bench prepare-audioset prepare-vggsound clean

## install: create .venv and install avprep with its test and ray extras (once; a stamp skips it)
install: $(STAMP)
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

## test: the whole test suite
test: install
	$(BIN)/python -m pytest -q
