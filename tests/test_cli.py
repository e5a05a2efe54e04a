"""The command line: generate, evaluate and render on a small maze; errors are one line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agents.config import AGENT_SETTINGS, PRESETS
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
    assert "fewer pairs" in _one_line_error(
        run("generate", "--maze-size", "15", "--pairs", "9999999", "--quiet", code=1)
    )


def test_usage_errors_exit_2(run):
    assert "Invalid value for '--subgoals'" in run("generate", "--subgoals", "1,x", code=2).output
    assert "Invalid value for '--agent'" in run("evaluate", "--agent", "nope", code=2).output


def test_help_shows_defaults(run):
    out = " ".join(run("generate", "--help").output.split())
    assert "[default: 15000; x>=2]" in out and "[default: 2025]" in out
    assert "[default: reports/<agent>-k<K>]" in " ".join(run("evaluate", "--help").output.split())
    assert "[default: 8; x>=1]" in " ".join(run("render", "--help").output.split())
    train_help = " ".join(run("train", "--help").output.split())
    cpu = AGENT_SETTINGS["cpu"]  # a setting that differs by agent names each agent's value
    assert f"[cpu preset: {PRESETS['cpu'].epochs}; mdm {cpu['mdm']['epochs']}; ar {cpu['ar']['epochs']}]" in train_help
    assert "None" not in train_help.replace("[cpu preset: None]", "")  # no "x<=None" for an unbounded number


def test_main_prints_one_line_and_exits_1(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--data", "empty"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a mazebench dataset" in err[0]
    assert not (tmp_path / "reports").exists()  # a failed render leaves no output folder behind


def test_os_errors_on_out_are_one_line(run, tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("")
    assert "Not a directory" in _one_line_error(
        run("generate", "--subgoals", "3", *SMALL, "--out", "afile/sub", code=1)
    )
    run("generate", "--subgoals", "3", *SMALL)
    data = str(tmp_path / "data" / "maze15-s7-k3")
    assert "afile" in _one_line_error(run("evaluate", "--data", data, "--out", "afile/report", code=1))

    def read_only(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", "ro")

    monkeypatch.setattr("tempfile.mkdtemp", read_only)
    assert (
        _one_line_error(run("evaluate", "--data", data, "--out", "ro/report", code=1)) == "Error: ro: Permission denied"
    )


def test_a_damaged_dataset_or_report_folder_is_one_line(run, tmp_path):
    run("generate", "--subgoals", "3", *SMALL)
    run("evaluate", "--data", "data/maze15-s7-k3", "--out", "report", "--limit", "2", "--num-pngs", "0")
    (tmp_path / "report" / "maze.txt").unlink()
    (tmp_path / "report" / "maze.txt").mkdir()
    assert "maze.txt" in _one_line_error(run("render", "--data", "report", code=1))
    (tmp_path / "data" / "maze15-s7-k3" / "maze.txt").unlink()
    (tmp_path / "data" / "maze15-s7-k3" / "maze.txt").mkdir()
    assert "corrupt" in _one_line_error(run("evaluate", "--data", "data/maze15-s7-k3", code=1))


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--maze-size", "3"],
        ["generate", "--val-frac", "1.5"],
        ["generate", "--val-frac", "nan"],
        ["generate", "--max-detour-ratio", "inf"],
        ["generate", "--extra-door-frac", "-0.1"],
        ["evaluate", "--temperature", "nan"],
        ["evaluate", "--device", "bogus"],
        ["evaluate", "--device", "cuda:99"],
        ["train", "--agent", "mdm", "--device", "bogus"],
        ["train", "--agent", "mdm", "--lr", "nan"],
        ["train", "--agent", "mdm", "--max-minutes", "inf"],
        ["report", "--sweep-steps", "16,-5"],
        ["report", "--sweep-steps", "0"],
    ],
)
def test_bad_numbers_and_devices_are_usage_errors_before_any_work(run, tmp_path, args):
    assert "Invalid value" in run(*args, code=2).output
    assert list(tmp_path.iterdir()) == []


def test_training_settings_are_checked_before_data_is_generated(run, tmp_path):
    assert "epochs" in _one_line_error(run("train", "--agent", "mdm", "--subgoals", "3", "--epochs", "0", code=1))
    assert list(tmp_path.iterdir()) == []


def test_evaluate_refuses_a_checkpoint_of_another_agent(run, tmp_path, tiny_dataset_dir, monkeypatch):
    from agents.learned import LearnedPlanner

    class MDMRun:
        name = "mdm"

    monkeypatch.setattr(LearnedPlanner, "from_checkpoint", classmethod(lambda cls, path, **options: MDMRun()))
    (tmp_path / "mdm-run").mkdir()
    error = _one_line_error(
        run("evaluate", "--agent", "flexmdm", "--checkpoint", "mdm-run", "--data", str(tiny_dataset_dir), code=1)
    )
    assert "is a mdm run, not flexmdm" in error and "--agent mdm" in error
    assert not (tmp_path / "reports").exists()


def test_generate_shows_progress_of_the_distance_phase(run):
    out = run("generate", "--subgoals", "3", *[arg for arg in SMALL if arg != "--quiet"]).output
    assert "distances between" in out and "paths for 60 pairs" in out


def test_the_protocol_choice_names_every_protocol():
    from agents.learned import PROTOCOLS
    from mazebench.cli import PROTOCOL_CHOICE

    assert sorted(PROTOCOL_CHOICE.choices) == sorted(PROTOCOLS)
