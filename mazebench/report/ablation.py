"""The ablation page: FlexMDM with the suite's departures from the paper, each alone and together.

Two departures are ablated on the same training budget (the preset's epochs):
- training data: the paper's paths, or the leak-free augmentation (each epoch, paths reversed with
  probability 1/2 and the K - 2 inner subgoals drawn anew; ``TrainConfig.reverse_paths``,
  ``redraw_subgoals``);
- sampler: the paper's protocol, the suite's sampler without feasible insertion counts, and the
  suite's sampler (``agents.learned.PROTOCOLS``).

``build_ablation`` trains what is missing (the variant whose settings are the preset's own for FlexMDM
shares the report's run, ``runs/<preset>/flexmdm-k<K>``; the other goes to ``runs/<preset>-paper-data/``
or ``runs/<preset>-aug/``), evaluates every cell (reusing matching evaluations) and writes
``reports/<preset>/ablation/``: README.md, results.json and a figure.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from matplotlib.figure import Figure

from agents import default_run_dir
from agents.config import SAMPLING_STEPS, preset_config
from agents.learned import protocol_sampler
from mazebench.evaluation import archive_samples
from mazebench.folders import PAGE_ENTRIES, check_own_folder, folder_lock, mark_own_folder
from mazebench.report.figures import save_figure
from mazebench.report.page import success_text
from mazebench.report.pipeline import cached_evaluation, prepared_dataset, run_finished, train_with_checks
from mazebench.report.tables import summary_cell

LOG = logging.getLogger(__name__)

AGENT = "flexmdm"
TRAININGS = {  # name -> (training settings, run folder suffix unless they are the preset's, description)
    "paper data": (
        {"reverse_paths": False, "redraw_subgoals": False},
        "-paper-data",
        "the dataset's paths as they are (the paper)",
    ),
    "augmented": (
        {"reverse_paths": True, "redraw_subgoals": True},
        "-aug",
        "each epoch, paths reversed with probability 1/2 and inner subgoals redrawn",
    ),
}
SAMPLERS = {  # name -> (sampler settings, description)
    "paper": (
        asdict(protocol_sampler("paper")),
        "the paper's protocol: vanilla, Poisson counts, uniform grid, temperature 1",
    ),
    "suite without feasible counts": (
        asdict(replace(protocol_sampler("suite"), feasible_counts=False)),
        "adaptive (most confident first), argmax, binomial counts, balanced grid",
    ),
    "suite": (asdict(protocol_sampler("suite")), "the suite's protocol: the above with feasible insertion counts"),
}


@dataclass
class AblationSpec:
    """What to run and where; every field has the page's default."""

    ks: tuple[int, ...] = (2, 7, 12)
    preset: str = "cpu"
    steps: int = SAMPLING_STEPS
    limit: int | None = None
    dataset_options: dict = field(default_factory=dict)  # passed to generate_dataset
    train_options: dict = field(default_factory=dict)  # overrides of the preset's settings, for every training
    data_root: Path = Path("data")
    out: Path | None = None

    @property
    def folder(self) -> Path:
        return self.out or Path("reports") / self.preset / "ablation"

    def run_dir(self, training: str, k: int) -> Path:
        """The report's own run when ``training`` is what the preset trains, else the variant's folder."""
        own = self.train_config(training) == preset_config(self.preset, AGENT, **self.train_options)
        return default_run_dir(AGENT, k, self.preset + ("" if own else TRAININGS[training][1]))

    def train_config(self, training: str):
        return preset_config(self.preset, AGENT, **{**self.train_options, **TRAININGS[training][0]})


def build_ablation(spec: AblationSpec, progress: bool = True) -> dict:
    """Train and evaluate what is missing; write the page (its folder's lock held throughout; a ValueError if
    the folder holds anything but an ablation page); return its results."""
    with folder_lock(spec.folder):
        check_own_folder(spec.folder, "an ablation page", ("spec", "trainings", "samplers", "cells"), PAGE_ENTRIES)
        mark_own_folder(spec.folder, "an ablation page")
        return _build_ablation(spec, progress)


