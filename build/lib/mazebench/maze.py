"""Maze bitmaps: recursive division with extra doorways, plus a plain-text form.

A maze is a ``(height, width)`` ``numpy.uint8`` array, 1 = wall, 0 = open. Open cells sit on odd
coordinates (rooms) and on the doorways between them, the same lattice convention as mazelib's and
maze-dataset's: a 41x41 bitmap is a 20x20 lattice of rooms.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

WALL, OPEN = "#", "."


MAZE_SIZE, MAZE_SEED = 41, 2025  # the FlexMDM paper's maze: 41x41, seed 2025 (the benchmark's default)


def make_maze(
    height: int = MAZE_SIZE, width: int = MAZE_SIZE, seed: int = MAZE_SEED, extra_door_frac: float = 0.5
) -> np.ndarray:
    """Build a maze by recursive division, then open a fraction of the removable walls.

    Every draw comes from one ``random.Random(seed)`` in a fixed order, so the same arguments give
    the same maze on every machine; the defaults give the FlexMDM paper's benchmark maze.
    """
    _check_size("height", height)
    _check_size("width", width)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if (
        isinstance(extra_door_frac, bool)
        or not isinstance(extra_door_frac, (int, float))
        or not 0.0 <= extra_door_frac <= 1.0
    ):
        raise ValueError(f"extra_door_frac must be a number in [0, 1], got {extra_door_frac!r}")
    rng = random.Random(int(seed))
    grid = np.zeros((height, width), dtype=np.uint8)
    grid[0, :] = grid[-1, :] = 1
    grid[:, 0] = grid[:, -1] = 1
    _divide(grid, rng, 1, 1, height - 2, width - 2)
    _open_extra_doors(grid, rng, extra_door_frac)
    return grid


def _check_size(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < 5 or value % 2 == 0:
        raise ValueError(f"{name} must be odd and at least 5 (2m+1 cells for m >= 2 rooms), got {value}")


def _divide(grid: np.ndarray, rng: random.Random, top: int, left: int, h: int, w: int) -> None:
    """Split the open region with one wall that has one gap, then recurse on both parts."""
    if h <= 2 or w <= 2:
        return
    if w < h:
        y = rng.randrange(top + 1, top + h - 1, 2)
        gap = rng.randrange(left, left + w, 2)
        grid[y, left : left + w] = 1
        grid[y, gap] = 0
        _divide(grid, rng, top, left, y - top, w)
        _divide(grid, rng, y + 1, left, top + h - y - 1, w)
    else:
        x = rng.randrange(left + 1, left + w - 1, 2)
        gap = rng.randrange(top, top + h, 2)
        grid[top : top + h, x] = 1
        grid[gap, x] = 0
        _divide(grid, rng, top, left, h, x - left)
        _divide(grid, rng, top, x + 1, h, left + w - x - 1)


def _open_extra_doors(grid: np.ndarray, rng: random.Random, frac: float) -> None:
    """Open ``int(frac * #candidates)`` interior walls that separate two open cells in a line."""
    height, width = grid.shape
    candidates = []
    for r in range(1, height - 1):
        for c in range(1, width - 1):
            if grid[r, c] != 1:
                continue
            vertical = grid[r - 1, c] == 0 and grid[r + 1, c] == 0
            horizontal = grid[r, c - 1] == 0 and grid[r, c + 1] == 0
            if vertical or horizontal:
                candidates.append((r, c))
    for r, c in rng.sample(candidates, k=int(len(candidates) * frac)):
        grid[r, c] = 0


def frozen_copy(array: np.ndarray) -> np.ndarray:
    """A read-only copy of ``array``: what holds it can trust that no one else writes to it."""
    copy = np.array(array, copy=True)
    copy.flags.writeable = False
    return copy


def maze_to_text(maze: np.ndarray) -> str:
    """Render a maze as lines of ``#`` (wall) and ``.`` (open), one line per row."""
    return "\n".join("".join(WALL if v else OPEN for v in row) for row in np.asarray(maze)) + "\n"


def maze_from_text(text: str) -> np.ndarray:
    """Parse the text form written by :func:`maze_to_text`; raise ValueError on anything else.

    Lines end with ``\\n`` (or ``\\r\\n``), the last one optionally. Nothing is stripped: a blank line,
    a space or any other character than ``#`` and ``.`` is an error that names its line.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last row
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not lines or not lines[0]:
        raise ValueError("maze text is empty" if not lines else "maze text line 1 is empty")
    width = len(lines[0])
    for i, line in enumerate(lines):
        bad = set(line) - {WALL, OPEN}
        if bad:
            raise ValueError(
                f"maze text line {i + 1} has characters other than '#' and '.': {sorted(bad)} "
                f"(write an open cell as '.', with no spaces or blank lines)"
            )
        if len(line) != width:
            raise ValueError(f"maze text line {i + 1} has {len(line)} characters, expected {width}")
    return np.array([[1 if ch == WALL else 0 for ch in line] for line in lines], dtype=np.uint8)


def save_maze(maze: np.ndarray, path: str | Path) -> None:
    """Write the text form of a maze to ``path``."""
    Path(path).write_text(maze_to_text(maze))


def load_maze(path: str | Path) -> np.ndarray:
    """Read a maze from a text file (``#`` wall, ``.`` open)."""
    return maze_from_text(Path(path).read_text())


def open_cells(maze: np.ndarray) -> np.ndarray:
    """The ``(n, 2)`` array of open cells in row-major order."""
    return np.argwhere(np.asarray(maze) == 0)


#: Neighbour order of :func:`neighbour_table`: up, down, left, right.
NEIGHBOUR_MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))

