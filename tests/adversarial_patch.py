"""A plug-in that patches the suite as it is imported: every path would be scored a success (a fixture of
tests/test_isolation.py, loaded as ``tests.adversarial_patch:Patcher``; no test imports it itself)."""

from __future__ import annotations

import mazebench.evaluation
import mazebench.scoring
from mazebench.planner import Planner
from mazebench.scoring import PathScore


def always_a_success(maze, subgoals, path) -> PathScore:
    return PathScore(True, True, True, "ok", None, None, len(subgoals), 1)


mazebench.scoring.score_path = mazebench.evaluation.score_path = always_a_success


class Patcher(Planner):
    """Answers every query with an empty path."""

    name = "patcher"

    def plan(self, maze, subgoal_batch, seed=0):
        return [[] for _ in subgoal_batch]

    def describe(self):
        return {"name": self.name}
