"""Learning end to end: the tiny preset trains on a small maze (1.5 to 4 minutes per planner here) and then
plans held-out subgoal sequences far better than an untrained model of the same size.

Measured here (15x15 maze, K=4, 60 held-out pairs, 32 sampling steps): FlexMDM after 80 epochs
(85 s) 43 % success; the MDM 0 % success but valid paths (it starts at g1 and steps between
neighbours, then stops early: confidence-first unmasking commits PAD): 48 % after 40 epochs
(75 s, a fresh-clone CI run), 92 % after 80. The MDM gets no success threshold on this budget;
its bar is a valid rate of 30 %, three times what an untrained model may reach (< 10 %, checked).
"""

import pytest

from agents import make_agent
from agents.config import preset_config
from agents.training import train
from mazebench.datasets import generate_dataset, load_dataset
from mazebench.evaluation import evaluate

BUDGET = {"flexmdm": {"epochs": 80}, "mdm": {"epochs": 40}}
THRESHOLD = {"flexmdm": ("success_rate", 0.2), "mdm": ("valid_rate", 0.3)}


@pytest.fixture(scope="module")
def learning_dataset(tmp_path_factory):
    """K=4 on the 15x15 maze: 600 pairs x up to 4 paths, 10 % of the pairs held out."""
    folder = generate_dataset(
        tmp_path_factory.mktemp("data") / "learn-k4",
        num_subgoals=4,
        pairs=600,
        paths_per_pair=4,
        maze_size=15,
        maze_seed=7,
        val_frac=0.1,
        progress=False,
    )
    return load_dataset(folder)


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["flexmdm", "mdm"])
def test_tiny_preset_learns_the_small_maze(learning_dataset, tmp_path, agent):
    untrained = train(
        learning_dataset, agent, preset_config("tiny"), tmp_path / "untrained", progress=False, stop_after=0
    )
    assert untrained["steps"] == 0
    summary = train(learning_dataset, agent, preset_config("tiny", **BUDGET[agent]), tmp_path / "run", progress=False)
    assert summary["epochs_done"] == pytest.approx(BUDGET[agent]["epochs"], rel=0.05)  # the budget is epochs, not time
    results = {}
    for name in ("untrained", "run"):
        planner = make_agent(agent, dataset=learning_dataset, checkpoint=tmp_path / name, steps=32)
        results[name] = evaluate(
            planner, learning_dataset, out_dir=tmp_path / f"eval-{name}", progress=False, num_pngs=0
        )
    metric, threshold = THRESHOLD[agent]
    assert results["untrained"]["success_rate"] == 0 and results["untrained"]["valid_rate"] < 0.1
    assert results["run"][metric] >= threshold, {name: r[metric] for name, r in results.items()}
