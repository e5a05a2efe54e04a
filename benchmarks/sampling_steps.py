"""Wall time of the paper's protocol at its step count against its 64-step variant, side by side on the same queries.

    python benchmarks/sampling_steps.py --subgoals 2 --queries 100 --rounds 2 \\
        --out reports/mini/paper-protocol-steps/timing.md

The mini track's reference checkpoints plan the first ``--queries`` drawn held-out queries (the dataset is generated
under data/ if missing) under ``paper-64`` and ``paper`` and, for the MDM, under ``paper`` with the network called
on every row at every step (plain tau-leaping, ``call_every_step``: the same paths). Rounds alternate the variants
so that a noisy machine slows them alike; the table gives the median seconds and the ratios to ``paper-64``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch

import agents.mdm
from agents import make_agent
from agents.learned import protocol_sampler, protocol_steps
from agents.reference import reference_checkpoint
from mazebench.report.pipeline import prepared_dataset
from mazebench.report.spec import TRACK_DATA


def plan_seconds(agent: str, dataset, subgoals: list, protocol: str, every_step: bool = False) -> tuple[float, list]:
    """Seconds to plan ``subgoals`` in one batch, and the paths."""
    planner = make_agent(
        agent,
        dataset=dataset,
        checkpoint=reference_checkpoint(agent, dataset),
        steps=protocol_steps(protocol),
        sampler=asdict(protocol_sampler(protocol)),
    )
    plain = agents.mdm.mdm_sample
    if every_step:
        agents.mdm.mdm_sample = functools.partial(plain, call_every_step=True)
    try:
        started = time.perf_counter()
        paths = planner.plan(dataset.maze, subgoals, seed=0)
        return time.perf_counter() - started, paths
    finally:
        agents.mdm.mdm_sample = plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subgoals", type=int, default=2)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this Markdown file")
    args = parser.parse_args()
    dataset = prepared_dataset(args.subgoals, TRACK_DATA["mini"], Path("data"), progress=False)
    subgoals = [dataset.val[int(i)].subgoals for i in dataset.val.queries()[: args.queries]]
    variants = [
        ("mdm", "paper-64", False),
        ("mdm", "paper", False),
        ("mdm", "paper", True),
        ("flexmdm", "paper-64", False),
        ("flexmdm", "paper", False),
    ]
    seconds = {variant: [] for variant in variants}
    same = {}
    for _ in range(args.rounds):
        for variant in variants:
            took, paths = plan_seconds(variant[0], dataset, subgoals, variant[1], variant[2])
            seconds[variant].append(took)
            same.setdefault(variant[:2], []).append([p.tolist() for p in paths])
    mdm_same = all(run == same["mdm", "paper"][0] for run in same["mdm", "paper"])
    lines = [
        f"# Sampling time of the paper's protocol at {protocol_steps('paper')} steps against 64 steps",
        "",
        f"Mini track reference checkpoints, K = {args.subgoals}, the first {args.queries} drawn held-out queries in "
        f"one batch, {torch.get_num_threads()} torch threads, median of {args.rounds} alternating rounds "
        f"(`python benchmarks/sampling_steps.py --subgoals {args.subgoals} --queries {args.queries} "
        f"--rounds {args.rounds}`).",
        "",
        "| planner | protocol | steps | network called on | seconds | against paper-64 |",
        "|---|---|---|---|---|---|",
    ]
    for agent, protocol, every in variants:
        median = statistics.median(seconds[agent, protocol, every])
        base = statistics.median(seconds[agent, "paper-64", False])
        rows = "every row, every step (plain tau-leaping)" if every or agent == "flexmdm" else "rows with a reveal due"
        lines.append(
            f"| {agent} | {protocol} | {protocol_steps(protocol)} | {rows} | {median:.1f} | {median / base:.2f}x |"
        )
    lines += [
        "",
        "The MDM's event-driven and plain runs planned "
        + ("the same paths" if mdm_same else "DIFFERENT paths (a bug: they share one random stream)")
        + " at the protocol's step count.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
