"""The gymnasium environment ``mazebench/Maze-v0`` and its registration.

Its path helpers (moves, BFS, :func:`run_path_in_env`) live in ``mazebench.env_paths`` and its drawing in
``mazebench.env_rendering``; the public names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from mazebench.env_paths import (
    MOVES,
    EnvVerdict,
    bfs_distances,
    check_maze,
    is_open,
    random_shortest_path,
    run_path_in_env,
    two_sweeps_find,
)
from mazebench.env_rendering import MazeRenderer
from mazebench.maze import MAZE_SEED, MAZE_SIZE, all_pairs_distances, make_maze, open_cells

__all__ = ["ENV_ID", "MOVES", "EnvVerdict", "MazeEnv", "register_env", "run_path_in_env"]

ENV_ID = "mazebench/Maze-v0"
REJECTION_TRIES = 64  # start-goal draws before the env lists every admissible pair instead


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
        self.maze = check_maze(make_maze(maze_size, maze_size, maze_seed) if maze is None else maze)
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
        self._renderer = MazeRenderer(self.maze, self.metadata["render_fps"])

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
            self.render()
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
        if not is_open(self.maze, target):
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
            self.render()
        return self._observation(), reward, terminated, truncated, self._info()

    def render(self):
        return self._renderer.render(self.render_mode, self._subgoals, self._trajectory, self._position, self._next)

    def close(self):
        self._renderer.close()

    def _observation(self) -> dict[str, Any]:
        return {"position": self._position.copy(), "subgoals": self._subgoals.copy(), "next_subgoal": self._next}

    def _info(self) -> dict[str, Any]:
        return {
            "success": self._next == self.num_subgoals,
            "subgoals_reached": self._next,
            "collision": self._collision,
            "steps": self._steps,
        }

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
            if not is_open(self.maze, cell):
                raise ValueError(f"subgoal {i + 1} {tuple(int(v) for v in cell)} is not an open cell of the maze")
        return cells.astype(np.int64)

    def _sample_pair(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A uniform ordered pair of open cells at least K - 1 moves apart, and the distances from its start.

        Rejection sampling, ``REJECTION_TRIES`` tries at most; then a uniform draw from the list of all
        admissible pairs, so a maze that admits few pairs never spins.
        """
        for _ in range(REJECTION_TRIES):
            start, goal = self._open[self.np_random.integers(len(self._open), size=2)]
            dist = bfs_distances(self.maze, start)
            if dist[goal[0], goal[1]] >= self.num_subgoals - 1:
                return start, goal, dist
        pairs = self._admissible_pairs()
        start, goal = self._open[pairs[self.np_random.integers(len(pairs))]]
        return start, goal, bfs_distances(self.maze, start)

    def _admissible_pairs(self) -> np.ndarray:
        """All ordered (start, goal) pairs, as indices into the open cells, at least K - 1 moves apart (listed once)."""
        if self._pairs is None:
            self._pairs = np.argwhere(all_pairs_distances(self.maze) >= self.num_subgoals - 1)
        return self._pairs

    def _sample_subgoals(self) -> np.ndarray:
        """Draw subgoals from the benchmark distribution (see the class docstring)."""
        k = self.num_subgoals
        if self._admits_subgoals is None:
            self._admits_subgoals = two_sweeps_find(self.maze, self._open, k - 1) or len(self._admissible_pairs()) > 0
        if not self._admits_subgoals:
            raise ValueError(f"no two open cells of this maze are joined by a shortest path of at least {k} cells")
        start, goal, dist = self._sample_pair()
        path = random_shortest_path(self.maze, dist, goal, self.np_random)
        inner = np.sort(self.np_random.choice(np.arange(1, len(path) - 1), size=k - 2, replace=False))
        return path[np.concatenate(([0], inner, [len(path) - 1]))]


def register_env() -> None:
    """Register ``mazebench/Maze-v0`` with gymnasium (once, however often this module is imported)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="mazebench.env:MazeEnv")


register_env()
