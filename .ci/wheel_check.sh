#!/usr/bin/env bash
# Build the sdist and the wheel, install the wheel (not editable) in a clean venv outside the checkout, and run the
# installed CLI: its help, a tiny dataset, the BFS oracle, and the reference FlexMDM checkpoint shipped as package
# data. Missing package data or an import that works only from a checkout fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
BUILD_PYTHON="${BUILD_PYTHON:-.venv/bin/python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# the sdist, then the wheel built from it (out of the tree: the sdist must hold everything)
"$BUILD_PYTHON" -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q torch==2.13.0 ${TORCH_PIP_ARGS:-}
"$work/venv/bin/python" -m pip install -q "$work"/dist/*.whl
cd "$work"  # away from the checkout: only the installed package can be imported
bin="$work/venv/bin"
"$bin/mazebench" --help > /dev/null
"$bin/python" -c "import agents.reference as r; assert r.references(), 'no reference checkpoints in the wheel'"
"$bin/mazebench" generate --subgoals 12 --maze-size 15 --pairs 1000 --val-frac 0.3 --quiet
"$bin/mazebench" evaluate --agent bfs --data data/maze15-s2025-k12 --limit 20 --num-pngs 0 --quiet
"$bin/mazebench" evaluate --agent flexmdm --data data/maze15-s2025-k12 --checkpoint reference --limit 20 --quiet
echo "wheel check passed: $(ls "$work"/dist)"
