# Two commands on a fresh clone: `make book` builds the HTML book, `make test` runs every check.
# Both create .venv from requirements.txt first (again whenever requirements.txt, the files of
# requirements/ it includes or pyproject.toml is newer than the last install); `make lab`
# installs only what a reader needs (requirements/). Nothing needs installing by hand: for the
# browser tests `make test` uses a Chromium or Chrome it finds, or installs Debian's chromium.
# The book's build and check tools are in tools/ (python -m tools.<tool>); see CONTRIBUTING.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# The chapters: empty means every notebook _toc.yml lists, in toc order (tools/toc.py reads the
# toc; it fails on a name that is not a file). `make nbval NOTEBOOKS=notebooks/02_vision.ipynb`
# checks one chapter, `make notebooks NOTEBOOKS=...` refreshes one.
NOTEBOOKS ?=
# `make nbval NBVAL_FLAGS=--full`: every CPU capability at 1 and at 2 threads.
NBVAL_FLAGS ?=
# The student edition: sources with the solutions removed, and its HTML.
STUDENT := _build/student
# The browser the browser tests drive: CHROMIUM if set, else one found (or installed with
# apt-get) by tools/browser.py; playwright's own browsers are never downloaded.
CHROMIUM ?=
# Where pip finds torch besides the default index. Empty (the default): pip takes the torch
# that its configured index serves for `torch==2.13.0`; on the public PyPI under Linux that is
# the CUDA build, which pulls several GB of NVIDIA libraries. For the CPU-only build there, use
# PyTorch's CPU wheel index: `make test TORCH_INDEX=https://download.pytorch.org/whl/cpu`
# (on a fresh clone, or after `rm -rf .venv`). macOS and Windows wheels are CPU-only anyway.
TORCH_INDEX ?=
# Kernels come from the venv (ipykernel installed there), never from a user's own kernelspecs.
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter
export JUPYTER_PLATFORM_DIRS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export PYTHONHASHSEED := 0
# The book's tensors are tiny: one thread is faster, and steady when the machine is busy.
export OMP_NUM_THREADS := 1

.PHONY: help setup book book-student books test lint pytest nbval browser browser-book \
	browser-student notebooks sync lab bench warmup mutants clean student-branch fork pdf pdf-student

help:
	@echo "make book          set up .venv and build the HTML book into _build/html"
	@echo "make book-student  build the book without solutions into $(STUDENT)/html, and check it"
	@echo "make student-branch"
	@echo "                   commit the student edition's sources to the branch its launch"
	@echo "                   buttons open (student_edition in _config.yml); then git push it"
	@echo "make fork URL=https://github.com/ORG/REPO [BRANCH=main]"
	@echo "                   point a fork at itself: config, set-up cells, text pairs, links"
	@echo "make pdf           build the book and print it to one PDF in _build/pdf/"
	@echo "make pdf-student   the same for the student edition (its PDF ends in -student.pdf)"
	@echo "make test          set up .venv; lint, pytest, strict nbval on every notebook, book"
	@echo "                   build, student build, and every page opened in headless chromium"
	@echo "make nbval         strict nbval on every notebook, once per CPU setting, offline"
	@echo "                   (the nbval matrix: CONTRIBUTING.md)"
	@echo "make notebooks     re-execute every notebook in place from a fresh kernel (refresh outputs)"
	@echo "make sync          write each notebook's text pair, notebooks/text/*.md (for diffs)"
	@echo "make lab           JupyterLab on notebooks/ with the book's kernel; prints the URL"
	@echo "make bench         LayerNorm's speed against a copy on this machine (chapter 8), in a"
	@echo "                   few minutes: _build/bench/bench.json and bench.png; probe's speed"
	@echo "                   on real shapes: _build/bench/probe.json"
	@echo "make warmup        post-LN and pre-LN trained with and without warm-up (chapter 5), in"
	@echo "                   a few minutes: _build/warmup/warmup.json"
	@echo "make mutants       mutation testing of normlab: how many small bugs the tests catch, in"
	@echo "                   about 10 minutes: _build/mutants/report.txt"
	@echo "make browser       only the browser tests, on the books already built"
	@echo "make assignments   the exercises as otter-grader assignments: student notebooks,"
	@echo "                   public tests, autograder zips, keys in _build/assignments/"
	@echo "make grade NOTEBOOKS=folder"
	@echo "                   grade submitted notebooks offline: _build/grades/<chapter>.csv"
	@echo "make clean         remove _build (keeps .venv)"

