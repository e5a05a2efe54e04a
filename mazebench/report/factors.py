"""The one-factor page: from the paper's protocol, one sampler setting at a time changed to the suite's, on
a preset's trained models, to find which factor carries the gap between the two protocols.

``build_factors`` trains what is missing (the report's own runs, ``runs/<preset>/<agent>-k<K>``),
evaluates every row (reusing matching evaluations) and writes ``reports/<preset>/factors/``: README.md,
results.json and a figure.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from matplotlib.figure import Figure

from agents.learned import PAPER_STEPS, protocol_sampler
from mazebench.evaluation import archive_samples
from mazebench.folders import PAGE_ENTRIES, check_own_folder, folder_lock, mark_own_folder
from mazebench.report.figures import save_figure
from mazebench.report.page import failure_text, success_text
from mazebench.report.pipeline import cached_evaluation, prepared_dataset, run_finished, train_with_checks
from mazebench.report.spec import PLANNER_NAMES, ReportSpec
from mazebench.report.tables import summary_cell

LOG = logging.getLogger(__name__)

PAPER, SUITE = asdict(protocol_sampler("paper")), asdict(protocol_sampler("suite"))
FACTORS = {  # row name -> the settings changed from the paper's protocol, each to the suite's value
    "paper's protocol": {},
    "vanilla -> adaptive unmasking": {"mode": SUITE["mode"]},
    "temperature 1 -> argmax": {"temperature": SUITE["temperature"]},
    "Poisson -> binomial counts": {"count_law": SUITE["count_law"]},
    "uniform -> balanced grid": {"time_grid": SUITE["time_grid"]},
    "end game argmax -> leap": {"end_game": SUITE["end_game"]},
    "all of them, without feasible counts": {**SUITE, "feasible_counts": False},
    "suite's protocol (all of them, with feasible counts)": SUITE,
}


@dataclass
class FactorsSpec:
    """What to run and where; every field has the page's default."""

    ks: tuple[int, ...] = (2, 12)
    agents: tuple[str, ...] = ("flexmdm",)
    preset: str = "cpu"
    steps: int = PAPER_STEPS  # the paper's protocol's; the pages before 2026-12-02 used 64
    limit: int | None = None
    dataset_options: dict | None = None  # as ReportSpec's: None is the preset's track
    train_options: dict = field(default_factory=dict)
    check_every_minutes: float | None = ReportSpec.check_every_minutes  # the report's runs' held-out checks
    data_root: Path = Path("data")
    out: Path | None = None

    @property
    def report(self) -> ReportSpec:
        """The report whose runs and data the page uses."""
        return ReportSpec(
            ks=self.ks,
            agents=self.agents,
            preset=self.preset,
            data_root=self.data_root,
            dataset_options=self.dataset_options,
            train_options=self.train_options,
            check_every_minutes=self.check_every_minutes,
        )

    @property
    def folder(self) -> Path:
        return self.out or Path("reports") / self.preset / "factors"


def build_factors(spec: FactorsSpec, progress: bool = True) -> dict:
    """Train what is missing, evaluate every (agent, K, row); write the page (its folder's lock held throughout;
    a ValueError if the folder holds anything but a factors page); return its results."""
    with folder_lock(spec.folder):
        check_own_folder(spec.folder, "a factors page", ("spec", "factors", "cells"), PAGE_ENTRIES)
        mark_own_folder(spec.folder, "a factors page")
        return _build_factors(spec, progress)


