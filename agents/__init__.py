"""Planners evaluated by mazebench, and a registry that builds them by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from agents.base import Planner
from agents.bfs import BFSPlanner


def _make_bfs(**_options: Any) -> Planner:
    return BFSPlanner()  # the oracle needs no dataset, checkpoint or sampler options


def default_run_dir(agent: str, num_subgoals: int, preset: str = "cpu") -> Path:
    """Where ``mazebench train`` puts a run by default: runs/<preset>/<agent>-k<K>."""
    return Path("runs") / preset / f"{agent}-k{num_subgoals}"


def _learned(agent: str) -> Callable[..., Planner]:
    def make(*, dataset=None, checkpoint=None, steps=None, sampling=None, device=None) -> Planner:
        from agents.learned import LearnedPlanner  # torch loads only for learned agents

        if checkpoint is None:
            if dataset is None:
                raise ValueError(f"agent {agent!r} needs --checkpoint (a run folder) or a dataset to find its default run")
            checkpoint = default_run_dir(agent, dataset.num_subgoals)
        if not Path(checkpoint).exists():
            k = dataset.num_subgoals if dataset is not None else "K"
            raise FileNotFoundError(
                f"no trained {agent} model at {checkpoint}; run `mazebench train --agent {agent} --subgoals {k}` first"
            )
        planner = LearnedPlanner.from_checkpoint(checkpoint, steps=steps, sampling=sampling, device=device)
        if planner.name != agent:  # results would be labelled with the wrong planner
            raise ValueError(f"the checkpoint at {checkpoint} is a {planner.name} run, not {agent}: evaluate it with "
                             f"--agent {planner.name}, or give a {agent} run")
        if dataset is not None:
            planner.check_compatible(dataset)
        return planner

    return make


AGENT_FACTORIES: dict[str, Callable[..., Planner]] = {"bfs": _make_bfs, "flexmdm": _learned("flexmdm"),
                                                       "mdm": _learned("mdm")}
AGENT_NAMES = tuple(AGENT_FACTORIES)


def make_agent(name: str, *, dataset=None, checkpoint=None, steps=None, sampling=None, device=None) -> Planner:
    """Build the planner called ``name``; options it does not use are ignored.

    ``sampling`` holds settings of ``agents.samplers.UnmaskRule`` (mode, temperature, count_law ...).
    """
    if name not in AGENT_FACTORIES:
        raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(AGENT_NAMES)}")
    return AGENT_FACTORIES[name](dataset=dataset, checkpoint=checkpoint, steps=steps, sampling=sampling, device=device)


__all__ = ["AGENT_NAMES", "Planner", "default_run_dir", "make_agent"]
