# Two commands do all the set-up on a fresh machine:  make train   and   make test
# The interpreter: python3 when it is a supported one, else the newest supported python3.X on
# PATH, else the newest under pyenv. Override with PYTHON=/path/to/python3.X (and VENV=.venv-3.X
# to keep one venv per interpreter, as .ci/run does).
SUPPORTED := 3.10 3.11 3.12 3.13
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
DATASET := /usr/share/datasets/fashion-mnist

NEWEST_FIRST = $(shell printf '%s\n' $(SUPPORTED) | sort -rV)
PYENV_ROOT  ?= $(shell pyenv root 2>/dev/null)
# X.Y of an interpreter, empty when it does not run (a pyenv shim for an inactive version fails)
version_of = $(if $(strip $(1)),$(shell $(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null))
# an interpreter's identity: full version and base installation; a venv's names its base
id_of = $(if $(strip $(1)),$(shell $(1) -c 'import platform, sys; print(platform.python_version(), sys.base_prefix)' 2>/dev/null))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python3 $(addprefix python,$(NEWEST_FIRST)) \
  $$(for v in $(NEWEST_FIRST); do ls -d $(PYENV_ROOT)/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -n 1; done); do \
  v=$$($$p -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue; \
  case " $(SUPPORTED) " in (*" $$v "*) command -v $$p; exit 0;; esac; done)
endif

.PHONY: setup data train test test-fast lint notebooks notebooks-check bench papers clean \
        which-python supported horovod test-horovod fastops docs check-docs graphviz test-book2 \
        stock-d2l test-stock-d2l

# Refuse an unsupported interpreter in one line before anything is built (not for clean).
ifneq ($(filter-out clean data which-python supported stock-d2l,$(or $(MAKECMDGOALS),setup)),)
  PYVER := $(call version_of,$(PYTHON))
  ifeq ($(strip $(PYTHON)),)
    $(error no supported Python found: gluon-cnn runs on CPython $(SUPPORTED); install one or pass PYTHON=/path/to/python3.X)
  else ifeq ($(PYVER),)
    $(error PYTHON=$(PYTHON) does not run; gluon-cnn runs on CPython $(SUPPORTED))
  else ifeq ($(filter $(PYVER),$(SUPPORTED)),)
    $(error PYTHON=$(PYTHON) is Python $(PYVER); gluon-cnn runs on CPython $(SUPPORTED) only (README, "Supported Pythons"); pass PYTHON=/path/to/python3.X)
  endif
  # A venv built by another (or no longer working) interpreter is rebuilt, never reused.
  ifneq ($(call id_of,$(PY)),$(call id_of,$(PYTHON)))
    .PHONY: $(STAMP)
    REBUILD := 1
  endif
endif

# mxnet 1.9.1's wheel declares numpy<2, and numpy<2 has no wheels for Python 3.13: there it is
# installed without its declared dependencies (setup.cfg lists what it imports; gluon_cnn.backend.compat
# restores the numpy names it reads).
MXNET_NODEPS := $(filter 3.13,$(PYVER))

# The 2nd edition's `d2l` package (gluon_cnn.book2), installed without its declared dependencies:
# it pins numpy==1.23.5, which has no wheels for Python 3.12+, and matplotlib 3.7.2, pandas 2.0.3
# and jupyter 1.0.0 beside them. setup.cfg lists what d2l/mxnet.py imports instead.
D2L_VERSION := 1.0.3

setup: $(STAMP) data graphviz fastops

# Graphviz's dot, for `viz graph` (mx.viz.plot_network); its test skips without it.
graphviz:
	@if command -v dot >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's graphviz (dot) for python -m gluon_cnn.viz graph"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	else echo "note: no Graphviz dot; 'python -m gluon_cnn.viz graph' needs 'sudo apt-get install graphviz'"; fi

# The fused-operator library (`--fast-ops`, gluon_cnn.backend.fastops), built with g++ where there is
# one (about 20 s once; cached by source hash in ~/.cache/gluon-cnn). Without a compiler, training
# runs on MXNet's own operators, and this says so in one line.
fastops: $(STAMP)
	@if command -v "$${CXX:-g++}" >/dev/null 2>&1; then \
	  $(PY) -m gluon_cnn.backend.fastops >/dev/null || echo "note: the fused operators (--fast-ops) did not build; training uses MXNet's own"; \
	else echo "note: no C++ compiler (g++), so --fast-ops is off; training uses MXNet's own operators"; fi

# Reinstall only when the declared dependencies change: a second `make setup` takes a second.
$(STAMP): setup.cfg pyproject.toml setup.py
	@echo "setting up $(VENV) with $(PYTHON) (Python $(PYVER))"
	$(if $(REBUILD),rm -rf $(VENV) && $(PYTHON) -m venv $(VENV))
	$(PY) -m pip install -q --upgrade pip
	$(if $(MXNET_NODEPS),$(PY) -m pip install -q --no-deps mxnet==1.9.1)
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps d2l==$(D2L_VERSION)
	touch $@

# Fashion-MNIST from Debian's dataset-fashion-mnist (offline); gluon_cnn.data also looks in
# $$GLUON_CNN_DATA and Gluon's cache, and downloads through Gluon where there is internet.
data:
	@if [ -f $(DATASET)/train-images-idx3-ubyte.gz ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's dataset-fashion-mnist into $(DATASET)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	else \
	  echo "note: $(DATASET) is missing; run 'sudo apt-get install dataset-fashion-mnist'," \
	       "or set GLUON_CNN_DATA to a folder with the four IDX files (Gluon downloads them where there is internet)"; \
	fi

# `make train` is the book's LeNet (d2l zh §5.5, 5 epochs) checked against the book's target: a
# test accuracy under BOOK_TARGET fails in one line with exit code 3 (docs/training.md). Seeded,
# it ends at 0.697 here (README shows the run); where the sigmoid net leaves the ln 10 plateau
# moves the end by a few points on other machines, hence the margin. With ARGS there is no
# target unless ARGS names one (--target-acc ACC).
BOOK_TARGET := 0.65
train: setup
	$(PY) train.py $(if $(ARGS),,--target-acc $(BOOK_TARGET)) $(ARGS)

# pytest's exit 5 means it collected no tests (a typo in ARGS, say): a failure, said so.
# TEST_JOBS: pytest-xdist workers (2: the cores CI has); a file's tests stay on one worker (its module
# fixtures are built once). Many tests wait on a child process starting Python and MXNet, one
# core's work, so two workers finish the suite well before one. TEST_JOBS=0 runs in-process.
TEST_JOBS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_JOBS) --dist loadfile
test: setup
	@$(PYTEST) $(ARGS) || { rc=$$?; \
	  [ $$rc -ne 5 ] || echo "error: pytest collected no tests (ARGS=$(ARGS))" >&2; exit $$rc; }

# the core without the tests marked slow (real processes, real-data training, launches): for
# the edit-test loop; `make test` (CI) still runs everything
test-fast: setup
	@$(PYTEST) -m 'not slow' $(ARGS) || { rc=$$?; \
	  [ $$rc -ne 5 ] || echo "error: pytest collected no tests (ARGS=$(ARGS))" >&2; exit $$rc; }

# Horovod is optional (`--kvstore horovod`, README "Horovod"): built from source against the
# venv's MXNet with Gloo and without MPI, about 4 min on 2 cores (pip caches the wheel it builds).
HOROVOD_STAMP := $(VENV)/.horovod
horovod: $(HOROVOD_STAMP)

$(HOROVOD_STAMP): $(STAMP)
	$(PY) -m pip install -q wheel packaging psutil pyyaml cloudpickle
	HOROVOD_WITH_MXNET=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_WITHOUT_TENSORFLOW=1 \
	  HOROVOD_WITHOUT_PYTORCH=1 MAKEFLAGS=-j$$(nproc) \
	  $(PY) -m pip install -q --no-build-isolation horovod==0.28.1
	touch $@

# the tests `make test` skips without Horovod
test-horovod: horovod
	$(PY) -m pytest -q tests/test_parallel.py -k horovod

# ---- the 2nd edition's code (d2l en v1.0.3 ch.7-8, d2l zh ch.6-7; docs/book.md) ----
# test-book2: every section's MXNet cells, as printed, in a Jupyter kernel, training cut short
# (GLUON_CNN_BOOK_QUICK), two kernels at a time (BOOK2_JOBS; starting a kernel and importing
# mxnet is one core's work); `make test` runs two of them. CI runs it on every Python.
BOOK2_JOBS ?= 2
test-book2: setup
	GLUON_CNN_TEST_BOOK2=1 $(PY) -m pytest -n $(BOOK2_JOBS) tests/test_book2.py -k section_runs $(ARGS)

# test-stock-d2l: the same training sections give the same printed lines and plotted points as
# stock d2l 1.0.3 with its own pins (numpy 1.23.5, matplotlib 3.7.2; IPython < 9 for 3.7.2), in
# .venv-stock on Python 3.11, the newest its pins install on, given the same data and seeds.
STOCK_PYTHON ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.11.*/bin/python3.11) \
                            $(shell command -v python3.11))
STOCK_VENV   ?= .venv-stock
stock-d2l: $(STOCK_VENV)/.installed
$(STOCK_VENV)/.installed:
	@[ -n "$(STOCK_PYTHON)" ] || { echo "error: stock d2l needs Python 3.11; pass STOCK_PYTHON=/path/to/python3.11" >&2; exit 2; }
	rm -rf $(STOCK_VENV) && $(STOCK_PYTHON) -m venv $(STOCK_VENV)
	$(STOCK_VENV)/bin/python -m pip install -q --upgrade pip
	$(STOCK_VENV)/bin/python -m pip install -q mxnet==1.9.1 d2l==$(D2L_VERSION) 'ipython<9'
	touch $@

test-stock-d2l: setup stock-d2l
	STOCK_D2L_PYTHON=$(abspath $(STOCK_VENV))/bin/python $(PY) -m pytest -q tests/test_book2_stock.py $(ARGS)

lint: setup
	$(PY) -m ruff check .

# every notebook of notebooks/, headless (nbclient), as a reader would run it top to bottom; the
# outputs are saved into the notebooks (committed with them). notebooks-check (CI) saves nothing
# and fails when a notebook ends at chance or its outputs no longer match the saved ones.
notebooks: setup
	$(PY) notebooks/run_all.py --write $(ARGS)

