"""Trained FlexMDM / MDM models behind the common planner interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from agents.config import SAMPLING_STEPS
from agents.loading import load_checkpoint
from agents.samplers import SamplerSettings
from mazebench.planner import Planner

# The paper's sampler: "vanilla inference for both MDM and FlexMDM" (section 5.1). Each mask is revealed when exactly
# one of its per-token Poisson clocks rings, which reveals token v with probability proportional to f[v]: the token is
# drawn from f, i.e. temperature 1 (0 would be argmax, not the paper's). Insertions are Poisson tau-leaps, on a uniform
# time grid; the official code's end game (the last step, at t = 1 - tau, argmaxes every mask left and inserts nothing).
_PAPER = SamplerSettings(mode="vanilla", temperature=1.0, count_law="poisson", time_grid="uniform", end_game="argmax")
# The named evaluation protocols: each fixes its sampler and its number of steps, the same for every planner.
PROTOCOLS: dict[str, SamplerSettings] = {
    # The paper's sampler at PAPER_STEPS (reports/mini/paper-protocol-steps: where more steps stop helping).
    "paper": _PAPER,
    # The same at 64 steps: what the pages called the paper's protocol until 2026-12-02 (kept so that those cells
    # can be reproduced; at 64 steps vanilla tau-leaping's insertion counts cost FlexMDM a third of its successes).
    "paper-64": _PAPER,
    # The released FlexMDM code's own sampling defaults (``any_order_mask_insertion_tau_leaping_sampling`` in its
    # sampling.py): masks revealed most confident first by the margin of the two most likely tokens, argmax tokens,
    # Poisson(tau x masks) reveals per row (no hazard factor) and Poisson insertions, its end game, its 2048 steps.
    "official": SamplerSettings(
        mode="adaptive",
        confidence="margin",
        temperature=0.0,
        count_law="poisson",
        time_grid="uniform",
        end_game="argmax",
        reveal_count="flat",
    ),
    # The suite's default (SamplerSettings' own defaults): adaptive (most confident first), argmax, binomial count law
    # with feasible insertion counts, balanced grid; the last interval is leaped and its new masks filled at t = 1.
    "suite": SamplerSettings(),
}
PAPER_STEPS = 2048  # the official default; the mini curves stop rising there (reports/mini/paper-protocol-steps)
PROTOCOL_STEPS = {"paper": PAPER_STEPS, "paper-64": 64, "official": 2048, "suite": SAMPLING_STEPS}
QUICK_EVAL_PROTOCOL, QUICK_EVAL_SEED = "paper", 0  # the periodic held-out check's sampler (at its own steps)


def protocol_sampler(protocol: str) -> SamplerSettings:
    """The sampler of a named evaluation protocol (a copy of ``PROTOCOLS[protocol]``)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    return replace(PROTOCOLS[protocol])


def protocol_steps(protocol: str) -> int:
    """The number of sampling steps of a named evaluation protocol."""
    protocol_sampler(protocol)  # a ValueError names the known ones
    return PROTOCOL_STEPS[protocol]


