"""The report's pipeline: generate the datasets, train the runs, evaluate every cell (reusing what exists and
matches), then draw the figures and write the page.

``build_report`` writes ``reports/<preset>/``: ``README.md``, ``results.json`` and figures.
"""

from __future__ import annotations

import json
import logging
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict
from pathlib import Path

from agents import AGENT_NAMES, make_agent, plugin_digest
from agents.checkpoints import checkpoint_digest
from agents.config import saved_settings
from agents.learned import protocol_sampler, quick_success
from agents.loading import CHECKPOINT, checkpoint_file
from agents.training import train
from mazebench.datasets import QUERY_SEED, generate_dataset, load_dataset
from mazebench.evaluation import archive_samples, evaluate
from mazebench.folders import PAGE_ENTRIES, check_own_folder, folder_lock, mark_own_folder
from mazebench.parallel import ordered_map
from mazebench.report.claims import evaluate_claims
from mazebench.report.curves import at_equal_budget, curve_summary, read_curve
from mazebench.report.figures import planner_colors, plot_compute, plot_curves, plot_lengths, plot_sweep
from mazebench.report.page import report_markdown
from mazebench.report.spec import (
    BUDGET_AXES,
    PAPER_TABLE1,
    REPORT_ENTRIES,
    TRACK_DATA,
    ReportSpec,
    data_folder,
    eval_path,
)
from mazebench.report.tables import (
    leaderboard,
    length_fidelity,
    quick_eval_settings,
    run_budget,
    shared_budget,
    summary_cell,
    task_scale,
)

LOG = logging.getLogger(__name__)


def build_report(spec: ReportSpec, progress: bool = True) -> dict:
    """Generate, train, evaluate what is missing; write the report folder (its lock held throughout; a
    ValueError if it holds anything but a report); return its results."""
    with folder_lock(spec.folder):
        check_own_folder(
            spec.folder, "a benchmark report", ("spec", "protocols", "leaderboard"), (*PAGE_ENTRIES, *REPORT_ENTRIES)
        )
        mark_own_folder(spec.folder, "a benchmark report")
        return _build_report(spec, progress)