def _build_factors(spec: FactorsSpec, progress: bool) -> dict:
    report, cells = spec.report, {}
    for k in spec.ks:
        dataset = prepared_dataset(k, report.dataset_options, spec.data_root, progress=progress)
        for agent in spec.agents:
            run, cfg = report.run_dir(agent, k), report.train_config(agent)
            if not run_finished(run, dataset, cfg):
                LOG.info("training %s K=%d (%s) into %s", agent, k, spec.preset, run)
                train_with_checks(dataset, agent, cfg, run, progress=progress)
            for name, change in FACTORS.items():
                folder = spec.folder / "eval" / agent / f"k{k}" / _slug(name)
                summary = cached_evaluation(
                    agent,
                    dataset,
                    folder,
                    run=run,
                    steps=spec.steps,
                    limit=spec.limit,
                    sampler=_sampler(change),
                    num_pngs=0,
                    progress=progress,
                )
                cells[f"{agent}/k{k}/{name}"] = {
                    **summary_cell(summary),
                    "end_game_reveals_per_path": _end_game_reveals(summary),
                }
    results = json.loads(
        json.dumps(
            {
                "spec": {
                    "ks": list(spec.ks),
                    "agents": list(spec.agents),
                    "preset": spec.preset,
                    "steps": spec.steps,
                    "limit": spec.limit,
                },
                "factors": {name: _sampler(change) for name, change in FACTORS.items()},
                "cells": cells,
            }
        )
    )
    spec.folder.mkdir(parents=True, exist_ok=True)
    _plot(spec.folder / "factors.png", cells, spec)
    archive_samples(spec.folder)  # the cells' per-query outputs, to be committed with the page
    (spec.folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (spec.folder / "README.md").write_text(_markdown(results, spec))
    return results


def _sampler(change: dict) -> dict:
    """The paper's protocol with ``change``; feasible counts only where the suite's full sampler has them."""
    return asdict(replace(protocol_sampler("paper"), **change))


def _end_game_reveals(summary: dict) -> float | None:
    """Masks per path that the end game set by argmax (none were left to it by the steps before)."""
    counters = summary["planner"].get("counters", {})
    return counters["final_reveals"] / summary["n"] if summary["n"] and "final_reveals" in counters else None


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def _plot(path: Path, cells: dict, spec: FactorsSpec) -> None:
    """Success with its 95 % interval per row, one panel per (agent, K)."""
    panels = [(agent, k) for agent in spec.agents for k in spec.ks]
    fig = Figure(figsize=(4.5 * len(panels), 4.2))
    for ax, (agent, k) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        row = [cells[f"{agent}/k{k}/{name}"] for name in FACTORS]
        rates = [cell["success_rate"] for cell in row]
        ax.barh(
            range(len(row)),
            rates,
            xerr=[
                [max(0.0, r - c["success_ci95"][0]) for r, c in zip(rates, row)],
                [max(0.0, c["success_ci95"][1] - r) for r, c in zip(rates, row)],
            ],
            capsize=3,
        )
        ax.set_yticks(range(len(row)), [name.split(" (")[0] for name in FACTORS], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(f"{PLANNER_NAMES.get(agent, agent)}, K = {k}")
        ax.set_xlabel("held-out success")
    fig.tight_layout()
    save_figure(fig, path)


def _markdown(results: dict, spec: FactorsSpec) -> str:
    cells = results["cells"]
    lines = [
        f"# One factor at a time: the paper's protocol towards the suite's (`{spec.preset}` preset)",
        "",
        f"Each row changes one sampler setting of the paper's protocol to the suite's value, on the same trained "
        f"models, {spec.steps} sampling steps, the held-out queries of every report "
        f"({'all pairs' if spec.limit is None else f'the first {spec.limit} pairs'}). Success with its 95 % Wilson "
        "interval and, in parentheses, points above the paper's protocol; lengths: mean generated (mean query "
        "reference); W1: generated lengths against the queried pairs' own path distributions (cells).",
        "",
        "![factors](factors.png)",
    ]
    for agent in spec.agents:
        for k in spec.ks:
            base = cells[f"{agent}/k{k}/{next(iter(FACTORS))}"]["success_rate"]
            lines += [
                "",
                f"## {PLANNER_NAMES.get(agent, agent)}, K = {k}",
                "",
                "| row | success | mean length (ref) | length W1 to pairs | end-game argmax masks per path | "
                "failures |",
                "|---|---|---|---|---|---|",
            ]
            for name in FACTORS:
                cell = cells[f"{agent}/k{k}/{name}"]
                delta = "" if name == next(iter(FACTORS)) else f" ({100 * (cell['success_rate'] - base):+.1f})"
                calls = cell["end_game_reveals_per_path"]
                lines.append(
                    f"| {name} | {success_text(cell)}{delta} | {cell['mean_length']:.1f} "
                    f"({cell['mean_reference_length']:.1f}) | {cell['length_w1_pair_paths']:.2f} | "
                    f"{'-' if calls is None else f'{calls:.1f}'} | {failure_text(cell['failure_kinds'])} |"
                )
    lines += ["", "## The rows' samplers", ""]
    lines += [
        f"- **{name}**: " + ", ".join(f"{key} {value}" for key, value in sampler.items() if value is not None)
        for name, sampler in results["factors"].items()
    ]
    limit = "" if spec.limit is None else f" --limit {spec.limit}"
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        f"mazebench factors --subgoals {','.join(map(str, spec.ks))} --agents {','.join(spec.agents)} "
        f"--preset {spec.preset} --steps {spec.steps}{limit}"
        + ("" if spec.check_every_minutes is None else f" --check-every-minutes {spec.check_every_minutes:g}"),
        "```",
        "",
    ]
    return "\n".join(lines)
