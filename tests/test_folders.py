"""One writer per folder, and report commands that write only into their own folders."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from mazebench.cli import cli
from mazebench.folders import FolderBusyError, check_own_folder, folder_lock, mark_own_folder

REPORT_KEYS = ("spec", "protocols", "leaderboard")


def test_a_second_writer_is_refused_with_the_holders_pid_and_command(tmp_path):
    folder = tmp_path / "run"
    with folder_lock(folder):
        lock = tmp_path / ".run.lock"
        assert lock.read_text().startswith(f"pid {os.getpid()} (")
        with pytest.raises(FolderBusyError, match=rf"{folder} is being written by pid {os.getpid()} \(.+\); wait"):
            with folder_lock(folder):
                pass
    assert not lock.exists()  # released and removed
    with folder_lock(folder):  # free again
        pass


@pytest.mark.parametrize(
    "command, target",
    [
        (["generate", "--subgoals", "4", "--pairs", "20", "--maze-size", "9", "--quiet"], "maze9-s2025-k4"),
        (["train", "--agent", "mdm", "--preset", "tiny", "--quiet"], "run"),
        (["evaluate", "--agent", "bfs", "--limit", "2", "--quiet"], "report"),
        (["report", "--agents", "bfs", "--subgoals", "4", "--quiet"], "report"),
        (["ablation", "--subgoals", "4", "--quiet"], "report"),
    ],
)
def test_every_writing_command_refuses_a_folder_another_process_writes(
    tiny_dataset_dir, tmp_path, monkeypatch, command, target
):
    monkeypatch.chdir(tmp_path)
    data = [] if command[0] in ("generate", "report", "ablation") else ["--data", str(tiny_dataset_dir)]
    with folder_lock(tmp_path / target):
        result = CliRunner().invoke(
            cli, [*command, *data, "--out", str(tmp_path if command[0] == "generate" else tmp_path / target)]
        )
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and result.output.startswith(
        f"Error: {tmp_path / target} is being written by pid {os.getpid()}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, the lock file gone


@pytest.mark.parametrize("command", [["report", "--agents", "bfs", "--subgoals", "4"], ["ablation", "--subgoals", "4"]])
def test_report_and_ablation_refuse_a_folder_that_is_not_theirs(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("someone's notes")
    (tmp_path / "results.json").write_text('{"mine": 1}')
    result = CliRunner().invoke(cli, [*command, "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "(its results.json is not one): refusing to write into it; choose another --out" in result.output
    assert (tmp_path / "README.md").read_text() == "someone's notes" and sorted(os.listdir(tmp_path)) == [
        "README.md",
        "results.json",
    ]  # refused before any work: no data/ either


def test_a_report_folder_of_its_own_kind_is_taken(tmp_path):
    check_own_folder(tmp_path / "missing", "a report", REPORT_KEYS, ("eval",))
    (tmp_path / "eval").mkdir()  # a report cut short before its page
    (tmp_path / "figure.png").write_bytes(b"")
    check_own_folder(tmp_path, "a report", REPORT_KEYS, ("eval", "results.json"))
    (tmp_path / "results.json").write_text(json.dumps(dict.fromkeys(REPORT_KEYS)))  # a finished report
    check_own_folder(tmp_path, "a report", REPORT_KEYS, ("eval", "results.json"))
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match="is not a report .it holds notes.txt"):  # the keys alone are not enough
        check_own_folder(tmp_path, "a report", REPORT_KEYS, ("eval", "results.json"))
    mark_own_folder(tmp_path, "a report")  # a folder the suite marked is its own, whatever else it holds
    check_own_folder(tmp_path, "a report", REPORT_KEYS, ("eval", "results.json"))
    with pytest.raises(ValueError, match="is a report, not a steps page"):
        check_own_folder(tmp_path, "a steps page", ("spec",), ("eval", "results.json"))


def test_a_results_json_without_the_keys_makes_no_folder_the_suites(tmp_path):
    (tmp_path / "results.json").write_text('{"mine": 1}')
    with pytest.raises(ValueError, match="its results.json is not one"):
        check_own_folder(tmp_path, "a report", REPORT_KEYS, ("results.json",))


def test_evaluate_keeps_a_folder_with_the_keys_and_files_of_its_own(tiny_dataset_dir, tmp_path):
    """A user's folder whose results.json happens to have an evaluation's keys is not replaced (its files
    deleted); an evaluation's own folder is."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(dict.fromkeys(("n", "success_rate", "planner", "dataset"))))
    (folder / "thesis.tex").write_text("two years of work")
    args = ["evaluate", "--data", str(tiny_dataset_dir), "--limit", "2", "--num-pngs", "0", "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--out", str(folder)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: {folder} exists and is not an evaluation report (it holds thesis.tex)")
    assert (folder / "thesis.tex").read_text() == "two years of work"
    (folder / "thesis.tex").unlink()
    for _ in range(2):  # an evaluation's folder is its own, the second time too
        result = CliRunner().invoke(cli, [*args, "--out", str(folder)])
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", [["report", "--agents", "bfs", "--subgoals", "4"], ["evaluate", "--agent", "bfs"]])
def test_a_dangling_symlink_out_is_refused_before_anything_is_created(tiny_dataset_dir, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").symlink_to(tmp_path / "missing" / "deeper" / "report")
    data = ["--data", str(tiny_dataset_dir)] if command[0] == "evaluate" else []
    result = CliRunner().invoke(cli, [*command, *data, "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "is a symbolic link to" in result.output and "which does not exist" in result.output
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no missing/deeper made


def test_a_killed_writers_temporary_folders_are_removed_by_the_next_writer(tiny_dataset, tmp_path):
    from agents.bfs import BFSPlanner
    from mazebench.evaluation import evaluate

    leftover = tmp_path / ".report.tmp-k1ll3d"
    leftover.mkdir()
    (leftover / "samples.jsonl").write_text("half")
    evaluate(BFSPlanner(), tiny_dataset, out_dir=tmp_path / "report", limit=2, num_pngs=0, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["report"]


def test_a_symlinked_dataset_is_read_and_a_symlinked_report_folder_refused_up_front(tiny_dataset_dir, tmp_path):
    (tmp_path / "data").symlink_to(tiny_dataset_dir)
    (tmp_path / "real").mkdir()
    (tmp_path / "report").symlink_to(tmp_path / "real")
    result = CliRunner().invoke(
        cli, ["evaluate", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "report"), "--quiet"]
    )
    assert result.exit_code == 1 and result.output == (
        f"Error: {tmp_path / 'report'} is a symbolic link; give the folder it points to ({tmp_path / 'real'}) instead\n"
    )
    result = CliRunner().invoke(
        cli, ["evaluate", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "real"), "--limit", "2", "--quiet"]
    )
    assert result.exit_code == 0 and (tmp_path / "report" / "results.json").is_file()
