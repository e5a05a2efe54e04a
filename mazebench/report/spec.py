"""What a report runs and where: ``ReportSpec``, the names and numbers its pages quote, and its folder layout."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from agents import check_agent_name, default_run_dir
from agents.config import SAMPLING_STEPS, UPPER_BOUNDS, preset_config
from agents.learned import protocol_sampler, protocol_steps
from agents.loading import METHODS
from mazebench.datasets import QUERY_KINDS, QUERY_SEED, default_data_dir
from mazebench.evaluation import MAX_SAMPLES_PER_QUERY

PAPER_TABLE1 = {"mdm": {2: 0.684, 7: 0.293, 12: 0.242}, "flexmdm": {2: 0.923, 7: 0.904, 12: 0.900}}
PLANNER_NAMES = {"flexmdm": "FlexMDM", "mdm": "MDM", "bfs": "BFS oracle", "ar": "AR"}
INDEPENDENT = "protocol-independent"
UNMASKING_AGENTS = (
    "mdm",
    "flexmdm",
)  # the planners whose sampler the protocols set; the others are evaluated once per K
PROTOCOL_NAMES = {
    "paper": "the paper's protocol (vanilla inference for both planners, section 5.1)",
    "paper-64": "the paper's sampler at 64 steps (the pages' paper protocol before 2026-12-02)",
    "official": "the released FlexMDM code's sampling defaults",
    "suite": "the suite's protocol (its default sampler)",
}
# The data of a track whose preset is not the 41x41 task's (generate_dataset options): the laptop track's maze
# is 15x15, with 30 % of its pairs held out so that every cell has 300 queries.
TRACK_DATA = {"mini": {"maze_size": 15, "pairs": 1000, "val_frac": 0.3}}
QUERY_TEXT = {
    "drawn": f"one of the pair's paths drawn at random with seed {QUERY_SEED}, as training examples are",
    "shortest": "the pair's shortest path",
}
BUDGET_AXES = ("epoch", "minutes")
# The protocol whose cells get ``samples_per_query`` draws (besides AR's): it samples at temperature 1, so its draws
# measure a planner as a generative model of paths.
GENERATIVE_PROTOCOL = "paper"
REPORT_ENTRIES = ("eval", "sweep", "ablation")  # what a report folder holds before its page, PNGs aside
STOPS = {"epochs": "epoch", "max_minutes": "minutes"}  # a run's stopped_by -> the budget it exhausted


@dataclass
class ReportSpec:
    """What to run and where; every field has the benchmark's default."""

    ks: tuple[int, ...] = (2, 7, 12)
    agents: tuple[str, ...] = ("mdm", "flexmdm")  # built-ins, registered names or package.module:NAME; BFS always joins
    preset: str = "cpu"
    steps: int | None = None  # sampling steps of every table cell; None: each protocol's own, for every planner
    protocols: tuple[str, ...] = ("paper", "suite")  # names in agents.learned.PROTOCOLS
    queries: str = "drawn"  # each held-out pair's query: mazebench.datasets.QUERY_KINDS
    sweep_steps: tuple[int, ...] = (16, 32, 64, 128, 256)
    sweep_limit: int = 300
    limit: int | None = None
    num_pngs: int = 8  # examples per success / failure gallery of each table cell; 0: no galleries, no filmstrip
    epochs: float | None = None  # train every model to this many epochs, without the preset's time cap
    max_minutes: float | None = None  # cap every training at this many minutes (after ``epochs``)
    check_every_minutes: float | None = 2.0  # held-out checks during training (the curves' points); None: the preset's
    dataset_options: dict | None = None  # passed to generate_dataset (maze_size, pairs ...); None: the preset's track
    train_options: dict = field(default_factory=dict)  # overrides of the preset's training settings
    data_root: Path = Path("data")
    out: Path | None = None
    jobs: int = 1  # trainings run at once, each in its own process (e.g. six sharing one GPU)
    samples_per_query: int = 1  # draws per query of the generative cells (GENERATIVE_PROTOCOL's and AR's); 1: none

    def __post_init__(self):
        if self.dataset_options is None:
            self.dataset_options = dict(TRACK_DATA.get(self.preset, {}))
        if not self.protocols:
            raise ValueError("a report needs at least one evaluation protocol")
        for protocol in self.protocols:
            protocol_sampler(protocol)  # a ValueError names the known ones
        for agent in self.agents:
            check_agent_name(agent)  # a plug-in's import is left to its evaluation
        if self.epochs is not None and not 0 < self.epochs <= UPPER_BOUNDS["epochs"]:
            raise ValueError(f"epochs must be positive and at most {UPPER_BOUNDS['epochs']}, got {self.epochs}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")
        if not 1 <= self.samples_per_query <= MAX_SAMPLES_PER_QUERY:
            raise ValueError(
                f"samples_per_query must lie in 1 .. {MAX_SAMPLES_PER_QUERY}, got {self.samples_per_query}"
            )
        if self.queries not in QUERY_KINDS:
            raise ValueError(f"unknown query kind {self.queries!r}; choose from {', '.join(QUERY_KINDS)}")

    @property
    def run_name(self) -> str:
        """The folder name of the runs and of the report: the preset, with the epoch budget if one is set."""
        epochs = "" if self.epochs is None else f"-{self.epochs:g}ep"
        minutes = "" if self.max_minutes is None else f"-{self.max_minutes:g}min"
        return f"{self.preset}{epochs}{minutes}"

    @property
    def folder(self) -> Path:
        return self.out or Path("reports") / self.run_name

    @property
    def planners(self) -> tuple[str, ...]:
        """Every planner of the report, once: the agents in their order, then the BFS oracle unless listed."""
        return tuple(dict.fromkeys([*self.agents, "bfs"]))

    @property
    def trained(self) -> tuple[str, ...]:
        """The planners the report trains (mdm, flexmdm, ar); the others are evaluated as they are."""
        return tuple(agent for agent in self.planners if agent in METHODS)

    @property
    def samplers(self) -> tuple[str, ...]:
        """The planners evaluated under each protocol (and in the steps sweep)."""
        return tuple(agent for agent in self.planners if agent in UNMASKING_AGENTS)

    @property
    def protocol_independent(self) -> tuple[str, ...]:
        """The planners evaluated once per K, their cell shown under every protocol (AR, BFS, plug-ins)."""
        return tuple(agent for agent in self.planners if agent not in UNMASKING_AGENTS)

    def cell_steps(self, protocol: str | None) -> int:
        """Sampling steps of the table cells under ``protocol`` (None: a protocol-independent cell)."""
        return self.steps or (protocol_steps(protocol) if protocol else SAMPLING_STEPS)

    def draws(self, agent: str, protocol: str | None) -> int:
        """Plans per query of ``agent``'s cell under ``protocol`` (None: a protocol-independent cell):
        ``samples_per_query`` for the trained planners' cells under GENERATIVE_PROTOCOL and AR's, else 1."""
        generative = protocol == GENERATIVE_PROTOCOL if protocol else agent in METHODS
        return self.samples_per_query if generative else 1

    def run_dir(self, agent: str, k: int) -> Path:
        return default_run_dir(agent, k, self.run_name)

    def train_config(self, agent: str):
        """The preset's settings for ``agent`` with the check interval and ``train_options``; with ``epochs``,
        that many epochs and no time cap; with ``max_minutes``, that cap."""
        cfg = preset_config(
            self.preset, agent, **{"eval_every_minutes": self.check_every_minutes, **self.train_options}
        )
        if self.epochs is not None:
            cfg = replace(cfg, epochs=self.epochs, max_minutes=None)
        return cfg if self.max_minutes is None else replace(cfg, max_minutes=self.max_minutes)


def data_folder(k, options: dict, data_root: Path) -> Path:
    """The conventional folder of the dataset of K subgoals (a number, or "K" in a command) with ``options``."""
    maze = {key: options[key] for key in ("maze_size", "maze_seed") if key in options}
    return default_data_dir(k, **maze, root=data_root)


def eval_path(agent: str, k: int, protocol: str | None = None) -> Path:
    """A table cell's folder in the report: eval/<protocol>/<agent>-k<K> under a protocol, eval/<agent>-k<K> for
    a protocol-independent planner (a plug-in's import path with a dot for its colon)."""
    name = f"{agent.replace(':', '.')}-k{k}"
    return Path("eval", protocol, name) if protocol else Path("eval", name)