def _build_report(spec: ReportSpec, progress: bool) -> dict:
    out = spec.folder
    out.mkdir(parents=True, exist_ok=True)
    datasets = {k: prepared_dataset(k, spec.dataset_options, spec.data_root, progress=progress) for k in spec.ks}
    configs = {agent: spec.train_config(agent) for agent in spec.trained}
    quick = quick_eval_settings(configs.values()) if configs else None  # checked before any training
    missing = [
        (agent, k)
        for agent in configs
        for k in spec.ks
        if not run_finished(spec.run_dir(agent, k), datasets[k], configs[agent])
    ]
    if spec.jobs > 1 and len(missing) > 1:
        _train_in_processes(spec, configs, datasets, missing)
    else:
        for agent, k in missing:
            LOG.info("training %s K=%d (%s) into %s", agent, k, spec.run_name, spec.run_dir(agent, k))
            train_with_checks(datasets[k], agent, configs[agent], spec.run_dir(agent, k), progress=progress)
    runs = {
        (agent, k): json.loads((spec.run_dir(agent, k) / "summary.json").read_text())
        for agent in configs
        for k in spec.ks
    }

    def run_eval(agent, k, folder, steps, limit, sampler, num_pngs=spec.num_pngs, draws=1):
        trained = agent in configs  # plug-ins and BFS are built without a checkpoint
        return cached_evaluation(
            agent,
            datasets[k],
            folder,
            run=spec.run_dir(agent, k) if trained else None,
            steps=steps,
            limit=limit,
            sampler=sampler,
            num_pngs=num_pngs,
            progress=progress,
            queries=spec.queries,
            samples_per_query=draws,
        )

    def table_cell(agent, k, protocol=None):
        """One table cell under ``protocol``'s sampler, or (no protocol) a protocol-independent planner's:
        (the cell, its length fidelity)."""
        folder = out / eval_path(agent, k, protocol)
        sampler = asdict(protocol_sampler(protocol)) if protocol else {}
        steps = spec.cell_steps(protocol)
        summary = run_eval(agent, k, folder, steps, spec.limit, sampler, draws=spec.draws(agent, protocol))
        fidelity = length_fidelity(folder / "samples.jsonl")
        return summary_cell(summary, fidelity), fidelity

    oracle = {f"bfs-k{k}": table_cell("bfs", k) for k in spec.ks}
    once = {
        f"{agent}-k{k}": table_cell(agent, k) for agent in spec.protocol_independent if agent != "bfs" for k in spec.ks
    }  # the same cell under every protocol
    sweep_k = max(spec.ks)
    protocols, fidelity, sweeps = {}, {}, {}
    for protocol in spec.protocols:
        sampler = asdict(protocol_sampler(protocol))
        cells = {
            **{f"{agent}-k{k}": table_cell(agent, k, protocol) for agent in spec.samplers for k in spec.ks},
            **once,
        }
        sweeps[protocol] = {
            agent: {
                steps: run_eval(
                    agent,
                    sweep_k,
                    out / "sweep" / protocol / f"{agent}-k{sweep_k}-s{steps}",
                    steps,
                    spec.sweep_limit,
                    sampler,
                    num_pngs=0,
                )
                for steps in spec.sweep_steps
            }
            for agent in spec.samplers
        }
        fidelity[protocol] = {name: lengths for name, (_, lengths) in {**cells, **oracle}.items()}
        protocols[protocol] = {
            "sampler": sampler,
            "steps": spec.cell_steps(protocol),
            "cells": {name: cell for name, (cell, _) in cells.items()},
            "sweep": {
                agent: {str(steps): summary_cell(summary) for steps, summary in by_steps.items()}
                for agent, by_steps in sweeps[protocol].items()
            },
        }
    claims = {}
    if {"mdm", "flexmdm"} <= set(spec.samplers) and len(spec.ks) > 1:
        claims = {
            protocol: evaluate_claims(lambda agent, k: out / eval_path(agent, k, protocol) / "samples.jsonl", spec.ks)
            for protocol in spec.protocols
        }
    task = {"track": task_scale(datasets)}
    if spec.preset in TRACK_DATA:  # a track on another maze: its scale beside the 41x41 task's
        task["paper_task"] = task_scale(
            {k: prepared_dataset(k, {}, spec.data_root, progress=progress) for k in spec.ks}
        )
    curves = {
        (agent, k): read_curve(spec.run_dir(agent, k) / "metrics.jsonl") for agent in spec.trained for k in spec.ks
    }
    colors = planner_colors(spec.planners)
    if spec.samplers:
        plot_sweep(out / "success_vs_steps.png", sweeps, sweep_k, colors)
    plot_lengths(out / "length_fidelity.png", fidelity, spec.ks, spec.planners, colors)
    if spec.trained:
        for k in spec.ks:
            plot_curves(
                out / f"learning_curves_k{k}.png", {agent: curves[agent, k] for agent in spec.trained}, k, colors
            )
    oracle_cells = {name: cell for name, (cell, _) in oracle.items()}
    training = {f"{agent}-k{k}": run_budget(summary) for (agent, k), summary in runs.items()}
    if spec.trained:
        for k in spec.ks:
            plot_compute(
                out / f"success_vs_compute_k{k}.png", k, *_compute_points(spec, k, training, curves, protocols), colors
            )
    results = {
        "spec": {**{k: v for k, v in vars(spec).items() if k not in ("data_root", "out")}, "folder": str(out)},
        "protocols": protocols,
        "oracle": oracle_cells,
        "protocol_independent": list(spec.protocol_independent),
        "leaderboard": {
            protocol: leaderboard(
                spec,
                {**data["cells"], **oracle_cells},
                training,
                lambda agent, k, protocol=protocol: (
                    out / eval_path(agent, k, protocol if agent in spec.samplers else None) / "samples.jsonl"
                ),
            )
            for protocol, data in protocols.items()
        },
        "paper_table1": PAPER_TABLE1,
        "training": training,
        "shared_budget": shared_budget(list(runs.values())),
        "curves": {f"{agent}-k{k}": curve_summary(curve) for (agent, k), curve in curves.items()},
        "equal_budget": {
            k: {
                axis: at_equal_budget({agent: curves[agent, k] for agent in spec.trained}, axis) for axis in BUDGET_AXES
            }
            for k in spec.ks
        }
        if len(spec.trained) > 1
        else {},
        "quick_eval": quick,
        "claims": claims,
        "task": task,
    }
    results = json.loads(json.dumps(results))  # as stored: string keys, lists
    archive_samples(out)  # the cells' per-query outputs, to be committed with the page (mazebench verify)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "README.md").write_text(report_markdown(results, spec))
    return results


def _compute_points(spec: ReportSpec, k: int, training: dict, curves: dict, protocols: dict) -> tuple[dict, dict]:
    """The points of K's compute figure: each trained planner's held-out checks at their training FLOPs (a run's
    FLOPs spread evenly over its epochs), and each trained planner's success at its network calls per path, under
    each protocol (its table cell and, at the sweep's K, the sweep's points; a protocol-independent cell once)."""
    checks = {}
    for agent in spec.trained:
        run = training[f"{agent}-k{k}"]
        per_epoch = run["train_flops"] / run["epochs_done"] if run["epochs_done"] else 0.0
        checks[agent] = [(check["epoch"] * per_epoch, check["success"]) for check in curves[agent, k].checks]
    cells = {}
    for protocol, data in protocols.items():
        for agent in spec.trained:
            independent = agent in spec.protocol_independent
            cell = data["cells"][f"{agent}-k{k}"]
            swept = data["sweep"].get(agent, {}).values() if k == max(spec.ks) else ()
            points = {
                (c["network_calls_per_path"], c["success_rate"])
                for c in (cell, *swept)
                if c.get("network_calls_per_path") is not None
            }
            if points:
                cells[agent, None if independent else protocol] = sorted(points)
    return checks, cells


