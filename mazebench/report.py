"""The benchmark's results page: Table 1 of the paper under two sampling protocols, a leaderboard of
every planner, learning curves, the planners at equal epochs and equal minutes, a steps sweep and
length fidelity.

``build_report`` runs whatever is missing (datasets, training runs, evaluations; what exists and
matches is reused) and writes ``reports/<preset>/``: ``README.md``, ``results.json`` and figures.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import click
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from agents import AGENT_NAMES, check_agent_name, default_run_dir, make_agent, plugin_digest
from agents.checkpoints import checkpoint_digest
from agents.learned import QUICK_EVAL_PROTOCOL, protocol_rule, quick_success
from agents.training import CHECKPOINT, METHODS, UPPER_BOUNDS, preset_config, saved_settings, train
from mazebench.claims import claims_markdown, evaluate_claims
from mazebench.curves import FLAT_GAIN, FLAT_TAIL, Curve, at_equal_budget, curve_summary, read_curve
from mazebench.datasets import QUERY_KINDS, QUERY_SEED, default_data_dir, generate_dataset, load_dataset
from mazebench.evaluation import evaluate
from mazebench.evaluation import length_fidelity as evaluation_length_fidelity
from mazebench.folders import check_own_folder, folder_lock

PAPER_TABLE1 = {"mdm": {2: 0.684, 7: 0.293, 12: 0.242}, "flexmdm": {2: 0.923, 7: 0.904, 12: 0.900}}
PLANNER_NAMES = {"flexmdm": "FlexMDM", "mdm": "MDM", "bfs": "BFS oracle", "ar": "AR"}
INDEPENDENT = "protocol-independent"
UNMASKING_AGENTS = ("mdm", "flexmdm")  # the planners whose sampler the protocols set; the others are evaluated once per K
PROTOCOL_NAMES = {"paper": "the paper's protocol (vanilla inference for both planners, section 5.1)",
                  "suite": "the suite's protocol (its default sampler)"}
# The data of a track whose preset is not the 41x41 task's (generate_dataset options): the laptop track's maze
# is 15x15, with 30 % of its pairs held out so that every cell has 300 queries.
TRACK_DATA = {"mini": {"maze_size": 15, "pairs": 1000, "val_frac": 0.3}}
QUERY_TEXT = {"drawn": f"one of the pair's paths drawn at random with seed {QUERY_SEED}, as training examples are",
              "shortest": "the pair's shortest path"}
BUDGET_AXES = ("epoch", "minutes")
REPORT_ENTRIES = ("eval", "sweep", "ablation")  # what a report folder holds before its page, PNGs aside
STOPS = {"epochs": "epoch", "max_minutes": "minutes"}  # a run's stopped_by -> the budget it exhausted


@dataclass
class ReportSpec:
    """What to run and where; every field has the benchmark's default."""

    ks: tuple[int, ...] = (2, 7, 12)
    agents: tuple[str, ...] = ("mdm", "flexmdm")  # built-ins, registered names or package.module:NAME; BFS always joins
    preset: str = "cpu"
    steps: int = 64  # sampling steps of every table cell, the same for every planner and protocol
    protocols: tuple[str, ...] = ("paper", "suite")  # names in agents.learned.PROTOCOLS
    queries: str = "drawn"  # each held-out pair's query: mazebench.datasets.QUERY_KINDS
    sweep_steps: tuple[int, ...] = (16, 32, 64, 128, 256)
    sweep_limit: int = 300
    limit: int | None = None
    num_pngs: int = 8  # examples per success / failure gallery of each table cell; 0: no galleries, no filmstrip
    epochs: float | None = None  # train every model to this many epochs, without the preset's time cap
    max_minutes: float | None = None  # cap every training at this many minutes (after ``epochs``)
    check_every_minutes: float | None = 2.0  # held-out checks during training (the curves' points); None: the preset's
    dataset_options: dict | None = None  # passed to generate_dataset (maze_size, pairs ...); None: the preset's track
    train_options: dict = field(default_factory=dict)  # overrides of the preset's training settings
    data_root: Path = Path("data")
    out: Path | None = None
    jobs: int = 1  # trainings run at once, each in its own `mazebench train` process (e.g. six sharing one GPU)

    def __post_init__(self):
        if self.dataset_options is None:
            self.dataset_options = dict(TRACK_DATA.get(self.preset, {}))
        if not self.protocols:
            raise ValueError("a report needs at least one evaluation protocol")
        for protocol in self.protocols:
            protocol_rule(protocol)  # a ValueError names the known ones
        for agent in self.agents:
            check_agent_name(agent)  # a plug-in's import is left to its evaluation
        if self.epochs is not None and not 0 < self.epochs <= UPPER_BOUNDS["epochs"]:
            raise ValueError(f"epochs must be positive and at most {UPPER_BOUNDS['epochs']}, got {self.epochs}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")
        if self.queries not in QUERY_KINDS:
            raise ValueError(f"unknown query kind {self.queries!r}; choose from {', '.join(QUERY_KINDS)}")

    @property
    def run_name(self) -> str:
        """The folder name of the runs and of the report: the preset, with the epoch budget if one is set."""
        epochs = "" if self.epochs is None else f"-{self.epochs:g}ep"
        minutes = "" if self.max_minutes is None else f"-{self.max_minutes:g}min"
        return f"{self.preset}{epochs}{minutes}"

    @property
    def folder(self) -> Path:
        return self.out or Path("reports") / self.run_name

    @property
    def planners(self) -> tuple[str, ...]:
        """Every planner of the report, once: the agents in their order, then the BFS oracle unless listed."""
        return tuple(dict.fromkeys([*self.agents, "bfs"]))

    @property
    def trained(self) -> tuple[str, ...]:
        """The planners the report trains (mdm, flexmdm, ar); the others are evaluated as they are."""
        return tuple(agent for agent in self.planners if agent in METHODS)

    @property
    def samplers(self) -> tuple[str, ...]:
        """The planners evaluated under each protocol (and in the steps sweep)."""
        return tuple(agent for agent in self.planners if agent in UNMASKING_AGENTS)

    @property
    def protocol_independent(self) -> tuple[str, ...]:
        """The planners evaluated once per K, their cell shown under every protocol (AR, BFS, plug-ins)."""
        return tuple(agent for agent in self.planners if agent not in UNMASKING_AGENTS)

    def run_dir(self, agent: str, k: int) -> Path:
        return default_run_dir(agent, k, self.run_name)

    def train_config(self, agent: str):
        """The preset's settings for ``agent`` with the check interval and ``train_options``; with ``epochs``,
        that many epochs and no time cap; with ``max_minutes``, that cap."""
        cfg = preset_config(self.preset, agent, **{"eval_every_minutes": self.check_every_minutes, **self.train_options})
        if self.epochs is not None:
            cfg = replace(cfg, epochs=self.epochs, max_minutes=None)
        return cfg if self.max_minutes is None else replace(cfg, max_minutes=self.max_minutes)


