# mazebench: set up a virtual environment and run the demo, the tests or the benchmarks.
# `make demo` and `make test` work on a fresh machine with python3 (>= 3.10) and access to PyPI.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
K ?= 12
# Extra pip arguments for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=

.PHONY: venv demo test bench

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

demo: venv
	$(BIN)/mazebench generate --subgoals $(K)
	$(BIN)/mazebench evaluate --agent bfs --subgoals $(K)

test: venv
	$(BIN)/python -m pytest

bench: venv
	mkdir -p reports
	$(BIN)/python -m pytest benchmarks/ -o python_files='bench_*.py' --benchmark-json=reports/bench-generation.json
