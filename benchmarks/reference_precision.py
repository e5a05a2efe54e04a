"""Whether the reference checkpoints' float16 weights lose anything against their runs' float32 EMA weights.

Plans every held-out query of a dataset with both, under each protocol, and writes a Markdown table: success of
each, the exact McNemar test between them, and how many plans are identical. Usage (the mini track at K = 12):

    python benchmarks/reference_precision.py --data data/maze15-s2025-k12 --runs runs/mini \\
        --out reports/reference/precision.md flexmdm mdm ar
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from agents import make_agent
from agents.learned import PROTOCOLS
from agents.reference import MEASURED_PROTOCOLS
from mazebench.datasets import load_dataset
from mazebench.evaluation import evaluate
from mazebench.statistics import mcnemar_exact


def plans(agent: str, dataset, checkpoint, sampler: dict) -> list[dict]:
    planner = make_agent(agent, dataset=dataset, checkpoint=checkpoint, sampler=sampler)
    with tempfile.TemporaryDirectory() as folder:
        evaluate(planner, dataset, out_dir=Path(folder) / "e", num_pngs=0, progress=False)
        return [json.loads(line) for line in (Path(folder) / "e" / "samples.jsonl").read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agents", nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True, help="the folder of the runs <agent>-k<K>")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    dataset = load_dataset(args.data)
    k = dataset.num_subgoals
    lines = [
        "# Reference checkpoints: float16 against float32",
        "",
        f"Every held-out query of `{args.data}` (K = {k}), {len(dataset.val.queries())} queries, 64 steps: the "
        "reference checkpoint (float16 EMA weights, computed in float32) against its run's float32 EMA weights. "
        "Measured by `python benchmarks/reference_precision.py`.",
        "",
        "| planner | protocol | success, float16 | success, float32 | only float16 / only float32 | McNemar p | "
        "identical plans |",
        "|---|---|---|---|---|---|---|",
    ]
    for agent in args.agents:
        for protocol in MEASURED_PROTOCOLS:  # both at 64 steps
            settings = PROTOCOLS[protocol]
            half = plans(agent, dataset, "reference", asdict(settings))
            full = plans(agent, dataset, args.runs / f"{agent}-k{k}", asdict(settings))
            test = mcnemar_exact(*(np.array([s["success"] for s in run]) for run in (half, full)))
            same = sum(a["path"] == b["path"] for a, b in zip(half, full))
            rate = [sum(s["success"] for s in run) / len(run) for run in (half, full)]
            lines.append(
                f"| {agent} | {protocol} | {rate[0]:.1%} | {rate[1]:.1%} | {test['only_first']} / "
                f"{test['only_second']} | {test['p_value']:.2g} | {same} of {len(half)} |"
            )
            print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
