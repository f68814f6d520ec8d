# Two commands on a fresh clone: `make book` builds the HTML book, `make test` runs every check.
# Both create .venv from requirements.txt first (again whenever requirements.txt or
# pyproject.toml is newer than the last install). Nothing needs installing by hand.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# The chapters, in toc order: every notebook the toc lists is executed and checked.
NOTEBOOKS := $(shell sed -n 's/^ *- file: \(notebooks\/[^ ]*\)$$/\1.ipynb/p' _toc.yml)
# Kernels come from the venv (ipykernel installed there), never from a user's own kernelspecs.
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter
export JUPYTER_PLATFORM_DIRS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export PYTHONHASHSEED := 0
# The book's tensors are tiny: one thread is faster, and steady when the machine is busy.
export OMP_NUM_THREADS := 1

.PHONY: help setup book test lint pytest nbval notebooks clean

help:
	@echo "make book       set up .venv and build the HTML book into _build/html"
	@echo "make test       set up .venv; lint, pytest, strict nbval on every notebook, book build"
	@echo "make notebooks  re-execute every notebook in place from a fresh kernel (refresh outputs)"
	@echo "make clean      remove _build (keeps .venv)"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	@touch $@

setup: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --builder html --all -W -n --keep-going
	@echo "The book is in _build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests notebooks
	$(BIN)/ruff format --check src tests notebooks

pytest: $(STAMP)
	$(PY) -m pytest tests -q

nbval: $(STAMP)
	$(PY) -m pytest -q --nbval --nbval-current-env -p no:cacheprovider $(NOTEBOOKS)

test: lint pytest nbval book

notebooks: $(STAMP)
	$(PY) -m normlab.notebooks $(NOTEBOOKS)

clean:
	rm -rf _build
