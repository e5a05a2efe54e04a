"""Score a planned path against a maze and a subgoal sequence.

A path succeeds when it is *valid* (every cell inside the grid and open, each step to a 4-neighbour)
and *in order* (it starts at g1, ends at gK and visits g1 .. gK as an ordered subsequence, matched
greedily at the earliest position). The path is untrusted model output: :func:`score_path` never
raises on it, whatever it holds (empty, floats, strings, special tokens, absurd integers); it fails
with a reason instead. A path of more than ``MAX_PATH_CELLS_PER_MAZE_CELL`` x the maze's cell count
fails as ``too_long`` after reading only that many cells (no valid planner comes near it). The maze
and the subgoals are the benchmark's own inputs and must be well formed (a ValueError says what is wrong otherwise).
A ``jump`` (a step to a cell that is no 4-neighbour) is further told apart by ``PathScore.jump_kind``
(``JUMP_KINDS``): ``repeat``, ``through_wall`` or ``skip``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

FAILURE_KINDS = (
    "empty",
    "too_long",
    "bad_cell",
    "off_grid",
    "wall",
    "jump",
    "wrong_start",
    "wrong_end",
    "missed_subgoal",
)
JUMP_KINDS = ("repeat", "skip", "through_wall")  # PathScore.jump_kind of a "jump" failure
MAX_PATH_CELLS_PER_MAZE_CELL = 4  # the path length cap, per cell of the maze (6,724 cells on the 41x41 maze)
COORDINATE_LIMIT = 2**63  # a coordinate beyond it is read as +-this (off the grid either way; printable, JSON-safe)
MAX_JSON_INT_BITS = 256  # json_safe writes a larger integer as its short text


@dataclass(frozen=True)
class PathScore:
    """The verdict on one path.

    ``first_failure`` is the index into the path of the first failing cell or step (for a jump, the
    cell it lands on; for ``wrong_end`` and ``missed_subgoal``, the last cell, where the failure
    becomes certain); ``None`` on success or when the path has no cells. ``subgoals_reached`` counts
    g1 .. gK matched in order, so on ``missed_subgoal`` the missed one is ``subgoals[subgoals_reached]``.
    ``jump_kind`` (``JUMP_KINDS``, only when ``failure_kind`` is ``jump``; else ``None``) is the kind of that
    step: ``repeat`` (the same cell twice in a row), ``through_wall`` (two cells apart in a straight line
    across a wall cell) or ``skip`` (any other step two or more cells apart).
    """

    success: bool
    valid: bool
    in_order: bool
    reason: str
    first_failure: int | None
    failure_kind: str | None
    subgoals_reached: int
    length: int
    jump_kind: str | None = None  # last, with a default: positional construction without it still works


def score_path(maze: np.ndarray, subgoals: Any, path: Any) -> PathScore:
    """Score ``path`` (a sequence of (row, col) cells) on ``maze`` against ``subgoals`` (K cells)."""
    grid = _check_maze(maze)
    goals = _check_subgoals(subgoals)
    cap = path_cap(grid)
    cells = parse_path(path, cap)
    if cells is None:
        return PathScore(
            False, False, False, f"path is not a sequence of cells: {short_text(path)}", None, "bad_cell", 0, 0
        )
    if not cells:
        return PathScore(False, False, False, "path is empty", None, "empty", 0, 0)
    if len(cells) > cap:
        return PathScore(
            False,
            False,
            False,
            f"path has more than {cap} cells (the cap: {MAX_PATH_CELLS_PER_MAZE_CELL} x the maze's cells)",
            None,
            "too_long",
            0,
            len(cells),
        )
    validity = _first_invalid(grid, cells)
    reached = _greedy_reached(goals, cells)
    order = _order_failure(goals, cells, reached)
    failures = [f for f in (validity, order) if f is not None]
    valid, in_order = validity is None, order is None
    if not failures:
        return PathScore(True, True, True, "ok", None, None, reached, len(cells))
    index, kind, reason = min(failures, key=lambda f: f[0])  # ties keep the validity failure
    jump = _jump_kind(grid, cells[index - 1], cells[index]) if kind == "jump" else None
    return PathScore(False, valid, in_order, reason, index, kind, reached, len(cells), jump)


def _check_maze(maze: Any) -> np.ndarray:
    grid = np.asarray(maze)
    if grid.ndim != 2 or grid.size == 0 or not np.isin(grid, (0, 1)).all():
        raise ValueError(f"maze must be a non-empty 2-D array of 0 (open) and 1 (wall), got shape {grid.shape}")
    return grid


def _check_subgoals(subgoals: Any) -> list[tuple[int, int]]:
    goals = parse_path(subgoals)
    if not goals or any(g is None for g in goals):
        raise ValueError(
            f"subgoals must be a non-empty sequence of (row, col) integer pairs, got {short_text(subgoals)}"
        )
    return goals


def path_cap(maze: np.ndarray) -> int:
    """The most cells a path on ``maze`` may have (``MAX_PATH_CELLS_PER_MAZE_CELL`` x its cells)."""
    return MAX_PATH_CELLS_PER_MAZE_CELL * int(np.asarray(maze).size)


def parse_path(path: Any, cap: int | None = None) -> list[tuple[int, int] | None] | None:
    """The cells of ``path`` as integer pairs (``None`` for an unreadable cell); ``None`` if not a sequence.

    With ``cap``, at most ``cap + 1`` cells are read (more than ``cap`` means too long). Never raises: a
    path whose iteration fails in any way (a foreign iterator) is no sequence.
    """
    try:
        path = _plain(_head(path, cap))
        if path is None or isinstance(path, (str, bytes, dict)):
            return None
        return [_parse_cell(item) for item in itertools.islice(path, None if cap is None else cap + 1)]
    except Exception:  # untrusted output: its iterator or items may raise anything
        return None


def plain_path(path: Any, cap: int) -> list | str:
    """``path`` as the scorer reads it, as JSON: ``[row, col]`` cells (null for an unreadable one), at most
    ``cap + 1`` of them, or the short repr of what is no sequence. Its score is that of ``path``."""
    cells = parse_path(path, cap)
    if cells is None:
        return short_text(path)
    return [None if cell is None else list(cell) for cell in cells]


def _head(path: Any, cap: int | None) -> Any:
    """The first ``cap + 1`` items of a sliceable sequence (arrays, tensors, lists) that has more; else ``path``."""
    if cap is None or isinstance(path, (str, bytes, dict)) or not hasattr(path, "__getitem__"):
        return path
    return path[: cap + 1] if len(path) > cap + 1 else path


def _parse_cell(item: Any) -> tuple[int, int] | None:
    item = _plain(item)
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        return None
    row, col = item
    row, col = _as_int(row), _as_int(col)
    return None if row is None or col is None else (row, col)


def _plain(value: Any) -> Any:
    """Arrays and tensors as nested Python lists (``tolist``); anything else unchanged."""
    try:
        return value.tolist() if hasattr(value, "tolist") else value
    except Exception:  # a foreign object's tolist (or attribute lookup) may fail in any way; it is then no cell
        return None


def _as_int(value: Any) -> int | None:
    """An integer coordinate (clamped to +-``COORDINATE_LIMIT``), or None for what is none."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, Integral):
        return _clamped(int(value))
    try:
        if isinstance(value, Real) and math.isfinite(value) and float(value).is_integer():
            return _clamped(int(value))
    except (OverflowError, ValueError):  # a number too large for a float (e.g. a huge Fraction)
        pass
    return None