#: The most open cells :func:`all_pairs_distances` accepts (its table takes 2 bytes per pair of cells).
MAX_OPEN_CELLS = 16_000


def neighbour_table(maze: np.ndarray) -> np.ndarray:
    """``(4, n)`` indices into :func:`open_cells` of each open cell's neighbours (``NEIGHBOUR_MOVES``; -1 = none)."""
    coords = open_cells(maze)
    index = np.full((maze.shape[0] + 2, maze.shape[1] + 2), -1, dtype=np.int64)
    index[coords[:, 0] + 1, coords[:, 1] + 1] = np.arange(len(coords))
    return np.stack([index[coords[:, 0] + 1 + dr, coords[:, 1] + 1 + dc] for dr, dc in NEIGHBOUR_MOVES])


def check_distance_table(open_count: int, what: str) -> None:
    """ValueError (starting with ``what``) if ``open_count`` cells are more than :func:`all_pairs_distances` takes."""
    if open_count > MAX_OPEN_CELLS:
        raise ValueError(
            f"{what}; the table of all shortest-path distances would take {2 * open_count**2 / 2**30:.1f} "
            f"GiB: at most {MAX_OPEN_CELLS} open cells (about a 151x151 maze) are supported"
        )


def all_pairs_distances(maze: np.ndarray, on_level: Callable[[int], None] | None = None) -> np.ndarray:
    """Shortest-path distances in moves between the open cells (:func:`open_cells` order); -1 = unreachable.

    Breadth-first search from every cell at once, on the (source, cell) pairs of each level: O(n^2)
    time and an int16 (n, n) table. ``on_level(pairs)`` is called after each level with the number
    of pairs it reached (for progress). A maze of more than ``MAX_OPEN_CELLS`` open cells is a
    ValueError, raised before any work.
    """
    nb = neighbour_table(maze)
    n = nb.shape[1]
    check_distance_table(n, f"the maze has {n} open cells")
    dist = np.full((n, n), -1, dtype=np.int16)
    source = cell = np.arange(n)
    dist[source, cell] = 0
    depth = 0
    while len(source):
        depth += 1
        reached = []
        for move in nb:  # one move maps distinct cells to distinct cells, so a level has no repeats
            step = move[cell]
            has = step >= 0
            s, c = source[has], step[has]
            fresh = dist[s, c] < 0
            s, c = s[fresh], c[fresh]
            dist[s, c] = depth
            reached.append((s, c))
        source = np.concatenate([s for s, _ in reached])
        cell = np.concatenate([c for _, c in reached])
        if on_level is not None:
            on_level(len(source))
    return dist
