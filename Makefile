# ckdtrack: `make demo` (set up + run the demo), `make test` (set up + run the test suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of PyTorch; a local wheel folder is used when the machine has one.
TORCH_SPEC ?= torch==2.13.0
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: setup demo test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(FIND_LINKS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q $(FIND_LINKS) -e ".[dev,plots]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m ckdtrack demo --out demo_output

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not golden and not slow"

bench: setup
	$(PY) benchmarks/bench_inference.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache
