"""Evaluation reports: the summary, the samples, the galleries, and the Wilson interval."""

from __future__ import annotations

import json
import math

import pytest

from agents.bfs import BFSPlanner
from mazebench.evaluation import evaluate
from mazebench.planner import Planner
from mazebench.statistics import wilson_interval


class _DropEveryOtherGoal(Planner):
    """Plans the BFS path but cuts the last cell off every second path (so half of them fail)."""

    name = "broken"

    def plan(self, maze, subgoal_batch, seed=0):
        paths = BFSPlanner().plan(maze, subgoal_batch)
        return [path[:-1] if i % 2 else path for i, path in enumerate(paths)]

    def describe(self):
        return {"name": self.name}


def test_the_oracle_scores_100_percent_and_writes_the_report(tiny_dataset, tmp_path):
    summary = evaluate(BFSPlanner(), tiny_dataset, out_dir=tmp_path, progress=False)
    n_pairs = tiny_dataset.meta["counts"]["val_pairs"]
    assert summary["n"] == n_pairs
    assert summary["success_rate"] == summary["valid_rate"] == summary["in_order_rate"] == 1.0
    assert summary["failure_kinds"] == {}
    assert summary["jump_kinds"] == {}
    assert summary["success_ci95"][1] == 1.0 and summary["success_ci95"][0] < 1.0
    # the drawn queries include detours: BFS plans the shortest path through the subgoals, never longer
    assert summary["mean_length"] <= summary["mean_reference_length"]
    assert summary["evaluation"]["queries"] == "drawn"
    assert summary["planner"]["paths_planned"] == n_pairs
    assert summary["dataset"]["dataset_id"] == tiny_dataset.meta["dataset_id"]
    assert json.loads((tmp_path / "results.json").read_text()) == summary
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [s["index"] for s in samples] == tiny_dataset.val.queries().tolist()
    assert all(s["success"] and s["reason"] == "ok" for s in samples)
    assert (tmp_path / "successes.png").stat().st_size > 0 and not (tmp_path / "failures.png").exists()
    assert (tmp_path / "maze.txt").is_file()


def test_failures_are_counted_and_drawn(tiny_dataset, tmp_path):
    summary = evaluate(_DropEveryOtherGoal(), tiny_dataset, out_dir=tmp_path, limit=6, batch_size=4, progress=False)
    assert summary["n"] == 6
    # batches of 4 and 2: paths 1 and 3 of the first batch and 1 of the second lose their goal
    assert summary["success_rate"] == pytest.approx(3 / 6)
    assert summary["failure_kinds"] == {"wrong_end": 3}
    assert summary["jump_kinds"] == {}
    assert summary["valid_rate"] == 1.0 and summary["in_order_rate"] == pytest.approx(0.5)
    assert (tmp_path / "failures.png").stat().st_size > 0