def _build_ablation(spec: AblationSpec, progress: bool) -> dict:
    cells, training = {}, {}
    for k in spec.ks:
        dataset = prepared_dataset(k, spec.dataset_options, spec.data_root, progress=progress)
        for name in TRAININGS:
            run, cfg = spec.run_dir(name, k), spec.train_config(name)
            if not run_finished(run, dataset, cfg):
                LOG.info("training %s K=%d (%s) into %s", AGENT, k, name, run)
                train_with_checks(dataset, AGENT, cfg, run, progress=progress)
            summary = json.loads((run / "summary.json").read_text())
            training[f"{name}/k{k}"] = {
                "run": str(run),
                **{
                    key: summary[key]
                    for key in ("steps", "epochs_done", "train_minutes", "bf16_autocast", "stopped_by")
                },
            }
            for sampler, (settings, _) in SAMPLERS.items():
                folder = spec.folder / "eval" / _slug(name) / _slug(sampler) / f"{AGENT}-k{k}"
                cells[f"{name}/{sampler}/k{k}"] = summary_cell(
                    cached_evaluation(
                        AGENT,
                        dataset,
                        folder,
                        run=run,
                        steps=spec.steps,
                        limit=spec.limit,
                        sampler=settings,
                        num_pngs=0,
                        progress=progress,
                    )
                )
    results = {
        "spec": {"ks": list(spec.ks), "preset": spec.preset, "steps": spec.steps, "limit": spec.limit},
        "trainings": {name: {"settings": settings, "about": about} for name, (settings, _, about) in TRAININGS.items()},
        "samplers": {name: {"settings": settings, "about": about} for name, (settings, about) in SAMPLERS.items()},
        "training": training,
        "cells": cells,
    }
    results = json.loads(json.dumps(results))
    spec.folder.mkdir(parents=True, exist_ok=True)
    _plot(spec.folder / "ablation.png", cells, spec.ks)
    archive_samples(spec.folder)  # the cells' per-query outputs, to be committed with the page
    (spec.folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (spec.folder / "README.md").write_text(_markdown(results, spec))
    return results


def _slug(name: str) -> str:
    return name.replace(" ", "-")


def _plot(path: Path, cells: dict, ks) -> None:
    """Success with its 95 % interval per (training, sampler), one panel per K."""
    fig = Figure(figsize=(4.2 * len(ks), 3.6))
    axes = fig.subplots(1, len(ks), squeeze=False)[0]
    width = 0.8 / len(TRAININGS)
    for ax, k in zip(axes, ks):
        for i, name in enumerate(TRAININGS):
            row = [cells[f"{name}/{s}/k{k}"] for s in SAMPLERS]
            rates = [cell["success_rate"] for cell in row]
            lows = [max(0.0, cell["success_rate"] - cell["success_ci95"][0]) for cell in row]
            highs = [max(0.0, cell["success_ci95"][1] - cell["success_rate"]) for cell in row]
            ax.bar(
                [j + (i - (len(TRAININGS) - 1) / 2) * width for j in range(len(SAMPLERS))],
                rates,
                width,
                yerr=[lows, highs],
                capsize=3,
                label=name,
            )
        ax.set_xticks(range(len(SAMPLERS)), [s.replace(" without", "\nwithout") for s in SAMPLERS], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"K = {k}")
        ax.set_ylabel("held-out success")
    axes[0].legend(title="training data", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def _markdown(results: dict, spec: AblationSpec) -> str:
    ks, cells = results["spec"]["ks"], results["cells"]
    n = {cell["n"] for cell in cells.values()}
    lines = [
        f"# Ablation: FlexMDM on the {spec.preset} preset",
        "",
        "Each departure of the suite from the paper alone and together, on the same training budget "
        f"(the preset's epochs), {'/'.join(map(str, sorted(n)))} held-out pairs per cell, {spec.steps} "
        "sampling steps, success with its 95 % Wilson interval. The first row is the paper's configuration.",
        "",
        "| training data | sampler | " + " | ".join(f"K = {k}" for k in ks) + " |",
        "|---|---|" + "---|" * len(ks),
    ]
    base = next(iter(TRAININGS)), next(iter(SAMPLERS))
    for name in TRAININGS:
        for sampler in SAMPLERS:
            row = []
            for k in ks:
                cell, ref = cells[f"{name}/{sampler}/k{k}"], cells[f"{base[0]}/{base[1]}/k{k}"]
                delta = (
                    "" if (name, sampler) == base else f" ({100 * (cell['success_rate'] - ref['success_rate']):+.1f})"
                )
                row.append(success_text(cell) + delta)
            lines.append(f"| {name} | {sampler} | " + " | ".join(row) + " |")
    lines += [
        "",
        "In parentheses: points above the first row.",
        "",
        "![ablation](ablation.png)",
        "",
        "Mean path length, generated (reference):",
        "",
        "| training data | sampler | " + " | ".join(f"K = {k}" for k in ks) + " |",
        "|---|---|" + "---|" * len(ks),
    ]
    for name in TRAININGS:
        for sampler in SAMPLERS:
            lengths = [cells[f"{name}/{sampler}/k{k}"] for k in ks]
            lines.append(
                f"| {name} | {sampler} | "
                + " | ".join(f"{cell['mean_length']:.1f} ({cell['mean_reference_length']:.1f})" for cell in lengths)
                + " |"
            )
    lines += ["", "## The variants", ""]
    lines += [
        f"- training **{name}**: {info['about']}; settings: {info['settings']}"
        for name, info in results["trainings"].items()
    ]
    lines += [f"- sampler **{name}**: {info['about']}" for name, info in results["samplers"].items()]
    lines += [
        "",
        "## Training runs",
        "",
        "| run | K | steps | epochs | minutes | bf16 autocast | stopped by |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, run in results["training"].items():
        name, k = key.rsplit("/k", 1)
        lines.append(
            f"| {run['run']} ({name}) | {k} | {run['steps']} | {run['epochs_done']:.2f} | "
            f"{run['train_minutes']:.1f} | {run['bf16_autocast']} | {run['stopped_by']} |"
        )
    limit = "" if spec.limit is None else f" --limit {spec.limit}"
    lines += [
        "",
        "## Reproduce",
        "",
        "```",
        f"mazebench ablation --subgoals {','.join(map(str, ks))} --preset {spec.preset} --steps {spec.steps}{limit}",
        "```",
        "",
    ]
    return "\n".join(lines)
