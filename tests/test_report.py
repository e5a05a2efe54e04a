"""The report writer on the tiny preset: both protocols, the leaderboard of every planner, learning curves,
equal-budget views, reuse of what exists; the learning-curve reader."""

import json
import re
import shlex
import sys
import textwrap

import numpy as np
import pytest

from agents.compute import training_flops
from mazebench.report import ReportSpec, build_report
from mazebench.report.curves import at_equal_budget, curve_summary, read_curve
from mazebench.report.page import verdict
from mazebench.report.tables import differing_settings, shared_budget

SMALL = {"maze_size": 15, "maze_seed": 7, "pairs": 60, "paths_per_pair": 3, "val_frac": 0.2}
FAST = {
    "epochs": 0.3,
    "batch_size": 16,
    "d_model": 32,
    "n_heads": 2,
    "n_layers": 1,
    "cond_dim": 32,
    "eval_every_minutes": 1e-6,
    "eval_examples": 4,
    "eval_steps": 4,
}  # a held-out check after every step


def _cells(rates: dict) -> dict:
    return {f"{agent}-k{k}": {"success_rate": rate} for agent, by_k in rates.items() for k, rate in by_k.items()}


def test_verdict_states_the_gaps_the_target_the_trend_and_the_lead_at_each_budget():
    checks = {
        "equal epochs (held-out checks during training)": {
            2: {"flexmdm": 0.2, "mdm": 0.3},
            12: {"flexmdm": 0.4, "mdm": None},
        }
    }
    short = verdict(_cells({"flexmdm": {2: 0.95, 12: 0.5}, "mdm": {2: 0.1, 12: 0.3}}), (2, 12), checks=checks)
    assert "- flexmdm: K = 2: 95.0% against 92.3% (+2.7 points); K = 12: 50.0% against 90.0% (-40.0 points)." in short
    assert "- FlexMDM at or above 90 % at every K: **not met** (below at K = 12)." in short
    assert any("10.0% / 30.0% here, it does not decline" in line for line in short)
    assert (
        "- FlexMDM minus MDM in the final cells (equal minutes), in points: K = 2: +85.0; K = 12: +20.0 "
        "(paper: K = 2: +23.9; K = 12: +65.8): FlexMDM's lead reproduces at every K."
    ) in short
    assert (
        "- FlexMDM minus MDM at equal epochs (held-out checks during training), in points: K = 2: -10.0 "
        "(paper: K = 2: +23.9): FlexMDM's lead does **not** reproduce at any K."
    ) in short
    met = verdict(_cells({"flexmdm": {2: 0.7, 7: 0.91}, "mdm": {2: 0.6, 7: 0.95}}), (2, 7), budget="equal epochs")
    assert "- FlexMDM at or above 90 % at every K: **not met** (below at K = 2)." in met
    assert any("it does not decline from K = 2 to K = 7" in line for line in met)
    assert any(
        line.startswith("- FlexMDM minus MDM in the final cells (equal epochs)")
        and line.endswith("reproduces at K = 2, **not** at K = 7.")
        for line in met
    )
    declines = verdict(_cells({"flexmdm": {7: 0.91}, "mdm": {2: 0.6, 7: 0.2}}), (2, 7))
    assert "- FlexMDM at or above 90 % at every K: met." in declines
    assert any("it declines from K = 2 to K = 7" in line for line in declines)


