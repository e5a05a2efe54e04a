"""The BFS oracle: the shortest path between consecutive subgoals, concatenated."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from mazebench.planner import Planner

MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))


class BFSPlanner(Planner):
    """Breadth-first search between consecutive subgoals (neighbours tried up, down, left, right)."""

    name = "bfs"

    def __init__(self) -> None:
        self.counters = {"paths_planned": 0, "segments_searched": 0}

    def plan(self, maze: np.ndarray, subgoal_batch: Sequence[np.ndarray], seed: int = 0) -> list[np.ndarray]:
        grid = np.asarray(maze)
        paths = []
        for subgoals in subgoal_batch:
            cells = [tuple(int(v) for v in cell) for cell in np.asarray(subgoals).reshape(-1, 2)]
            path = [cells[0]]
            for start, goal in zip(cells, cells[1:]):
                path += shortest_path(grid, start, goal)[1:]
            self.counters["segments_searched"] += len(cells) - 1
            self.counters["paths_planned"] += 1
            paths.append(np.array(path, dtype=np.int64).reshape(-1, 2))
        return paths

    def describe(self) -> dict:
        return {"name": self.name, **self.counters}


def shortest_path(maze: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> list[tuple[int, int]]:
    """A shortest list of open 4-connected cells from ``start`` to ``goal``; ValueError if there is none."""
    height, width = maze.shape
    for cell in (start, goal):
        if not (0 <= cell[0] < height and 0 <= cell[1] < width) or maze[cell]:
            raise ValueError(f"cell {cell} is not an open cell of the {height}x{width} maze")
    parent = {start: start}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            path = [goal]
            while path[-1] != start:
                path.append(parent[path[-1]])
            return path[::-1]
        for dr, dc in MOVES:
            nxt = (cell[0] + dr, cell[1] + dc)
            if 0 <= nxt[0] < height and 0 <= nxt[1] < width and not maze[nxt] and nxt not in parent:
                parent[nxt] = cell
                queue.append(nxt)
    raise ValueError(f"no path from {start} to {goal} in the maze")