def _through_wall(maze, path):
    """``path`` up to its first cell with an open cell two away in a line across a wall, then that cell."""
    for i, (r, c) in enumerate(path):
        for dr, dc in ((0, 2), (2, 0), (0, -2), (-2, 0)):
            row, col = r + dr, c + dc
            inside = 0 <= row < maze.shape[0] and 0 <= col < maze.shape[1]
            if inside and maze[row, col] == 0 and maze[r + dr // 2, c + dc // 2] == 1:
                return path[: i + 1] + [(row, col)]
    raise AssertionError("no cell of the path is next to a wall with an open cell behind it")


def _skip(path):
    """``path`` without its first cell that lies between two cells two apart (a step that skips it)."""
    i = next(
        i for i in range(len(path) - 2) if abs(path[i][0] - path[i + 2][0]) + abs(path[i][1] - path[i + 2][1]) == 2
    )
    return path[: i + 1] + path[i + 2 :]


class _Jumpy(Planner):
    """The oracle's paths, broken by a jump of each kind in turn (repeat, skip, through_wall) and every
    fourth left whole."""

    name = "jumpy"

    def plan(self, maze, subgoal_batch, seed=0):
        paths = [[tuple(int(v) for v in cell) for cell in path] for path in BFSPlanner().plan(maze, subgoal_batch)]
        broken = (lambda p: p[:1] + p, _skip, lambda p: _through_wall(maze, p), lambda p: p)
        return [broken[i % 4](path) for i, path in enumerate(paths)]

    def describe(self):
        return {"name": self.name}


def test_jump_kinds_are_counted_in_the_summary_and_stored_in_the_samples(tiny_dataset, tmp_path):
    summary = evaluate(_Jumpy(), tiny_dataset, out_dir=tmp_path, limit=8, batch_size=8, progress=False)
    assert summary["success_rate"] == pytest.approx(2 / 8)
    assert summary["failure_kinds"] == {"jump": 6}
    assert summary["jump_kinds"] == {"repeat": 2, "skip": 2, "through_wall": 2}
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert [s["jump_kind"] for s in samples] == ["repeat", "skip", "through_wall", None] * 2


class _Flaky(Planner):
    """The oracle, except that it raises on the batch seeded 3, returns one path on the batch seeded 6 and
    None on the batch seeded 9; its trace is broken."""

    name = "flaky"

    def plan(self, maze, subgoal_batch, seed=0):
        if seed == 3:
            raise RuntimeError("out of\nmemory")
        paths = BFSPlanner().plan(maze, subgoal_batch)
        return {6: paths[:1], 9: None}.get(seed, paths)

    def describe(self):
        return {"name": self.name}

    def trace(self, subgoals, frames=8):
        raise KeyError("no frames")


def test_a_failing_planner_fails_its_batches_and_the_evaluation_goes_on(tiny_dataset, tmp_path, caplog):
    summary = evaluate(_Flaky(), tiny_dataset, out_dir=tmp_path, limit=12, batch_size=3, progress=False)
    assert summary["n"] == 12 and summary["success_rate"] == pytest.approx(3 / 12)  # the first batch is planned
    assert summary["failure_kinds"] == {"planner_error": 9}
    assert summary["jump_kinds"] == {}
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    reasons = [sample["reason"] for sample in samples]
    assert reasons[:3] == ["ok"] * 3
    assert reasons[3:6] == ["planner raised RuntimeError: out of memory"] * 3
    assert reasons[6:9] == ["planner returned 1 paths for 3 subgoal sequences"] * 3
    assert reasons[9:] == ["planner returned an object of type NoneType, not a list of paths"] * 3
    assert all(s["path"] is None and s["failure_kind"] == "planner_error" for s in samples[3:])
    assert (tmp_path / "failures.png").is_file()
    assert not (tmp_path / "generation.png").exists() and not (tmp_path / "generation.gif").exists()
    warnings = "\n".join(record.getMessage() for record in caplog.records if record.levelname == "WARNING")
    assert "examples 3..5 failed: planner raised RuntimeError" in warnings and "trace failed (KeyError" in warnings


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson_interval(8, 10)  # Wilson (1927) / Newcombe (1998): 0.490 .. 0.943
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and high == pytest.approx(0.161, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for k in range(0, 31, 5):
        low, high = wilson_interval(k, 30)
        assert low <= k / 30 <= high and math.isfinite(low)


def test_bad_limit_is_a_value_error(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="limit"):
        evaluate(BFSPlanner(), tiny_dataset, out_dir=tmp_path, limit=0, progress=False)


@pytest.fixture()
def _crashing(monkeypatch):
    """Writing maze.txt fails (a full disk, say), after the planning."""
    import mazebench.evaluation

    def crash(*_args):
        raise RuntimeError("crash while writing the report")

    monkeypatch.setattr(mazebench.evaluation, "save_maze", crash)


def test_an_evaluation_into_a_used_folder_leaves_only_its_own_files(tiny_dataset, tmp_path):
    out = tmp_path / "report"
    evaluate(_DropEveryOtherGoal(), tiny_dataset, out_dir=out, limit=6, progress=False)
    assert (out / "failures.png").exists()
    (out / "notes.txt").write_text("stale")
    evaluate(BFSPlanner(), tiny_dataset, out_dir=out, limit=6, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [
        ".mazebench",
        "maze.txt",
        "results.json",
        "samples.jsonl",
        "successes.png",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary or aside folder left


def test_a_failed_evaluation_leaves_the_folder_as_it_was(tiny_dataset, tmp_path, request):
    out = tmp_path / "old"
    before = evaluate(BFSPlanner(), tiny_dataset, out_dir=out, limit=4, progress=False)
    request.getfixturevalue("_crashing")
    with pytest.raises(RuntimeError, match="crash"):
        evaluate(BFSPlanner(), tiny_dataset, out_dir=tmp_path / "new", limit=4, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["old"]  # no empty or half-written folder
    with pytest.raises(RuntimeError, match="crash"):
        evaluate(BFSPlanner(), tiny_dataset, out_dir=out, limit=6, progress=False)
    assert json.loads((out / "results.json").read_text()) == before
    assert len((out / "samples.jsonl").read_text().splitlines()) == 4 and [p.name for p in tmp_path.iterdir()] == [
        "old"
    ]


def test_a_folder_that_is_no_report_is_never_replaced(tiny_dataset, tmp_path):
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(ValueError, match="not an evaluation report"):
        evaluate(BFSPlanner(), tiny_dataset, out_dir=tmp_path, limit=2, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.tex"]


def test_samples_are_strict_json_even_for_nan_paths(tiny_dataset, tmp_path):
    """A path is stored as the scorer read it: a NaN cell is an unreadable cell (null)."""

    class NaNs(_DropEveryOtherGoal):
        def plan(self, maze, subgoal_batch, seed=0):
            return [[(float("nan"), 1.0)] for _ in subgoal_batch]

    evaluate(NaNs(), tiny_dataset, out_dir=tmp_path / "r", limit=2, num_pngs=0, progress=False)
    for line in (tmp_path / "r" / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line, parse_constant=lambda name: pytest.fail(name))
        assert sample["path"] == [None] and sample["failure_kind"] == "bad_cell"
