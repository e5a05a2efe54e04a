"""The interface every planner implements."""

from __future__ import annotations

import abc
from typing import Sequence

import numpy as np


class Planner(abc.ABC):
    """Plans paths on a maze through given subgoal sequences."""

    name: str

    @abc.abstractmethod
    def plan(self, maze: np.ndarray, subgoal_batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One ``(L, 2)`` path of (row, col) cells per ``(K, 2)`` subgoal sequence of the batch."""

    @abc.abstractmethod
    def describe(self) -> dict:
        """Configuration and counters (e.g. network evaluations) to store with the results."""

    def trace(self, subgoals: np.ndarray, frames: int = 8) -> tuple[list[list], list[str]] | None:
        """Snapshots of the generation process for one query (frames, titles), or None if there is none."""
        return None
