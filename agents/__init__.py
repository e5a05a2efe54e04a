"""Planners evaluated by mazebench, and a registry that builds them by name."""

from __future__ import annotations

from typing import Any, Callable

from agents.base import Planner
from agents.bfs import BFSPlanner


def _make_bfs(**_options: Any) -> Planner:
    return BFSPlanner()  # the oracle needs no dataset, checkpoint or sampler options


AGENT_FACTORIES: dict[str, Callable[..., Planner]] = {"bfs": _make_bfs}
AGENT_NAMES = tuple(AGENT_FACTORIES)


def make_agent(name: str, *, dataset=None, checkpoint=None, steps=None, sampler=None, temperature=None,
               device=None) -> Planner:
    """Build the planner called ``name``; options it does not use are ignored."""
    if name not in AGENT_FACTORIES:
        raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(AGENT_NAMES)}")
    return AGENT_FACTORIES[name](dataset=dataset, checkpoint=checkpoint, steps=steps, sampler=sampler,
                                 temperature=temperature, device=device)


__all__ = ["AGENT_NAMES", "Planner", "make_agent"]
