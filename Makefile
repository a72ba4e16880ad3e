# ckdtrack: `make demo` (set up + run the demo), `make test` (set up + run the test suite).
#
# PyTorch is installed first, on its own, so that you choose the build:
#   TORCH_SPEC       the requirement (default torch==2.13.0)
#   TORCH_INDEX_URL  the package index to take it from. Default: PyTorch's CPU-only index, so a
#                    CPU machine does not download the multi-GB CUDA build; a local wheel folder
#                    (/opt/wheels) is used instead when the machine has one. For a GPU machine:
#                    make setup TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126
#                    (or TORCH_INDEX_URL=default for the PyPI build).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
LOCAL_WHEELS := $(wildcard /opt/wheels)
TORCH_INDEX_URL ?= $(if $(LOCAL_WHEELS),default,https://download.pytorch.org/whl/cpu)
FIND_LINKS := $(if $(LOCAL_WHEELS),--find-links $(LOCAL_WHEELS),)
TORCH_INDEX := $(if $(filter default,$(TORCH_INDEX_URL)),,--index-url $(TORCH_INDEX_URL))

.PHONY: setup demo test test-fast bench wheel wheel-check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(FIND_LINKS) $(TORCH_INDEX) "$(TORCH_SPEC)"
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

wheel: setup
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .

# A user's install: the wheel in a fresh venv outside the checkout, run from an empty folder.
wheel-check: wheel
	bash .ci/wheel-check "$(PYTHON)" "$(TORCH_SPEC)" $(FIND_LINKS) $(TORCH_INDEX)

clean:
	rm -rf $(VENV) demo_output .pytest_cache dist build
