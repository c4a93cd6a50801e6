# Two commands do all the set-up on a fresh machine:  make train   and   make test
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
DATASET := /usr/share/datasets/fashion-mnist

.PHONY: setup data train test bench papers clean

setup: $(STAMP) data

# Reinstall only when the declared dependencies change: a second `make setup` takes a second.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
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

train: setup
	$(PY) train.py $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

bench: setup
	$(PY) benchmarks/bench_train.py $(ARGS)

papers: setup
	$(PY) -m gluon_cnn.papers

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
