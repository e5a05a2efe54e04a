"""Plug-in planners that try to bend or break an evaluation (fixtures of tests/test_isolation.py).

Each is loaded as ``tests.adversarial_planners:NAME``, as a user's plug-in would be.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import stat
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from agents.bfs import BFSPlanner
from mazebench.datasets import Split
from mazebench.planner import Planner


def straight_line(subgoals) -> list[tuple[int, int]]:
    """Through g1 .. gK by rows then columns, walls or not."""
    cells = [tuple(int(v) for v in cell) for cell in np.asarray(subgoals).reshape(-1, 2)]
    path = [cells[0]]
    for row, col in cells[1:]:
        while path[-1] != (row, col):
            r, c = path[-1]
            path.append((r + np.sign(row - r), c) if r != row else (r, c + np.sign(col - c)))
    return [(int(r), int(c)) for r, c in path]


class Honest(Planner):
    """The BFS oracle, with its own name."""

    name = "honest"

    def plan(self, maze, subgoal_batch, seed=0):
        return BFSPlanner().plan(maze, subgoal_batch, seed)

    def describe(self):
        return {"name": self.name}


class WallEraser(Honest):
    """Opens every wall of the maze it is given, then walks straight through where the walls were."""

    name = "wall-eraser"

    def plan(self, maze, subgoal_batch, seed=0):
        maze[:] = 0
        return [straight_line(subgoals) for subgoals in subgoal_batch]


class SubgoalRewriter(Honest):
    """Moves every subgoal onto the start, then answers with the start alone."""

    name = "subgoal-rewriter"

    def plan(self, maze, subgoal_batch, seed=0):
        for subgoals in subgoal_batch:
            subgoals[:] = subgoals[0]
        return [subgoals[:1].copy() for subgoals in subgoal_batch]


class Marker(Honest):
    """Plans the oracle's paths and marks the cells it visited in the maze it was given (with 2s)."""

    name = "marker"

    def plan(self, maze, subgoal_batch, seed=0):
        paths = BFSPlanner().plan(maze, subgoal_batch, seed)
        for path in paths:
            maze[path[:, 0], path[:, 1]] = 2
        return paths


GARBAGE = {  # a bad answer -> the failure kind the scorer gives it
    "absurd integers": ([[10**30, -(10**40)], [2**70, 0]], "off_grid"),
    "a huge fraction": ([[Fraction(10**400), 1]], "bad_cell"),
    "NaN and inf": ([[float("nan"), 1.0], [float("inf"), 2]], "bad_cell"),
    "a string": ("up, up, left", "bad_cell"),
    "a wrong shape": (np.zeros((3, 3)), "bad_cell"),
    "two million cells": (np.zeros((2_000_000, 2), dtype=np.int64), "too_long"),
    "nothing": (None, "bad_cell"),
    "an empty path": ([], "empty"),
}


class Garbage(Honest):
    """Answers query i with the i-th bad path of GARBAGE (round robin), and prints while it plans."""

    name = "garbage"

    def plan(self, maze, subgoal_batch, seed=0):
        print("debug output of a plug-in")
        answers = [path for path, _ in GARBAGE.values()]
        return [answers[(seed + i) % len(answers)] for i in range(len(subgoal_batch))]


class Exiting(Honest):
    """Calls sys.exit on the batch seeded 0; plans the others honestly."""

    name = "exiting"

    def plan(self, maze, subgoal_batch, seed=0):
        if seed == 0:
            sys.exit("bye")
        return super().plan(maze, subgoal_batch, seed)


class Stalling(Honest):
    """Never returns from the batch seeded 0, kills its own process on the batch seeded 3, plans the others."""

    name = "stalling"

    def plan(self, maze, subgoal_batch, seed=0):
        if seed == 0:
            time.sleep(600)
        if seed == 3:
            os._exit(3)
        return super().plan(maze, subgoal_batch, seed)


class BadDescription(Honest):
    """Its description holds what JSON cannot: NaN, numpy scalars and arrays, an object."""

    name = "bad-description"

    def describe(self):
        return {"name": self.name, "loss": float("nan"), "calls": np.int64(3), "widths": np.arange(2), "me": self}


class RaisingDescription(Honest):
    name = "raising-description"

    def describe(self):
        raise RuntimeError("no description today")


class StringDescription(Honest):
    name = "string-description"

    def describe(self):
        return "a string, not a dict"