def prepared_dataset(k: int, options: dict, data_root: Path, *, progress: bool = True):
    """The dataset of K subgoals in its conventional folder under ``data_root``, generated first if missing
    (``options``: generate_dataset's, e.g. maze_size, pairs)."""
    return load_dataset(
        generate_dataset(data_folder(k, options, data_root), num_subgoals=k, progress=progress, **options)
    )


def train_with_checks(dataset, agent: str, cfg, run: Path, *, progress: bool = True) -> None:
    """Train (or resume) ``run`` with the held-out checks of its settings, the learning curves' points."""
    train(
        dataset,
        agent,
        cfg,
        run,
        resume=(run / CHECKPOINT).exists(),
        progress=progress,
        quick_eval=lambda model, method: quick_success(
            model, method, dataset, examples=cfg.eval_examples, steps=cfg.eval_steps
        ),
    )


def cached_evaluation(
    agent: str,
    dataset,
    folder: Path,
    *,
    run: Path | None,
    steps: int,
    limit: int | None,
    sampler: dict,
    num_pngs: int,
    progress: bool = True,
    queries: str = "drawn",
    samples_per_query: int = 1,
) -> dict:
    """The summary of evaluating ``agent`` (trained in ``run``, or None: built without a checkpoint) into
    ``folder``; an evaluation already there with the same request (dataset, queries, the run's exact weights by
    their checkpoint digest, a plug-in's code by its module file's digest, sampler, limit, draws per query) is
    reused, any other is replaced once the new evaluation has succeeded (a plug-in without a module file:
    always)."""
    request = {
        "agent": agent,
        "dataset_id": dataset.meta["dataset_id"],
        "steps": steps,
        "limit": limit,
        "sampler": sampler,
        "num_pngs": num_pngs,
        "queries": queries,
        "query_seed": QUERY_SEED,
        "checkpoint": None if run is None else checkpoint_digest(checkpoint_file(run)),
        "code": plugin_digest(agent),
        **({"samples_per_query": samples_per_query} if samples_per_query > 1 else {}),  # one draw: as before
    }
    cached = folder / "request.json"
    reusable = agent in AGENT_NAMES or request["code"] is not None
    if (
        reusable
        and cached.exists()
        and json.loads(cached.read_text()) == request
        and (folder / "results.json").exists()
    ):
        return json.loads((folder / "results.json").read_text())
    planner = make_agent(agent, dataset=dataset, checkpoint=run, steps=steps, sampler=sampler)
    summary = evaluate(
        planner,
        dataset,
        out_dir=folder,
        limit=limit,
        num_pngs=num_pngs,
        progress=progress,
        queries=queries,
        samples_per_query=samples_per_query,
    )
    cached.write_text(json.dumps(request) + "\n")
    return summary


def _train_in_processes(spec: ReportSpec, configs: dict, datasets: dict, missing: list) -> None:
    """Train the ``missing`` (agent, K) runs ``spec.jobs`` at a time, each in a process of its own given its
    settings (``configs[agent]``), its output in <run>/train.log."""
    tasks = [(agent, datasets[k].path, configs[agent], spec.run_dir(agent, k)) for agent, k in missing]
    for (agent, k), (_, _, _, run) in zip(missing, tasks):
        LOG.info("training %s K=%d (%s) into %s (log: %s)", agent, k, spec.run_name, run, run / "train.log")
    with ordered_map(_train_logged, None, spec.jobs) as run_all:
        failed = [f"{agent} K={k}" for (agent, k), error in zip(missing, run_all(tasks)) if error]
    if failed:
        raise ValueError(f"training failed for {', '.join(failed)}; see train.log in their run folders")


def _train_logged(_, task: tuple) -> bool:
    """Train one run (``task``: agent, dataset folder, settings, run folder) with its output and any error in
    <run>/train.log; whether it failed."""
    agent, data_path, cfg, run = task
    run.mkdir(parents=True, exist_ok=True)
    with open(run / "train.log", "a") as log, redirect_stdout(log), redirect_stderr(log):
        try:
            train_with_checks(load_dataset(data_path), agent, cfg, run, progress=False)
        except Exception:  # noqa: BLE001 - any failure of a run is reported by name; its traceback is in its log
            traceback.print_exc()
            return True
    return False


def run_finished(run: Path, dataset, cfg) -> bool:
    """Whether ``run`` holds a finished training of ``dataset`` with exactly the settings ``cfg``; a finished
    run of another dataset or other settings is a ValueError (a report never mixes settings)."""
    summary_file = run / "summary.json"
    if not summary_file.exists():
        return False
    summary = json.loads(summary_file.read_text())
    if summary["dataset_id"] != dataset.meta["dataset_id"]:
        raise ValueError(f"{run} was trained on another dataset than {dataset.path}; move it away to retrain")
    saved = saved_settings(summary["train_config"])
    changed = sorted(name for name, value in asdict(cfg).items() if saved[name] != value)
    if changed:
        raise ValueError(
            f"{run} was trained with other settings than this report's "
            f"({', '.join(f'{n}: {saved[n]} vs {getattr(cfg, n)}' for n in changed)}); "
            "move it away to retrain, or give the report the run's settings"
        )
    return True
