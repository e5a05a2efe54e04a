"""The planner contract: the interface every planner, built-in or plug-in, implements (``from mazebench import
Planner``)."""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from numbers import Real
from types import MappingProxyType
from typing import Any

import numpy as np


class Planner(abc.ABC):
    """Plans paths on a maze through given subgoal sequences.

    ``counters`` holds running totals (paths planned, network calls ...) that evaluation adds up
    across worker processes and stores with the results.
    """

    name: str
    counters: Mapping[str, int] = MappingProxyType({})  # planners that count set their own dict

    @abc.abstractmethod
    def plan(self, maze: np.ndarray, subgoal_batch: Sequence[np.ndarray], seed: int = 0) -> list[np.ndarray]:
        """One ``(L, 2)`` path of (row, col) cells per ``(K, 2)`` subgoal sequence of the batch.

        A stochastic planner draws from ``seed`` alone, so a batch's paths do not depend on the
        batches planned before it (evaluation in several processes gives the serial result).
        """

    @abc.abstractmethod
    def describe(self) -> dict:
        """Configuration and counters (e.g. network evaluations) to store with the results."""

    def trace(self, subgoals: np.ndarray, frames: int | None = 8) -> tuple[list[list], list[str]] | None:
        """Snapshots of the generation process for one query (frames, titles), or None if there is none:
        ``frames`` of them spread over the process, or (None) one after every step and the final one."""
        return None


class PlannerOutputError(Exception):
    """What a planner failed to give: an answer of the wrong kind (not one path per query, a description that is
    no dict), or none (it raised, ran past its time limit or its process died): the message says which."""


def failure_text(error: BaseException) -> str:
    """Why the planner failed what it was asked: its wrong answer, or what it raised."""
    return str(error) if isinstance(error, PlannerOutputError) else f"planner raised {error_line(error)}"


def check_path_count(planned: Any, wanted: int) -> None:
    """Raise PlannerOutputError unless ``planned`` is one path per query."""
    try:
        count = len(planned)
    except TypeError:
        raise PlannerOutputError(
            f"planner returned an object of type {type(planned).__name__}, not a list of paths"
        ) from None
    if count != wanted:
        raise PlannerOutputError(f"planner returned {count} paths for {wanted} subgoal sequences")


def finite_number(value: Any) -> bool:
    """Whether ``value`` is a real, finite number (not a bool): a counter that can be added up."""
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def error_line(error: BaseException) -> str:
    """``Type: message`` of an exception raised by a planner or a plug-in, on one line (never raises, even
    when the exception's own ``__str__`` does)."""
    try:
        message = str(error)
    except Exception:
        message = "<its message cannot be printed>"
    return " ".join(f"{type(error).__name__}: {message}".split())