class LearnedPlanner(Planner):
    """Samples one path per subgoal sequence with a trained model (EMA weights)."""

    def __init__(
        self,
        method,
        model,
        *,
        steps: int = SAMPLING_STEPS,
        sampler: SamplerSettings | None = None,
        checkpoint: dict | None = None,
    ):
        self.name = method.name
        self.method = method
        self.model = model
        self.steps = steps
        self.sampler = sampler or SamplerSettings()
        kept = ("dataset_id", "parameters", "train_config", "num_subgoals", "maze")
        self.trained_on = {k: (checkpoint or {})[k] for k in kept if k in (checkpoint or {})}
        # network_calls: calls of the network, each on a batch; path_network_calls: the calls each path went
        # through, summed over the paths (their mean is the NFE per path); infeasible_closes: FlexMDM paths in which
        # a stretch between known cells lost its last mask with a count no path fits, count_error_jumps: those of
        # them that end with a non-adjacent step
        self.counters = {
            "paths": 0,
            "network_calls": 0,
            "path_network_calls": 0,
            "final_reveals": 0,
            "capped_insertions": 0,
            "infeasible_closes": 0,
            "count_error_jumps": 0,
        }

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, *, steps: int | None = None, sampler: dict | None = None, device: str | None = None
    ) -> LearnedPlanner:
        """The EMA model of a run, sampling with ``SamplerSettings(**sampler)`` (the suite's protocol by default)."""
        method, model, state = load_checkpoint(path, device or "auto")
        return cls(
            method, model, steps=steps or SAMPLING_STEPS, sampler=SamplerSettings(**(sampler or {})), checkpoint=state
        )

    def check_compatible(self, dataset) -> None:
        """Refuse a dataset whose maze or K differs from the one the model was trained on."""
        trained_k = self.trained_on.get("num_subgoals")
        if trained_k is not None and trained_k != dataset.num_subgoals:
            raise ValueError(
                f"the {self.name} checkpoint was trained with K={trained_k}, the dataset has "
                f"K={dataset.num_subgoals}; run `mazebench train --agent {self.name} --subgoals "
                f"{dataset.num_subgoals}`"
            )
        maze = self.trained_on.get("maze")
        if maze is not None and not np.array_equal(maze, dataset.maze):
            raise ValueError(
                f"the {self.name} checkpoint was trained on another maze than {dataset.path}; "
                f"train on this dataset with `mazebench train --agent {self.name} --data {dataset.path}`"
            )

    def plan(self, maze: np.ndarray, subgoal_batch: Sequence[np.ndarray], seed: int = 0) -> list[np.ndarray]:
        tokenizer = self.method.tokenizer
        subgoals = torch.from_numpy(np.stack([tokenizer.encode(s) for s in subgoal_batch]))
        paths, stats = self.method.sample(
            self.model, subgoals, steps=self.steps, sampler=self.sampler, generator=torch.Generator().manual_seed(seed)
        )
        self.counters["paths"] += len(paths)
        self.counters["path_network_calls"] += stats.row_calls
        for key in ("network_calls", "final_reveals", "capped_insertions", "infeasible_closes", "count_error_jumps"):
            self.counters[key] += getattr(stats, key)
        return [tokenizer.decode(p.numpy()) for p in paths]

    def trace(self, subgoals, frames: int | None = 8) -> tuple[list[list], list[str]]:
        """Snapshots of one generation from ``subgoals``, for a filmstrip or (``frames`` None: after every
        step, then the final path) an animation: (frames, titles).

        A frame holds one entry per position of the sequence: a (row, col) cell, or None for a mask.
        """
        tokenizer = self.method.tokenizer
        every = range(self.steps) if frames is None else np.linspace(0, self.steps - 1, frames - 1).round()
        shown = {int(k) for k in every}
        snapshots, titles = [], []

        def cells(row):
            return [
                None if x == tokenizer.mask else tuple(tokenizer.decode([x])[0])
                for x in row
                if x == tokenizer.mask or x < tokenizer.num_cells
            ]

        def on_step(k, body):
            if k in shown:
                snapshots.append(cells(body[0].tolist()))
                titles.append(f"after step {k + 1}/{self.steps}")

        encoded = torch.from_numpy(tokenizer.encode(subgoals))[None]
        paths, stats = self.method.sample(
            self.model,
            encoded,
            steps=self.steps,
            sampler=self.sampler,
            generator=torch.Generator().manual_seed(0),
            on_step=on_step,
        )
        final = "final" if not stats.final_reveals else f"final ({stats.final_reveals} masks argmax-filled)"
        return snapshots + [cells(paths[0].tolist())], titles + [final]

    def describe(self) -> dict:
        info = {k: v for k, v in self.trained_on.items() if k not in ("maze", "num_subgoals")}
        return {
            "agent": self.name,
            "steps": self.steps,
            "sampler": vars(self.sampler),
            **info,
            "counters": dict(self.counters),
        }


def quick_success(model, method, dataset, *, examples: int, steps: int) -> float:
    """Held-out success rate for training logs: the queries of the first ``examples`` held-out pairs (drawn
    as an evaluation draws them), planned under the paper's protocol with a fixed seed, so that the points
    of a curve are comparable."""
    from mazebench.scoring import score_path

    was_training = model.training
    model.eval()
    indices = dataset.val.queries()[:examples]
    batch = [dataset.val[int(i)] for i in indices]
    planner = LearnedPlanner(method, model, steps=steps, sampler=protocol_sampler(QUICK_EVAL_PROTOCOL))
    paths = planner.plan(dataset.maze, [ex.subgoals for ex in batch], seed=QUICK_EVAL_SEED)
    model.train(was_training)
    return float(np.mean([score_path(dataset.maze, ex.subgoals, p).success for ex, p in zip(batch, paths)]))
