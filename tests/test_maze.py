"""The maze text form (strict: nothing is stripped) and the all-pairs distance table."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from mazebench import maze as maze_module
from mazebench.maze import all_pairs_distances, make_maze, maze_from_text, maze_to_text, open_cells


def test_text_round_trip_with_or_without_final_newline_and_crlf():
    grid = make_maze(9, 9, seed=3)
    text = maze_to_text(grid)
    for variant in (text, text.rstrip("\n"), text.replace("\n", "\r\n")):
        np.testing.assert_array_equal(maze_from_text(variant), grid)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("\n###\n#.#\n###\n", "line 1 is empty"),
        ("###\n#.#\n###\n\n", "line 4 has 0 characters"),
        (" ###\n#.#\n###\n", "line 1 has characters other than"),
        ("###\n#.#\n### \n", "line 3 has characters other than .*' '"),
        ("###\n#.#\n##\n", "line 3 has 2 characters, expected 3"),
        ("###\n# #\n###\n", "write an open cell as '.'"),
        ("###\x0c\n#.#\n###\n", "line 1 has characters other than"),
    ],
)
def test_whitespace_and_ragged_lines_are_refused_not_stripped(text, message):
    with pytest.raises(ValueError, match=message):
        maze_from_text(text)


def test_all_pairs_distances_are_the_bfs_distances():
    grid = make_maze(11, 11, seed=4)
    grid[5, :] = 1  # cut the maze in two: cells across the cut are unreachable (-1)
    cells = [tuple(c) for c in open_cells(grid).tolist()]
    g = nx.grid_2d_graph(*grid.shape)
    g.remove_nodes_from(map(tuple, np.argwhere(grid == 1)))
    levels = []
    dist = all_pairs_distances(grid, on_level=levels.append)
    lengths = dict(nx.all_pairs_shortest_path_length(g))
    expected = [[lengths[a].get(b, -1) for b in cells] for a in cells]
    np.testing.assert_array_equal(dist, expected)
    assert sum(levels) == int((dist > 0).sum())  # progress: every pair reached is counted once


def test_a_maze_over_the_cell_limit_fails_before_any_work(monkeypatch):
    monkeypatch.setattr(maze_module, "MAX_OPEN_CELLS", 10)
    with pytest.raises(ValueError, match="GiB: at most 10 open cells"):
        all_pairs_distances(make_maze(11, 11, seed=4))