def build_report(spec: ReportSpec, progress: bool = True) -> dict:
    """Generate, train, evaluate what is missing; write the report folder (its lock held throughout; a
    ValueError if it holds anything but a report); return its results."""
    with folder_lock(spec.folder):
        check_own_folder(spec.folder, "a benchmark report", ("spec", "protocols", "leaderboard"), REPORT_ENTRIES)
        return _build_report(spec, progress)


def _build_report(spec: ReportSpec, progress: bool) -> dict:
    out = spec.folder
    out.mkdir(parents=True, exist_ok=True)
    datasets = {k: prepared_dataset(k, spec.dataset_options, spec.data_root, progress=progress) for k in spec.ks}
    configs = {agent: spec.train_config(agent) for agent in spec.trained}
    quick = _quick_eval_settings(configs.values()) if configs else None  # checked before any training
    missing = [(agent, k) for agent in configs for k in spec.ks
               if not run_finished(spec.run_dir(agent, k), datasets[k], configs[agent])]
    if spec.jobs > 1 and len(missing) > 1:
        _train_in_processes(spec, configs, datasets, missing)
    else:
        for agent, k in missing:
            click.echo(f"training {agent} K={k} ({spec.run_name}) into {spec.run_dir(agent, k)}")
            train_with_checks(datasets[k], agent, configs[agent], spec.run_dir(agent, k), progress=progress)
    runs = {(agent, k): json.loads((spec.run_dir(agent, k) / "summary.json").read_text())
            for agent in configs for k in spec.ks}

    def run_eval(agent, k, folder, steps, limit, sampling, num_pngs=spec.num_pngs):
        trained = agent in configs  # plug-ins and BFS are built without a checkpoint
        return cached_evaluation(agent, datasets[k], folder, run=spec.run_dir(agent, k) if trained else None,
                                 steps=steps, limit=limit, sampling=sampling, num_pngs=num_pngs, progress=progress,
                                 queries=spec.queries)

    def table_cell(agent, k, protocol=None):
        """One table cell under ``protocol``'s sampler, or (no protocol) a protocol-independent planner's:
        (the cell, its length fidelity)."""
        folder = out / _eval_path(agent, k, protocol)
        summary = run_eval(agent, k, folder, spec.steps, spec.limit, asdict(protocol_rule(protocol)) if protocol else {})
        fidelity = length_fidelity(folder / "samples.jsonl")
        return summary_cell(summary, fidelity), fidelity

    oracle = {f"bfs-k{k}": table_cell("bfs", k) for k in spec.ks}
    once = {f"{agent}-k{k}": table_cell(agent, k) for agent in spec.protocol_independent if agent != "bfs"
            for k in spec.ks}  # the same cell under every protocol
    sweep_k = max(spec.ks)
    protocols, fidelity, sweeps = {}, {}, {}
    for protocol in spec.protocols:
        sampling = asdict(protocol_rule(protocol))
        cells = {**{f"{agent}-k{k}": table_cell(agent, k, protocol) for agent in spec.samplers for k in spec.ks}, **once}
        sweeps[protocol] = {agent: {steps: run_eval(agent, sweep_k, out / "sweep" / protocol / f"{agent}-k{sweep_k}-s{steps}",
                                                    steps, spec.sweep_limit, sampling, num_pngs=0)
                                    for steps in spec.sweep_steps} for agent in spec.samplers}
        fidelity[protocol] = {name: lengths for name, (_, lengths) in {**cells, **oracle}.items()}
        protocols[protocol] = {
            "sampler": sampling, "steps": spec.steps,
            "cells": {name: cell for name, (cell, _) in cells.items()},
            "sweep": {agent: {str(steps): summary_cell(summary) for steps, summary in by_steps.items()}
                      for agent, by_steps in sweeps[protocol].items()},
        }
    claims = {}
    if {"mdm", "flexmdm"} <= set(spec.samplers) and len(spec.ks) > 1:
        claims = {protocol: evaluate_claims(lambda agent, k: out / _eval_path(agent, k, protocol) / "samples.jsonl", spec.ks)
                  for protocol in spec.protocols}
    task = {"track": _task_scale(datasets)}
    if spec.preset in TRACK_DATA:  # a track on another maze: its scale beside the 41x41 task's
        task["paper_task"] = _task_scale({k: prepared_dataset(k, {}, spec.data_root, progress=progress) for k in spec.ks})
    curves = {(agent, k): read_curve(spec.run_dir(agent, k) / "metrics.jsonl") for agent in spec.trained for k in spec.ks}
    colors = _colors(spec.planners)
    if spec.samplers:
        _plot_sweep(out / "success_vs_steps.png", sweeps, sweep_k, colors)
    _plot_lengths(out / "length_fidelity.png", fidelity, spec.ks, spec.planners, colors)
    if spec.trained:
        for k in spec.ks:
            _plot_curves(out / f"learning_curves_k{k}.png", {agent: curves[agent, k] for agent in spec.trained}, k, colors)
    oracle_cells = {name: cell for name, (cell, _) in oracle.items()}
    training = {f"{agent}-k{k}": _budget(summary) for (agent, k), summary in runs.items()}
    results = {
        "spec": {**{k: v for k, v in vars(spec).items() if k not in ("data_root", "out")}, "folder": str(out)},
        "protocols": protocols,
        "oracle": oracle_cells,
        "protocol_independent": list(spec.protocol_independent),
        "leaderboard": {protocol: _leaderboard(spec, {**data["cells"], **oracle_cells}, training)
                        for protocol, data in protocols.items()},
        "paper_table1": PAPER_TABLE1,
        "training": training,
        "shared_budget": _shared_budget(list(runs.values())),
        "curves": {f"{agent}-k{k}": curve_summary(curve) for (agent, k), curve in curves.items()},
        "equal_budget": {k: {axis: at_equal_budget({agent: curves[agent, k] for agent in spec.trained}, axis)
                             for axis in BUDGET_AXES} for k in spec.ks} if len(spec.trained) > 1 else {},
        "quick_eval": quick,
        "claims": claims,
        "task": task,
    }
    results = json.loads(json.dumps(results))  # as stored: string keys, lists
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "README.md").write_text(_markdown(results, spec))
    return results


