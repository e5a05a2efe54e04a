"""Plug-in planners: by import path and by entry point, through the registry and the command line."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from click.testing import CliRunner

from agents import ENTRY_POINT_GROUP, make_agent
from mazebench.cli import cli

PLUGIN = '''
from mazebench.planner import Planner
from agents.bfs import BFSPlanner


class Oracle(Planner):
    """The BFS oracle in a package of its own; it records the options it was built with."""

    name = "outside-oracle"

    def __init__(self, dataset=None, steps=None):
        self.options = {"dataset": dataset, "steps": steps}

    def plan(self, maze, subgoal_batch, seed=0):
        return BFSPlanner().plan(maze, subgoal_batch, seed)

    def describe(self):
        dataset = self.options["dataset"]
        return {"agent": self.name, "steps": self.options["steps"], "data": dataset and dataset.meta["dataset_id"]}


def make_oracle(**options):
    return Oracle(dataset=options["dataset"], steps=options["steps"])


def make_nothing(**options):
    return "not a planner"


class NotAPlanner:
    pass


class Unfinished(Planner):  # plan and describe are missing
    name = "unfinished"


class Nameless(Oracle):
    name = None


ready = Oracle(steps=1)
NUMBER = 42
'''


@pytest.fixture()
def plugin_module(tmp_path, monkeypatch):
    """A module ``my_planners`` outside the suite, importable from a temporary folder."""
    (tmp_path / "my_planners.py").write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "broken_planners.py").write_text("import not_a_real_package_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_planners"
    for name in ("my_planners", "broken_planners"):
        sys.modules.pop(name, None)


def register(folder, **entry_points: str) -> None:
    """Install (in ``folder``, on the search path) a distribution that registers ``entry_points``, name=value, under
    the suite's group, as ``pip install`` of a plug-in package would: seen by every process, the plug-in's own."""
    info = folder / "their_planners-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: their-planners\nVersion: 0.1\n")
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{name} = {value}" for name, value in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def evaluate_cli(agent: str, data, out, *extra) -> dict:
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--agent",
            agent,
            "--data",
            str(data),
            "--out",
            str(out),
            "--limit",
            "5",
            "--num-pngs",
            "1",
            "--quiet",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


def test_a_planner_class_by_import_path_through_the_cli(plugin_module, tiny_dataset_dir, tmp_path):
    summary = evaluate_cli("my_planners:Oracle", tiny_dataset_dir, tmp_path / "report", "--steps", "7")
    assert summary["n"] == 5 and summary["success_rate"] == 1.0
    wanted = {"agent": "outside-oracle", "steps": 7, "data": summary["dataset"]["dataset_id"]}
    assert summary["planner"] == wanted  # built with the options it accepts
    assert (tmp_path / "report" / "successes.png").is_file()


def test_a_factory_by_import_path(plugin_module, tiny_dataset):
    planner = make_agent("my_planners:make_oracle", dataset=tiny_dataset, steps=3)
    described = {"agent": "outside-oracle", "steps": 3, "data": tiny_dataset.meta["dataset_id"]}
    assert planner.name == "outside-oracle" and planner.describe() == described  # its process loaded the dataset
    assert make_agent("my_planners:ready").describe()["steps"] == 1  # a planner object is taken as it is


def test_a_planner_registered_under_the_entry_point_group(plugin_module, tiny_dataset_dir, tmp_path):
    register(tmp_path, **{"their-oracle": "my_planners:make_oracle"})
    summary = evaluate_cli("their-oracle", tiny_dataset_dir, tmp_path / "report")
    assert summary["planner"]["agent"] == "outside-oracle" and summary["success_rate"] == 1.0
    with pytest.raises(ValueError, match="known agents: bfs, flexmdm, mdm, ar, their-oracle"):
        make_agent("astar")


@pytest.mark.parametrize(
    "agent, message",
    [
        (
            "broken_planners:Oracle",
            "agent 'broken_planners:Oracle': module 'broken_planners' does not import "
            "(ModuleNotFoundError: No module named 'not_a_real_package_xyz')",
        ),
        ("no_such_module_xyz:Oracle", "module 'no_such_module_xyz' does not import"),
        ("my_planners:Missing", "module 'my_planners' has no attribute 'Missing'"),
        ("my_planners:NotAPlanner", "class NotAPlanner is not a subclass of mazebench.Planner"),
        ("my_planners:NUMBER", "is an object of type int, not a Planner subclass, a factory of planners or a Planner"),
        ("my_planners:make_nothing", "the factory returned an object of type str, not an mazebench.Planner"),
        (
            "my_planners:Unfinished",
            "building the planner failed (TypeError: Can't instantiate abstract class Unfinished",
        ),
        ("my_planners:Nameless", "the planner has no name"),
    ],
)
def test_bad_plugins_are_one_line_errors(plugin_module, tiny_dataset_dir, agent, message):
    result = CliRunner().invoke(cli, ["evaluate", "--agent", agent, "--data", str(tiny_dataset_dir)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert message in result.output


def test_an_unknown_agent_name_is_a_usage_error(tiny_dataset_dir):
    result = CliRunner().invoke(cli, ["evaluate", "--agent", "astar", "--data", str(tiny_dataset_dir)])
    assert result.exit_code == 2 and "unknown agent 'astar'; known agents: bfs, flexmdm, mdm, ar" in result.output


def test_an_entry_point_that_does_not_load_is_a_one_line_error(plugin_module, tmp_path):
    register(tmp_path, theirs="broken_planners:Oracle")
    with pytest.raises(
        ValueError,
        match=r"agent 'theirs': its entry point 'broken_planners:Oracle' does not load "
        r"\(ModuleNotFoundError",
    ):
        make_agent("theirs")
