"""The evaluate command: plan and score a dataset's held-out queries with one planner, and print its table."""

from __future__ import annotations

from pathlib import Path

import click

from agents import AGENT_NAMES, ENTRY_POINT_GROUP, make_agent
from mazebench.cli.options import (
    CHECKPOINT_OPTION,
    DEFAULT_DATA,
    PROTOCOL_CHOICE,
    STEPS,
    Finite,
    agent_name,
    resolve_checkpoint,
    torch_device,
)
from mazebench.datasets import QUERY_KINDS, default_data_dir, load_dataset
from mazebench.evaluation import MAX_BATCH_TIMEOUT, MAX_SAMPLES_PER_QUERY

MAX_WINDOW = 100_000


@click.command()
@click.option(
    "--agent",
    default="bfs",
    callback=agent_name,
    help=f"The planner to evaluate: {', '.join(AGENT_NAMES)}, a name registered under the entry-point group "
    f"{ENTRY_POINT_GROUP}, or a plug-in as package.module:NAME (a Planner subclass or factory).",
)
@click.option(
    "--subgoals",
    default=None,
    type=click.IntRange(min=2),
    help=f"K; selects the default dataset {DEFAULT_DATA}  [default: 12, or the K of --data]",
)
@click.option(
    "--data",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Dataset folder  [default: {DEFAULT_DATA}]",
)
@CHECKPOINT_OPTION
@click.option(
    "--steps",
    default=None,
    type=STEPS,
    help="Sampling steps of learned agents  [default: the protocol's own (docs/cli.md lists them)]",
)
@click.option(
    "--protocol",
    default="suite",
    type=PROTOCOL_CHOICE,
    help="The sampler settings and steps of learned agents to start from: the suite's default; the paper's "
    "(vanilla, Poisson, uniform grid, temperature 1, the official end game) at its step count, or at the 64 steps of "
    "the pages before 2026-12-02 (paper-64); or the released FlexMDM code's defaults (official); the options below "
    "override single settings.",
)
@click.option(
    "--mode",
    "--sampler",  # its former name, which the earlier report pages spell
    "mode",
    default=None,
    type=click.Choice(["adaptive", "vanilla"]),
    help="Unmasking mode of learned agents: most confident masks first, or the paper's vanilla clocks "
    "(--sampler: its former name)  [default: the protocol's; suite: adaptive]",
)
@click.option(
    "--temperature",
    default=None,
    type=Finite(min=0),
    help="Sampling temperature of learned agents, 0 = argmax  [default: the protocol's; suite: 0]",
)
@click.option(
    "--confidence",
    default=None,
    type=click.Choice(["top_prob", "margin"]),
    help="Adaptive sampler: rank masks by top probability or by the margin of the two most likely tokens  "
    "[default: top_prob]",
)
@click.option(
    "--window",
    default=None,
    type=click.IntRange(1, MAX_WINDOW),
    help="Adaptive sampler: only the leftmost N masks of a row compete  [default: all]",
)
@click.option(
    "--count-law",
    default=None,
    type=click.Choice(["poisson", "binomial"]),
    help="Events per step: the paper's Poisson tau-leaping, or the interpolant's exact binomial step law  "
    "[default: the protocol's; suite: binomial]",
)
@click.option(
    "--time-grid",
    default=None,
    type=click.Choice(["uniform", "balanced"]),
    help="Sampling times: uniform, or balanced (equal expected events per step, finer near t = 1)  [default: "
    "the protocol's; suite: balanced]",
)
@click.option(
    "--feasible-counts/--no-feasible-counts",
    default=None,
    help="FlexMDM, binomial law and leap end game: correct pending insertions so that each stretch between "
    "known cells gets a length a path can have (our option, not the paper's)  [default: on where it applies]",
)
@click.option(
    "--end-game",
    default=None,
    type=click.Choice(["argmax", "leap"]),
    help="Last step: argmax every mask left at t = 1 - tau and insert nothing (the official code's), or leap "
    "the last interval and fill what is left with a call at t = 1  [default: the protocol's]",
)
@click.option(
    "--reveal-count",
    default=None,
    type=click.Choice(["hazard", "flat"]),
    help="Adaptive sampler, Poisson law: Poisson(tau x b'/(1 - b) x masks) reveals per step, or the released FlexMDM "
    "code's Poisson(tau x masks)  [default: the protocol's; suite: hazard]",
)
@click.option("--device", default=None, callback=torch_device, help="Torch device (learned agents).")
@click.option(
    "--limit", default=None, type=click.IntRange(min=1), help="Evaluate only the first N held-out pairs  [default: all]"
)
@click.option("--batch-size", default=256, type=click.IntRange(min=1), help="Subgoal sequences per planner call.")
@click.option(
    "--num-pngs", default=8, type=click.IntRange(min=0), help="Examples in each of the success and failure galleries."
)
@click.option(
    "--queries",
    default="drawn",
    type=click.Choice(list(QUERY_KINDS)),
    help="Each held-out pair's query: one of its paths drawn at random (fixed seed), as training examples are, "
    "or its shortest path.",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder  [default: reports/<agent>-k<K>]",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--workers", default=1, type=click.IntRange(min=1), help="Processes planning batches (same results for any number)."
)
@click.option(
    "--batch-timeout",
    default=None,
    type=Finite(min=0, max=MAX_BATCH_TIMEOUT, min_open=True),
    help="Seconds a batch may take: each batch is planned in a process of its own, killed past the limit "
    "(its queries fail as planner_error)  [default: no limit, batches planned in this process]",
)
@click.option(
    "--samples-per-query",
    default=1,
    type=click.IntRange(1, MAX_SAMPLES_PER_QUERY),
    help="Plans per query: the first is the benchmark's success@1; more add pass@k, distinct valid paths and "
    "the coverage of each pair's held-out paths to results.json.",
)
def evaluate(
    agent,
    subgoals,
    data,
    checkpoint,
    steps,
    protocol,
    mode,
    temperature,
    confidence,
    window,
    count_law,
    time_grid,
    feasible_counts,
    end_game,
    reveal_count,
    device,
    limit,
    batch_size,
    num_pngs,
    queries,
    out,
    quiet,
    workers,
    batch_timeout,
    samples_per_query,
) -> None:
    """Plan and score the held-out queries (one per pair); write reports/<run>/ and print a table."""
    from dataclasses import asdict

    from agents.learned import protocol_sampler, protocol_steps
    from mazebench.evaluation import evaluate as run_evaluation

    dataset = load_dataset(data or default_data_dir(subgoals or 12))
    if subgoals is not None and subgoals != dataset.num_subgoals:
        raise ValueError(f"--subgoals {subgoals} does not match the dataset {dataset.path} (K={dataset.num_subgoals})")
    out = out or Path("reports") / f"{agent.replace(':', '.')}-k{dataset.num_subgoals}"  # a plug-in's path, no colon
    chosen = {
        "mode": mode,
        "temperature": temperature,
        "confidence": confidence,
        "window": window,
        "count_law": count_law,
        "time_grid": time_grid,
        "feasible_counts": feasible_counts,
        "end_game": end_game,
        "reveal_count": reveal_count,
    }
    sampler = {
        **asdict(protocol_sampler(protocol)),
        **{key: value for key, value in chosen.items() if value is not None},
    }
    sampler["feasible_counts"] = feasible_counts  # None: on where they apply (SamplerSettings)
    steps = steps or protocol_steps(protocol)
    checkpoint = resolve_checkpoint(agent, checkpoint, dataset)
    planner = make_agent(agent, dataset=dataset, checkpoint=checkpoint, steps=steps, device=device, sampler=sampler)
    summary = run_evaluation(
        planner,
        dataset,
        out_dir=out,
        limit=limit,
        batch_size=batch_size,
        num_pngs=num_pngs,
        progress=not quiet,
        workers=workers,
        queries=queries,
        batch_timeout=batch_timeout,
        samples_per_query=samples_per_query,
    )
    click.echo(_table(agent, dataset.num_subgoals, summary))
    if "generative" in summary:
        generative = summary["generative"]
        click.echo(
            "  ".join(f"pass@{k} {rate:.1%}" for k, rate in generative["pass_at"].items())
            + f"  distinct valid paths per query {generative['mean_distinct_valid_paths']:.2f}"
            + f"  coverage of the pairs' paths {generative['mean_reference_coverage']:.1%}"
        )
    click.echo(f"report: {out}")


def _table(agent: str, k: int, summary: dict) -> str:
    low, high = summary["success_ci95"]
    header = (
        f"{'agent':<10} {'K':>3} {'n':>6}  {'success':>8} {'95% CI':>15}  {'valid':>7} {'in-order':>8}  "
        "mean length (ref)"
    )
    if not summary["n"]:
        return header + f"\n{agent:<10} {k:>3} {0:>6}  (no examples)"
    row = (
        f"{agent:<10} {k:>3} {summary['n']:>6}  {summary['success_rate']:>8.1%} "
        f"{f'[{low:.1%}, {high:.1%}]':>15}  {summary['valid_rate']:>7.1%} {summary['in_order_rate']:>8.1%}  "
        f"{summary['mean_length']:.1f} ({summary['mean_reference_length']:.1f})"
    )
    return header + "\n" + row