def _task_scale(datasets: dict) -> dict:
    """Per K: the maze, the mean path length of the training data and of the held-out queries, and the subgoal
    density (subgoals per path cell of the training data)."""
    scale = {}
    for k, dataset in datasets.items():
        counts = dataset.meta["counts"]
        queries = dataset.val.lengths[dataset.val.queries()]
        scale[k] = {"maze": f"{dataset.maze.shape[0]}x{dataset.maze.shape[1]}", "open_cells": counts["open_cells"],
                    "train_paths": counts["train_examples"], "mean_path_length": float(dataset.train.lengths.mean()),
                    "mean_query_length": float(queries.mean()), "subgoal_density": k / float(dataset.train.lengths.mean())}
    return scale


def prepared_dataset(k: int, options: dict, data_root: Path, *, progress: bool = True):
    """The dataset of K subgoals in its conventional folder under ``data_root``, generated first if missing
    (``options``: generate_dataset's, e.g. maze_size, pairs)."""
    return load_dataset(generate_dataset(data_folder(k, options, data_root), num_subgoals=k, progress=progress, **options))


def data_folder(k, options: dict, data_root: Path) -> Path:
    """The conventional folder of the dataset of K subgoals (a number, or "K" in a command) with ``options``."""
    return default_data_dir(k, options.get("maze_size", 41), options.get("maze_seed", 2025), data_root)


def train_with_checks(dataset, agent: str, cfg, run: Path, *, progress: bool = True) -> None:
    """Train (or resume) ``run`` with the held-out checks of its settings, the learning curves' points."""
    train(dataset, agent, cfg, run, resume=(run / "checkpoint.pt").exists(), progress=progress,
          quick_eval=lambda model, method: quick_success(model, method, dataset, examples=cfg.eval_examples,
                                                         steps=cfg.eval_steps))


def cached_evaluation(agent: str, dataset, folder: Path, *, run: Path | None, steps: int, limit: int | None,
                      sampling: dict, num_pngs: int, progress: bool = True, queries: str = "drawn") -> dict:
    """The summary of evaluating ``agent`` (trained in ``run``, or None: built without a checkpoint) into
    ``folder``; an evaluation already there with the same request (dataset, queries, the run's exact weights by
    their checkpoint digest, a plug-in's code by its module file's digest, sampler, limit) is reused, any
    other is replaced once the new evaluation has succeeded (a plug-in without a module file: always)."""
    request = {"agent": agent, "dataset_id": dataset.meta["dataset_id"], "steps": steps, "limit": limit,
               "sampling": sampling, "num_pngs": num_pngs, "queries": queries, "query_seed": QUERY_SEED,
               "checkpoint": None if run is None else checkpoint_digest(run / CHECKPOINT), "code": plugin_digest(agent)}
    cached = folder / "request.json"
    reusable = agent in AGENT_NAMES or request["code"] is not None
    if reusable and cached.exists() and json.loads(cached.read_text()) == request and (folder / "results.json").exists():
        return json.loads((folder / "results.json").read_text())
    planner = make_agent(agent, dataset=dataset, checkpoint=run, steps=steps, sampling=sampling)
    summary = evaluate(planner, dataset, out_dir=folder, limit=limit, num_pngs=num_pngs, progress=progress,
                       queries=queries)
    cached.write_text(json.dumps(request) + "\n")
    return summary


def _train_in_processes(spec: ReportSpec, configs: dict, datasets: dict, missing: list) -> None:
    """Train the ``missing`` (agent, K) runs ``spec.jobs`` at a time, each as ``mazebench train`` with every
    setting spelled out (so it trains exactly ``configs[agent]``) and its output in <run>/train.log."""
    threads = str(max(1, (os.cpu_count() or 1) // spec.jobs))

    def run_one(agent_k):
        agent, k = agent_k
        run = spec.run_dir(agent, k)
        run.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "mazebench", "train", "--agent", agent, "--data", str(datasets[k].path),
                   "--preset", spec.preset, "--out", str(run), "--quiet", *_setting_flags(configs[agent])]
        if (run / "checkpoint.pt").exists():
            command.append("--resume")
        click.echo(f"training {agent} K={k} ({spec.run_name}) into {run} (log: {run / 'train.log'})")
        with open(run / "train.log", "a") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "OMP_NUM_THREADS": threads})
        return agent, k, done.returncode

    with ThreadPoolExecutor(spec.jobs) as pool:
        failed = [f"{agent} K={k}" for agent, k, code in pool.map(run_one, missing) if code != 0]
    if failed:
        raise ValueError(f"training failed for {', '.join(failed)}; see train.log in their run folders")
    for agent, k in missing:
        trained = json.loads((spec.run_dir(agent, k) / "config.json").read_text())["train_config"]
        if trained != asdict(configs[agent]):
            raise ValueError(f"{spec.run_dir(agent, k)} was trained with other settings than the report asked for")


def _setting_flags(cfg) -> list[str]:
    """``mazebench train`` options that reproduce ``cfg`` whatever the preset (None settings are left out)."""
    flags = []
    for name, value in asdict(cfg).items():
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(option if value else "--no-" + name.replace("_", "-"))
        elif value is not None:
            flags += [option, repr(value) if isinstance(value, float) else str(value)]
    return flags


