"""The scorer: each failure kind, its index and reason, and that garbage never raises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mazebench.maze import open_cells
from mazebench.scoring import FAILURE_KINDS, JUMP_KINDS, PathScore, score_path

# 0 = open, 1 = wall
MAZE = np.array(
    [
        [1, 1, 1, 1, 1],
        [1, 0, 0, 0, 1],
        [1, 0, 1, 0, 1],
        [1, 0, 0, 0, 1],
        [1, 1, 1, 1, 1],
    ],
    dtype=np.uint8,
)
PATH = [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3)]
SUBGOALS = [(1, 1), (1, 3), (3, 3)]


def test_a_valid_path_through_all_subgoals_succeeds():
    score = score_path(MAZE, SUBGOALS, PATH)
    assert score == PathScore(True, True, True, "ok", None, None, 3, 5)


def test_numpy_paths_and_integral_floats_are_accepted():
    assert score_path(MAZE, np.array(SUBGOALS), np.array(PATH, dtype=np.int16)).success
    assert score_path(MAZE, SUBGOALS, np.array(PATH, dtype=float)).success


@pytest.mark.parametrize(
    "path, kind, index, valid, in_order, reached",
    [
        ([], "empty", None, False, False, 0),
        ([(1, 1), (1, 2), "<pad>", (2, 3), (3, 3)], "bad_cell", 2, False, False, 1),
        ([(1, 1), (1, 2.5), (1, 3)], "bad_cell", 1, False, False, 2),
        ([(1, 1), (0, 1), (-1, 1)], "wall", 1, False, False, 1),
        ([(1, 1), (1, 2), (1, 3), (1, 4), (1, 5)], "wall", 3, False, False, 2),
        ([(3, 3), (3, 4), (3, 5), (3, 6)], "wrong_start", 0, False, False, 0),
        ([(1, 1), (1, 2), (2, 2), (3, 2), (3, 3)], "wall", 2, False, False, 1),
        ([(1, 1), (1, 2), (1, 3), (3, 3)], "jump", 3, False, True, 3),
        ([(1, 1), (2, 1), (3, 1), (3, 2), (3, 3)], "missed_subgoal", 4, True, False, 1),
        ([(1, 1), (1, 2), (1, 3), (2, 3)], "wrong_end", 3, True, False, 2),
        ([(1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2)], "wrong_end", 5, True, False, 3),
        ([(1, 2), (1, 3), (2, 3), (3, 3)], "wrong_start", 0, True, False, 0),
    ],
)
def test_each_failure_kind_is_reported_at_its_first_index(path, kind, index, valid, in_order, reached):
    score = score_path(MAZE, SUBGOALS, path)
    assert not score.success
    assert (score.failure_kind, score.first_failure) == (kind, index)
    assert (score.valid, score.in_order, score.subgoals_reached, score.length) == (valid, in_order, reached, len(path))
    assert score.reason != "ok"


@pytest.mark.parametrize(
    "path, jump_kind, index",
    [
        ([(1, 1), (1, 1), (1, 2), (1, 3), (2, 3), (3, 3)], "repeat", 1),
        ([(1, 1), (1, 2), (1, 3), (1, 3), (2, 3), (3, 3)], "repeat", 3),
        ([(1, 1), (1, 2), (3, 2), (3, 3)], "through_wall", 2),  # same column, across the wall (2, 2)
        ([(1, 1), (2, 1), (2, 3), (3, 3)], "through_wall", 2),  # same row, across the wall (2, 2)
        ([(1, 1), (1, 3), (2, 3), (3, 3)], "skip", 1),  # two apart in a row, but (1, 2) is open
        ([(1, 1), (1, 2), (1, 3), (3, 3)], "skip", 3),  # two apart in a column, but (2, 3) is open
        ([(1, 1), (1, 2), (2, 3), (3, 3)], "skip", 2),  # a diagonal step
        ([(1, 1), (3, 3)], "skip", 1),  # four apart
        ([(1, 1), (3, 1), (3, 2), (3, 3)], "skip", 1),  # two apart in a column, (2, 1) open
    ],
)
def test_each_jump_kind_is_told_apart(path, jump_kind, index):
    score = score_path(MAZE, SUBGOALS, path)
    assert (score.failure_kind, score.jump_kind, score.first_failure) == ("jump", jump_kind, index)
    assert jump_kind in JUMP_KINDS and not score.valid


def test_jump_kinds_do_not_change_the_rest_of_the_verdict():
    """jump_kind comes last with a default: the verdict of a jump is otherwise the one it always was."""
    score = score_path(MAZE, SUBGOALS, [(1, 1), (1, 2), (1, 3), (3, 3)])
    expected = "step 3 jumps from (1, 3) to (3, 3) (not a 4-neighbour)"
    assert score == PathScore(False, False, True, expected, 3, "jump", 3, 4, "skip")
    assert PathScore(False, False, False, "x", None, "empty", 0, 0).jump_kind is None


@pytest.mark.parametrize(
    "path",
    [
        PATH,
        [],
        "path",
        [(1, 1), (1, 2), "<pad>", (2, 3), (3, 3)],
        [(1, 1), (0, 1), (-1, 1)],
        [(1, 1), (1, 2), (1, 3), (1, 5)],  # the jump lands off the grid: off_grid, no jump
        [(1, 1), (2, 2), (3, 3)],  # the jump lands on a wall: wall, no jump
        [(1, 2), (1, 3), (2, 3), (3, 3)],
        [(1, 1), (2, 1), (3, 1), (3, 2), (3, 3)],
        [(1, 1), (1, 2), (1, 3), (2, 3)],
    ],
)
def test_successes_and_other_failures_have_no_jump_kind(path):
    score = score_path(MAZE, SUBGOALS, path)
    assert score.failure_kind != "jump" and score.jump_kind is None


def test_off_grid_comes_before_the_jump_and_the_reason_names_the_step():
    score = score_path(np.zeros((3, 3), np.uint8), [(0, 0), (0, 2)], [(0, 0), (-1, 0), (5, 5)])
    assert (score.failure_kind, score.first_failure) == ("off_grid", 1)
    assert "step 1" in score.reason and "(-1, 0)" in score.reason


def test_missed_subgoal_reason_names_the_subgoal():
    score = score_path(MAZE, SUBGOALS, [(1, 1), (2, 1), (3, 1), (3, 2), (3, 3)])
    assert "g2" in score.reason and "(1, 3)" in score.reason


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        7,
        "path",
        b"xy",
        {"a": 1},
        [None],
        [[1]],
        [[1, 2, 3]],
        [[True, 1]],
        [(float("nan"), 1)],
        [(10**30, 1)],
        np.array(3),
        [np.array([[1, 1]])],
    ],
)
def test_garbage_fails_without_raising(garbage):
    score = score_path(MAZE, SUBGOALS, garbage)
    assert not score.success and score.failure_kind in FAILURE_KINDS


@pytest.mark.parametrize(
    "maze, subgoals", [(np.zeros(5), SUBGOALS), (MAZE * 2, SUBGOALS), (MAZE, []), (MAZE, [(1, "a")]), (MAZE, None)]
)
def test_bad_maze_or_subgoals_is_a_value_error(maze, subgoals):
    with pytest.raises(ValueError):
        score_path(maze, subgoals, PATH)


cell_like = st.one_of(
    st.tuples(st.integers(-3, 7), st.integers(-3, 7)),
    st.tuples(st.floats(allow_nan=True), st.integers()),
    st.lists(st.integers(-2, 6), max_size=3),
    st.text(max_size=3),
    st.none(),
    st.integers(),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(cell_like, max_size=12), cell_like))
def test_any_input_gives_a_consistent_verdict(path):
    score = score_path(MAZE, SUBGOALS, path)
    assert score.success == (score.valid and score.in_order)
    assert (score.reason == "ok") == score.success == (score.failure_kind is None)
    assert score.failure_kind is None or score.failure_kind in FAILURE_KINDS
    assert (score.jump_kind is not None) == (score.failure_kind == "jump")
    assert score.jump_kind is None or score.jump_kind in JUMP_KINDS
    assert score.first_failure is None or 0 <= score.first_failure < score.length
    assert 0 <= score.subgoals_reached <= len(SUBGOALS)


@st.composite
def walks(draw, maze):
    """A random walk on the open cells of ``maze`` and an in-order selection of its cells as subgoals."""
    cells = open_cells(maze)
    path = [tuple(int(v) for v in cells[draw(st.integers(0, len(cells) - 1))])]
    for _ in range(draw(st.integers(0, 30))):
        r, c = path[-1]
        options = [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)) if maze[r + dr, c + dc] == 0]
        path.append(draw(st.sampled_from(options)))
    inner = draw(st.lists(st.integers(0, len(path) - 1), max_size=6))
    return path, [path[i] for i in sorted({0, len(path) - 1, *inner})]


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_every_walk_through_its_own_subgoals_succeeds_and_a_wall_breaks_it(small_maze, data):
    path, subgoals = data.draw(walks(small_maze))
    assert score_path(small_maze, subgoals, path).success
    walls = np.argwhere(small_maze == 1)
    i = data.draw(st.integers(0, len(path) - 1))
    broken = path[:i] + [tuple(int(v) for v in walls[data.draw(st.integers(0, len(walls) - 1))])] + path[i + 1 :]
    score = score_path(small_maze, subgoals, broken)
    assert (score.success, score.valid, score.failure_kind, score.first_failure) == (False, False, "wall", i)


class _Hostile:
    """A path whose iteration, length and repr all raise, as a buggy planner's output might."""

    def __iter__(self):
        yield (1, 1)
        raise RuntimeError("iterator broke")

    def __len__(self):
        raise RuntimeError("no length")

    def __repr__(self):
        raise RuntimeError("no repr")


class _HostileAttributes:
    def __getattr__(self, name):
        raise RuntimeError(f"no {name}")


@pytest.mark.parametrize(
    "path",
    [_Hostile(), _HostileAttributes(), [_HostileAttributes()], [(1, 1), _Hostile()]],
    ids=["iterator", "attributes", "cell-attributes", "cell-iterator"],
)
def test_a_path_whose_own_methods_raise_fails_with_a_reason(path):
    score = score_path(MAZE, SUBGOALS, path)
    assert not score.success and score.failure_kind == "bad_cell" and score.reason
