"""The command line: generate, evaluate and render on a small maze; errors are one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mazebench.cli import cli, main
from mazebench.maze import make_maze, save_maze

SMALL = ["--maze-size", "15", "--maze-seed", "7", "--pairs", "60", "--paths-per-pair", "3", "--quiet"]


@pytest.fixture()
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args, code=0):
        result = runner.invoke(cli, list(args))
        assert result.exit_code == code, result.output
        return result

    return invoke


def _one_line_error(result):
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_generate_evaluate_render(run, tmp_path):
    out = run("generate", "--subgoals", "2,5", *SMALL).output
    assert "K=2" in out and "K=5" in out
    data = tmp_path / "data" / "maze15-s7-k5"
    assert (tmp_path / "data" / "maze15-s7-k2" / "meta.json").is_file()
    assert "up to date" in run("generate", "--subgoals", "5", *SMALL).output

    out = run("evaluate", "--agent", "bfs", "--data", str(data)).output
    assert "100.0%" in out
    results = json.loads((tmp_path / "reports" / "bfs-k5" / "results.json").read_text())
    assert results["success_rate"] == 1.0 and results["n"] > 0

    run("render", "--data", str(data), "--out", "pngs", "--count", "2")
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == ["val-00000.png", "val-00001.png"]
    run("render", "--data", "reports/bfs-k5", "--count", "3")
    assert len(list((tmp_path / "reports" / "render-bfs-k5").glob("sample-*-ok.png"))) == 3


def test_a_maze_file_names_the_dataset_folder(run, tmp_path):
    save_maze(make_maze(11, 11, seed=1), tmp_path / "mine.txt")
    run("generate", "--maze-file", "mine.txt", "--subgoals", "3", "--pairs", "20", "--quiet")
    meta = json.loads((tmp_path / "data" / "mine-k3" / "meta.json").read_text())
    assert meta["config"]["maze_shape"] == [11, 11] and meta["config"]["maze_size"] is None


def test_library_errors_are_one_line_with_exit_code_1(run, tmp_path):
    assert "mazebench generate" in _one_line_error(run("evaluate", "--data", "missing", code=1))
    run("generate", "--subgoals", "3", *SMALL)
    assert "--force" in _one_line_error(run("generate", "--subgoals", "3", "--seed", "5", *SMALL, code=1))
    data = str(tmp_path / "data" / "maze15-s7-k3")
    assert "K=3" in _one_line_error(run("evaluate", "--data", data, "--subgoals", "4", code=1))
    assert "fewer pairs" in _one_line_error(run("generate", "--maze-size", "15", "--pairs", "9999999", "--quiet", code=1))


def test_usage_errors_exit_2(run):
    assert "Invalid value for '--subgoals'" in run("generate", "--subgoals", "1,x", code=2).output
    assert "Invalid value for '--agent'" in run("evaluate", "--agent", "nope", code=2).output


def test_help_shows_defaults(run):
    out = " ".join(run("generate", "--help").output.split())
    assert "[default: 15000; x>=2]" in out and "[default: 2025]" in out
    assert "[default: reports/<agent>-k<K>]" in " ".join(run("evaluate", "--help").output.split())
    assert "[default: 8; x>=1]" in " ".join(run("render", "--help").output.split())


def test_main_prints_one_line_and_exits_1(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--data", "empty"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a mazebench dataset" in err[0]
    assert not (tmp_path / "reports").exists()  # a failed render leaves no output folder behind