def length_fidelity(samples_file: Path) -> dict:
    """An evaluation's generated and reference path lengths (for the figure), their means, and their W1."""
    rows = [json.loads(line) for line in samples_file.read_text().splitlines()]
    generated = np.array([row["length"] for row in rows], dtype=float)
    reference = np.array([row["reference_length"] for row in rows], dtype=float)
    fidelity = evaluation_length_fidelity(rows)
    return {"generated": generated.tolist(), "reference": reference.tolist(),
            "mean_generated": float(generated.mean()), "mean_reference": float(reference.mean()),
            "wasserstein1": fidelity["length_w1_reference"]}


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
        raise ValueError(f"{run} was trained with other settings than this report's "
                         f"({', '.join(f'{n}: {saved[n]} vs {getattr(cfg, n)}' for n in changed)}); "
                         "move it away to retrain, or give the report the run's settings")
    return True


def summary_cell(summary: dict, fidelity: dict | None = None) -> dict:
    """The fields of an evaluation summary that a table cell shows (with the sampler and, given, the length W1
    against the references; the W1 against the pairs' own paths comes with every summary that has it)."""
    cell = {key: summary[key] for key in ("n", "success_rate", "success_ci95", "valid_rate", "in_order_rate",
                                          "mean_length", "mean_reference_length", "paths_per_second", "failure_kinds")}
    if "length_w1_pair_paths" in summary:  # evaluations since the drawn queries
        cell["length_w1_pair_paths"] = summary["length_w1_pair_paths"]
    planner = summary["planner"]
    if "sampler" in planner:  # learned planners: what they sampled with
        cell["sampler"] = {**planner["sampler"], "steps": planner.get("steps")}
    if fidelity is not None:
        cell["length_wasserstein1"] = fidelity["wasserstein1"]
    return cell


def _budget(summary: dict) -> dict:
    return {key: summary[key] for key in ("parameters", "steps", "epochs_done", "train_minutes", "device",
                                          "bf16_autocast", "stopped_by", "train_config")}


def _eval_path(agent: str, k: int, protocol: str | None = None) -> Path:
    """A table cell's folder in the report: eval/<protocol>/<agent>-k<K> under a protocol, eval/<agent>-k<K> for
    a protocol-independent planner (a plug-in's import path with a dot for its colon)."""
    name = f"{agent.replace(':', '.')}-k{k}"
    return Path("eval", protocol, name) if protocol else Path("eval", name)


def _leaderboard(spec: ReportSpec, cells: dict, training: dict) -> dict:
    """Per K, every planner's row of one protocol, best success first: the cell's numbers and the planner's
    training (None for the planners the report did not train)."""
    board = {}
    for k in spec.ks:
        rows = []
        for agent in spec.planners:
            cell, run = cells[f"{agent}-k{k}"], training.get(f"{agent}-k{k}")
            rows.append({"planner": PLANNER_NAMES.get(agent, agent), "agent": agent,
                         "protocol_independent": agent in spec.protocol_independent,
                         **{key: cell[key] for key in ("n", "success_rate", "success_ci95", "valid_rate", "in_order_rate",
                                                       "length_wasserstein1", "paths_per_second")},
                         "train_minutes": run["train_minutes"] if run else None,
                         "epochs": run["epochs_done"] if run else None})
        board[k] = sorted(rows, key=lambda row: -row["success_rate"])
    return board


def _shared_budget(runs: list[dict]) -> str | None:
    """The budget the final cells compare the planners at: "epoch" or "minutes" when every run stopped on that
    budget and all had the same one; None otherwise (e.g. per-agent epochs chosen to take similar minutes)."""
    axes = {STOPS.get(run["stopped_by"]) for run in runs}
    if len(axes) != 1 or None in axes:
        return None
    axis = axes.pop()
    setting = "epochs" if axis == "epoch" else "max_minutes"
    return axis if len({run["train_config"][setting] for run in runs}) == 1 else None


def _quick_eval_settings(configs) -> dict:
    """How the held-out checks during training ran (the curves' points); the same for every agent, or a ValueError."""
    settings = {(cfg.eval_examples, cfg.eval_steps, cfg.eval_every_minutes) for cfg in configs}
    if len(settings) > 1:
        raise ValueError(f"the agents' held-out checks differ ({sorted(settings)}), so their curves would not compare; "
                         "give them the same eval_examples, eval_steps and eval_every_minutes")
    examples, steps, every = settings.pop()
    return {"protocol": QUICK_EVAL_PROTOCOL, "examples": examples, "steps": steps, "every_minutes": every}


def _differing_settings(training: dict) -> str:
    """The training settings whose value is not the same for every trained planner, each planner's value
    (e.g. per-agent budgets of a preset); "" when they all trained alike. ``training``: run name -> budget."""
    by_agent = {}
    for name, run in training.items():
        by_agent.setdefault(name.rsplit("-k", 1)[0], run["train_config"])
    names = [key for key in next(iter(by_agent.values()), {}) if len({str(c[key]) for c in by_agent.values()}) > 1]
    return "; ".join(f"{key} (" + ", ".join(f"{PLANNER_NAMES.get(agent, agent)} {config[key]}"
                                            for agent, config in by_agent.items()) + ")" for key in names)


def _budget_label(axis: str | None) -> str:
    return {"epoch": "equal epochs", "minutes": "equal minutes"}.get(axis, "each run's own budget")


def save_figure(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)


def _colors(planners) -> dict[str, str]:
    """The same colour for a planner on every figure: the built-ins' first, then the plug-ins' in order."""
    return {agent: f"C{i}" for i, agent in enumerate(dict.fromkeys([*PLANNER_NAMES, *planners]))}