# Install the requirements files $(1) into $(VENV) (made if missing), register its kernel, and
# touch the stamp $@.
define install
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --no-compile \
	  $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) $(addprefix -r ,$(1))
	@# pip installs with --no-compile because it byte-compiles one file at a time; compileall
	@# spreads the same work over every core. Files that do not compile (some packages ship
	@# templates as .py) are skipped, as pip skips them.
	$(PY) -m compileall -qq -j 0 $(VENV)/lib >/dev/null || true
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3" >/dev/null
	@touch $@
endef

# Everything: the reader's files of requirements/ (which requirements.txt includes) and the
# book's build and test tools.
$(STAMP): requirements.txt $(wildcard requirements/*.txt) pyproject.toml
	$(call install,requirements.txt)

# What a reader needs (`make lab`): requirements/reader.txt (chapters 1-5, 7 and 10) and the
# files LAB_EXTRAS names (frameworks: chapters 6 and 9; kernels: chapter 8), not the build and
# test tools; README.md gives the sizes. Its own stamp, one per choice of extras.
LAB_EXTRAS ?= frameworks kernels
READER := requirements/reader.txt $(LAB_EXTRAS:%=requirements/%.txt)
empty :=
LAB_STAMP := $(VENV)/.installed-reader$(subst $(empty) $(empty),,$(LAB_EXTRAS:%=-%))
$(LAB_STAMP): $(READER) pyproject.toml
	$(call install,$(READER))

setup: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --builder html --all -W -n --keep-going
	$(PY) -m pytest -q -p no:cacheprovider tests/test_book_html.py -m built
	@echo "The book is in _build/html/index.html"

# The solutions are removed from a copy of the sources (so they are neither in the pages nor in
# the notebooks the download button hands out), the copy is built, and the result is checked.
book-student: $(STAMP)
	$(PY) -m tools.student . $(STUDENT)/src
	$(BIN)/jupyter-book build $(STUDENT)/src --builder html --all -W -n --keep-going
	rm -rf $(STUDENT)/html
	mv $(STUDENT)/src/_build/html $(STUDENT)/html
	STUDENT_HTML=$(STUDENT)/html STUDENT_SRC=$(STUDENT)/src \
	  $(PY) -m pytest -q -p no:cacheprovider tests/test_student_edition.py -m built
	@echo "The student edition is in $(STUDENT)/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests notebooks _ext tools $(wildcard grading)
	$(BIN)/ruff format --check src tests notebooks _ext tools $(wildcard grading)

# Everything but the tests of the built books (browser, built), which run after the builds.
pytest: $(STAMP)
	$(PY) -m pytest tests -q

# Strict nbval once per CPU setting a reader may have, offline: CONTRIBUTING.md, "The nbval matrix".
nbval: $(STAMP)
	$(PY) -m tools.nbval_matrix $(NBVAL_FLAGS) $(NOTEBOOKS)

# Where no browser can be found or installed (no apt-get: a Mac, Fedora), the browser tests are
# skipped with the reason, loudly; in CI (CI set) that is a failure, never a silent pass.
browser: $(STAMP)
	@browser=$$(CHROMIUM="$(CHROMIUM)" $(PY) -m tools.browser) || { \
	  if [ $$? = 3 ] && [ -z "$${CI:-}" ]; then \
	    echo "SKIPPED the browser tests (tests/test_browser.py, tests/test_jupyterlab.py," \
	      "tests/test_pdf.py):" \
	      "no browser, reason above"; exit 0; \
	  fi; exit 1; }; \
	echo "Browser tests with $$browser"; \
	$(MAKE) --no-print-directory -j2 --output-sync=target CHROMIUM="$$browser" \
	  browser-book browser-student; \
	echo "Screenshots of every page at 1280 and 390 px are in _build/screenshots/"

# The browser tests in two halves, one per core (chromium renders one page at a time): the book's
# pages and its PDF, and the student edition's pages and PDF with the JupyterLab test. Run
# through `make browser`, which finds the browser first. tests/test_pdf.py prints each PDF
# (what `make pdf` and `make pdf-student` write) and checks it.
BROWSER_TESTS := $(PY) -m pytest -q -p no:cacheprovider -m browser
browser-book:
	CHROMIUM="$(CHROMIUM)" $(BROWSER_TESTS) tests/test_browser.py tests/test_pdf.py -k "not student"
browser-student:
	CHROMIUM="$(CHROMIUM)" $(BROWSER_TESTS) tests/test_browser.py tests/test_jupyterlab.py \
	  tests/test_pdf.py \
	  -k "student or jupyterlab"

# The two builds are single-threaded (Sphinx), so they run side by side, each log kept whole.
books:
	$(MAKE) --no-print-directory -j2 --output-sync=target book book-student

# The PDF editions (tools/pdf.py): the book just built, printed to one PDF by the Chromium the
# browser tests use (found, or installed, as for `make browser`), offline. `make test` prints
# and checks both in its browser step (tests/test_pdf.py).
pdf: book
	browser=$$(CHROMIUM="$(CHROMIUM)" $(PY) -m tools.browser); \
	CHROMIUM="$$browser" $(PY) -m tools.pdf book
pdf-student: book-student
	browser=$$(CHROMIUM="$(CHROMIUM)" $(PY) -m tools.browser); \
	CHROMIUM="$$browser" $(PY) -m tools.pdf student

test: lint pytest nbval books browser

# Not a test: timings vary from run to run. Numbers that the book quotes come from a stored run
# (src/normlab/data/bench-cpu.json, written with `python -m tools.bench --store`).
bench: $(STAMP)
	OMP_NUM_THREADS=$$(nproc) $(PY) -m tools.bench

# Not a test: a few minutes of training on every core. Chapter 5 plots the stored run
# (src/normlab/data/warmup.json, written with `python -m tools.warmup --store`).
warmup: $(STAMP)
	$(PY) -m tools.warmup

# Not a test either: mutmut changes normlab one small bug at a time and runs each module's tests
# (tools/mutants.py; settings in pyproject.toml). mutmut is installed on first use only.
mutants: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -r tools/requirements-mutants.txt
	$(PY) -m tools.mutants

notebooks: $(STAMP)
	$(PY) -m tools.run_notebooks $(NOTEBOOKS)

# notebooks/text/*.md: each chapter as MyST Markdown, for diffs (tools/pairs.py; tests check it).
sync: $(STAMP)
	$(PY) -m tools.pairs sync

# JupyterLab on the repository, opened at notebooks/, with the kernel of .venv and no calls home
# (tools/lab.py); saving a chapter also writes its text pair. It prints the URL to open. It
# installs only what the chapters need, unless .venv has everything already (make book, make
# test), which it then keeps up to date.
lab: $(if $(wildcard $(STAMP)),$(STAMP),$(LAB_STAMP))
	$(PY) -m tools.lab

# The student edition as a repository of its own: the sources of make book-student, committed
# (without touching the working tree) to the branch its launch buttons open, student_edition.branch
# in _config.yml; `git push origin student` publishes it (.github/workflows/pages.yml does).
student-branch: book-student
	$(PY) -m tools.student . $(STUDENT)/src --branch

# A fork in one command: every place that names the repository (config, set-up cells, text pairs,
# links, the workflows' branch) now names URL, and `make test` stays green (tools/fork.py).
URL ?=
BRANCH ?=
fork: $(STAMP)
	$(PY) -m tools.fork "$(URL)"$(if $(BRANCH), --branch "$(BRANCH)")

# Autograded exercises (CONTRIBUTING.md, "Grading"): the chapters' exercises and their grading
# files (grading/<chapter>/<label>.py) as otter-grader assignments, and a folder of submitted
# notebooks graded offline in .venv, no Docker (`make grade NOTEBOOKS=submissions/`;
# GRADE_FLAGS="--time-limit 600 --cell-limit 120 --jobs 4" to change the defaults).
# `make grade-keys` grades every chapter's key in full (a minute; make test grades them cut to
# what their exercises need, tests/test_tools_grade.py).
GRADE_FLAGS ?=
.PHONY: assignments grade grade-keys
assignments: $(STAMP)
	$(PY) -m tools.assignments

# Students' notebooks run with the network cut off (tools/offline.py, as nbval's passes), where
# the system allows a network namespace; elsewhere the reason is printed and grading goes on.
grade: assignments
	@status=0; $(PY) tools/offline.py -- $(PY) -m tools.grade $(GRADE_FLAGS) $(NOTEBOOKS) \
	  || status=$$?; \
	if [ $$status = 3 ]; then \
	  echo "network isolation skipped (reason above): grading with the network"; \
	  $(PY) -m tools.grade $(GRADE_FLAGS) $(NOTEBOOKS); \
	else exit $$status; fi

grade-keys: assignments
	$(PY) -m tools.grade $(GRADE_FLAGS) --out _build/grades-keys _build/assignments/*/solution

clean:
	rm -rf _build
