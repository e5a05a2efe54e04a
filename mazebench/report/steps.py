"""The steps page: success against the number of sampling steps under one protocol, out to where more steps stop
helping, for the trained planners of a track (their shipped reference checkpoints or the report's runs).

``build_steps_page`` evaluates every (planner, K, steps) cell (reusing matching evaluations) and writes
``reports/<track>/<protocol>-protocol-steps/``: README.md, results.json and one figure. The page also judges the
paper's claims at each step count, so a verdict that depends on the steps shows as such.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from agents.learned import protocol_sampler
from agents.reference import reference_checkpoint
from mazebench.evaluation import archive_samples
from mazebench.folders import PAGE_ENTRIES, check_own_folder, folder_lock, mark_own_folder
from mazebench.parallel import ordered_map
from mazebench.report.claims import ALPHA, claims_markdown, evaluate_claims
from mazebench.report.figures import planner_colors, save_figure
from mazebench.report.page import failure_text, success_text
from mazebench.report.pipeline import cached_evaluation, prepared_dataset
from mazebench.report.spec import PLANNER_NAMES, PROTOCOL_NAMES, TRACK_DATA, data_folder
from mazebench.report.tables import summary_cell
from mazebench.statistics import mcnemar_exact

LOG = logging.getLogger(__name__)
FLAT_POINTS = 2.0  # a curve has flattened where doubling the steps (or more) moves success by less than this


@dataclass
class StepsSpec:
    """What to run and where; every field has the page's default."""

    ks: tuple[int, ...] = (2, 7, 12)
    agents: tuple[str, ...] = ("mdm", "flexmdm")
    track: str = "mini"  # the dataset track (TRACK_DATA; "cpu": the 41x41 task)
    protocol: str = "paper"
    steps: tuple[int, ...] = (64, 256, 1024, 2048, 4096)
    limit: int | None = 300
    jobs: int = 1
    data_root: Path = Path("data")
    out: Path | None = None

    def __post_init__(self):
        protocol_sampler(self.protocol)  # a ValueError names the known ones
        if not self.steps or min(self.steps) < 1:
            raise ValueError(f"steps must be positive numbers, got {self.steps}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")

    @property
    def folder(self) -> Path:
        return self.out or Path("reports") / self.track / f"{self.protocol}-protocol-steps"

    def cell_folder(self, agent: str, k: int, steps: int) -> Path:
        return self.folder / "eval" / f"{agent}-k{k}-s{steps}"


def _evaluate_cell(_, task: tuple) -> dict:
    """One cell in a worker: (spec, agent, K, steps) -> its evaluation summary."""
    spec, agent, k, steps = task
    dataset = prepared_dataset(k, TRACK_DATA.get(spec.track, {}), spec.data_root, progress=False)
    return cached_evaluation(
        agent,
        dataset,
        spec.cell_folder(agent, k, steps),
        run=reference_checkpoint(agent, dataset),
        steps=steps,
        limit=spec.limit,
        sampler=asdict(protocol_sampler(spec.protocol)),
        num_pngs=0,
        progress=False,
    )


def evaluate_cells(spec: StepsSpec) -> dict:
    """Every cell's summary, {(agent, K, steps): summary}, the cheapest first, ``spec.jobs`` at a time."""
    for k in spec.ks:  # generated once, before the workers read them
        prepared_dataset(k, TRACK_DATA.get(spec.track, {}), spec.data_root, progress=False)
    cells = sorted(((a, k, s) for a in spec.agents for k in spec.ks for s in spec.steps), key=lambda c: c[2])
    with ordered_map(_evaluate_cell, None, spec.jobs) as run_all:
        summaries = list(run_all([(spec, *cell) for cell in cells]))
    return dict(zip(cells, summaries))


def flattens_at(successes: dict[int, list[bool]]) -> int | None:
    """The smallest step count whose per-query successes are told apart from those at no larger step count
    (exact McNemar on the same queries, 5 %) and within ``FLAT_POINTS`` of the largest's; None if none is."""
    counts = sorted(successes)
    for i, steps in enumerate(counts):
        here = np.array(successes[steps], dtype=bool)
        later = [np.array(successes[s], dtype=bool) for s in counts[i + 1 :]]
        close = abs(here.mean() - np.array(successes[counts[-1]]).mean()) * 100 < FLAT_POINTS
        if close and all(mcnemar_exact(other, here)["p_value"] >= ALPHA for other in later):
            return steps
    return None