notebooks-check: setup
	$(PY) notebooks/run_all.py --check $(ARGS)

# Writes benchmarks/results/*.json and renders README.md's, docs/performance.md's,
# docs/scale-out.md's and benchmarks/README.md's tables from them (`make papers`); speeds are this
# machine's, named under each table. About 15 minutes on 2 cores (17 when it installs torch).
# PyTorch is the benchmark's optional peer, never a dependency of gluon-cnn: installed here only,
# into the venv; without it the PyTorch arms and the modern-nets table are skipped with a note.
bench: setup
	@$(PY) -c 'import torch' 2>/dev/null || nice $(PY) -m pip install -q torch==2.13.0 || \
	  echo "note: torch==2.13.0 could not be installed; the PyTorch arms are skipped"
	$(PY) benchmarks/bench_train.py --json benchmarks/results/bench_train.json $(ARGS)
	$(PY) benchmarks/bench_modern.py --json benchmarks/results/bench_modern.json
	$(PY) benchmarks/scale_out.py --json benchmarks/results/scale_out.json
	$(PY) -m gluon_cnn.papers


papers: setup
	$(PY) -m gluon_cnn.papers

# ---- documents that are tested (docs/development.md, "Documents that are tested") ----
# `make docs` regenerates every table and every shown output of README.md and docs/*.md from real
# runs; `make check-docs` changes nothing and fails on a stale one. DOCS_ARGS passes flags to
# docs/blocks.py, e.g. DOCS_ARGS="--fast" or --recorded 'make train=FILE' (what .ci/run does).
DOCTESTS := $(PY) -m pytest -q -p no:cacheprovider --doctest-glob='*.md' \
  -o doctest_optionflags='ELLIPSIS NORMALIZE_WHITESPACE' README.md docs
docs: setup
	$(PY) -m gluon_cnn.papers
	$(PY) docs/blocks.py --update $(DOCS_ARGS)
	$(DOCTESTS)

check-docs: setup
	$(PY) -m gluon_cnn.papers --check
	$(PY) docs/blocks.py $(DOCS_ARGS)
	$(DOCTESTS)
# ---- end of the documents' targets ----

# The interpreter make would use, as "X.Y path" (nothing when none is found), and the supported
# versions; .ci/run asks `make -s which-python SUPPORTED=3.12` for each of them.
which-python:
	@v='$(call version_of,$(PYTHON))'; case " $(SUPPORTED) " in *" $$v "*) echo "$$v $(PYTHON)";; esac

supported:
	@echo $(SUPPORTED)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis

# ----------------------------------------------------------------------------- explainer page
# The explainer page (python -m gluon_cnn.viz explain) in a real browser: Debian's chromium and
# chromium-driver (as root), driven by Selenium through their paths, so Selenium Manager never
# downloads a browser or driver. tests/test_explain.py skips its browser tests without them.
.PHONY: browser test-browser explain-screenshot
browser:
	@[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }

test-browser: setup browser
	SE_AVOID_STATS=true $(PY) -m pytest -q tests/test_explain.py $(ARGS)

# docs/img/explain-lenet.png, the top of the page of a trained run at README width (1000x700):
# make explain-screenshot RUN=runs/lenet-book (the page shows the first test image the net gets
# right; the class images are seeded, so the same run gives the same picture)
RUN ?= runs/lenet-book
explain-screenshot: setup browser
	SE_AVOID_STATS=true $(PY) -m gluon_cnn.viz explain --run $(RUN) --out $(RUN)/explain.html --force
	SE_AVOID_STATS=true $(PY) -c "from gluon_cnn.viz.browser import screenshot; \
	  print('wrote', screenshot('$(RUN)/explain.html', 'docs/img/explain-lenet.png', 1000, 700))"
