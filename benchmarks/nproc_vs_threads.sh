#!/usr/bin/env bash
# Data parallelism over the CPU's cores (mazebench train --nproc N, one thread each, as torchrun sets)
# against one process using every core as intra-op threads: the cpu preset's FlexMDM for a short
# budget, alternated ROUNDS times, on a quiet machine. Prints training steps/s per run (the same global batch either way).
#   bash benchmarks/nproc_vs_threads.sh            # K = 12, 0.1 epoch per run, 2 rounds
set -euo pipefail
K=${K:-12}; EPOCHS=${EPOCHS:-0.1}; ROUNDS=${ROUNDS:-2}; NPROC=${NPROC:-$(nproc)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for round in $(seq "$ROUNDS"); do
  for mode in threads nproc; do
    extra=(); [ "$mode" = nproc ] && extra=(--nproc "$NPROC")
    mazebench train --agent flexmdm --subgoals "$K" --epochs "$EPOCHS" --eval-every-minutes 1000 \
      --checkpoint-every-minutes 1000 --quiet --out "$tmp/$mode-$round" "${extra[@]}" > "$tmp/$mode-$round.log" 2>&1
    python - "$tmp/$mode-$round/summary.json" "$mode" "$round" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"round {sys.argv[3]} {sys.argv[2]:>7} ({s['processes']} process(es)): {s['steps']} steps in "
      f"{s['train_minutes'] * 60:.1f} s, {s['steps'] / (s['train_minutes'] * 60):.2f} steps/s of "
      f"{s['train_config']['batch_size']} paths")
PY
  done
done