def _clamped(number: int) -> int:
    return max(-COORDINATE_LIMIT, min(COORDINATE_LIMIT, number))


def _first_invalid(grid: np.ndarray, cells: list) -> tuple[int, str, str] | None:
    height, width = grid.shape
    previous = None
    for i, cell in enumerate(cells):
        if cell is None:
            return i, "bad_cell", f"step {i} is not a (row, col) integer cell"
        row, col = cell
        if not (0 <= row < height and 0 <= col < width):
            return i, "off_grid", f"step {i} at {cell} is outside the {height}x{width} grid"
        if grid[row, col]:
            return i, "wall", f"step {i} at {cell} hits a wall"
        if previous is not None and abs(row - previous[0]) + abs(col - previous[1]) != 1:
            return i, "jump", f"step {i} jumps from {previous} to {cell} (not a 4-neighbour)"
        previous = cell
    return None


def _jump_kind(grid: np.ndarray, previous: tuple[int, int], cell: tuple[int, int]) -> str:
    """The kind of the jump from ``previous`` to ``cell`` (both open cells of ``grid``, not 4-neighbours)."""
    rows, cols = abs(cell[0] - previous[0]), abs(cell[1] - previous[1])
    if rows == cols == 0:
        return "repeat"
    if sorted((rows, cols)) == [0, 2] and grid[(cell[0] + previous[0]) // 2, (cell[1] + previous[1]) // 2]:
        return "through_wall"
    return "skip"


def _greedy_reached(goals: list, cells: list) -> int:
    """How many of g1 .. gK the path visits in order, each matched at its earliest possible position."""
    reached = 0
    for cell in cells:
        if reached < len(goals) and cell == goals[reached]:
            reached += 1
    return reached


def _order_failure(goals: list, cells: list, reached: int) -> tuple[int, str, str] | None:
    last = len(cells) - 1
    if cells[0] != goals[0]:
        return 0, "wrong_start", f"path starts at {cells[0]}, not at g1 {goals[0]}"
    if reached < len(goals) - 1:
        return last, "missed_subgoal", f"subgoal g{reached + 1} {goals[reached]} is not visited after g{reached}"
    if reached < len(goals) or cells[-1] != goals[-1]:
        return last, "wrong_end", f"path ends at {cells[-1]}, not at the goal g{len(goals)} {goals[-1]}"
    return None


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as strict JSON: numpy scalars and arrays as Python values, non-finite numbers, integers of more
    than ``MAX_JSON_INT_BITS`` bits and other objects as their (short) text; nesting deeper than 20 levels is
    cut. Never raises."""
    if depth > 20:
        return "..."
    try:
        if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
            value = value.tolist()
        if isinstance(value, Mapping):
            return {_key_text(key): json_safe(item, depth + 1) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [json_safe(item, depth + 1) for item in value]
    except Exception:  # a foreign container's tolist, items or iteration may fail in any way
        return short_text(value)
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value) if value.bit_length() <= MAX_JSON_INT_BITS else short_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return short_text(value)


def _key_text(key: Any) -> str:
    try:
        return str(key)
    except Exception:  # a huge integer, or a foreign object whose __str__ raises
        return short_text(key)


def short_text(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters; never raises."""
    try:
        text = repr(value)
    except Exception:  # a foreign object's repr may fail too
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