def _plot_sweep(path: Path, sweeps: dict, k: int, colors: dict) -> None:
    """Success against sampling steps, one panel per protocol."""
    fig = Figure(figsize=(5 * len(sweeps), 4), layout="constrained")
    for ax, (protocol, sweep) in zip(fig.subplots(1, len(sweeps), squeeze=False)[0], sweeps.items()):
        for agent, by_steps in sweep.items():
            steps = sorted(by_steps)
            rate = np.array([by_steps[s]["success_rate"] for s in steps]) * 100
            low = rate - np.array([by_steps[s]["success_ci95"][0] for s in steps]) * 100
            high = np.array([by_steps[s]["success_ci95"][1] for s in steps]) * 100 - rate
            ax.errorbar(steps, rate, yerr=np.maximum([low, high], 0), marker="o", capsize=3, label=agent,
                        color=colors[agent])  # a stored interval may miss its rate by a rounding error
        ax.set_xscale("log", base=2)
        ax.set_title(f"{protocol} protocol")
        ax.set_xlabel("sampling steps")
        ax.set_ylabel(f"held-out success at K = {k} (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)


def _plot_lengths(path: Path, fidelity: dict, ks, agents, colors: dict) -> None:
    """Cumulative distributions of generated and reference lengths: a row per protocol, a column per K."""
    fig = Figure(figsize=(4 * len(ks), 3.6 * len(fidelity)), layout="constrained")
    axes = fig.subplots(len(fidelity), len(ks), squeeze=False)
    for row, (protocol, by_cell) in zip(axes, fidelity.items()):
        for ax, k in zip(row, ks):
            for agent in agents:
                data = by_cell[f"{agent}-k{k}"]
                values = np.sort(data["generated"])
                ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post", color=colors[agent],
                        label=f"{agent} (W1 {data['wasserstein1']:.1f})")
            values = np.sort(by_cell[f"{agents[0]}-k{k}"]["reference"])
            ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post", color="black", linestyle="--",
                    label="held-out data")
            ax.set_title(f"{protocol} protocol, K = {k}")
            ax.set_xlabel("path length (cells)")
            ax.set_ylabel("cumulative fraction")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    save_figure(fig, path)


def _smoothed(x: list, y: list, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A moving average of ``y`` over windows of len(y) / points records, at the windows' last ``x``."""
    window = max(1, len(y) // points)
    return np.asarray(x)[window - 1:], np.convolve(y, np.ones(window) / window, mode="valid")


def _plot_curves(path: Path, curves: dict[str, Curve], k: int, colors: dict) -> None:
    """Held-out success (top) and training loss (bottom) against minutes (left) and epochs (right)."""
    fig = Figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(2, 2, sharex="col")
    for column, (axis, label) in enumerate((("minutes", "training minutes (held-out checks excluded)"),
                                            ("epoch", "epochs"))):
        for agent, curve in curves.items():
            axes[0, column].plot([c[axis] for c in curve.checks], [c["success"] * 100 for c in curve.checks],
                                 marker="o", color=colors[agent], label=agent)
            axes[1, column].plot(*_smoothed(curve.minutes if axis == "minutes" else curve.epoch, curve.loss),
                                 color=colors[agent], label=agent)
        axes[1, column].set_xlabel(label)
        for ax in axes[:, column]:
            ax.grid(alpha=0.3)
            ax.legend()
    for ax in axes[0]:
        ax.set_ylim(-2, 102)
    axes[0, 0].set_ylabel("held-out success (%)")
    axes[1, 0].set_ylabel("training loss (moving average)")
    fig.suptitle(f"K = {k}: held-out checks under the paper's protocol")
    save_figure(fig, path)


def success_text(cell: dict) -> str:
    low, high = cell["success_ci95"]
    return f"{cell['success_rate']:.1%} [{low:.1%}, {high:.1%}]"


def _failure_text(kinds: dict) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items(), key=lambda item: -item[1])) or "-"


def _lead_line(label: str, rates: dict) -> str:
    """FlexMDM minus MDM per K (``rates``: {K: {"flexmdm": rate or None, "mdm": rate or None}}) against the
    paper's, and the K where FlexMDM's lead reproduces (FlexMDM ahead)."""
    ks = [k for k, by_agent in rates.items() if None not in (by_agent.get("flexmdm"), by_agent.get("mdm"))]
    if not ks:
        return f"- FlexMDM minus MDM {label}: no K where both were measured."
    leads = {k: rates[k]["flexmdm"] - rates[k]["mdm"] for k in ks}
    paper = [f"K = {k}: {(PAPER_TABLE1['flexmdm'][k] - PAPER_TABLE1['mdm'][k]) * 100:+.1f}"
             for k in ks if k in PAPER_TABLE1["mdm"]]
    ahead = [str(k) for k in ks if leads[k] > 0]
    behind = [str(k) for k in ks if leads[k] <= 0]
    if not behind:
        reproduced = "FlexMDM's lead reproduces at every K"
    elif not ahead:
        reproduced = "FlexMDM's lead does **not** reproduce at any K"
    else:
        reproduced = f"FlexMDM's lead reproduces at K = {', '.join(ahead)}, **not** at K = {', '.join(behind)}"
    return (f"- FlexMDM minus MDM {label}, in points: {'; '.join(f'K = {k}: {lead * 100:+.1f}' for k, lead in leads.items())}"
            f" (paper: {'; '.join(paper) or '-'}): {reproduced}.")