def build_steps_page(spec: StepsSpec) -> dict:
    """Evaluate what is missing and write the page (its folder locked throughout); return its results."""
    with folder_lock(spec.folder):
        check_own_folder(spec.folder, "a steps page", ("spec", "cells"), PAGE_ENTRIES)
        mark_own_folder(spec.folder, "a steps page")
        summaries = evaluate_cells(spec)
        results = _results(spec, summaries)
        archive_samples(spec.folder)  # the cells' per-query outputs, to be committed with the page
        (spec.folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        plot_steps(spec.folder / "success_vs_steps.png", results, spec)
        (spec.folder / "README.md").write_text(steps_markdown(results, spec))
    return results


def _samples(spec: StepsSpec, agent: str, k: int, steps: int) -> Path:
    return spec.cell_folder(agent, k, steps) / "samples.jsonl"


def _results(spec: StepsSpec, summaries: dict) -> dict:
    cells, flat = {}, {}
    for agent in spec.agents:
        for k in spec.ks:
            per_query = {}
            for steps in spec.steps:
                summary = summaries[agent, k, steps]
                rows = [json.loads(line) for line in _samples(spec, agent, k, steps).read_text().splitlines()]
                per_query[steps] = [row["success"] for row in rows]
                counters = summary["planner"].get("counters", {})
                cells[f"{agent}-k{k}-s{steps}"] = {
                    **summary_cell(summary),
                    "jump_kinds": summary.get("jump_kinds", {}),
                    "failed": summary["n"] - round(summary["success_rate"] * summary["n"]),
                    "count_error_jumps": counters.get("count_error_jumps"),
                    "infeasible_closes": counters.get("infeasible_closes"),
                }
            flat[f"{agent}-k{k}"] = flattens_at(per_query)
    claims = {}
    if {"mdm", "flexmdm"} <= set(spec.agents) and len(spec.ks) > 1:
        claims = {
            str(steps): evaluate_claims(lambda agent, k, steps=steps: _samples(spec, agent, k, steps), spec.ks)
            for steps in spec.steps
        }
    first = spec.steps[0]
    requests = {
        f"{a}-k{k}": json.loads((spec.cell_folder(a, k, first) / "request.json").read_text())
        for a in spec.agents
        for k in spec.ks
    }
    return {
        "spec": {key: value for key, value in vars(spec).items() if key not in ("data_root", "out", "jobs")},
        "sampler": asdict(protocol_sampler(spec.protocol)),
        "cells": cells,
        "flattens_at": flat,
        "claims": claims,
        "checkpoints": {cell: request["checkpoint"] for cell, request in requests.items()},
        "datasets": {cell: request["dataset_id"] for cell, request in requests.items()},
    }


def plot_steps(path: Path, results: dict, spec: StepsSpec) -> None:
    """Success against sampling steps with 95 % intervals: one panel per K, one line per planner."""
    colors = planner_colors(spec.agents)
    fig = Figure(figsize=(4.2 * len(spec.ks), 3.8), layout="constrained")
    for ax, k in zip(fig.subplots(1, len(spec.ks), squeeze=False)[0], spec.ks):
        for agent in spec.agents:
            cells = [results["cells"][f"{agent}-k{k}-s{steps}"] for steps in spec.steps]
            rate = np.array([c["success_rate"] for c in cells]) * 100
            low = rate - np.array([c["success_ci95"][0] for c in cells]) * 100
            high = np.array([c["success_ci95"][1] for c in cells]) * 100 - rate
            ax.errorbar(
                spec.steps,
                rate,
                yerr=np.maximum([low, high], 0),
                marker="o",
                capsize=3,
                label=PLANNER_NAMES.get(agent, agent),
                color=colors[agent],
            )
        ax.set_xscale("log", base=2)
        ax.set_title(f"K = {k}, {spec.protocol} protocol")
        ax.set_xlabel("sampling steps")
        ax.set_ylabel("held-out success (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)


def steps_markdown(results: dict, spec: StepsSpec) -> str:
    sampler = ", ".join(f"{key} {value}" for key, value in results["sampler"].items() if value is not None)
    data = TRACK_DATA.get(spec.track, {})
    generate = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in data.items())
    steps_list = ",".join(map(str, spec.steps))
    lines = [
        f"# Success against sampling steps: the `{spec.track}` track, "
        f"{PROTOCOL_NAMES.get(spec.protocol, spec.protocol)}",
        "",
        f"Held-out success on the first {spec.limit or 'all'} drawn held-out queries per K (95 % Wilson intervals), "
        f"under the `{spec.protocol}` protocol's sampler ({sampler}) at each number of steps, with the shipped "
        "reference checkpoints of the track (agents/reference: the EMA weights of the page's runs in float16). "
        "The queries are the same at every step count, so the step counts are compared pairwise.",
        "",
        "![success against steps](success_vs_steps.png)",
        "",
        "| planner | K | " + " | ".join(f"{s} steps" for s in spec.steps) + " | flat from |",
        "|---|---|" + "---|" * len(spec.steps) + "---|",
    ]
    for agent in spec.agents:
        for k in spec.ks:
            cells = [results["cells"][f"{agent}-k{k}-s{s}"] for s in spec.steps]
            flat = results["flattens_at"][f"{agent}-k{k}"]
            flat_text = "not within the range" if flat is None or flat == spec.steps[-1] else f"{flat} steps"
            lines.append(
                f"| {PLANNER_NAMES.get(agent, agent)} | {k} | "
                + " | ".join(success_text(c) for c in cells)
                + f" | {flat_text} |"
            )
    lines += [
        "",
        f"*Flat from*: the smallest step count whose per-query successes no larger step count tells apart (exact "
        f"McNemar on the same queries, 5 %) and whose success lies within {FLAT_POINTS:g} points of the largest "
        "step count's; *not within the range*: only the largest step count qualifies, so more steps may still help.",
        "",
        "## Network evaluations per path",
        "",
        "Rows the network evaluated, per path (the MDM's sampler calls the network only on the rows with a reveal "
        "due; FlexMDM's on every row at every step, since its insertion rate depends on the network at every t).",
        "",
        "| planner | K | " + " | ".join(f"{s} steps" for s in spec.steps) + " |",
        "|---|---|" + "---|" * len(spec.steps),
    ]
    for agent in spec.agents:
        for k in spec.ks:
            cells = [results["cells"][f"{agent}-k{k}-s{s}"] for s in spec.steps]
            lines.append(
                f"| {PLANNER_NAMES.get(agent, agent)} | {k} | "
                + " | ".join(f"{c.get('network_calls_per_path') or 0:.1f}" for c in cells)
                + " |"
            )
    lines += [
        "",
        "## Failure anatomy",
        "",
        "Failed paths by the scorer's first failure. A *jump* (a step to a cell that is not a 4-neighbour) splits "
        "into a *repeat* (the same cell again), a *skip* (two or more cells away) and *through a wall* (two cells "
        "away in a straight line across a wall cell). *Count errors*: FlexMDM's failed paths with a non-adjacent "
        "step in which some stretch between two known cells lost its last mask with a number of masks no path can "
        "fill (fewer than the Manhattan distance minus one, or of the wrong parity): discretization, not the fill.",
        "",
        "| planner | K | steps | failed | repeat | skip | through a wall | other failures | count errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for agent in spec.agents:
        for k in spec.ks:
            for s in spec.steps:
                c = results["cells"][f"{agent}-k{k}-s{s}"]
                jumps = c["jump_kinds"]
                other = {kind: n for kind, n in c["failure_kinds"].items() if kind != "jump"}
                errors = "-" if agent != "flexmdm" or c["count_error_jumps"] is None else c["count_error_jumps"]
                lines.append(
                    f"| {PLANNER_NAMES.get(agent, agent)} | {k} | {s} | {c['failed']} | {jumps.get('repeat', 0)} | "
                    f"{jumps.get('skip', 0)} | {jumps.get('through_wall', 0)} | {failure_text(other)} | {errors} |"
                )
    if results["claims"]:
        lines += [
            "",
            "## The paper's claims at each step count",
            "",
            "(a) FlexMDM beats MDM at every K; (b) MDM declines from the smallest to the largest K while FlexMDM does "
            "not. The evidence for each verdict follows the table.",
            "",
            "| steps | (a) | (b) |",
            "|---|---|---|",
        ]
        for steps, claims in results["claims"].items():
            lead, trend = claims["flexmdm_beats_mdm"], claims["mdm_declines_flexmdm_does_not"]
            a = "holds" if lead["holds"] else "in part" if lead["significant_at"] else "does not hold"
            b = "cannot be tested" if not trend["testable"] else "holds" if trend["holds"] else "does not hold"
            lines.append(f"| {steps} | {a} | {b} |")
        lines.append("")
        for steps, claims in results["claims"].items():
            lines += [f"### {steps} steps", "", *claims_markdown(claims), ""]
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        f"mazebench steps --track {spec.track} --protocol {spec.protocol} --subgoals {','.join(map(str, spec.ks))} "
        f"--agents {','.join(spec.agents)} --steps {steps_list}"
        + ("" if spec.limit is None else f" --limit {spec.limit}"),
        "# or cell by cell:",
        *([f"mazebench generate --subgoals K {generate}"] if generate else []),
        f"mazebench evaluate --agent AGENT --data {data_folder('K', data, spec.data_root)} --checkpoint reference "
        f"--protocol {spec.protocol} --steps S" + ("" if spec.limit is None else f" --limit {spec.limit}"),
        "```",
        "",
        "Reference checkpoints (sha256 of the file's tensors and settings, as `request.json` records them):",
        "",
        *[f"- {cell}: `{digest}`" for cell, digest in results["checkpoints"].items()],
        "",
    ]
    return "\n".join(lines)
