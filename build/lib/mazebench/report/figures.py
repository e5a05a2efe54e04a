"""The report's figures: success against sampling steps and against compute, length distributions and learning
curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mazebench.report.curves import Curve
from mazebench.report.spec import PLANNER_NAMES


def save_figure(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)


def planner_colors(planners) -> dict[str, str]:
    """The same colour for a planner on every figure: the built-ins' first, then the plug-ins' in order."""
    return {agent: f"C{i}" for i, agent in enumerate(dict.fromkeys([*PLANNER_NAMES, *planners]))}


def plot_sweep(path: Path, sweeps: dict, k: int, colors: dict) -> None:
    """Success against sampling steps, one panel per protocol."""
    fig = Figure(figsize=(5 * len(sweeps), 4), layout="constrained")
    for ax, (protocol, sweep) in zip(fig.subplots(1, len(sweeps), squeeze=False)[0], sweeps.items()):
        for agent, by_steps in sweep.items():
            steps = sorted(by_steps)
            rate = np.array([by_steps[s]["success_rate"] for s in steps]) * 100
            low = rate - np.array([by_steps[s]["success_ci95"][0] for s in steps]) * 100
            high = np.array([by_steps[s]["success_ci95"][1] for s in steps]) * 100 - rate
            ax.errorbar(
                steps, rate, yerr=np.maximum([low, high], 0), marker="o", capsize=3, label=agent, color=colors[agent]
            )  # a stored interval may miss its rate by a rounding error
        ax.set_xscale("log", base=2)
        ax.set_title(f"{protocol} protocol")
        ax.set_xlabel("sampling steps")
        ax.set_ylabel(f"held-out success at K = {k} (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)


def plot_lengths(path: Path, fidelity: dict, ks, agents, colors: dict) -> None:
    """Cumulative distributions of generated and reference lengths: a row per protocol, a column per K."""
    fig = Figure(figsize=(4 * len(ks), 3.6 * len(fidelity)), layout="constrained")
    axes = fig.subplots(len(fidelity), len(ks), squeeze=False)
    for row, (protocol, by_cell) in zip(axes, fidelity.items()):
        for ax, k in zip(row, ks):
            for agent in agents:
                data = by_cell[f"{agent}-k{k}"]
                values = np.sort(data["generated"])
                ax.step(
                    values,
                    np.arange(1, len(values) + 1) / len(values),
                    where="post",
                    color=colors[agent],
                    label=f"{agent} (W1 {data['wasserstein1']:.1f})",
                )
            values = np.sort(by_cell[f"{agents[0]}-k{k}"]["reference"])
            ax.step(
                values,
                np.arange(1, len(values) + 1) / len(values),
                where="post",
                color="black",
                linestyle="--",
                label="held-out data",
            )
            ax.set_title(f"{protocol} protocol, K = {k}")
            ax.set_xlabel("path length (cells)")
            ax.set_ylabel("cumulative fraction")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    save_figure(fig, path)


def _smoothed(x: list, y: list, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A moving average of ``y`` over windows of len(y) / points records, at the windows' last ``x``."""
    window = max(1, len(y) // points)
    return np.asarray(x)[window - 1 :], np.convolve(y, np.ones(window) / window, mode="valid")


def plot_curves(path: Path, curves: dict[str, Curve], k: int, colors: dict) -> None:
    """Held-out success (top) and training loss (bottom) against minutes (left) and epochs (right)."""
    fig = Figure(figsize=(10, 7), layout="constrained")
    axes = fig.subplots(2, 2, sharex="col")
    for column, (axis, label) in enumerate(
        (("minutes", "training minutes (held-out checks excluded)"), ("epoch", "epochs"))
    ):
        for agent, curve in curves.items():
            axes[0, column].plot(
                [c[axis] for c in curve.checks],
                [c["success"] * 100 for c in curve.checks],
                marker="o",
                color=colors[agent],
                label=agent,
            )
            axes[1, column].plot(
                *_smoothed(curve.minutes if axis == "minutes" else curve.epoch, curve.loss),
                color=colors[agent],
                label=agent,
            )
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


def plot_compute(path: Path, k: int, checks: dict, cells: dict, colors: dict) -> None:
    """Success against training FLOPs (left: ``checks``, agent -> [(FLOPs, success)], the held-out checks) and
    against network evaluations per path (right: ``cells``, (agent, protocol or None) -> [(NFE, success)], the
    table cells and sweep points)."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    by_flops, by_calls = fig.subplots(1, 2)
    for agent, points in checks.items():
        flops, success = zip(*points) if points else ((), ())
        by_flops.plot(flops, np.array(success) * 100, marker="o", color=colors[agent], label=agent)
    styles = {}
    for (agent, protocol), points in cells.items():
        calls, success = zip(*sorted(points))
        style = styles.setdefault(protocol, ("-", "--", ":", "-.")[len(styles) % 4])
        label = agent if protocol is None else f"{agent}, {protocol}"
        by_calls.plot(calls, np.array(success) * 100, marker="o", linestyle=style, color=colors[agent], label=label)
    for ax, label in ((by_flops, "training FLOPs (estimate)"), (by_calls, "network evaluations per path (NFE)")):
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"held-out success at K = {k} (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    by_flops.set_title("held-out checks during training (paper protocol)")
    by_calls.set_title("final models: table cells and sampling-steps sweep")
    save_figure(fig, path)