def verdict(cells: dict, ks, *, budget: str = "equal minutes", checks: dict | None = None) -> list[str]:
    """Plain sentences comparing one protocol's cells with the paper's Table 1: each model's gap, FlexMDM's
    90 % target, MDM's decline with K and FlexMDM's lead over MDM in the final cells (trained to ``budget``)
    and, for each label of ``checks`` ({label: {K: {agent: rate or None}}}), in the training curves' checks."""
    lines = []
    for agent, paper in PAPER_TABLE1.items():
        ours = {k: cells[f"{agent}-k{k}"]["success_rate"] for k in ks if f"{agent}-k{k}" in cells}
        if not ours:
            continue
        gaps = [f"K = {k}: {rate:.1%} against {paper[k]:.1%} ({(rate - paper[k]) * 100:+.1f} points)"
                for k, rate in ours.items() if k in paper]
        if gaps:
            lines.append(f"- {agent}: " + "; ".join(gaps) + ".")
        if agent == "flexmdm":
            short = [k for k, rate in ours.items() if rate < 0.9]
            lines.append("- FlexMDM at or above 90 % at every K: " + (
                f"**not met** (below at K = {', '.join(map(str, short))})." if short else "met."))
        if agent == "mdm" and len(ours) > 1:
            rates = [ours[k] for k in sorted(ours)]
            trend = "declines" if rates[0] > rates[-1] else "does not decline"
            lines.append(f"- MDM success with K (paper: {' / '.join(f'{paper[k]:.1%}' for k in sorted(paper))}): "
                         f"{' / '.join(f'{r:.1%}' for r in rates)} here, it {trend} from K = {min(ours)} to K = {max(ours)}.")
    final = {k: {agent: cells[f"{agent}-k{k}"]["success_rate"] for agent in ("flexmdm", "mdm") if f"{agent}-k{k}" in cells}
             for k in ks}
    if any(len(by_agent) == 2 for by_agent in final.values()):
        lines.append(_lead_line(f"in the final cells ({budget})", final))
        lines += [_lead_line(f"at {label}", rates) for label, rates in (checks or {}).items()]
    return lines


def _check_text(view: dict, agent: str, axis: str) -> str:
    """A planner's check in an equal-budget view: its success, where it was taken and the budget both reached."""
    check, unit = view["planners"][agent], "epochs" if axis == "epoch" else "min"
    taken = "-" if check is None else f"{check['success']:.1%} at {check[axis]:.2f}"
    return f"{taken} (of {view['budget']:.2f} {unit})"