def _write_metrics(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def test_curves_keep_the_last_line_of_a_step_and_say_whether_they_flattened(tmp_path):
    def record(step, val=None, loss=1.0):
        line = {"step": step, "epoch": step / 10, "loss": loss, "elapsed_s": 6.0 * step}
        return line if val is None else {**line, "val_success": val}

    # logged every 2 steps; a resumed run logged steps 6 and 8 again, the second time with other checks
    _write_metrics(
        tmp_path / "rising.jsonl",
        [
            record(2, 0.1),
            record(4),
            record(6, 0.2),
            record(8, 0.9),
            record(6, 0.3),
            record(8, 0.4),
            record(10),
            record(12, 0.5),
        ],
    )
    rising = read_curve(tmp_path / "rising.jsonl")
    assert rising.epoch == [0.2, 0.4, 0.6, 0.8, 1.0, 1.2] and rising.minutes[-1] == pytest.approx(1.2)
    assert [check["success"] for check in rising.checks] == [0.1, 0.3, 0.4, 0.5]
    summary = curve_summary(rising)  # 75 % of 1.2 epochs = 0.9: the last check before it is 0.4 (epoch 0.8)
    assert summary["stopped"] == {"epoch": 1.2, "minutes": pytest.approx(1.2)}
    assert summary["last_quarter_gain"] == pytest.approx(0.1) and summary["flattened"] is False

    _write_metrics(tmp_path / "flat.jsonl", [record(2, 0.1), record(6, 0.3), record(8, 0.31), record(12, 0.315)])
    assert curve_summary(read_curve(tmp_path / "flat.jsonl"))["flattened"] is True
    _write_metrics(
        tmp_path / "early.jsonl", [record(2, 0.1), record(4, 0.3), record(12)]
    )  # no check in the last quarter
    assert curve_summary(read_curve(tmp_path / "early.jsonl"))["flattened"] is None

    view = at_equal_budget({"fast": rising, "slow": read_curve(tmp_path / "early.jsonl")}, "epoch")
    assert view["budget"] == pytest.approx(1.2)
    assert view["planners"]["fast"]["success"] == 0.5 and view["planners"]["slow"]["success"] == 0.3
    (tmp_path / "bad.jsonl").write_text('{"step": 1}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl line 2"):
        read_curve(tmp_path / "bad.jsonl")


def test_an_epoch_budget_drops_the_time_cap_and_names_its_own_folders():
    from agents.config import preset_config

    spec = ReportSpec(preset="cpu", epochs=3)
    cfg = spec.train_config("mdm")
    assert cfg.epochs == 3 and cfg.max_minutes is None
    assert str(spec.folder) == "reports/cpu-3ep" and str(spec.run_dir("mdm", 7)) == "runs/cpu-3ep/mdm-k7"
    assert ReportSpec().train_config("mdm") == preset_config("cpu", "mdm", eval_every_minutes=2.0)
    assert str(ReportSpec().folder) == "reports/cpu"
    with pytest.raises(ValueError, match="unknown evaluation protocol 'fast'"):
        ReportSpec(protocols=("paper", "fast"))
    capped = ReportSpec(preset="gpu", max_minutes=5)
    assert capped.train_config("flexmdm").max_minutes == 5 and capped.train_config("flexmdm").epochs == 40
    assert str(capped.folder) == "reports/gpu-5min" and str(capped.run_dir("ar", 2)) == "runs/gpu-5min/ar-k2"
    both = ReportSpec(preset="cpu", epochs=2, max_minutes=1.5).train_config("mdm")
    assert (both.epochs, both.max_minutes) == (2, 1.5)
    with pytest.raises(ValueError, match="max_minutes must be positive"):
        ReportSpec(max_minutes=0)


def test_report_on_the_tiny_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = ReportSpec(
        ks=(2, 3),
        preset="tiny",
        steps=8,
        sweep_steps=(4, 8),
        sweep_limit=4,
        limit=5,
        num_pngs=0,
        dataset_options=SMALL,
        train_options=FAST,
    )  # no galleries: drawing them is most of the time
    results = build_report(spec, progress=False)
    learned = {f"{a}-k{k}" for a in ("mdm", "flexmdm") for k in (2, 3)}
    assert set(results["protocols"]) == {"paper", "suite"}
    paper, suite = results["protocols"]["paper"], results["protocols"]["suite"]
    assert set(paper["cells"]) == set(suite["cells"]) == learned
    assert set(results["oracle"]) == {"bfs-k2", "bfs-k3"} and results["oracle"]["bfs-k3"]["success_rate"] == 1.0
    assert all(cell["n"] == 5 for data in (paper, suite) for cell in data["cells"].values())
    stored = paper["cells"]["flexmdm-k3"]["sampler"]  # what the planner really sampled with
    assert (stored["mode"], stored["count_law"], stored["time_grid"], stored["temperature"], stored["steps"]) == (
        "vanilla",
        "poisson",
        "uniform",
        1.0,
        8,
    )
    assert paper["cells"]["mdm-k2"]["sampler"] == stored
    assert (suite["cells"]["mdm-k2"]["sampler"]["mode"], suite["cells"]["mdm-k2"]["sampler"]["temperature"]) == (
        "adaptive",
        0.0,
    )
    assert set(paper["sweep"]["flexmdm"]) == {"4", "8"} and suite["sweep"]["mdm"]["8"]["n"] == 4
    assert paper["sweep"]["mdm"]["4"]["sampler"]["steps"] == 4
    assert results["training"]["mdm-k2"]["train_config"]["d_model"] == 32
    assert results["shared_budget"] == "epoch"  # the tiny preset has no time cap: every run stopped by epochs
    summary = json.loads((tmp_path / "runs" / "tiny" / "mdm-k2" / "summary.json").read_text())
    assert results["training"]["mdm-k2"]["train_flops"] == pytest.approx(training_flops(summary))
    assert training_flops(summary) > 0
    assert paper["cells"]["flexmdm-k3"]["network_calls_per_path"] == 8 and "generative" not in paper["cells"]["mdm-k2"]

    curve = results["curves"]["flexmdm-k3"]
    assert len(curve["checks"]) >= 2 and curve["flattened"] in (True, False)
    assert curve["stopped"]["epoch"] == pytest.approx(results["training"]["flexmdm-k3"]["epochs_done"])
    view = results["equal_budget"]["3"]["epoch"]
    assert view["budget"] == pytest.approx(
        min(results["curves"][f"{a}-k3"]["stopped"]["epoch"] for a in ("mdm", "flexmdm"))
    )
    assert set(view["planners"]) == {"mdm", "flexmdm"}

    folder = tmp_path / "reports" / "tiny"
    for figure in (
        "success_vs_steps.png",
        "length_fidelity.png",
        "learning_curves_k2.png",
        "learning_curves_k3.png",
        "success_vs_compute_k2.png",
        "success_vs_compute_k3.png",
    ):
        assert (folder / figure).stat().st_size > 5_000
    assert not list((folder / "eval").rglob("*.png")) and not list((folder / "sweep").rglob("*.png"))
    readme = (folder / "README.md").read_text()
    assert "## Table 1 under the paper's protocol" in readme and "## Table 1 under the suite's protocol" in readme
    assert "| FlexMDM (paper, Table 1) | 92.3% | - |" in readme and "| BFS oracle | 100% | 100% |" in readme
    assert "mode vanilla" in readme and "count_law poisson" in readme and "time_grid uniform" in readme
    assert (
        "## Equal epochs and equal minutes" in readme and "![learning curves K = 3](learning_curves_k3.png)" in readme
    )
    assert (
        "at equal minutes (held-out checks during training)" in readme and "in the final cells (equal epochs)" in readme
    )
    assert "| flexmdm | 3 | 5 |" in readme and "FlexMDM at or above 90 % at every K" in readme
    assert "one of the pair's paths drawn at random" in readme  # the queries the page used
    lead = results["claims"]["paper"]["flexmdm_beats_mdm"]["by_k"]["3"]
    assert lead["n"] == 5 and lead["only_first"] + lead["only_second"] <= 5 and 0 <= lead["p_value"] <= 1
    assert "## The paper's claims under the paper's protocol" in readme and "(a) FlexMDM beats MDM at every K" in readme
    assert "## The task's scale" in readme and results["task"]["track"]["3"]["maze"] == "15x15"
    assert (
        "## Success against compute" in readme
        and "![success against compute, K = 3](success_vs_compute_k3.png)" in readme
    )
    assert "## Many plans per query" not in readme  # one plan per query unless asked
    assert "paper_task" not in results["task"]  # the tiny preset is no named track
    assert json.loads((folder / "results.json").read_text()) == results

    run_summary = tmp_path / "runs" / "tiny" / "flexmdm-k3" / "summary.json"
    trained_at = run_summary.stat().st_mtime_ns
    evaluated_at = (folder / "eval" / "paper" / "mdm-k2" / "results.json").stat().st_mtime_ns
    again = build_report(spec, progress=False)
    assert again["protocols"] == results["protocols"] and again["curves"] == results["curves"]
    assert run_summary.stat().st_mtime_ns == trained_at  # nothing retrained
    assert (
        folder / "eval" / "paper" / "mdm-k2" / "results.json"
    ).stat().st_mtime_ns == evaluated_at  # nor re-evaluated
    other = ReportSpec(
        ks=(2, 3),
        preset="tiny",
        steps=8,
        sweep_steps=(4, 8),
        sweep_limit=4,
        limit=5,
        num_pngs=0,
        dataset_options=SMALL,
        train_options={**FAST, "lr": 0.5},
    )
    with pytest.raises(ValueError, match=r"trained with other settings than this report's \(lr: .* vs 0.5\)"):
        build_report(other, progress=False)  # a finished run of other settings is never mixed into a report


HALF_PLUGIN = '''
from mazebench.planner import Planner
from agents.bfs import BFSPlanner


class Half(Planner):
    """BFS paths for the queries at even positions of a batch, a jump from g1 to gK for the others."""

    name = "half-bfs"

    def __init__(self, checkpoint="never given"):
        self.checkpoint = checkpoint

    def plan(self, maze, subgoal_batch, seed=0):
        paths = BFSPlanner().plan(maze, subgoal_batch, seed)
        return [path if i % 2 == 0 else [tuple(goals[0]), tuple(goals[-1])]
                for i, (path, goals) in enumerate(zip(paths, subgoal_batch))]

    def describe(self):
        return {"agent": self.name, "checkpoint": self.checkpoint}
'''


@pytest.fixture()
def half_plugin(tmp_path, monkeypatch):
    """The import path of the plug-in ``Half``, in a module outside the suite."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "leaderboard_planners.py").write_text(textwrap.dedent(HALF_PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield "leaderboard_planners:Half"
    sys.modules.pop("leaderboard_planners", None)


def test_the_leaderboard_ranks_every_planner_and_evaluates_the_protocol_independent_ones_once(
    tmp_path, monkeypatch, half_plugin
):
    """AR, a plug-in and BFS beside FlexMDM: one sorted table per protocol and K, AR / plug-in / BFS cells evaluated
    once per K (their own folders, the same cell under both protocols), only AR and FlexMDM trained."""
    import mazebench.report.pipeline as report

    monkeypatch.chdir(tmp_path)
    evaluated, real_evaluate = [], report.evaluate

    def counting_evaluate(planner, dataset, *, out_dir, **options):
        evaluated.append((planner.name, dataset.num_subgoals, out_dir.relative_to("reports/tiny").as_posix()))
        return real_evaluate(planner, dataset, out_dir=out_dir, **options)

    monkeypatch.setattr(report, "evaluate", counting_evaluate)
    plugin = half_plugin
    spec = ReportSpec(
        ks=(2, 3),
        agents=("ar", "flexmdm", plugin, "bfs"),
        preset="tiny",
        steps=8,
        sweep_steps=(4,),
        sweep_limit=4,
        limit=5,
        num_pngs=0,
        dataset_options=SMALL,
        train_options=FAST,
        samples_per_query=3,
    )
    results = build_report(spec, progress=False)

    once = [cell for cell in evaluated if not cell[2].startswith(("eval/paper", "eval/suite", "sweep"))]
    assert sorted(once) == sorted(
        (name, k, f"eval/{folder}-k{k}")
        for k in (2, 3)
        for name, folder in (("ar", "ar"), ("half-bfs", "leaderboard_planners.Half"), ("bfs", "bfs"))
    )
    assert sorted(f for name, _, f in evaluated if name == "flexmdm" and f.startswith("eval")) == [
        "eval/paper/flexmdm-k2",
        "eval/paper/flexmdm-k3",
        "eval/suite/flexmdm-k2",
        "eval/suite/flexmdm-k3",
    ]
    assert {name for name, _, f in evaluated if f.startswith("sweep")} == {"flexmdm"}  # AR is not swept
    plugin_run = json.loads((tmp_path / "reports/tiny/eval/leaderboard_planners.Half-k2/results.json").read_text())
    assert plugin_run["planner"] == {"agent": "half-bfs", "checkpoint": None}  # plug-ins are never given a run
    assert (
        set(results["training"]) == set(results["curves"]) == {f"{a}-k{k}" for a in ("ar", "flexmdm") for k in (2, 3)}
    )
    assert set(results["equal_budget"]["3"]["epoch"]["planners"]) == {"ar", "flexmdm"}
    assert results["protocol_independent"] == ["ar", plugin, "bfs"]

    paper, suite = results["protocols"]["paper"]["cells"], results["protocols"]["suite"]["cells"]
    assert set(paper) == set(suite) == {f"{a}-k{k}" for a in ("ar", "flexmdm", plugin) for k in (2, 3)}
    assert paper["ar-k3"] == suite["ar-k3"] and paper["flexmdm-k3"]["sampler"] != suite["flexmdm-k3"]["sampler"]
    for protocol in ("paper", "suite"):
        for k in ("2", "3"):
            rows = results["leaderboard"][protocol][k]
            rates = [row["success_rate"] for row in rows]
            assert sorted(row["agent"] for row in rows) == sorted(["ar", "bfs", "flexmdm", plugin])
            assert rates == sorted(rates, reverse=True) and rates[0] == 1.0
            by_agent = {row["agent"]: row for row in rows}
            assert by_agent[plugin]["success_rate"] == 0.6  # 3 of the 5 examples, planned in one batch
            assert by_agent["bfs"]["success_rate"] == 1.0 and by_agent["bfs"]["planner"] == "BFS oracle"
            cells = results["protocols"][protocol]["cells"]
            assert by_agent["flexmdm"]["success_rate"] == cells[f"flexmdm-k{k}"]["success_rate"]
            for agent in ("ar", "flexmdm"):
                assert by_agent[agent]["epochs"] == results["training"][f"{agent}-k{k}"]["epochs_done"] > 0
            assert {by_agent[a][key] for a in (plugin, "bfs") for key in ("train_minutes", "epochs")} == {None}
            assert [a for a, row in by_agent.items() if row["protocol_independent"]] == [
                a for a in by_agent if a != "flexmdm"
            ]
            assert "vs_above" not in rows[0]
            for above, row in zip(rows, rows[1:]):  # the paired test against the row above, on the same queries
                test = row["vs_above"]
                assert test["planner"] == above["planner"] and test["n"] == row["n"] == above["n"]
                assert test["difference"] == pytest.approx(above["success_rate"] - row["success_rate"])
                assert test["only_first"] - test["only_second"] == round(test["difference"] * row["n"])
                assert test["significant"] == (test["p_value"] < 0.05)

            def own(rows):  # a protocol-independent row's own numbers (its neighbour above may differ)
                return [
                    {key: v for key, v in row.items() if key != "vs_above"}
                    for row in rows
                    if row["protocol_independent"]
                ]

            assert own(rows) == own(results["leaderboard"]["suite"][k])

    generative = {  # three plans per query for the trained planners under the paper's protocol, one elsewhere
        (protocol, name)
        for protocol, data in results["protocols"].items()
        for name, cell in data["cells"].items()
        if "generative" in cell
    }
    assert generative == {(protocol, f"ar-k{k}") for protocol in ("paper", "suite") for k in (2, 3)} | {
        ("paper", f"flexmdm-k{k}") for k in (2, 3)
    }
    for name, folder in (("ar-k2", "eval/ar-k2"), ("flexmdm-k3", "eval/paper/flexmdm-k3")):
        cell = paper[name]
        assert cell["generative"]["samples_per_query"] == 3 and set(cell["generative"]["pass_at"]) == {"1", "2", "3"}
        lines = (tmp_path / "reports" / "tiny" / folder / "samples.jsonl").read_text().splitlines()
        draws = [[s["success"]] + [m["success"] for m in s["more_samples"]] for s in map(json.loads, lines)]
        assert all(len(d) == 3 for d in draws) and cell["success_rate"] == pytest.approx(np.mean([d[0] for d in draws]))
        assert cell["generative"]["pass_at"]["1"] == pytest.approx(np.mean(draws))  # every plan's success
    assert paper["flexmdm-k3"]["network_calls_per_path"] == 8  # the paper protocol's FlexMDM: one call per step

    readme = (tmp_path / "reports" / "tiny" / "README.md").read_text()
    plans = readme[readme.index("## Many plans per query") :]
    plans = plans[: plans.index("\n## ")]
    assert (
        "3 plans per query" in plans
        and "| planner | K | pass@1 | pass@2 | pass@3 | distinct | coverage | NFE |" in plans
    )
    assert len(re.findall(r"^\| (AR|FlexMDM) \| [23] \| \d+\.\d% \|", plans, re.MULTILINE)) == 4
    assert re.search(r"mazebench report .*--protocols paper,suite .*--samples-per-query 3 ", readme)
    assert re.search(
        r"evaluate --agent flexmdm .*--mode vanilla.* --samples-per-query 3 --out reports/flexmdm-kK-paper", readme
    )
    assert (
        "--samples-per-query" not in re.search(r"evaluate --agent flexmdm .* --out reports/flexmdm-kK-suite", readme)[0]
    )
    board = readme[readme.index("## Leaderboard") : readme.index("## Against the paper")]
    first = board[board.index("K = 2:") : board.index("K = 3:")]
    listed = re.findall(r"^\| (.+?) \| \d+\.\d% \[", first, re.MULTILINE)
    assert listed == [
        row["planner"] + (" (*protocol-independent*)" if row["protocol_independent"] else "")
        for row in results["leaderboard"]["paper"]["2"]
    ]
    assert re.search(r"\| leaderboard_planners:Half \(\*protocol-independent\*\) \| 60\.0% \[.*\| - \| - \|\n", first)
    assert re.search(r"\| BFS oracle \(\*protocol-independent\*\) \| 100\.0% \[.*\| - \| - \|\n", first)
    assert re.search(r"\| AR \(\*protocol-independent\*\) \| .*\| \d+\.\d \| \d+\.\d\d \|\n", first)
    assert re.search(r"\| FlexMDM \| .*\| \d+\.\d \| \d+\.\d\d \|\n", first)
    assert board.count("### Under") == 2 and board.count("| AR (*protocol-independent*) |") == 4
    assert "| FlexMDM (here) |" in readme and "| BFS oracle | 100% | 100% |" in readme  # Table 1 as it was
    assert (
        "| ar (*protocol-independent*) | 2 | 5 |" in readme and "AR's checks decode at the paper protocol's" in readme
    )
    assert "mazebench generate --subgoals 2,3 --maze-size 15 --maze-seed 7 --pairs 60" in readme  # the page's own data
    assert (
        "mazebench evaluate --agent leaderboard_planners:Half --data data/maze15-s7-kK --steps 8 "
        "--out reports/leaderboard_planners.Half-kK" in readme
    )


def test_the_report_command_takes_any_planner_and_refuses_unknown_ones(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import mazebench.report
    from mazebench.cli import cli

    monkeypatch.chdir(tmp_path)
    asked = []
    monkeypatch.setattr(
        mazebench.report, "build_report", lambda spec, progress: asked.append(spec) or {"protocols": {}, "oracle": {}}
    )
    taken = CliRunner().invoke(cli, ["report", "--agents", "bfs, ar,my_planners:Chained", "--quiet"])
    assert taken.exit_code == 0, taken.output
    assert asked[0].agents == ("bfs", "ar", "my_planners:Chained") and asked[0].trained == ("ar",)
    for agents, message in (
        ("nonsense", "unknown agent 'nonsense'; known agents: bfs, flexmdm, mdm, ar"),
        ("mdm,nonsense", "unknown agent 'nonsense'"),
        (",", "expected a comma-separated list"),
    ):
        refused = CliRunner().invoke(cli, ["report", "--agents", agents])
        errors = [line for line in refused.output.splitlines() if line.startswith("Error")]
        assert refused.exit_code == 2 and len(errors) == 1, refused.output
        assert errors[0].startswith("Error: Invalid value for '--agents': ") and message in errors[0]
    assert list(tmp_path.iterdir()) == [] and len(asked) == 1  # refused before any work


def test_the_mini_track_brings_its_own_data_and_every_planner_trains_the_same_epochs():
    from agents.config import preset_config
    from mazebench.report.spec import TRACK_DATA

    spec = ReportSpec(preset="mini")
    assert spec.dataset_options == TRACK_DATA["mini"] and spec.dataset_options["maze_size"] == 15
    assert ReportSpec(preset="cpu").dataset_options == {}
    assert len({spec.train_config(agent).epochs for agent in ("mdm", "flexmdm", "ar")}) == 1
    assert preset_config("mini", "flexmdm").eval_every_minutes <= 1  # enough checks to tell a flat curve


def test_the_report_command_refuses_unknown_protocols_and_budgets():
    from click.testing import CliRunner

    from mazebench.cli import cli

    bad_protocol = CliRunner().invoke(cli, ["report", "--protocols", "paper,fast"])
    assert (
        bad_protocol.exit_code == 2 and "choose protocols among paper, paper-64, official, suite" in bad_protocol.output
    )
    assert CliRunner().invoke(cli, ["report", "--epochs", "0"]).exit_code == 2
    help_text = " ".join(CliRunner().invoke(cli, ["report", "--help"]).output.split())
    assert "--protocols" in help_text and "--epochs" in help_text


def test_the_final_cells_share_a_budget_only_when_every_run_stopped_on_the_same_one():
    def run(stopped_by, epochs, max_minutes=None):
        return {"stopped_by": stopped_by, "train_config": {"epochs": epochs, "max_minutes": max_minutes}}

    assert shared_budget([run("epochs", 3.0), run("epochs", 3.0)]) == "epoch"
    assert shared_budget([run("epochs", 3.0), run("epochs", 0.65)]) is None  # per-agent epochs (the cpu preset)
    assert shared_budget([run("max_minutes", 12.0, 20.0), run("max_minutes", 3.0, 20.0)]) == "minutes"
    assert shared_budget([run("max_minutes", 12.0, 20.0), run("epochs", 3.0, 20.0)]) is None


def test_the_page_names_each_planners_value_of_the_settings_that_differ_between_planners():
    def run(**settings):
        return {"train_config": {"lr": 1e-3, "epochs": 4.0, "reverse_paths": False, **settings}}

    training = {
        "mdm-k2": run(epochs=0.65),
        "mdm-k7": run(epochs=0.65),
        "flexmdm-k2": run(reverse_paths=True),
        "flexmdm-k7": run(reverse_paths=True),
        "my_plugin:planner-k2": run(),
    }
    assert differing_settings(training) == (
        "epochs (MDM 0.65, FlexMDM 4.0, my_plugin:planner 4.0); "
        "reverse_paths (MDM False, FlexMDM True, my_plugin:planner False)"
    )
    assert differing_settings({"mdm-k2": run(), "flexmdm-k2": run()}) == ""


def test_trainings_in_parallel_processes_train_exactly_the_reports_settings(tmp_path, monkeypatch):
    """--jobs 2: each missing run trains in a process of its own, given the report's settings object (no preset
    in between), its output in its train.log."""
    from dataclasses import asdict

    monkeypatch.chdir(tmp_path)
    spec = ReportSpec(
        ks=(2,),
        preset="tiny",
        steps=4,
        sweep_steps=(4,),
        sweep_limit=3,
        limit=3,
        num_pngs=0,
        dataset_options=SMALL,
        train_options=FAST,
        protocols=("paper",),
        jobs=2,
    )
    results = build_report(spec, progress=False)
    for agent in ("mdm", "flexmdm"):
        run = tmp_path / "runs" / "tiny" / f"{agent}-k2"
        config = json.loads((run / "config.json").read_text())
        assert config["train_config"] == asdict(spec.train_config(agent))
        assert (run / "train.log").exists() and results["training"][f"{agent}-k2"]["steps"] > 0
    with pytest.raises(ValueError, match="jobs"):
        ReportSpec(jobs=0)


@pytest.mark.parametrize("protocol", ["paper", "paper-64", "official", "suite"])
def test_the_pages_evaluate_command_selects_the_protocols_sampler(protocol):
    from dataclasses import asdict

    from agents.learned import protocol_sampler
    from mazebench.cli import evaluate
    from mazebench.report.page import _evaluate_flags

    sampler = asdict(protocol_sampler(protocol))
    params = evaluate.make_context("evaluate", ["--agent", "flexmdm", *shlex.split(_evaluate_flags(sampler))]).params
    chosen = {
        name: value
        for name, value in params.items()
        if name
        in {
            "mode",
            "temperature",
            "confidence",
            "window",
            "count_law",
            "time_grid",
            "feasible_counts",
            "end_game",
            "reveal_count",
        }
    }
    assert chosen == sampler
    former = evaluate.make_context("evaluate", ["--agent", "flexmdm", "--sampler", "vanilla"]).params
    assert former["mode"] == "vanilla"  # --mode's former name, which earlier pages spell, still works


def test_a_plugins_cached_cell_is_keyed_by_its_code_and_replaced_only_after_success(
    tmp_path, monkeypatch, tiny_dataset
):
    import mazebench.report.pipeline as report

    module = tmp_path / "src" / "cached_planners.py"
    module.parent.mkdir()
    module.write_text("from tests.adversarial_planners import Honest as Planned\n")
    monkeypatch.syspath_prepend(str(module.parent))
    evaluated, real_evaluate = [], report.evaluate

    def counting_evaluate(planner, dataset, **options):
        evaluated.append(planner.name)
        return real_evaluate(planner, dataset, **options)

    monkeypatch.setattr(report, "evaluate", counting_evaluate)
    folder = tmp_path / "cell"

    def cell(limit=4):
        return report.cached_evaluation(
            "cached_planners:Planned",
            tiny_dataset,
            folder,
            run=None,
            steps=8,
            limit=limit,
            sampler={},
            num_pngs=0,
            progress=False,
        )

    assert cell()["success_rate"] == 1.0 and cell()["success_rate"] == 1.0 and evaluated == ["honest"]  # reused
    module.write_text("from tests.adversarial_planners import WallEraser as Planned\n")  # new code, same name
    assert "cached_planners" not in sys.modules  # imported only in the plug-in's own processes
    assert cell()["planner"]["name"] == "wall-eraser" and evaluated == ["honest", "wall-eraser"]
    before = (folder / "results.json").read_text()

    def failing_evaluate(planner, dataset, **options):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "evaluate", failing_evaluate)
    with pytest.raises(RuntimeError, match="disk full"):
        cell(limit=5)  # another request: the old cell stays until a new one is written
    assert (folder / "results.json").read_text() == before and (folder / "request.json").is_file()
