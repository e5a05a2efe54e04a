"""The BFS oracle and the agent registry."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from agents import AGENT_NAMES, make_agent
from agents.bfs import BFSPlanner, shortest_path
from mazebench.maze import open_cells
from mazebench.scoring import score_path


def _graph(maze):
    graph = nx.grid_2d_graph(*maze.shape)
    graph.remove_nodes_from(map(tuple, np.argwhere(maze == 1).tolist()))
    return graph


def test_shortest_path_has_the_networkx_length_and_is_valid(small_maze):
    graph = _graph(small_maze)
    cells = [tuple(c) for c in open_cells(small_maze).tolist()]
    rng = np.random.default_rng(0)
    for _ in range(50):
        start, goal = (cells[i] for i in rng.integers(len(cells), size=2))
        path = shortest_path(small_maze, start, goal)
        assert len(path) - 1 == nx.shortest_path_length(graph, start, goal)
        assert score_path(small_maze, [start, goal], path).success


def test_the_oracle_solves_every_held_out_example(tiny_dataset):
    planner = BFSPlanner()
    batch = [example.subgoals for example in tiny_dataset.val]
    paths = planner.plan(tiny_dataset.maze, batch)
    assert len(paths) == len(batch)
    for subgoals, path in zip(batch, paths):
        assert path.shape[1] == 2
        assert score_path(tiny_dataset.maze, subgoals, path).success
    k = tiny_dataset.num_subgoals
    assert planner.describe() == {"name": "bfs", "paths_planned": len(batch), "segments_searched": len(batch) * (k - 1)}


def test_walls_and_unreachable_cells_are_value_errors():
    maze = np.array([[0, 1, 0], [0, 1, 0], [0, 1, 0]], dtype=np.uint8)
    with pytest.raises(ValueError, match="no path"):
        shortest_path(maze, (0, 0), (0, 2))
    with pytest.raises(ValueError, match="not an open cell"):
        shortest_path(maze, (0, 0), (0, 1))
    with pytest.raises(ValueError, match="not an open cell"):
        shortest_path(maze, (0, 0), (5, 0))


def test_registry_builds_bfs_and_names_the_known_agents():
    assert "bfs" in AGENT_NAMES
    assert isinstance(make_agent("bfs", steps=64, device="cpu"), BFSPlanner)
    with pytest.raises(ValueError, match="known agents: .*bfs"):
        make_agent("astar")
