# Two commands on a fresh clone: `make book` builds the HTML book, `make test` runs every check.
# Both create .venv from requirements.txt first (again whenever requirements.txt or
# pyproject.toml is newer than the last install). Nothing needs installing by hand: `make test`
# also installs Debian's chromium (for the browser test) when it is missing.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# The chapters, in toc order: every notebook the toc lists is executed and checked.
NOTEBOOKS := $(shell sed -n 's/^ *- file: \(notebooks\/[^ ]*\)$$/\1.ipynb/p' _toc.yml)
# The student edition: sources with the solutions removed, and its HTML.
STUDENT := _build/student
# The browser the browser test drives (Debian's package; playwright's own are never downloaded).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Kernels come from the venv (ipykernel installed there), never from a user's own kernelspecs.
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter
export JUPYTER_PLATFORM_DIRS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export PYTHONHASHSEED := 0
# The book's tensors are tiny: one thread is faster, and steady when the machine is busy.
export OMP_NUM_THREADS := 1
export CHROMIUM

.PHONY: help setup book book-student test lint pytest nbval browser chromium notebooks clean

help:
	@echo "make book          set up .venv and build the HTML book into _build/html"
	@echo "make book-student  build the book without solutions into $(STUDENT)/html, and check it"
	@echo "make test          set up .venv; lint, pytest, strict nbval on every notebook, book"
	@echo "                   build, student build, and every page opened in headless chromium"
	@echo "make notebooks     re-execute every notebook in place from a fresh kernel (refresh outputs)"
	@echo "make browser       only the browser tests, on the books already built"
	@echo "make clean         remove _build (keeps .venv)"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	@touch $@

setup: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --builder html --all -W -n --keep-going
	@echo "The book is in _build/html/index.html"

# The solutions are removed from a copy of the sources (so they are neither in the pages nor in
# the notebooks the download button hands out), the copy is built, and the result is checked.
book-student: $(STAMP)
	$(PY) -m normlab.student . $(STUDENT)/src
	$(BIN)/jupyter-book build $(STUDENT)/src --builder html --all -W -n --keep-going
	rm -rf $(STUDENT)/html
	mv $(STUDENT)/src/_build/html $(STUDENT)/html
	$(PY) -m pytest -q -p no:cacheprovider tests/test_browser.py -m browser -k student_edition
	@echo "The student edition is in $(STUDENT)/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests notebooks _ext
	$(BIN)/ruff format --check src tests notebooks _ext

# Everything but the browser tests, which need the built book (they run last in `make test`).
pytest: $(STAMP)
	$(PY) -m pytest tests -q -m "not browser"

nbval: $(STAMP)
	$(PY) -m pytest -q --nbval --nbval-current-env -p no:cacheprovider $(NOTEBOOKS)

chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "Installing chromium (for the browser test) with apt-get"; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	fi
	@test -x "$(CHROMIUM)" || { echo "chromium is not at $(CHROMIUM); set CHROMIUM=/path"; exit 1; }

browser: $(STAMP) chromium
	$(PY) -m pytest -q -p no:cacheprovider tests/test_browser.py -m browser
	@echo "A screenshot of the first chapter is in _build/screenshots/"

test: lint pytest nbval book book-student browser

notebooks: $(STAMP)
	$(PY) -m normlab.notebooks $(NOTEBOOKS)

clean:
	rm -rf _build
