"""The path helpers of the env: its moves on the grid, BFS distances, a random shortest path, and the run of a
planned path through :class:`mazebench.env.MazeEnv`, judged as the scorer judges it."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import gymnasium
import numpy as np

from mazebench.maze import frozen_copy
from mazebench.scoring import (
    MAX_PATH_CELLS_PER_MAZE_CELL,
    parse_path,
    path_cap,
)  # the scorer's reading of untrusted cells

#: Row and column offsets of the actions 0 = up, 1 = right, 2 = down, 3 = left.
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)], dtype=np.int64)


def check_maze(maze) -> np.ndarray:
    """``maze`` as a read-only uint8 array of 0 (open) and 1 (wall) with two open cells at least; ValueError if not."""
    grid = np.asarray(maze)
    if grid.ndim != 2 or grid.size == 0 or not np.isin(grid, (0, 1)).all():
        raise ValueError("maze must be a non-empty 2-D array of 0 (open) and 1 (wall)")
    if (grid == 0).sum() < 2:
        raise ValueError("maze must have at least two open cells")
    return frozen_copy(grid.astype(np.uint8))  # the env's own maze: nothing outside can change it


def is_open(maze: np.ndarray, cell) -> bool:
    """Whether ``cell`` is on the grid and open."""
    r, c = int(cell[0]), int(cell[1])
    return 0 <= r < maze.shape[0] and 0 <= c < maze.shape[1] and maze[r, c] == 0


def bfs_distances(maze: np.ndarray, start) -> np.ndarray:
    """BFS distance (in moves) from ``start`` to every cell; -1 for walls and unreachable cells."""
    dist = np.full(maze.shape, -1, dtype=np.int64)
    dist[start[0], start[1]] = 0
    queue = deque([(int(start[0]), int(start[1]))])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES:
            nr, nc = r + int(dr), c + int(dc)
            if is_open(maze, (nr, nc)) and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def two_sweeps_find(maze: np.ndarray, cells: np.ndarray, moves: int) -> bool:
    """Whether two BFS sweeps (from a cell, then from the cell farthest from it) find two open cells
    ``moves`` or more moves apart: a quick check that usually succeeds; False proves nothing."""
    first = bfs_distances(maze, cells[0])
    far = np.unravel_index(first.argmax(), first.shape)
    return bfs_distances(maze, far).max() >= moves


def random_shortest_path(maze: np.ndarray, dist: np.ndarray, goal, rng: np.random.Generator) -> np.ndarray:
    """A shortest path to ``goal`` from the cell where ``dist`` (:func:`bfs_distances`) is 0, drawn by walking
    back from the goal one random shortest-path predecessor at a time."""
    path = [goal]
    while dist[path[-1][0], path[-1][1]] > 0:
        cell = path[-1]
        back = [cell + m for m in MOVES if is_open(maze, cell + m) and dist[tuple(cell + m)] == dist[tuple(cell)] - 1]
        path.append(back[rng.integers(len(back))])
    return np.array(path[::-1], dtype=np.int64)


@dataclass(frozen=True)
class EnvVerdict:
    """What happened when a planned path was run through :class:`MazeEnv` (see :func:`run_path_in_env`).

    ``failure_kind`` uses the scorer's names ("empty", "bad_cell", "wrong_start", "jump", "wall",
    "off_grid", "missed_subgoal", "wrong_end") and ``first_failure`` indexes the failing path cell.
    """

    success: bool
    subgoals_reached: int
    collision: bool
    steps: int
    failure_kind: str | None
    first_failure: int | None
    reason: str


def run_path_in_env(env_or_maze: gymnasium.Env | np.ndarray, subgoals, path: Sequence) -> EnvVerdict:
    """Run ``path`` (a sequence of (row, col) cells) as moves through a :class:`MazeEnv` and judge it.

    The path must start on ``g1``, where the env puts the agent. Each step to a 4-neighbour becomes
    one action and the env decides it (a collision, a subgoal reached, success); any other step fails
    on the spot with the scorer's kind: ``bad_cell`` for a cell that is no integer pair, ``off_grid``
    or ``wall`` for where it lands, ``jump`` otherwise. A path that succeeds before its last cell
    must still end on ``gK``, as in the scorer: the rest is run as further episodes with subgoals
    ``(gK, gK)`` that must come back to the goal. The step limit is the path's length, so only the
    path decides. The cells are read by the scorer's parser, and the result's ``success``,
    ``failure_kind`` and ``first_failure`` equal those of ``mazebench.scoring.score_path`` for every
    path. ``env_or_maze`` supplies the maze (fresh envs are used; a given env is not touched) and
    ``subgoals`` must be at least 2 open cells (ValueError otherwise).
    """

    from mazebench.env import MazeEnv  # imported here: mazebench.env imports this module

    maze = env_or_maze.unwrapped.maze if isinstance(env_or_maze, gymnasium.Env) else check_maze(env_or_maze)
    goals = np.asarray(subgoals)
    if goals.ndim != 2 or len(goals) < 2:
        raise ValueError(f"subgoals must be at least 2 (row, col) cells, got {subgoals!r}")
    cells = parse_path(path, path_cap(maze))
    horizon = max(1, len(cells or ()) - 1)
    env = MazeEnv(maze=maze, num_subgoals=len(goals), max_steps=horizon)
    obs, info = env.reset(options={"subgoals": goals})
    first, goal = tuple(int(v) for v in obs["subgoals"][0]), obs["subgoals"][-1]
    steps = 0

    def fail(kind: str, index: int | None, reason: str, collision: bool = False) -> EnvVerdict:
        return EnvVerdict(False, info["subgoals_reached"], collision, steps, kind, index, reason)

    if cells is None:
        return fail("bad_cell", None, "the path is not a sequence of cells")
    if not cells:
        return fail("empty", None, "the path is empty")
    if len(cells) > path_cap(maze):
        return fail(
            "too_long",
            None,
            f"the path has more than {path_cap(maze)} cells ({MAX_PATH_CELLS_PER_MAZE_CELL} x the maze's cells)",
        )
    if cells[0] is None or not is_open(maze, cells[0]) or cells[0] != first:
        kind = "bad_cell" if cells[0] is None else _landing_kind(maze, cells[0], "wrong_start")
        return EnvVerdict(False, 0, False, 0, kind, 0, f"the path starts at {cells[0]}, not at g1 {first}")
    tail_env = None  # walks the path on after an early success
    for i in range(1, len(cells)):
        cell, previous = cells[i], cells[i - 1]
        if cell is None:
            return fail("bad_cell", i, f"cell {i} is not a (row, col) integer pair")
        move = (cell[0] - previous[0], cell[1] - previous[1])
        if move not in _ACTION_OF_MOVE:
            return fail(_landing_kind(maze, cell, "jump"), i, f"step {i} jumps from {previous} to {cell}")
        if info["success"]:  # all subgoals reached before the path's end: it must come back to gK
            tail_env = tail_env or MazeEnv(maze=maze, num_subgoals=2, max_steps=horizon)
            tail_env.reset(options={"subgoals": [goal, goal]})
            env = tail_env
        _, _, _, _, step_info = env.step(_ACTION_OF_MOVE[move])
        steps += 1
        info = {**step_info, "subgoals_reached": len(goals)} if env is tail_env else step_info
        if info["collision"]:
            kind = _landing_kind(maze, cell, "")
            return fail(
                kind, i, f"step {i} moves {'into a wall' if kind == 'wall' else 'off the grid'} at {cell}", True
            )
    last, reached = len(cells) - 1, info["subgoals_reached"]
    if info["success"]:
        return EnvVerdict(True, reached, False, steps, None, None, "ok")
    if reached < len(goals) - 1:
        return fail("missed_subgoal", last, f"the path ends before reaching subgoal g{reached + 1}")
    return fail("wrong_end", last, f"the path ends at {cells[last]}, not at the goal g{len(goals)}")


_ACTION_OF_MOVE = {(int(dr), int(dc)): a for a, (dr, dc) in enumerate(MOVES)}


def _landing_kind(maze: np.ndarray, cell: tuple[int, int], otherwise: str) -> str:
    """The scorer's kind for a bad cell: ``off_grid``, ``wall``, or ``otherwise`` when the cell is open."""
    if not (0 <= cell[0] < maze.shape[0] and 0 <= cell[1] < maze.shape[1]):
        return "off_grid"
    return "wall" if maze[cell] else otherwise
