# mazebench: set up a virtual environment and run the demo, the tests or the benchmarks.
# `make demo` and `make test` work on a fresh machine with python3 (>= 3.10) and access to PyPI.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
K ?= 12
# Extra pip arguments for torch, e.g. TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=

.PHONY: venv demo lint test test-slow test-all wheel-check gpu-check bench

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

# The main job on the default (CPU) configuration: data, the BFS oracle, FlexMDM trained for about
# 20 minutes (cpu preset; --resume continues an interrupted run), then evaluated on the held-out pairs.
demo: venv
	$(BIN)/mazebench generate --subgoals $(K)
	$(BIN)/mazebench evaluate --agent bfs --subgoals $(K)
	if [ -f runs/cpu/flexmdm-k$(K)/summary.json ]; then echo "runs/cpu/flexmdm-k$(K) is trained"; \
	elif [ -f runs/cpu/flexmdm-k$(K)/checkpoint.safetensors ]; then $(BIN)/mazebench train --agent flexmdm --subgoals $(K) --resume; \
	else $(BIN)/mazebench train --agent flexmdm --subgoals $(K); fi
	$(BIN)/mazebench evaluate --agent flexmdm --subgoals $(K)

# Formatting and lint (ruff, configured in pyproject.toml); `ruff format .` and `ruff check --fix .` repair most.
lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# Before every commit: lint, then every unit and property test, under 3 minutes on 2 cores.
test: lint
	$(BIN)/python -m pytest -m "not slow"

# The slow tier: models trained end to end (minutes). CI runs both tiers.
test-slow: venv
	$(BIN)/python -m pytest -m slow

test-all: venv
	$(BIN)/python -m pytest

# The sdist and wheel built, the wheel installed in a clean venv (not editable) and its CLI run (CI runs it).
wheel-check: venv
	PYTHON=$(PYTHON) BUILD_PYTHON=$(BIN)/python bash .ci/wheel_check.sh

# Every code path (generate, train each preset, resume, each sampler, report, torchrun) on one GPU; a few
# minutes. DEVICE=cpu runs the same on the CPU (the slow test tier does).
DEVICE ?= cuda
gpu-check: venv
	$(BIN)/python -m tests.device_check --device $(DEVICE)

bench: venv
	mkdir -p reports
	$(BIN)/python -m pytest benchmarks/ -o python_files='bench_*.py' --benchmark-json=reports/bench.json
