"""Shared fixtures: a small maze and a tiny dataset generated once per test session."""

from __future__ import annotations

import numpy as np
import pytest

from mazebench.datasets import generate_dataset, load_dataset
from mazebench.maze import make_maze

SMALL_MAZE = {"maze_size": 15, "maze_seed": 7}
TINY_DATASET = {"num_subgoals": 4, "pairs": 120, "paths_per_pair": 4, "seed": 3, "val_frac": 0.1, **SMALL_MAZE}


@pytest.fixture(scope="session")
def small_maze() -> np.ndarray:
    """A 15x15 maze (7x7 rooms)."""
    return make_maze(SMALL_MAZE["maze_size"], SMALL_MAZE["maze_size"], seed=SMALL_MAZE["maze_seed"])


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory):
    """A K=4 dataset of 120 pairs on the small maze, generated once (do not modify it in tests)."""
    return generate_dataset(tmp_path_factory.mktemp("data") / "tiny-k4", progress=False, **TINY_DATASET)


@pytest.fixture(scope="session")
def tiny_dataset(tiny_dataset_dir):
    return load_dataset(tiny_dataset_dir)
