"""Path datasets: generation, the on-disk format, and loading.

How a dataset is drawn (pairs and the split from ``numpy.random.Generator(seed)``; the paths and
subgoals of pair number p from their own ``numpy.random.Generator([seed, p])``, so pairs can be
drawn by several processes with the same result):

1. Distances: breadth-first search from every open cell gives all shortest-path distances.
2. Pairs: among the unordered pairs {a, b} of open cells whose shortest path has at least K cells,
   ``pairs`` distinct ones are drawn uniformly without replacement; each gets a random orientation
   (start, goal) by a fair coin. 5 % of the pairs (``val_frac``), drawn by a random permutation, are
   held out; all paths of a pair go to the same split, so no pair (in either direction) is in both.
3. Paths, pair by pair: first the shortest path from start to goal, walked from the start, each step
   to a uniformly random neighbour one step closer to the goal (random tie-breaking). Then detours:
   a waypoint w is drawn uniformly among the open cells with d(s, w) + d(w, g) + 1 <= max_detour_ratio
   x (d(s, g) + 1) (the detour is at most that many times as long as the shortest path, in cells);
   the path is a random shortest path from s to w followed by one from w to g (both walked from w
   with random tie-breaking). It is kept only if it is loop-free (no cell twice) and new. Detours are
   tried until the pair has ``paths_per_pair`` distinct paths or ``attempts_per_path x
   (paths_per_pair - 1)`` waypoints were tried.
4. Subgoals, path by path: g1 = start, gK = goal, and K-2 intermediate cells at distinct positions
   drawn uniformly from 1 .. L-2 (L = path length), kept in path order.

On disk a dataset is a folder: ``meta.json`` (format version, generator version, every parameter,
counts, ``dataset_id``, content hash), ``maze.txt`` (the maze's text form) and ``train.npz`` /
``val.npz`` (uncompressed, fixed zip timestamps, so the same configuration gives byte-identical
files), each holding ``cells`` (all paths concatenated, int16 (N, 2)), ``offsets`` (int64 (n+1,)),
``subgoal_index`` (int32 (n, K), positions of the subgoals in their path) and ``pair_id`` (int32 (n,)).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mazebench.folders import folder_lock
from mazebench.maze import (
    MAZE_SEED,
    MAZE_SIZE,
    all_pairs_distances,
    check_distance_table,
    frozen_copy,
    load_maze,
    make_maze,
    maze_to_text,
    neighbour_table,
    open_cells,
)
from mazebench.parallel import ordered_map
from mazebench.progress import progress_bar

FORMAT_VERSION = 1
GENERATOR_VERSION = "waypoint-detours-2"  # 2: one random stream per pair
SPLITS = ("train", "val")
QUERY_KINDS = ("drawn", "shortest")  # a held-out pair's query: one of its paths at random, or its shortest
QUERY_SEED = 0  # the draw of the "drawn" queries: the same for every planner, so paired tests stay paired
ARRAY_DTYPES = {"cells": np.int16, "offsets": np.int64, "subgoal_index": np.int32, "pair_id": np.int32}
MAX_PATHS_PER_PAIR = 1000  # upper bounds of the generator's sizes: far above use, refused before any work
MAX_ATTEMPTS_PER_PATH = 1000


@dataclass(frozen=True)
class Example:
    """One path with its K subgoals (``subgoals == path[subgoal_index]``)."""

    subgoals: np.ndarray
    path: np.ndarray
    subgoal_index: np.ndarray
    pair_id: int


@dataclass(frozen=True, eq=False)
class Split:
    """The examples of one split, stored flat: paths concatenated in ``cells``, cut by ``offsets``. Its
    attributes cannot be reassigned (a loaded split's arrays are read-only too)."""

    cells: np.ndarray
    offsets: np.ndarray
    subgoal_index: np.ndarray
    pair_id: np.ndarray

    def __len__(self) -> int:
        return len(self.pair_id)

    def __getitem__(self, i: int) -> Example:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"example {i} out of range for a split of {n}")
        i %= n
        path = self.cells[self.offsets[i] : self.offsets[i + 1]]
        index = self.subgoal_index[i]
        return Example(subgoals=path[index], path=path, subgoal_index=index, pair_id=int(self.pair_id[i]))

    def __iter__(self) -> Iterator[Example]:
        return (self[i] for i in range(len(self)))

    @property
    def lengths(self) -> np.ndarray:
        """Path lengths in cells."""
        return np.diff(self.offsets)

    def first_per_pair(self) -> np.ndarray:
        """Indices of the first example of each pair, in increasing order."""
        return np.sort(np.unique(self.pair_id, return_index=True)[1])

    def queries(self, kind: str = "drawn", seed: int = QUERY_SEED) -> np.ndarray:
        """One example index per pair, the pairs in the order they first appear. "shortest": each pair's
        first example (the generator writes the BFS shortest path first); "drawn": one of the pair's
        examples uniformly at random, as training draws them, fixed by ``seed``."""
        if kind not in QUERY_KINDS:
            raise ValueError(f"unknown query kind {kind!r}; choose from {', '.join(QUERY_KINDS)}")
        first = self.first_per_pair()
        if kind == "shortest":
            return first
        grouped = np.argsort(self.pair_id, kind="stable")  # each pair's examples together, in file order
        ids = self.pair_id[grouped]
        start = np.searchsorted(ids, self.pair_id[first], side="left")
        count = np.searchsorted(ids, self.pair_id[first], side="right") - start
        draw = np.random.default_rng(seed).random(len(first))
        return grouped[start + (draw * count).astype(np.int64)]

    def pair_paths(self) -> dict[int, list[list]]:
        """Every pair's paths as lists of [row, col] cells, its examples in file order."""
        paths: dict[int, list[list]] = {}
        for i, pair in enumerate(self.pair_id.tolist()):
            paths.setdefault(pair, []).append(self.cells[self.offsets[i] : self.offsets[i + 1]].tolist())
        return paths

    def pair_lengths(self) -> dict[int, list[int]]:
        """Every pair's path lengths (cells), its examples in file order."""
        lengths: dict[int, list[int]] = {}
        for pair, length in zip(self.pair_id.tolist(), self.lengths.tolist()):
            lengths.setdefault(pair, []).append(length)
        return lengths

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "cells": self.cells,
            "offsets": self.offsets,
            "subgoal_index": self.subgoal_index,
            "pair_id": self.pair_id,
        }


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset folder."""

    maze: np.ndarray
    train: Split
    val: Split
    meta: dict
    path: Path

    @property
    def num_subgoals(self) -> int:
        return int(self.meta["config"]["num_subgoals"])


def default_data_dir(
    num_subgoals: int | str, maze_size: int = MAZE_SIZE, maze_seed: int = MAZE_SEED, root: str | Path = "data"
) -> Path:
    """The conventional folder of a dataset, e.g. ``data/maze41-s2025-k12``."""
    return Path(root) / f"maze{maze_size}-s{maze_seed}-k{num_subgoals}"


def generate_dataset(
    out_dir: str | Path,
    *,
    num_subgoals: int,
    pairs: int = 15000,
    paths_per_pair: int = 10,
    maze_size: int = MAZE_SIZE,
    maze_seed: int = MAZE_SEED,
    seed: int = 0,
    maze: np.ndarray | None = None,
    extra_door_frac: float = 0.5,
    val_frac: float = 0.05,
    max_detour_ratio: float = 2.0,
    attempts_per_path: int = 4,
    force: bool = False,
    progress: bool = True,
    workers: int = 1,
) -> Path:
    """Generate a dataset into ``out_dir`` (see the module docstring) and return the folder.

    ``maze`` (a 0/1 array) overrides ``maze_size``/``maze_seed``/``extra_door_frac``. A folder that
    already holds the same configuration is left as it is unless ``force``; one that holds another
    dataset is an error unless ``force``. The folder is written atomically. ``workers`` processes
    draw the paths (the files are byte-identical for any number of workers).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if maze is None:
        if isinstance(maze_size, int) and maze_size > 2:  # rooms and the doors joining them, before building it
            least = 2 * ((maze_size - 1) // 2) ** 2 - 1
            check_distance_table(least, f"a {maze_size}x{maze_size} maze has at least {least} open cells")
        grid = make_maze(maze_size, maze_size, maze_seed, extra_door_frac)
        maze_params = {
            "maze_size": int(maze_size),
            "maze_seed": int(maze_seed),
            "extra_door_frac": float(extra_door_frac),
        }
    else:
        grid = _check_maze(maze)
        maze_params = {"maze_size": None, "maze_seed": None, "extra_door_frac": None}
    config = {
        "num_subgoals": num_subgoals,
        "pairs": pairs,
        "paths_per_pair": paths_per_pair,
        "seed": seed,
        "val_frac": val_frac,
        "max_detour_ratio": max_detour_ratio,
        "attempts_per_path": attempts_per_path,
        **maze_params,
        "maze_shape": list(grid.shape),
        "maze_sha256": _sha256(maze_to_text(grid).encode()),
    }
    _check_config(config)
    dataset_id = _dataset_id(config, GENERATOR_VERSION)
    out = Path(out_dir)
    with folder_lock(out):  # one writer at a time (mazebench.folders)
        recover_folder(out)
        if not _up_to_date(out, dataset_id, force):
            _write_dataset(out, grid, config, dataset_id, progress, workers)
    return out


def _write_dataset(out: Path, grid: np.ndarray, config: dict, dataset_id: str, progress: bool, workers: int) -> None:
    """Draw the dataset of ``config`` and swap it in at ``out`` (``replacing_folder``)."""
    with replacing_folder(out) as folder:  # made first: an unwritable --out fails before the work
        splits, counts = _draw_examples(grid, config, progress, workers)
        meta = {
            "format_version": FORMAT_VERSION,
            "generator_version": GENERATOR_VERSION,
            "dataset_id": dataset_id,
            "config": config,
            "counts": counts,
            "content_sha256": _content_hash(grid, splits),
            "split_checked": True,
        }
        (folder / "maze.txt").write_text(maze_to_text(grid))
        for name in SPLITS:
            _write_npz(folder / f"{name}.npz", splits[name].arrays())
        (folder / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n")


def load_dataset(path: str | Path) -> Dataset:
    """Load and check a dataset folder; raise ValueError if it is corrupt, truncated or of another format.

    Its arrays are read-only: a planner built with the dataset cannot change what the scorer reads."""
    folder = Path(path)
    recover_folder(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no dataset folder at {folder} (create one with `mazebench generate`)")
    meta_file = folder / "meta.json"
    if not meta_file.is_file():
        raise ValueError(f"{folder} is not a mazebench dataset: it has no meta.json")
    try:
        meta = json.loads(meta_file.read_text())
        version = meta["format_version"]
        config = meta["config"]
        num_subgoals = config["num_subgoals"]
        if isinstance(num_subgoals, bool) or not isinstance(num_subgoals, int):
            raise _corrupt(folder, f"num_subgoals must be an integer, got {num_subgoals!r}")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"dataset {folder} has format version {version}; this mazebench reads version "
                f"{FORMAT_VERSION}: regenerate it with --force"
            )
        maze = _read_maze(folder)
        if _sha256(maze_to_text(maze).encode()) != config["maze_sha256"]:
            raise _corrupt(folder, "maze.txt does not match the maze hash in meta.json")
        splits = {name: _load_split(folder, name, num_subgoals) for name in SPLITS}
        for name in SPLITS:
            if len(splits[name]) != meta["counts"][f"{name}_examples"]:
                raise _corrupt(
                    folder,
                    f"{name}.npz holds {len(splits[name])} examples, meta.json says "
                    f"{meta['counts'][f'{name}_examples']}",
                )
        if _content_hash(maze, splits) != meta["content_sha256"]:
            raise _corrupt(folder, "the arrays do not match the content hash in meta.json")
        _check_meta(folder, meta, maze, splits)
        for name in SPLITS:
            _check_paths(folder, name, maze, splits[name])
        _check_queries(folder, splits)
    except (KeyError, TypeError, json.JSONDecodeError, FileNotFoundError) as error:
        raise _corrupt(folder, f"{type(error).__name__}: {error}") from None
    return Dataset(maze=maze, train=splits["train"], val=splits["val"], meta=meta, path=folder)


def _read_maze(folder: Path) -> np.ndarray:
    try:
        return frozen_copy(load_maze(folder / "maze.txt"))
    except (OSError, ValueError) as error:
        raise _corrupt(folder, f"maze.txt: {error}") from None


def _corrupt(folder: Path, what: str) -> ValueError:
    return ValueError(f"dataset {folder} is corrupt or incomplete ({what}); regenerate it with --force")


def _load_split(folder: Path, name: str, num_subgoals: int) -> Split:
    file = folder / f"{name}.npz"
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {key: frozen_copy(data[key]) for key in ARRAY_DTYPES}  # read-only: planners get the dataset
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise _corrupt(folder, f"cannot read {file.name}: {error}") from None
    for key, dtype in ARRAY_DTYPES.items():
        if arrays[key].dtype != dtype:
            raise _corrupt(folder, f"{name}.{key} has dtype {arrays[key].dtype}, expected {np.dtype(dtype)}")
    cells, offsets, index, pair_id = (arrays[key] for key in ARRAY_DTYPES)
    n = len(pair_id)
    shapes_ok = (
        cells.ndim == 2
        and cells.shape[1] == 2
        and pair_id.ndim == 1
        and offsets.shape == (n + 1,)
        and index.shape == (n, num_subgoals)
    )
    if not shapes_ok or offsets[0] != 0 or offsets[-1] != len(cells) or np.any(np.diff(offsets) < num_subgoals):
        raise _corrupt(folder, f"the arrays of {name}.npz have inconsistent shapes or offsets")
    return Split(cells, offsets, index, pair_id)


def _dataset_id(config: dict, generator_version: str) -> str:
    return _sha256((json.dumps(config, sort_keys=True, separators=(",", ":")) + generator_version).encode())


def _check_meta(folder: Path, meta: dict, maze: np.ndarray, splits: dict[str, Split]) -> None:
    """Check that meta.json's id, configuration and counts agree with each other, the maze and the splits."""
    config = meta["config"]
    if meta["dataset_id"] != _dataset_id(config, meta["generator_version"]):
        raise _corrupt(folder, "meta.json's dataset_id does not match its config (was the config edited?)")
    try:
        _check_config(dict(config))
    except ValueError as error:
        raise _corrupt(folder, f"meta.json's config: {error}") from None
    if config["maze_shape"] != list(maze.shape):
        raise _corrupt(
            folder, f"meta.json's maze_shape {config['maze_shape']} is not the shape {list(maze.shape)} of maze.txt"
        )
    if config["maze_size"] is not None:
        try:
            same = np.array_equal(
                make_maze(config["maze_size"], config["maze_size"], config["maze_seed"], config["extra_door_frac"]),
                maze,
            )
        except ValueError:
            same = False
        if not same:
            raise _corrupt(folder, "maze.txt is not the maze of maze_size, maze_seed and extra_door_frac in meta.json")
    pair_ids = {}
    for name in SPLITS:
        split = splits[name]
        pair_ids[name], per_pair = np.unique(split.pair_id, return_counts=True)
        runs = 1 + np.count_nonzero(np.diff(split.pair_id)) if len(split) else 0
        if runs != len(pair_ids[name]) or len(pair_ids[name]) != meta["counts"][f"{name}_pairs"]:
            raise _corrupt(
                folder,
                f"the pair ids of {name}.npz are not {meta['counts'][f'{name}_pairs']} runs of consecutive examples",
            )
        if len(split) and per_pair.max() > config["paths_per_pair"]:
            raise _corrupt(folder, f"{name}.npz has more than paths_per_pair={config['paths_per_pair']} paths per pair")
    if len(pair_ids["train"]) + len(pair_ids["val"]) != config["pairs"] or len(np.intersect1d(*pair_ids.values())):
        raise _corrupt(folder, f"the splits do not hold {config['pairs']} distinct pairs, each in one split")
    lengths = np.concatenate([splits[name].lengths for name in SPLITS])
    measured = {
        "max_path_length": int(lengths.max()),
        "mean_path_length": round(float(lengths.mean()), 3),
        "open_cells": int((maze == 0).sum()),
    }
    wrong = [
        f"{key} {meta['counts'][key]!r} (the arrays: {value})"
        for key, value in measured.items()
        if meta["counts"][key] != value
    ]
    if wrong:
        raise _corrupt(folder, f"meta.json's counts do not match the arrays: {', '.join(wrong)}")


def _check_queries(folder: Path, splits: dict[str, Split]) -> None:
    """Check that no held-out query (subgoal sequence) is a training query, whatever the pair ids say."""
    shared = _queries(splits["val"]) & _queries(splits["train"])
    if shared:
        raise _corrupt(folder, f"{len(shared)} held-out queries are training queries too (the same subgoals)")


def _queries(split: Split) -> set[bytes]:
    """The subgoal sequences of a split's examples, each as bytes."""
    subgoals = split.cells[split.offsets[:-1, None] + split.subgoal_index].astype(np.int16)
    return {row.tobytes() for row in subgoals.reshape(len(split), -1)}


def _check_paths(folder: Path, name: str, maze: np.ndarray, split: Split) -> None:
    """Check every path of a split: inside the grid, on open cells, 4-adjacent steps, subgoal positions in order."""
    cells, offsets = split.cells, split.offsets

    def example(position: int) -> int:
        return int(np.searchsorted(offsets, position, side="right")) - 1

    def fail(position: int, what: str) -> ValueError:
        i = example(position)
        return _corrupt(
            folder, f"{name} example {i}, cell {position - offsets[i]} at {tuple(cells[position].tolist())} {what}"
        )

    rows, cols = cells[:, 0], cells[:, 1]
    outside = np.flatnonzero((rows < 0) | (rows >= maze.shape[0]) | (cols < 0) | (cols >= maze.shape[1]))
    if len(outside):
        raise fail(outside[0], "is outside the grid")
    walls = np.flatnonzero(maze[rows, cols])
    if len(walls):
        raise fail(walls[0], "is a wall")
    steps = np.abs(np.diff(rows)) + np.abs(np.diff(cols))
    steps[offsets[1:-1] - 1] = 1  # the last cell of a path and the first of the next are not a step
    jumps = np.flatnonzero(steps != 1)
    if len(jumps):
        raise fail(jumps[0] + 1, "is not a 4-neighbour of the cell before it")
    index, last = split.subgoal_index, split.lengths - 1
    bad = np.flatnonzero((index[:, 0] != 0) | (index[:, -1] != last) | np.any(np.diff(index, axis=1) <= 0, axis=1))
    if len(bad):
        i = bad[0]
        raise _corrupt(
            folder, f"{name} example {i} has subgoal positions {index[i].tolist()}, not increasing from 0 to {last[i]}"
        )


def _check_maze(maze: np.ndarray) -> np.ndarray:
    grid = np.asarray(maze)
    if grid.ndim != 2 or grid.size == 0 or not np.isin(grid, (0, 1)).all():
        raise ValueError(f"maze must be a 2-D array of 0 (open) and 1 (wall), got shape {grid.shape}")
    return grid.astype(np.uint8)


def _check_config(config: dict) -> None:
    def integer(name: str, low: int, high: int | None = None) -> None:
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r} (a {type(value).__name__})")
        if value < low or value > (high or value):
            raise ValueError(f"{name} must be an integer >= {low}{f' and <= {high}' if high else ''}, got {value!r}")
        config[name] = int(value)

    integer("num_subgoals", 2)
    integer("pairs", 2)
    integer("paths_per_pair", 1, MAX_PATHS_PER_PAIR)
    integer("seed", 0)
    integer("attempts_per_path", 1, MAX_ATTEMPTS_PER_PATH)
    if not 0.0 < config["val_frac"] < 1.0:
        raise ValueError(f"val_frac must be in (0, 1), got {config['val_frac']!r}")
    if not 1.0 <= config["max_detour_ratio"] < math.inf:
        raise ValueError(f"max_detour_ratio must be a finite number >= 1, got {config['max_detour_ratio']!r}")
    config["val_frac"] = float(config["val_frac"])
    config["max_detour_ratio"] = float(config["max_detour_ratio"])
    n_val = round(config["pairs"] * config["val_frac"])
    if not 0 < n_val < config["pairs"]:
        raise ValueError(f"{config['pairs']} pairs with val_frac {config['val_frac']} leave a split empty")


def _up_to_date(out: Path, dataset_id: str, force: bool) -> bool:
    """True if ``out`` already holds this dataset; raise if it holds something that must not be replaced."""
    if not out.exists():
        return False
    if not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder")
    if not any(out.iterdir()):
        return False
    if not (out / "meta.json").is_file():
        raise ValueError(f"{out} is not empty and is not a mazebench dataset: refusing to overwrite it")
    if force:
        return False
    existing = load_dataset(out)
    if existing.meta["dataset_id"] != dataset_id:
        raise ValueError(
            f"{out} already holds a dataset with another configuration "
            f"(id {existing.meta['dataset_id'][:12]}); use --force to overwrite it or choose another --out"
        )
    return True


class _Graph:
    """The open cells of a maze, their neighbours and all shortest-path distances between them."""

    def __init__(self, maze: np.ndarray, progress: bool = False):
        self.coords = open_cells(maze)
        nb = neighbour_table(maze)
        self.neighbours = [[int(m) for m in nb[:, i] if m >= 0] for i in range(nb.shape[1])]
        n = len(self.coords)
        with progress_bar(n * n, f"distances between {n} open cells", progress) as bar:
            self.dist = all_pairs_distances(maze, on_level=bar.update)

    def walk(self, start: int, dist_to_target: list[int], draws: np.ndarray) -> list[int]:
        """A shortest path from ``start`` to the target of ``dist_to_target``, ties broken by ``draws``."""
        path = [start]
        cell = start
        for u in draws[: dist_to_target[start]]:
            closer = dist_to_target[cell] - 1
            steps = [m for m in self.neighbours[cell] if dist_to_target[m] == closer]
            cell = steps[int(u * len(steps))]
            path.append(cell)
        return path


def _draw_examples(maze: np.ndarray, config: dict, progress: bool, workers: int) -> tuple[dict[str, Split], dict]:
    """Draw pairs, paths and subgoals as the module docstring describes; return the splits and counts."""
    rng = np.random.default_rng(config["seed"])
    open_count = int((maze == 0).sum())
    if open_count < 2:
        raise ValueError(f"the maze has {open_count} open cells: a start-goal pair needs at least 2")
    graph = _Graph(maze, progress)
    k, num_pairs = config["num_subgoals"], config["pairs"]
    eligible = np.flatnonzero(np.triu(graph.dist >= k - 1, k=1))  # row-major: pair (a, b) with a < b is a * n + b
    if not len(eligible):
        raise ValueError(
            f"no two open cells of the maze are joined by a shortest path of at least {k} cells "
            f"(the longest has {int(graph.dist.max()) + 1}): ask for fewer subgoals"
        )
    if len(eligible) < num_pairs:
        raise ValueError(
            f"the maze has only {len(eligible)} start-goal pairs whose shortest path has at least {k} "
            f"cells; ask for fewer pairs"
        )
    first, second = np.divmod(eligible[rng.choice(len(eligible), size=num_pairs, replace=False)], len(graph.coords))
    flip = rng.random(num_pairs) < 0.5
    starts = np.where(flip, second, first)
    goals = np.where(flip, first, second)
    is_val = np.zeros(num_pairs, dtype=bool)
    is_val[rng.permutation(num_pairs)[: round(num_pairs * config["val_frac"])]] = True

    examples: dict[str, list] = {name: [] for name in SPLITS}
    chunks = [
        range(first_pair, min(first_pair + PAIRS_PER_TASK, num_pairs))
        for first_pair in range(0, num_pairs, PAIRS_PER_TASK)
    ]
    tasks = [(pairs, starts[pairs].tolist(), goals[pairs].tolist()) for pairs in chunks]
    with (
        progress_bar(num_pairs, f"K={k}: paths for {num_pairs} pairs", progress) as bar,
        ordered_map(_draw_pairs, (graph, config), workers) as run,
    ):
        for pairs, drawn in zip(chunks, run(tasks)):
            for pair_id, pair_examples in zip(pairs, drawn):
                examples["val" if is_val[pair_id] else "train"] += [
                    (path, index, pair_id) for path, index in pair_examples
                ]
            bar.update(len(pairs))

    train_pairs = {frozenset((int(starts[i]), int(goals[i]))) for i in np.flatnonzero(~is_val)}
    val_pairs = {frozenset((int(starts[i]), int(goals[i]))) for i in np.flatnonzero(is_val)}
    assert not train_pairs & val_pairs, "a start-goal pair is in both splits"
    splits = {name: _pack(graph.coords, examples[name], k) for name in SPLITS}
    lengths = np.concatenate([splits[name].lengths for name in SPLITS])
    counts = {
        "eligible_pairs": int(len(eligible)),
        "train_pairs": len(train_pairs),
        "val_pairs": len(val_pairs),
        "train_examples": len(splits["train"]),
        "val_examples": len(splits["val"]),
        "mean_path_length": round(float(lengths.mean()), 3),
        "max_path_length": int(lengths.max()),
        "open_cells": int(len(graph.coords)),
    }
    return splits, counts


PAIRS_PER_TASK = 250


def _draw_pairs(state: tuple[_Graph, dict], task: tuple[range, list[int], list[int]]) -> list:
    """For each pair of a task: its (path, subgoal positions) examples, drawn from the pair's own random stream."""
    (graph, config), (pairs, starts, goals) = state, task
    drawn = []
    for pair_id, start, goal in zip(pairs, starts, goals):
        rng = np.random.default_rng([config["seed"], pair_id])
        paths = _pair_paths(graph, start, goal, config, rng)
        drawn.append([(path, _subgoal_index(len(path), config["num_subgoals"], rng)) for path in paths])
    return drawn


def _pair_paths(graph: _Graph, start: int, goal: int, config: dict, rng: np.random.Generator) -> list[list[int]]:
    """The shortest path from ``start`` to ``goal`` plus up to ``paths_per_pair - 1`` distinct loop-free detours."""
    to_start, to_goal = graph.dist[start], graph.dist[goal]
    row_start, row_goal = to_start.tolist(), to_goal.tolist()
    shortest = graph.walk(start, row_goal, rng.random(row_goal[start]))
    paths, seen = [shortest], {tuple(shortest)}
    if config["paths_per_pair"] == 1:
        return paths
    max_steps = config["max_detour_ratio"] * len(shortest) - 1
    waypoints = np.flatnonzero((to_start >= 0) & (to_start.astype(np.int32) + to_goal <= max_steps))
    attempts = config["attempts_per_path"] * (config["paths_per_pair"] - 1)
    for w in waypoints[rng.integers(len(waypoints), size=attempts)].tolist():
        draws = rng.random(row_start[w] + row_goal[w])
        to_w = graph.walk(w, row_start, draws[: row_start[w]])[::-1]
        path = to_w + graph.walk(w, row_goal, draws[row_start[w] :])[1:]
        key = tuple(path)
        if len(set(path)) == len(path) and key not in seen:
            paths.append(path)
            seen.add(key)
            if len(paths) == config["paths_per_pair"]:
                break
    return paths


def _subgoal_index(length: int, num_subgoals: int, rng: np.random.Generator) -> list[int]:
    """Positions 0 and L-1 plus K-2 distinct uniform positions from 1 .. L-2, increasing."""
    inner = np.sort(rng.choice(length - 2, size=num_subgoals - 2, replace=False)) + 1 if num_subgoals > 2 else []
    return [0, *map(int, inner), length - 1]


def _pack(coords: np.ndarray, examples: list, num_subgoals: int) -> Split:
    lengths = [len(path) for path, _, _ in examples]
    flat = np.fromiter((c for path, _, _ in examples for c in path), dtype=np.int64, count=sum(lengths))
    offsets = np.zeros(len(examples) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Split(
        cells=coords[flat].astype(np.int16),
        offsets=offsets,
        subgoal_index=np.array([index for _, index, _ in examples], dtype=np.int32).reshape(-1, num_subgoals),
        pair_id=np.array([pair for _, _, pair in examples], dtype=np.int32),
    )


def check_content(dataset: Dataset) -> None:
    """Raise ValueError unless the dataset in memory (maze and splits) still matches its meta.json content hash."""
    if _content_hash(dataset.maze, {"train": dataset.train, "val": dataset.val}) != dataset.meta["content_sha256"]:
        raise ValueError(
            f"the dataset {dataset.path} in memory differs from its content hash (was it changed by a planner?); "
            f"reload it"
        )


def _content_hash(maze: np.ndarray, splits: dict[str, Split]) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(maze, dtype=np.uint8).tobytes())
    for name in SPLITS:
        for key, array in splits[name].arrays().items():
            digest.update(f"{name}.{key}:{array.dtype.str}:{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_npz(file: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez`` (uncompressed) but with a fixed zip timestamp, so equal arrays give equal bytes."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.ascontiguousarray(array), allow_pickle=False)


@contextlib.contextmanager
def replacing_folder(out: Path) -> Iterator[Path]:
    """Yield a new empty folder beside ``out`` and swap it in for ``out`` when the block ends (datasets, reports).

    The old ``out`` is renamed aside (``.<name>.old``) before the new folder is renamed into place,
    and deleted only after: an exception anywhere leaves ``out`` as it was, and a process killed
    between the renames leaves the old folder aside, where :func:`recover_folder` finds it. The
    temporary folders of a killed writer are removed first; a symbolic link ``out`` is refused.
    """
    out = Path(os.path.abspath(out))  # "." and "x/.." get a real name and parent
    if out.is_symlink():
        raise ValueError(f"{out} is a symbolic link; give the folder it points to ({out.resolve()}) instead")
    recover_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for leftover in out.parent.glob(f".{glob.escape(out.name)}.tmp-*"):  # of a killed writer (callers hold the lock)
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    aside = _aside(out)
    try:
        tmp.chmod(0o755)
        yield tmp
        if out.exists():
            os.replace(out, aside)
        try:
            os.replace(tmp, out)
        except BaseException:
            if aside.exists():
                os.replace(aside, out)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def recover_folder(out: Path) -> None:
    """Finish a :func:`replacing_folder` swap that was cut short: drop the old folder if ``out`` is in place, else
    restore it."""
    aside = _aside(Path(out))
    if aside.exists():
        if Path(out).exists():
            shutil.rmtree(aside)
        else:
            os.replace(aside, out)


def _aside(out: Path) -> Path:
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}.old"
