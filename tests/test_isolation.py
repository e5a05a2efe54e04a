"""Planners cannot bend or break an evaluation: they get copies, and their bad answers cost only their queries."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import mazebench.scoring
from agents import make_agent
from mazebench.cli import cli
from mazebench.datasets import load_dataset
from mazebench.env import MazeEnv, run_path_in_env
from mazebench.evaluation import evaluate
from mazebench.maze import load_maze
from mazebench.report import ReportSpec, build_report
from mazebench.scoring import path_cap, score_path
from tests.adversarial_planners import GARBAGE, DatasetEditor, Honest, straight_line

ADVERSARIAL = "tests.adversarial_planners:"


def run(name: str, dataset, out, **options) -> dict:
    return evaluate(make_agent(ADVERSARIAL + name, dataset=dataset), dataset, out_dir=out, progress=False, **options)


def samples(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]


def examples(dataset, limit: int | None) -> list:
    return [dataset.val[int(i)] for i in dataset.val.queries()[:limit]]  # the queries an evaluation plans


def test_a_planner_that_erases_the_walls_scores_what_its_lines_deserve_on_the_untouched_maze(tiny_dataset, tmp_path):
    maze_before = tiny_dataset.maze.copy()
    summary = run("WallEraser", tiny_dataset, tmp_path / "r", batch_size=5)
    deserved = [score_path(maze_before, e.subgoals, straight_line(e.subgoals)) for e in examples(tiny_dataset, None)]
    assert 0 < sum(s.success for s in deserved) < len(deserved)  # some straight lines are open, some not
    assert [s["success"] for s in samples(tmp_path / "r")] == [s.success for s in deserved]
    assert summary["success_rate"] == sum(s.success for s in deserved) / len(deserved)
    assert np.array_equal(tiny_dataset.maze, maze_before)
    assert np.array_equal(load_maze(tmp_path / "r" / "maze.txt"), maze_before)


def test_a_planner_that_rewrites_its_subgoals_is_scored_against_the_real_ones(tiny_dataset, tmp_path):
    summary = run("SubgoalRewriter", tiny_dataset, tmp_path / "r", limit=10, batch_size=4)
    assert summary["success_rate"] == 0.0 and summary["failure_kinds"] == {"missed_subgoal": 10}
    stored = [s["subgoals"] for s in samples(tmp_path / "r")]
    assert stored == [e.subgoals.tolist() for e in examples(tiny_dataset, 10)]


def test_a_planner_that_marks_its_maze_plans_as_usual(tiny_dataset, tmp_path):
    assert run("Marker", tiny_dataset, tmp_path / "r", limit=10, batch_size=3)["success_rate"] == 1.0


def test_in_a_report_a_cheat_neither_gains_nor_lifts_an_honest_planner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = ReportSpec(
        ks=(3,),
        agents=(ADVERSARIAL + "WallEraser", ADVERSARIAL + "Honest"),
        limit=8,
        num_pngs=0,
        dataset_options={"maze_size": 15, "maze_seed": 7, "pairs": 60, "paths_per_pair": 2, "val_frac": 0.2},
    )
    cells = build_report(spec, progress=False)["protocols"]["paper"]["cells"]
    eraser, honest = (cells[f"{ADVERSARIAL}{name}-k3"] for name in ("WallEraser", "Honest"))
    assert honest["success_rate"] == 1.0 and eraser["success_rate"] < 0.5
    folders = [f"reports/cpu/eval/tests.adversarial_planners.{name}-k3" for name in ("WallEraser", "Honest")]
    assert [load_maze(tmp_path / folder / "maze.txt").sum() for folder in folders] == [
        load_maze(tmp_path / "data/maze15-s7-k3/maze.txt").sum()
    ] * 2


def test_garbage_answers_and_prints_cost_only_their_queries(tiny_dataset_dir, tmp_path, capfd):
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--agent",
            ADVERSARIAL + "Garbage",
            "--data",
            str(tiny_dataset_dir),
            "--out",
            str(tmp_path / "r"),
            "--limit",
            str(len(GARBAGE)),
            "--batch-size",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    printed = capfd.readouterr()  # the plug-in's process writes to the suite's stderr, never to its stdout
    assert "debug output" not in result.stdout + printed.out and "debug output of a plug-in" in printed.err
    kinds = [s["failure_kind"] for s in samples(tmp_path / "r")]
    assert kinds == [kind for _, kind in GARBAGE.values()]  # query i got the i-th bad answer
    too_long = kinds.index("too_long")
    assert len(samples(tmp_path / "r")[too_long]["path"]) == path_cap(load_maze(tmp_path / "r" / "maze.txt")) + 1
    assert (tmp_path / "r" / "failures.png").is_file()


def test_sys_exit_in_plan_fails_its_batch_only(tiny_dataset, tmp_path):
    summary = run("Exiting", tiny_dataset, tmp_path / "r", limit=6, batch_size=3)
    assert summary["failure_kinds"] == {"planner_error": 3} and summary["success_rate"] == 0.5
    assert samples(tmp_path / "r")[0]["reason"] == "planner raised SystemExit: bye"


def test_a_batch_past_the_time_limit_or_whose_process_dies_fails_alone(tiny_dataset, tmp_path):
    summary = run("Stalling", tiny_dataset, tmp_path / "r", limit=9, batch_size=3, workers=2, batch_timeout=1.5)
    reasons = [s["reason"] for s in samples(tmp_path / "r")]
    assert reasons == (
        ["planner's batch ran longer than the limit of 1.5 s"] * 3
        + ["planner's process died (exit code 3)"] * 3
        + ["ok"] * 3
    )
    assert summary["planner"] == {"name": "stalling"} and summary["failure_kinds"] == {"planner_error": 6}


def test_batches_planned_in_their_own_processes_are_counted(tiny_dataset_dir, tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--agent",
            "bfs",
            "--data",
            str(tiny_dataset_dir),
            "--out",
            str(tmp_path / "r"),
            "--limit",
            "4",
            "--batch-size",
            "2",
            "--num-pngs",
            "0",
            "--batch-timeout",
            "60",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r" / "results.json").read_text())
    assert summary["success_rate"] == 1.0 and summary["planner"]["paths_planned"] == 4


@pytest.mark.parametrize(
    "name, check",
    [
        (
            "BadDescription",
            lambda d: (
                d["loss"] == "nan"
                and d["calls"] == 3
                and d["widths"] == [0, 1]
                and d["me"].startswith("<tests.adversarial_planners.BadDescription")
            ),
        ),
        (
            "RaisingDescription",
            lambda d: (
                d
                == {
                    "name": "raising-description",
                    "describe_error": "planner raised RuntimeError: no description today",
                }
            ),
        ),
        ("StringDescription", lambda d: "describe() returned an object of type str" in d["describe_error"]),
        ("OddCounters", lambda d: (d["paths"], d["calls"], d["loss"], d["mood"]) == (5, 2, "nan", "fine")),
    ],
)
def test_bad_descriptions_and_counters_are_stored_as_json(tiny_dataset, tmp_path, name, check):
    summary = run(name, tiny_dataset, tmp_path / "r", limit=5, batch_size=3)
    assert summary["success_rate"] == 1.0 and check(summary["planner"]), summary["planner"]
    assert json.loads((tmp_path / "r" / "results.json").read_text()) == summary


def test_counters_that_raise_fail_the_batches(tiny_dataset, tmp_path):
    summary = run("RaisingCounters", tiny_dataset, tmp_path / "r", limit=4, batch_size=2)
    assert summary["failure_kinds"] == {"planner_error": 4}
    assert {s["reason"] for s in samples(tmp_path / "r")} == {"planner raised RuntimeError: counters unavailable"}


def test_the_datasets_arrays_are_read_only_and_a_changed_maze_is_refused(tiny_dataset, tmp_path):
    assert not tiny_dataset.maze.flags.writeable and not tiny_dataset.val.cells.flags.writeable
    opened = dataclasses.replace(tiny_dataset, maze=np.zeros_like(tiny_dataset.maze))
    with pytest.raises(ValueError, match="in memory differs from its"):
        run("Honest", opened, tmp_path / "r", limit=2)


def test_the_scorer_reads_no_more_than_the_cap_of_a_path(small_maze):
    cap = path_cap(small_maze)
    assert cap == 4 * small_maze.size

    def endless():
        for i in itertools.count():
            assert i <= cap, "read past the cap"
            yield (1, 1)

    goals = [(1, 1), (1, 3)]
    for path in (endless(), np.ones((2_000_000, 2), dtype=np.int64), [(1, 1)] * (cap + 1)):
        score = score_path(small_maze, goals, path)
        assert score.failure_kind == "too_long" and f"more than {cap} cells" in score.reason
        assert (
            run_path_in_env(small_maze, goals, path if not hasattr(path, "send") else endless()).failure_kind
            == "too_long"
        )
    assert score_path(small_maze, goals, [(1, 1)] * cap).failure_kind != "too_long"


def test_the_env_keeps_its_own_read_only_maze_and_refuses_bool_actions(small_maze):
    env = MazeEnv(maze=small_maze, num_subgoals=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="read-only"):
        env.maze[0, 0] = 0
    for action in (True, np.bool_(False)):
        with pytest.raises(ValueError, match="action must be 0"):
            env.step(action)


@pytest.fixture()
def evidence(tmp_path, monkeypatch):
    """The folder where an adversary leaves evidence of what it managed to do."""
    folder = tmp_path / "evidence"
    folder.mkdir()
    monkeypatch.setenv("MAZEBENCH_ADVERSARY_DIR", str(folder))
    return folder


def test_a_factory_that_edits_its_dataset_is_scored_on_the_real_queries(tiny_dataset_dir, tiny_dataset, tmp_path):
    summary = run("DatasetEditor", tiny_dataset, tmp_path / "r", limit=10)
    assert summary["success_rate"] == 0.0 and summary["failure_kinds"] == {"missed_subgoal": 10}
    assert [s["subgoals"] for s in samples(tmp_path / "r")] == [e.subgoals.tolist() for e in examples(tiny_dataset, 10)]
    in_process = load_dataset(tiny_dataset_dir)  # the same edit made in the suite's own process is refused
    DatasetEditor(in_process)
    with pytest.raises(ValueError, match="differs from its content hash"):
        evaluate(Honest(), in_process, out_dir=tmp_path / "s", progress=False)


def test_a_plugin_that_patches_the_scorer_at_import_patches_only_its_own_process(tiny_dataset, tmp_path):
    for timeout in (None, 30):
        planner = make_agent("tests.adversarial_patch:Patcher")
        summary = evaluate(planner, tiny_dataset, out_dir=tmp_path / f"r{timeout}", limit=5, batch_timeout=timeout)
        assert summary["success_rate"] == 0.0 and summary["failure_kinds"] == {"empty": 5}
    assert "tests.adversarial_patch" not in sys.modules and mazebench.scoring.score_path is score_path


def test_a_result_that_is_no_plain_data_is_never_unpickled(tiny_dataset, tmp_path, evidence):
    summary = run("PickleSender", tiny_dataset, tmp_path / "r", limit=4, batch_size=2)
    assert not (evidence / "unpickled").exists()
    assert summary["failure_kinds"] == {"planner_error": 4}
    reasons = {s["reason"] for s in samples(tmp_path / "r")}
    assert len(reasons) == 1 and reasons.pop().startswith("planner's process answered no JSON")


def test_a_detached_grandchild_ends_with_the_evaluation(tiny_dataset, tmp_path, evidence):
    summary = run("Detacher", tiny_dataset, tmp_path / "r", limit=3)
    grandchild = int((evidence / "grandchild.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(grandchild, 0)  # ended (and reaped) when the evaluation ended
    time.sleep(2.5)  # past the moment it meant to strike
    assert not (evidence / "grandchild-lived").exists()
    assert json.loads((tmp_path / "r" / "results.json").read_text()) == summary


def test_exceptions_that_cannot_be_printed_fail_what_they_were_asked_for(tiny_dataset, tmp_path):
    summary = run("UnprintableErrors", tiny_dataset, tmp_path / "r", limit=2)
    unprintable = "planner raised Unprintable: <its message cannot be printed>"
    assert {s["reason"] for s in samples(tmp_path / "r")} == {unprintable}
    assert summary["planner"]["describe_error"] == unprintable
    assert not (tmp_path / "r" / "generation.png").exists()


@pytest.mark.parametrize(
    "factory, message",
    [
        ("RaisingName", "building the planner failed (planner raised RuntimeError: no name today)"),
        ("exit_zero", "building the planner failed (planner raised SystemExit: 0)"),
        ("hard_exit", "building the planner failed (planner's process died (exit code 0))"),
    ],
)
def test_a_factory_that_exits_or_has_no_readable_name_is_a_one_line_error(tiny_dataset_dir, tmp_path, factory, message):
    arguments = ["evaluate", "--agent", ADVERSARIAL + factory, "--data", str(tiny_dataset_dir), "--out", str(tmp_path)]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert not (tmp_path / "results.json").exists()


def test_a_describe_that_exits_or_a_trace_that_hangs_costs_only_its_own_field(tiny_dataset, tmp_path):
    summary = run("ExitInDescribe", tiny_dataset, tmp_path / "d", limit=2, batch_timeout=5)
    assert summary["success_rate"] == 1.0
    assert summary["planner"]["describe_error"] == "planner's process died (exit code 0)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no lock, no temporary folder left
    started = time.monotonic()
    summary = run("HangingTrace", tiny_dataset, tmp_path / "t", limit=2, batch_timeout=1)
    assert summary["success_rate"] == 1.0 and time.monotonic() - started < 60
    assert not (tmp_path / "t" / "generation.png").exists()


def test_integers_too_long_to_print_cost_only_their_query_and_field(tiny_dataset, tmp_path):
    summary = run("HugeNumbers", tiny_dataset, tmp_path / "r", limit=2)
    assert summary["failure_kinds"] == {"off_grid": 2}
    assert summary["planner"]["big"].startswith("<unprintable int")
    assert samples(tmp_path / "r")[0]["path"] == [[2**63, 0]]


def test_a_plugin_that_cannot_be_pickled_plans_in_worker_processes(tiny_dataset, tmp_path):
    assert run("Unpicklable", tiny_dataset, tmp_path / "r", limit=6, batch_size=2, workers=2)["success_rate"] == 1.0


def test_a_plugin_that_raises_keeps_its_process_and_its_state(tiny_dataset, tmp_path):
    summary = run("RaisingOnce", tiny_dataset, tmp_path / "r", limit=9, batch_size=3)
    assert summary["failure_kinds"] == {"planner_error": 3} and summary["success_rate"] == 2 / 3
    assert summary["planner"] == {"name": "raising-once", "batches": 3}  # one process saw every batch
