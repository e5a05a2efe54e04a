"""The report writer on the tiny preset: every cell, figures, reuse of what exists; the W1 distance."""

import json

import pytest

from mazebench.report import ReportSpec, build_report, verdict, wasserstein1

SMALL = {"maze_size": 15, "maze_seed": 7, "pairs": 60, "paths_per_pair": 3, "val_frac": 0.2}
FAST = {"epochs": 0.3, "batch_size": 16, "d_model": 32, "n_heads": 2, "n_layers": 1, "cond_dim": 32}


def test_wasserstein1_by_hand():
    assert wasserstein1([0, 1], [1, 2]) == pytest.approx(1.0)  # a shift by one
    assert wasserstein1([3, 3, 3], [3]) == 0.0
    assert wasserstein1([0, 0, 0, 4], [0, 0, 0, 0]) == pytest.approx(1.0)  # a quarter of the mass moves 4


def _cells(rates: dict) -> dict:
    return {f"{agent}-k{k}": {"success_rate": rate} for agent, by_k in rates.items() for k, rate in by_k.items()}


def test_verdict_states_the_gaps_the_target_and_the_trend():
    short = verdict(_cells({"flexmdm": {2: 0.95, 12: 0.5}, "mdm": {2: 0.1, 12: 0.3}}), (2, 12))
    assert "- flexmdm: K = 2: 95.0% against 92.3% (+2.7 points); K = 12: 50.0% against 90.0% (-40.0 points)." in short
    assert "- FlexMDM at or above 90 % at every K: **not met** (below at K = 12)." in short
    assert any("10.0% / 30.0% here, it does not decline" in line for line in short)
    assert "- FlexMDM minus MDM, in points: K = 2: +85.0; K = 12: +20.0 (paper: K = 2: +23.9; K = 12: +65.8)." in short
    met = verdict(_cells({"flexmdm": {7: 0.91}, "mdm": {2: 0.6, 7: 0.2}}), (2, 7))
    assert "- FlexMDM at or above 90 % at every K: met." in met
    assert any("it declines from K = 2 to K = 7" in line for line in met)


def test_report_on_the_tiny_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = ReportSpec(ks=(2, 3), preset="tiny", steps=8, sweep_steps=(4, 8), sweep_limit=4, limit=5,
                      dataset_options=SMALL, train_options=FAST)
    results = build_report(spec, progress=False)
    assert set(results["cells"]) == {f"{a}-k{k}" for a in ("bfs", "mdm", "flexmdm") for k in (2, 3)}
    assert results["cells"]["bfs-k3"]["success_rate"] == 1.0
    assert all(cell["n"] == 5 for cell in results["cells"].values())
    assert set(results["sweep"]["flexmdm"]) == {"4", "8"} and results["sweep"]["mdm"]["8"]["n"] == 4
    assert results["training"]["mdm-k2"]["train_config"]["d_model"] == 32
    folder = tmp_path / "reports" / "tiny"
    for figure in ("success_vs_steps.png", "length_fidelity.png"):
        assert (folder / figure).stat().st_size > 5_000
    readme = (folder / "README.md").read_text()
    assert "| flexmdm | 3 | 5 |" in readme and "| mdm | 2 | 5 |" in readme and "92.3%" in readme
    assert "## Against the paper" in readme and "FlexMDM at or above 90 % at every K" in readme
    assert json.loads((folder / "results.json").read_text()) == results

    run_summary = tmp_path / "runs" / "tiny" / "flexmdm-k3" / "summary.json"
    trained_at = run_summary.stat().st_mtime_ns
    evaluated_at = (folder / "eval" / "mdm-k2" / "results.json").stat().st_mtime_ns
    again = build_report(spec, progress=False)
    assert again["cells"] == results["cells"]
    assert run_summary.stat().st_mtime_ns == trained_at  # nothing retrained
    assert (folder / "eval" / "mdm-k2" / "results.json").stat().st_mtime_ns == evaluated_at  # nor re-evaluated
