"""The gymnasium environment ``mazebench/Maze-v0`` and a helper that runs a planned path through it."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from mazebench.maze import MAZE_SEED, MAZE_SIZE, all_pairs_distances, frozen_copy, make_maze, open_cells
from mazebench.scoring import (
    MAX_PATH_CELLS_PER_MAZE_CELL,
    parse_path,
    path_cap,
)  # the scorer's reading of untrusted cells

ENV_ID = "mazebench/Maze-v0"
REJECTION_TRIES = 64  # start-goal draws before the env lists every admissible pair instead

#: Row and column offsets of the actions 0 = up, 1 = right, 2 = down, 3 = left.
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)], dtype=np.int64)


class MazeEnv(gymnasium.Env):
    """Subgoal-conditioned navigation on one fixed maze.

    ## Description
    The agent walks on a fixed maze bitmap (1 = wall, 0 = open; by default ``make_maze()``, the
    FlexMDM paper's 41x41 maze, seed 2025) and must visit a sequence of subgoals ``g1 .. gK`` in
    order, without ever bumping into a wall. It is the sequential version of the FlexMDM maze task: a
    path planned by a model succeeds in the benchmark exactly when its moves succeed here (see
    :func:`run_path_in_env`).

    ## Action Space
    ``Discrete(4)``: 0 = up (row - 1), 1 = right (column + 1), 2 = down (row + 1), 3 = left (column - 1).

    ## Observation Space
    A ``Dict`` of fresh arrays:

    - ``"position"``: ``Box(int64, (2,))``, the agent's cell ``(row, col)``.
    - ``"subgoals"``: ``Box(int64, (K, 2))``, the episode's subgoals ``g1 .. gK`` in order.
    - ``"next_subgoal"``: ``Discrete(K + 1)``, the index of the next subgoal to reach (``K`` once all are reached).

    ## Rewards
    +1 each time the next subgoal is reached (``K - 1`` in a successful episode, as ``g1`` is the
    start), -1 for a collision, 0 otherwise.

    ## Starting State
    The agent stands on ``g1``, which counts as reached (``next_subgoal`` = 1). The subgoals are given
    with ``reset(options={"subgoals": [...]})`` (``K`` open cells, repeats allowed) or drawn from the
    benchmark distribution using only ``self.np_random``: a start-goal pair of open cells drawn
    uniformly among those whose BFS shortest path has at least ``K`` cells, one of their shortest
    paths drawn at random, and ``K - 2`` distinct intermediate cells of that path drawn uniformly
    and kept in path order.

    ## Episode End
    - Termination (success): the last subgoal is reached after all others, in order;
      ``info["success"]`` is True.
    - Termination (failure): a move into a wall or off the grid (a collision); the agent does not move.
    - Truncation: ``max_steps`` moves were made without termination.

    ## Information
    ``info`` holds ``"success"`` (bool), ``"subgoals_reached"`` (how many of ``g1 .. gK`` were reached
    in order, at least 1), ``"collision"`` (bool) and ``"steps"`` (moves made in this episode).

    ## Arguments
    - ``maze``: a 2-D array (1 = wall, 0 = open); None builds ``make_maze(maze_size, maze_size, maze_seed)``.
    - ``maze_size``, ``maze_seed``: used only when ``maze`` is None (the paper's maze by default).
    - ``num_subgoals``: ``K >= 2``, the number of subgoals including start and goal (default 12).
    - ``max_steps``: the step limit; None means 4 x the number of open cells, far more than the
      shortest route through any subgoal sequence of the benchmark distribution needs.
    - ``render_mode``: None, ``"rgb_array"`` (an ``(H, W, 3)`` uint8 image drawn with numpy only) or
      ``"human"`` (the same image in a matplotlib window when a display is available).

    ## Version History
    - v0: initial version.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 8}

    def __init__(
        self,
        maze: np.ndarray | None = None,
        maze_size: int = MAZE_SIZE,
        maze_seed: int = MAZE_SEED,
        num_subgoals: int = 12,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ):
        self.maze = _check_maze(make_maze(maze_size, maze_size, maze_seed) if maze is None else maze)
        if isinstance(num_subgoals, bool) or not isinstance(num_subgoals, (int, np.integer)) or num_subgoals < 2:
            raise ValueError(f"num_subgoals must be an integer >= 2, got {num_subgoals!r}")
        self.num_subgoals = int(num_subgoals)
        self._open = open_cells(self.maze)
        if max_steps is None:
            max_steps = 4 * len(self._open)
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
        self.max_steps = int(max_steps)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode

        height, width = self.maze.shape
        high = np.array([height - 1, width - 1], dtype=np.int64)
        self.action_space = spaces.Discrete(4)
        self.observation_space = spaces.Dict(
            {
                "position": spaces.Box(0, high, shape=(2,), dtype=np.int64),
                "subgoals": spaces.Box(
                    0, np.tile(high, (self.num_subgoals, 1)), shape=(self.num_subgoals, 2), dtype=np.int64
                ),
                "next_subgoal": spaces.Discrete(self.num_subgoals + 1),
            }
        )
        self._subgoals = np.zeros((self.num_subgoals, 2), dtype=np.int64)
        self._position = np.zeros(2, dtype=np.int64)
        self._trajectory: list[tuple[int, int]] = []
        self._next = 1
        self._steps = 0
        self._collision = False
        self._done = True
        self._admits_subgoals: bool | None = None  # whether some shortest path has >= K cells; checked on first draw
        self._pairs: np.ndarray | None = None  # all admissible (start, goal) indices into _open, listed when needed
        self._figure = None
        self._image = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options must be a dict such as {{'subgoals': [...]}} or None, got {options!r}")
        given = (options or {}).get("subgoals")
        self._subgoals = self._sample_subgoals() if given is None else self._check_subgoals(given)
        self._position = self._subgoals[0].copy()
        self._trajectory = [(int(self._position[0]), int(self._position[1]))]
        self._next = 1
        self._steps = 0
        self._collision = False
        self._done = False
        if self.render_mode == "human":
            self._show()
        return self._observation(), self._info()

    def step(self, action):
        if self._done:
            raise RuntimeError("the episode is over: call reset() before step()")
        if isinstance(action, (bool, np.bool_)) or not self.action_space.contains(action):
            raise ValueError(f"action must be 0 (up), 1 (right), 2 (down) or 3 (left), got {action!r}")
        self._steps += 1
        target = self._position + MOVES[int(action)]
        reward = 0.0
        terminated = False
        if not _is_open(self.maze, target):
            self._collision = True
            reward, terminated = -1.0, True
        else:
            self._position = target
            self._trajectory.append((int(target[0]), int(target[1])))
            if np.array_equal(target, self._subgoals[self._next]):
                reward = 1.0
                self._next += 1
                terminated = self._next == self.num_subgoals
        truncated = not terminated and self._steps >= self.max_steps
        self._done = terminated or truncated
        if self.render_mode == "human":
            self._show()
        return self._observation(), reward, terminated, truncated, self._info()

    def render(self):
        if self.render_mode == "rgb_array":
            return self._frame()
        if self.render_mode == "human":
            self._show()
        return None

    def close(self):
        if self._figure is not None:
            import matplotlib.pyplot as plt

            plt.close(self._figure)
            self._figure = None

    def _observation(self) -> dict[str, Any]:
        return {"position": self._position.copy(), "subgoals": self._subgoals.copy(), "next_subgoal": self._next}

    def _info(self) -> dict[str, Any]:
        return {
            "success": self._next == self.num_subgoals,
            "subgoals_reached": self._next,
            "collision": self._collision,
            "steps": self._steps,
        }

    def _frame(self) -> np.ndarray:
        from mazebench.rendering import render_rgb  # imported here: `import mazebench` stays free of matplotlib

        return render_rgb(self.maze, self._subgoals, self._trajectory, self._position, self._next)

    def _show(self) -> None:
        """Show the current frame in a matplotlib window (without a display, only the figure is updated)."""
        import matplotlib.pyplot as plt
        from matplotlib.backends import BackendFilter, backend_registry

        frame = self._frame()
        if self._figure is None:
            self._figure, ax = plt.subplots(figsize=(5, 5))
            ax.set_axis_off()
            self._image = ax.imshow(frame)
        else:
            self._image.set_data(frame)
        if plt.get_backend().lower() not in backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE):
            plt.pause(1.0 / self.metadata["render_fps"])

    def _check_subgoals(self, subgoals) -> np.ndarray:
        try:
            cells = np.asarray(subgoals)
            ok = cells.ndim == 2 and cells.shape[1] == 2 and np.issubdtype(cells.dtype, np.integer)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"subgoals must be a sequence of (row, col) integer pairs, got {subgoals!r}")
        if len(cells) != self.num_subgoals:
            raise ValueError(f"this env takes exactly num_subgoals={self.num_subgoals} subgoals, got {len(cells)}")
        for i, cell in enumerate(cells):
            if not _is_open(self.maze, cell):
                raise ValueError(f"subgoal {i + 1} {tuple(int(v) for v in cell)} is not an open cell of the maze")
        return cells.astype(np.int64)

    def _sample_pair(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A uniform ordered pair of open cells at least K - 1 moves apart, and the distances from its start.

        Rejection sampling, ``REJECTION_TRIES`` tries at most; then a uniform draw from the list of all
        admissible pairs, so a maze that admits few pairs never spins.
        """
        for _ in range(REJECTION_TRIES):
            start, goal = self._open[self.np_random.integers(len(self._open), size=2)]
            dist = _bfs_distances(self.maze, start)
            if dist[goal[0], goal[1]] >= self.num_subgoals - 1:
                return start, goal, dist
        pairs = self._admissible_pairs()
        start, goal = self._open[pairs[self.np_random.integers(len(pairs))]]
        return start, goal, _bfs_distances(self.maze, start)

    def _admissible_pairs(self) -> np.ndarray:
        """All ordered (start, goal) pairs, as indices into the open cells, at least K - 1 moves apart (listed once)."""
        if self._pairs is None:
            self._pairs = np.argwhere(all_pairs_distances(self.maze) >= self.num_subgoals - 1)
        return self._pairs

    def _sample_subgoals(self) -> np.ndarray:
        """Draw subgoals from the benchmark distribution (see the class docstring)."""
        k = self.num_subgoals
        if self._admits_subgoals is None:
            self._admits_subgoals = _two_sweeps_find(self.maze, self._open, k - 1) or len(self._admissible_pairs()) > 0
        if not self._admits_subgoals:
            raise ValueError(f"no two open cells of this maze are joined by a shortest path of at least {k} cells")
        start, goal, dist = self._sample_pair()
        path = [goal]
        while (
            dist[path[-1][0], path[-1][1]] > 0
        ):  # walk back to the start, one random shortest-path predecessor at a time
            cell = path[-1]
            back = [
                cell + m
                for m in MOVES
                if _is_open(self.maze, cell + m) and dist[tuple(cell + m)] == dist[tuple(cell)] - 1
            ]
            path.append(back[self.np_random.integers(len(back))])
        path = np.array(path[::-1], dtype=np.int64)
        inner = np.sort(self.np_random.choice(np.arange(1, len(path) - 1), size=k - 2, replace=False))
        return path[np.concatenate(([0], inner, [len(path) - 1]))]


def _check_maze(maze) -> np.ndarray:
    grid = np.asarray(maze)
    if grid.ndim != 2 or grid.size == 0 or not np.isin(grid, (0, 1)).all():
        raise ValueError("maze must be a non-empty 2-D array of 0 (open) and 1 (wall)")
    if (grid == 0).sum() < 2:
        raise ValueError("maze must have at least two open cells")
    return frozen_copy(grid.astype(np.uint8))  # the env's own maze: nothing outside can change it


def _is_open(maze: np.ndarray, cell) -> bool:
    r, c = int(cell[0]), int(cell[1])
    return 0 <= r < maze.shape[0] and 0 <= c < maze.shape[1] and maze[r, c] == 0


def _bfs_distances(maze: np.ndarray, start) -> np.ndarray:
    """BFS distance (in moves) from ``start`` to every cell; -1 for walls and unreachable cells."""
    dist = np.full(maze.shape, -1, dtype=np.int64)
    dist[start[0], start[1]] = 0
    queue = deque([(int(start[0]), int(start[1]))])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES:
            nr, nc = r + int(dr), c + int(dc)
            if _is_open(maze, (nr, nc)) and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def _two_sweeps_find(maze: np.ndarray, cells: np.ndarray, moves: int) -> bool:
    """Whether two BFS sweeps (from a cell, then from the cell farthest from it) find two open cells
    ``moves`` or more moves apart: a quick check that usually succeeds; False proves nothing."""
    first = _bfs_distances(maze, cells[0])
    far = np.unravel_index(first.argmax(), first.shape)
    return _bfs_distances(maze, far).max() >= moves


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
    maze = env_or_maze.unwrapped.maze if isinstance(env_or_maze, gymnasium.Env) else _check_maze(env_or_maze)
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
    if cells[0] is None or not _is_open(maze, cells[0]) or cells[0] != first:
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


def register_env() -> None:
    """Register ``mazebench/Maze-v0`` with gymnasium (once, however often this module is imported)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="mazebench.env:MazeEnv")


register_env()
