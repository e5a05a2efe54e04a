"""Learning curves of training runs, read from their ``metrics.jsonl``: loss and held-out success against
training minutes and epochs, whether a curve had flattened, and planners compared at an equal budget.

The held-out points are the trainer's periodic checks (``agents.learned.quick_success``: the same first
held-out pairs, the paper's protocol, a fixed seed), so the points of a curve and of two curves compare.
Minutes are ``elapsed_s / 60``: time spent in training steps, the held-out checks excluded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FLAT_TAIL = 0.25  # a curve has flattened when the last quarter of the run (in epochs) ...
FLAT_GAIN = 0.02  # ... gained less than 2 points of held-out success


@dataclass
class Curve:
    """One run's logged records in step order: every logged line's loss, and the held-out checks."""

    epoch: list[float]
    minutes: list[float]
    loss: list[float]
    checks: list[dict]  # {"epoch", "minutes", "success"} per held-out check

    @property
    def stopped(self) -> dict:
        """Where the run stopped: {"epoch", "minutes"} of its last logged line."""
        return {"epoch": self.epoch[-1], "minutes": self.minutes[-1]}


def read_curve(metrics_file: Path) -> Curve:
    """The curve of a run. Lines may be logged every N steps; a step logged twice (in runs resumed before
    the trainer dropped, on resume, the lines written after the last checkpoint) keeps its last line."""
    by_step = {}
    for number, line in enumerate(Path(metrics_file).read_text().splitlines(), start=1):
        try:
            record = json.loads(line)
            by_step[int(record["step"])] = record
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{metrics_file} line {number} is not a training record") from None
    if not by_step:
        raise ValueError(f"{metrics_file} holds no training record")
    records = [by_step[step] for step in sorted(by_step)]
    checks = [
        {"epoch": r["epoch"], "minutes": r["elapsed_s"] / 60, "success": r["val_success"]}
        for r in records
        if r.get("val_success") is not None
    ]
    return Curve(
        epoch=[r["epoch"] for r in records],
        minutes=[r["elapsed_s"] / 60 for r in records],
        loss=[r["loss"] for r in records],
        checks=checks,
    )


def last_quarter_gain(curve: Curve) -> float | None:
    """Held-out success of the last check minus that of the last check at or before 75 % of the run's
    epochs; None unless there is a check on each side of that mark."""
    mark = (1 - FLAT_TAIL) * curve.stopped["epoch"]
    before = check_at(curve, "epoch", mark)
    if before is None or curve.checks[-1]["epoch"] <= mark:
        return None
    return curve.checks[-1]["success"] - before["success"]


def check_at(curve: Curve, axis: str, budget: float) -> dict | None:
    """The last held-out check at or below ``budget`` on ``axis`` ("epoch" or "minutes"); None if none."""
    reached = [check for check in curve.checks if check[axis] <= budget + 1e-9]
    return reached[-1] if reached else None


def curve_summary(curve: Curve) -> dict:
    """What results.json keeps of a curve: the checks, where the run stopped and whether it had flattened."""
    gain = last_quarter_gain(curve)
    return {
        "checks": curve.checks,
        "stopped": curve.stopped,
        "last_quarter_gain": gain,
        "flattened": None if gain is None else gain < FLAT_GAIN,
    }


def at_equal_budget(curves: dict[str, Curve], axis: str) -> dict:
    """The planners compared at the largest budget on ``axis`` that all of them reached: that budget and,
    per planner, its last held-out check at or below it (None where it has none)."""
    budget = min(curve.stopped[axis] for curve in curves.values())
    return {"budget": budget, "planners": {name: check_at(curve, axis, budget) for name, curve in curves.items()}}