def _markdown(results: dict, spec: ReportSpec) -> str:
    shared = results["shared_budget"]
    lines = [f"# mazebench results: `{spec.run_name}`", "",
             f"Held-out success (one query per held-out pair: {QUERY_TEXT[spec.queries]}; 95 % Wilson interval), "
             f"{spec.steps} sampling steps for every planner. Training: `{spec.preset}` preset, "
             + (f"every model trained to {spec.epochs:g} epochs" if spec.epochs is not None else
                "every model trained to the preset's budget")
             + ("" if spec.max_minutes is None else f", at most {spec.max_minutes:g} minutes")
             + f"; the final cells compare the planners at {_budget_label(shared)}."
             + " Paper: FlexMDM paper Table 1 (41x41 maze, 100 epochs on GPUs).", ""]
    for protocol, data in results["protocols"].items():
        settings = ", ".join(f"{key} {value}" for key, value in data["sampler"].items() if value is not None)
        lines += [f"- **{protocol}**: {PROTOCOL_NAMES.get(protocol, protocol)}: {settings}."]
    differing = _differing_settings(results["training"])
    if differing:
        lines += ["- **training settings that differ between the planners**: " + differing + "."]
    lines += [f"- **{INDEPENDENT}**: " + ", ".join(PLANNER_NAMES.get(a, f"`{a}`") for a in spec.protocol_independent)
              + ": no unmasking sampler for a protocol to set" + (", AR decodes greedily" if "ar" in spec.planners else "")
              + "; each is evaluated once per K and that cell is shown under every protocol."]
    for protocol, data in results["protocols"].items():
        lines += ["", f"## Table 1 under {PROTOCOL_NAMES.get(protocol, protocol)}", "", *_table1(results, data["cells"], spec,
                                                                                                    paper=protocol == "paper")]
    lines += _task_section(results)
    lines += _leaderboard_section(results)
    lines += _against_the_paper(results, spec)
    for protocol, claims in results["claims"].items():
        lines += ["", f"## The paper's claims under {PROTOCOL_NAMES.get(protocol, protocol)}", "", *claims_markdown(claims)]
    lines += _equal_budget_section(results, spec)
    lines += _curves_section(results, spec)
    for protocol, data in results["protocols"].items():
        lines += ["", f"## Every cell under the {protocol} protocol", "",
                  *_detail_table(data["cells"], results["oracle"], spec.protocol_independent)]
    if results["training"]:
        lines += ["", "## Training budget", "", "| run | parameters | steps | epochs | minutes | device | bf16 | stopped by |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, run in results["training"].items():
            lines.append(f"| {name} | {run['parameters']:,} | {run['steps']} | {run['epochs_done']:.2f} | "
                         f"{run['train_minutes']:.1f} | {run['device']} | {run['bf16_autocast']} | {run['stopped_by']} |")
    if spec.samplers:
        lines += ["", "## Success against sampling steps", "",
                  f"K = {max(spec.ks)}, first {spec.sweep_limit} held-out pairs, "
                  f"{' and '.join(PLANNER_NAMES[a] for a in spec.samplers)} under each protocol.", "",
                  "![success vs steps](success_vs_steps.png)"]
    lines += ["", "## Length fidelity", "",
              "Distribution of generated path lengths against the reference paths of the same examples; W1 is the "
              "1-Wasserstein distance in cells.", "", "![length fidelity](length_fidelity.png)", "", "## Trajectories", ""]
    cells = [(agent, k, protocol) for protocol in spec.protocols for agent in spec.samplers for k in spec.ks]
    for agent, k, protocol in cells + [(agent, k, None) for agent in spec.protocol_independent for k in spec.ks]:
        folder = _eval_path(agent, k, protocol)
        for kind in ("successes", "failures", "generation"):
            if (spec.folder / folder / f"{kind}.png").exists():
                lines.append(f"- {protocol or INDEPENDENT}, {agent}-k{k}: [{kind}]({folder.as_posix()}/{kind}.png)")
    lines += _reproduce_section(results, spec)
    return "\n".join(lines)


def _against_the_paper(results: dict, spec: ReportSpec) -> list[str]:
    """The verdict under each protocol; nothing without MDM or FlexMDM."""
    if not spec.samplers:
        return []
    shared, quick = results["shared_budget"], results["quick_eval"]
    lines = ["", "## Against the paper", ""]
    for protocol, data in results["protocols"].items():
        checks = None
        if results["equal_budget"] and protocol == quick["protocol"]:
            checks = {f"{_budget_label(axis)} (held-out checks during training)":
                      {int(k): {agent: (check or {}).get("success") for agent, check in views[axis]["planners"].items()}
                       for k, views in results["equal_budget"].items()}
                      for axis in BUDGET_AXES if axis != shared}
        lines += [f"Under {PROTOCOL_NAMES.get(protocol, protocol)}:", "",
                  *verdict(data["cells"], spec.ks, budget=_budget_label(shared), checks=checks), ""]
    return lines


def _table1(results: dict, cells: dict, spec: ReportSpec, *, paper: bool) -> list[str]:
    """Planners as rows, K as columns; the paper's numbers under ours when ``paper``; the oracle last."""
    lines = ["| planner | " + " | ".join(f"K = {k}" for k in spec.ks) + " |", "|---" * (len(spec.ks) + 1) + "|"]
    for agent in spec.samplers:
        lines.append(f"| {PLANNER_NAMES[agent]} (here) | " + " | ".join(success_text(cells[f"{agent}-k{k}"]) for k in spec.ks) + " |")
        if paper and agent in PAPER_TABLE1:
            lines.append(f"| {PLANNER_NAMES[agent]} (paper, Table 1) | " + " | ".join(
                f"{PAPER_TABLE1[agent][k]:.1%}" if k in PAPER_TABLE1[agent] else "-" for k in spec.ks) + " |")
    oracle = results["oracle"]
    lines.append("| BFS oracle | " + " | ".join(f"{oracle[f'bfs-k{k}']['success_rate']:.0%}" for k in spec.ks) + " |")
    return lines


def _task_section(results: dict) -> list[str]:
    """The task's scale per K (and the 41x41 task's beside it, for another track), so that K keeps its meaning."""
    tasks = {"this task": results["task"]["track"], "the paper's 41x41 task": results["task"].get("paper_task")}
    lines = ["", "## The task's scale", "",
             "Subgoal density: K over the mean path length of the training data (subgoals per path cell).", "",
             "| task | K | maze | open cells | training paths | mean path length | mean query length | subgoal density |",
             "|---|---|---|---|---|---|---|---|"]
    for name, scale in tasks.items():
        for k, row in (scale or {}).items():
            lines.append(f"| {name} | {k} | {row['maze']} | {row['open_cells']} | {row['train_paths']:,} | "
                         f"{row['mean_path_length']:.1f} | {row['mean_query_length']:.1f} | {row['subgoal_density']:.2f} |")
    return lines


def _leaderboard_section(results: dict) -> list[str]:
    """Per protocol and K, every planner sorted by success; '-': a planner the report does not train."""
    lines = ["", "## Leaderboard", "",
             f"Every planner per K, best held-out success first; *{INDEPENDENT}*: the same cell under every protocol. "
             "Length W1: generated against reference path lengths (cells); paths/s: planning speed of the evaluation; "
             "training minutes and epochs: '-' for a planner the report does not train."]
    for protocol, by_k in results["leaderboard"].items():
        lines += ["", f"### Under {PROTOCOL_NAMES.get(protocol, protocol)}"]
        for k, rows in by_k.items():
            lines += ["", f"K = {k}:", "",
                      "| planner | success [95 % CI] | valid | in order | length W1 | paths/s | training minutes | epochs |",
                      "|---|---|---|---|---|---|---|---|"]
            for row in rows:
                label = row["planner"] + (f" (*{INDEPENDENT}*)" if row["protocol_independent"] else "")
                minutes, epochs = row["train_minutes"], row["epochs"]
                lines.append(f"| {label} | {success_text(row)} | {row['valid_rate']:.1%} | {row['in_order_rate']:.1%} | "
                             f"{row['length_wasserstein1']:.2f} | {row['paths_per_second']:,.1f} | "
                             f"{'-' if minutes is None else f'{minutes:.1f}'} | "
                             f"{'-' if epochs is None else f'{epochs:.2f}'} |")
    return lines


def _equal_budget_section(results: dict, spec: ReportSpec) -> list[str]:
    views, quick = results["equal_budget"], results["quick_eval"]
    if not views:
        return []
    every = "after every step" if not quick["every_minutes"] else f"every {quick['every_minutes']:g} training minutes"
    lines = ["## Equal epochs and equal minutes", "",
             f"The final cells compare the planners at {_budget_label(results['shared_budget'])} (see Training budget). "
             "The held-out checks "
             f"logged during training ({quick['protocol']} protocol, the first {quick['examples']} held-out pairs, "
             f"{quick['steps']} steps, a fixed seed, {every}) compare them at the largest number of epochs, and of "
             "minutes, that all of them reached: each planner's last check at or below it ('-': no check by then).", "",
             "| K | planner | stopped at | at equal epochs | at equal minutes | final cell, paper protocol |",
             "|---|---|---|---|---|---|"]
    for k, by_axis in views.items():
        for agent in spec.trained:
            stopped = results["curves"][f"{agent}-k{k}"]["stopped"]
            final = results["protocols"].get("paper", {}).get("cells", {}).get(f"{agent}-k{k}")
            lines.append(f"| {k} | {PLANNER_NAMES[agent]} | {stopped['epoch']:.2f} epochs, {stopped['minutes']:.1f} min | "
                         + " | ".join(_check_text(by_axis[axis], agent, axis) for axis in BUDGET_AXES)
                         + f" | {success_text(final) if final else '-'} |")
    return lines + ["", *_budget_cost(results, spec), ""]


def _budget_cost(results: dict, spec: ReportSpec) -> list[str]:
    """What training to equal epochs costs: measured for an epoch budget, estimated from each run's speed otherwise."""
    runs = results["training"]
    if results["shared_budget"] == "epoch":
        total = sum(run["train_minutes"] for run in runs.values())
        epochs = max(run["epochs_done"] for run in runs.values())
        return [f"Training every model to {epochs:.3g} epochs took {total:.0f} training minutes in all ("
                + ", ".join(f"{name} {run['train_minutes']:.0f}" for name, run in runs.items()) + ")."]
    target = math.ceil(max(run["epochs_done"] for run in runs.values()))
    minutes = {name: target * run["train_minutes"] / run["epochs_done"] for name, run in runs.items() if run["epochs_done"]}
    return [f"To compare the final cells at equal epochs instead, `mazebench report --epochs {target}` trains every "
            f"model to {target} epoch{'s' if target > 1 else ''} (the most any run reached here, rounded up), without a time cap, into "
            f"`runs/{spec.preset}-{target}ep/`: at the speeds measured here about {sum(minutes.values()):.0f} training "
            "minutes in all (" + ", ".join(f"{name} {m:.0f}" for name, m in minutes.items()) + "), plus the evaluations."]


def _curves_section(results: dict, spec: ReportSpec) -> list[str]:
    quick = results["quick_eval"]
    if quick is None:  # no planner trained
        return []
    decoding = (f" AR's checks decode at the {quick['protocol']} protocol's temperature, its cells greedily."
                if "ar" in spec.trained else "")
    lines = ["## Learning curves", "",
             f"Held-out success (the periodic checks: {quick['protocol']} protocol, first {quick['examples']} held-out "
             f"pairs, {quick['steps']} steps, fixed seed) and training loss (moving average) against training minutes "
             f"and epochs, every trained planner on one figure per K.{decoding} A curve has **flattened** when its last "
             f"{FLAT_TAIL:.0%} of epochs gained less than {FLAT_GAIN * 100:.0f} points of held-out success (the last "
             f"check minus the last check at or before {1 - FLAT_TAIL:.0%} of the run); '-' when there is no check on "
             "each side of that mark.", ""]
    lines += [f"![learning curves K = {k}](learning_curves_k{k}.png)" for k in spec.ks]
    lines += ["", "| run | stopped at epoch | minutes | stopped by | checks | last check | last-quarter gain | flattened |",
              "|---|---|---|---|---|---|---|---|"]
    for name, curve in results["curves"].items():
        gain, flat = curve["last_quarter_gain"], curve["flattened"]
        last = curve["checks"][-1]["success"] if curve["checks"] else None
        lines.append(f"| {name} | {curve['stopped']['epoch']:.2f} | {curve['stopped']['minutes']:.1f} | "
                     f"{results['training'][name]['stopped_by']} | {len(curve['checks'])} | "
                     f"{'-' if last is None else f'{last:.1%}'} | {'-' if gain is None else f'{gain * 100:+.1f} points'} | "
                     f"{'-' if flat is None else ('yes' if flat else 'no')} |")
    return lines


def _detail_table(cells: dict, oracle: dict, independent) -> list[str]:
    lines = ["| agent | K | n | success | paper | valid | in order | mean length (ref) | length W1 | failures |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, cell in {**cells, **oracle}.items():
        agent, k = name.rsplit("-k", 1)
        paper = PAPER_TABLE1.get(agent, {}).get(int(k))  # the module's table: integer keys
        label = agent + (f" (*{INDEPENDENT}*)" if agent in independent else "")
        lines.append(f"| {label} | {k} | {cell['n']} | {success_text(cell)} | {f'{paper:.1%}' if paper else '-'} | "
                     f"{cell['valid_rate']:.1%} | {cell['in_order_rate']:.1%} | {cell['mean_length']:.1f} "
                     f"({cell['mean_reference_length']:.1f}) | {cell['length_wasserstein1']:.2f} | "
                     f"{_failure_text(cell['failure_kinds'])} |")
    return lines


def _evaluate_flags(sampler: dict) -> str:
    """``mazebench evaluate`` options that select the sampler settings ``sampler``."""
    flags = {"mode": "--sampler"}

    def flag(key, value):
        name = key.replace("_", "-")
        if isinstance(value, bool):  # click's on/off switches
            return f"--{name}" if value else f"--no-{name}"
        return f"{flags.get(key, '--' + name)} {value}"

    return " ".join(flag(key, value) for key, value in sampler.items() if value is not None)


def _reproduce_section(results: dict, spec: ReportSpec) -> list[str]:
    ks, agents = ",".join(map(str, spec.ks)), ",".join(spec.agents)
    epochs = ("" if spec.epochs is None else f" --epochs {spec.epochs:g}") + (
        "" if spec.max_minutes is None else f" --max-minutes {spec.max_minutes:g}")
    checks = "" if spec.check_every_minutes is None else f" --eval-every-minutes {spec.check_every_minutes:g}"
    lines = ["", "## Reproduce", "", "```",
             f"mazebench report --subgoals {ks} --agents {agents} --preset {spec.preset} --steps {spec.steps} "
             f"--protocols {','.join(spec.protocols)}{epochs}"
             + ("" if spec.limit is None else f" --limit {spec.limit}")
             + ("" if spec.queries == "drawn" else f" --queries {spec.queries}")
             + f" --sweep-steps {','.join(map(str, spec.sweep_steps))} --sweep-limit {spec.sweep_limit}"
             + ("" if spec.check_every_minutes is None else f" --check-every-minutes {spec.check_every_minutes:g}"),
             "# or cell by cell:"]
    data_flag = "--subgoals K"
    if spec.dataset_options:  # not the default 41x41 data: generate it, then name its folders
        lines.append(f"mazebench generate --subgoals {ks} "
                     + " ".join(f"--{key.replace('_', '-')} {value}" for key, value in spec.dataset_options.items()))
        data_flag = f"--data {data_folder('K', spec.dataset_options, spec.data_root)}"
    for agent in spec.planners:
        evaluate = f"mazebench evaluate --agent {agent} {data_flag}"
        if agent in spec.trained:
            lines.append(f"mazebench train --agent {agent} {data_flag} --preset {spec.preset}{epochs}{checks} "
                         f"--out runs/{spec.run_name}/{agent}-kK")
            evaluate += f" --checkpoint runs/{spec.run_name}/{agent}-kK"
        if spec.queries != "drawn":
            evaluate += f" --queries {spec.queries}"
        if agent in spec.samplers:
            lines += [f"{evaluate} --steps {spec.steps} {_evaluate_flags(data['sampler'])} "
                      f"--out reports/{agent}-kK-{protocol}" for protocol, data in results["protocols"].items()]
        else:
            lines.append(f"{evaluate} --steps {spec.steps} --out reports/{agent.replace(':', '.')}-kK")
    return lines + ["```", ""]
