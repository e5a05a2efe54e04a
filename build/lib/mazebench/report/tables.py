"""The report's numbers: a table cell from an evaluation, the leaderboard, the training budgets and the task's scale."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agents.compute import training_flops
from agents.learned import QUICK_EVAL_PROTOCOL
from mazebench.evaluation import length_fidelity as evaluation_length_fidelity
from mazebench.report.claims import ALPHA, paired_successes
from mazebench.report.spec import PLANNER_NAMES, STOPS, ReportSpec
from mazebench.statistics import mcnemar_exact


def task_scale(datasets: dict) -> dict:
    """Per K: the maze, the mean path length of the training data and of the held-out queries, and the subgoal
    density (subgoals per path cell of the training data)."""
    scale = {}
    for k, dataset in datasets.items():
        counts = dataset.meta["counts"]
        queries = dataset.val.lengths[dataset.val.queries()]
        scale[k] = {
            "maze": f"{dataset.maze.shape[0]}x{dataset.maze.shape[1]}",
            "open_cells": counts["open_cells"],
            "train_paths": counts["train_examples"],
            "mean_path_length": float(dataset.train.lengths.mean()),
            "mean_query_length": float(queries.mean()),
            "subgoal_density": k / float(dataset.train.lengths.mean()),
        }
    return scale


def length_fidelity(samples_file: Path) -> dict:
    """An evaluation's generated and reference path lengths (for the figure), their means, and their W1."""
    rows = [json.loads(line) for line in samples_file.read_text().splitlines()]
    generated = np.array([row["length"] for row in rows], dtype=float)
    reference = np.array([row["reference_length"] for row in rows], dtype=float)
    fidelity = evaluation_length_fidelity(rows)
    return {
        "generated": generated.tolist(),
        "reference": reference.tolist(),
        "mean_generated": float(generated.mean()),
        "mean_reference": float(reference.mean()),
        "wasserstein1": fidelity["length_w1_reference"],
    }


def summary_cell(summary: dict, fidelity: dict | None = None) -> dict:
    """The fields of an evaluation summary that a table cell shows (with the sampler and, given, the length W1
    against the references; the W1 against the pairs' own paths comes with every summary that has it)."""
    cell = {
        key: summary[key]
        for key in (
            "n",
            "success_rate",
            "success_ci95",
            "valid_rate",
            "in_order_rate",
            "mean_length",
            "mean_reference_length",
            "paths_per_second",
            "failure_kinds",
        )
    }
    for key in ("length_w1_pair_paths", "network_calls_per_path", "generative"):  # where the evaluation has them
        if key in summary:
            cell[key] = summary[key]
    planner = summary["planner"]
    if "sampler" in planner:  # learned planners: what they sampled with
        cell["sampler"] = {**planner["sampler"], "steps": planner.get("steps")}
    if fidelity is not None:
        cell["length_wasserstein1"] = fidelity["wasserstein1"]
    return cell


def run_budget(summary: dict) -> dict:
    """A run's training budget as the report shows it, with the estimated training FLOPs."""
    return {
        **{
            key: summary[key]
            for key in (
                "parameters",
                "steps",
                "epochs_done",
                "train_minutes",
                "device",
                "bf16_autocast",
                "stopped_by",
                "train_config",
            )
        },
        "train_flops": training_flops(summary),
    }


def leaderboard(spec: ReportSpec, cells: dict, training: dict, samples_of: Callable[[str, int], Path]) -> dict:
    """Per K, every planner's row of one protocol, best success first: the cell's numbers, the planner's
    training (None for the planners the report did not train) and, below the first row, the paired test
    against the row above on the same queries (``samples_of(agent, k)``: the cell's samples.jsonl)."""
    board = {}
    for k in spec.ks:
        rows = []
        for agent in spec.planners:
            cell, run = cells[f"{agent}-k{k}"], training.get(f"{agent}-k{k}")
            rows.append(
                {
                    "planner": PLANNER_NAMES.get(agent, agent),
                    "agent": agent,
                    "protocol_independent": agent in spec.protocol_independent,
                    **{
                        key: cell[key]
                        for key in (
                            "n",
                            "success_rate",
                            "success_ci95",
                            "valid_rate",
                            "in_order_rate",
                            "length_wasserstein1",
                            "paths_per_second",
                        )
                    },
                    "train_minutes": run["train_minutes"] if run else None,
                    "epochs": run["epochs_done"] if run else None,
                }
            )
        rows.sort(key=lambda row: -row["success_rate"])
        for above, row in zip(rows, rows[1:]):
            test = mcnemar_exact(*paired_successes(samples_of(above["agent"], k), samples_of(row["agent"], k)))
            row["vs_above"] = {"planner": above["planner"], **test, "significant": test["p_value"] < ALPHA}
        board[k] = rows
    return board


def shared_budget(runs: list[dict]) -> str | None:
    """The budget the final cells compare the planners at: "epoch" or "minutes" when every run stopped on that
    budget and all had the same one; None otherwise (e.g. per-agent epochs chosen to take similar minutes)."""
    axes = {STOPS.get(run["stopped_by"]) for run in runs}
    if len(axes) != 1 or None in axes:
        return None
    axis = axes.pop()
    setting = "epochs" if axis == "epoch" else "max_minutes"
    return axis if len({run["train_config"][setting] for run in runs}) == 1 else None


def quick_eval_settings(configs) -> dict:
    """How the held-out checks during training ran (the curves' points); the same for every agent, or a ValueError."""
    settings = {(cfg.eval_examples, cfg.eval_steps, cfg.eval_every_minutes) for cfg in configs}
    if len(settings) > 1:
        raise ValueError(
            f"the agents' held-out checks differ ({sorted(settings)}), so their curves would not compare; "
            "give them the same eval_examples, eval_steps and eval_every_minutes"
        )
    examples, steps, every = settings.pop()
    return {"protocol": QUICK_EVAL_PROTOCOL, "examples": examples, "steps": steps, "every_minutes": every}


def differing_settings(training: dict) -> str:
    """The training settings whose value is not the same for every trained planner, each planner's value
    (e.g. per-agent budgets of a preset); "" when they all trained alike. ``training``: run name -> budget."""
    by_agent = {}
    for name, run in training.items():
        by_agent.setdefault(name.rsplit("-k", 1)[0], run["train_config"])
    names = [key for key in next(iter(by_agent.values()), {}) if len({str(c[key]) for c in by_agent.values()}) > 1]
    return "; ".join(
        f"{key} ("
        + ", ".join(f"{PLANNER_NAMES.get(agent, agent)} {config[key]}" for agent, config in by_agent.items())
        + ")"
        for key in names
    )


def budget_label(axis: str | None) -> str:
    return {"epoch": "equal epochs", "minutes": "equal minutes"}.get(axis, "each run's own budget")