class OddCounters(Honest):
    """Counters of every kind: a number, NaN, a string, a numpy integer."""

    name = "odd-counters"

    def __init__(self):
        self.counters = {"paths": 0, "loss": float("nan"), "mood": "fine", "calls": np.int64(0)}

    def plan(self, maze, subgoal_batch, seed=0):
        self.counters["paths"] += len(subgoal_batch)
        self.counters["calls"] += 1
        return super().plan(maze, subgoal_batch, seed)

    def describe(self):
        return {"name": self.name, **self.counters}


class RaisingCounters(Honest):
    name = "raising-counters"

    @property
    def counters(self):
        raise RuntimeError("counters unavailable")


def _evidence(name: str) -> Path:
    """Where an adversary leaves evidence of what it managed to do (the test names the folder)."""
    return Path(os.environ["MAZEBENCH_ADVERSARY_DIR"]) / name


class DatasetEditor(Honest):
    """Built with the dataset, it moves every held-out query's subgoals onto its start (past the frozen
    dataclasses), then answers each query with the start alone: a success on the edited queries only."""

    name = "dataset-editor"

    def __init__(self, dataset):
        val = dataset.val
        edited = Split(val.cells, val.offsets, np.zeros_like(val.subgoal_index), val.pair_id)
        object.__setattr__(dataset, "val", edited)

    def plan(self, maze, subgoal_batch, seed=0):
        return [subgoals[:1] for subgoals in subgoal_batch]


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text for you")


class UnprintableErrors(Honest):
    """Raises, from plan, describe and trace, an exception whose own __str__ raises."""

    name = "unprintable-errors"

    def plan(self, maze, subgoal_batch, seed=0):
        raise Unprintable()

    def describe(self):
        raise Unprintable()

    def trace(self, subgoals, frames=8):
        raise Unprintable()


class RaisingName(Honest):
    @property
    def name(self):
        raise RuntimeError("no name today")


def exit_zero(**options):
    """A factory that ends its process 'successfully' instead of building a planner."""
    sys.exit(0)


def hard_exit(**options):
    os._exit(0)


class ExitInDescribe(Honest):
    name = "exit-in-describe"

    def describe(self):
        os._exit(0)


class HangingTrace(Honest):
    name = "hanging-trace"

    def trace(self, subgoals, frames=8):
        time.sleep(600)


class HugeNumbers(Honest):
    """A path with an integer too long to print, and one in its description."""

    name = "huge-numbers"

    def plan(self, maze, subgoal_batch, seed=0):
        return [[[10**5000, 0]] for _ in subgoal_batch]

    def describe(self):
        return {"name": self.name, "big": 10**5000}


class Unpicklable(Honest):
    """Holds a lambda and a lock: no copy of it can be sent to a worker process."""

    name = "unpicklable"

    def __init__(self):
        self.hook, self.lock = (lambda: None), threading.Lock()


class _MakesEvidence:
    def __reduce__(self):
        return (Path.touch, (_evidence("unpickled"),))


class PickleSender(Honest):
    """Writes a pickle whose loading leaves evidence to every pipe it can write to (its result pipe among
    them), then plans honestly."""

    name = "pickle-sender"

    def plan(self, maze, subgoal_batch, seed=0):
        payload = pickle.dumps(_MakesEvidence()) + b"\n"
        for fd in range(3, 256):
            with contextlib.suppress(OSError):
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    os.write(fd, payload)
        return super().plan(maze, subgoal_batch, seed)


class Detacher(Honest):
    """Leaves a detached grandchild (double fork, new session) that, once the evaluation should be over,
    overwrites the report's results.json; it records its pid first."""

    name = "detacher"

    def plan(self, maze, subgoal_batch, seed=0):
        pid_file = _evidence("grandchild.pid")
        if not pid_file.exists():
            child = os.fork()
            if child == 0:
                os.setsid()
                if os.fork() == 0:
                    pid_file.write_text(str(os.getpid()))
                    time.sleep(2)
                    for victim in Path(os.environ["MAZEBENCH_ADVERSARY_DIR"]).rglob("results.json"):
                        victim.write_text("{}")
                    _evidence("grandchild-lived").touch()
                os._exit(0)
            os.waitpid(child, 0)
            while not pid_file.exists():
                time.sleep(0.01)
        return super().plan(maze, subgoal_batch, seed)


class RaisingOnce(Honest):
    """Counts the batches it was asked for and raises on the one seeded 0."""

    name = "raising-once"

    def __init__(self):
        self.batches = 0

    def plan(self, maze, subgoal_batch, seed=0):
        self.batches += 1
        if seed == 0:
            raise RuntimeError("not this one")
        return super().plan(maze, subgoal_batch, seed)

    def describe(self):
        return {"name": self.name, "batches": self.batches}
