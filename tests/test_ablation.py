"""The ablation page on the tiny preset: every (training data, sampler) cell, the augmented runs trained
with their settings, reuse of what exists, and the page's table."""

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from mazebench.cli import cli
from mazebench.report.ablation import SAMPLERS, TRAININGS, AblationSpec, build_ablation
from tests.test_report import FAST, SMALL


def test_the_ablation_crosses_every_training_with_every_sampler(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = AblationSpec(
        ks=(3,),
        preset="tiny",
        steps=4,
        limit=4,
        dataset_options=SMALL,
        train_options={**FAST, "eval_every_minutes": 1e9},
    )  # no held-out checks: no curves here
    results = build_ablation(spec, progress=False)
    assert set(results["cells"]) == {f"{t}/{s}/k{k}" for t in TRAININGS for s in SAMPLERS for k in (3,)}
    assert all(cell["n"] == 4 for cell in results["cells"].values())
    sampled = {key.split("/")[1]: cell["sampler"] for key, cell in results["cells"].items() if key.endswith("k3")}
    assert (sampled["paper"]["mode"], sampled["paper"]["count_law"], sampled["paper"]["temperature"]) == (
        "vanilla",
        "poisson",
        1.0,
    )
    assert sampled["suite"]["feasible_counts"] and not sampled["suite without feasible counts"]["feasible_counts"]
    assert sampled["suite"]["mode"] == sampled["suite without feasible counts"]["mode"] == "adaptive"

    plain = json.loads((tmp_path / "runs" / "tiny" / "flexmdm-k3" / "summary.json").read_text())["train_config"]
    augmented = json.loads((tmp_path / "runs" / "tiny-aug" / "flexmdm-k3" / "summary.json").read_text())["train_config"]
    assert (plain["reverse_paths"], plain["redraw_subgoals"]) == (False, False)
    assert (augmented["reverse_paths"], augmented["redraw_subgoals"]) == (True, True)
    assert {k: v for k, v in plain.items() if k not in ("reverse_paths", "redraw_subgoals")} == {
        k: v for k, v in augmented.items() if k not in ("reverse_paths", "redraw_subgoals")
    }  # the same budget

    page = tmp_path / "reports" / "tiny" / "ablation"
    readme = (page / "README.md").read_text()
    first = results["cells"]["paper data/paper/k3"]
    assert f"| paper data | paper | {first['success_rate']:.1%}" in readme
    assert readme.count("| augmented |") == 2 * len(SAMPLERS)  # the success and the length tables
    assert "mazebench ablation --subgoals 3 --preset tiny --steps 4 --limit 4" in readme
    assert (page / "ablation.png").stat().st_size > 5_000
    assert json.loads((page / "results.json").read_text()) == results

    evaluated = page / "eval" / "augmented" / "suite" / "flexmdm-k3" / "results.json"
    stamp = evaluated.stat().st_mtime_ns
    assert build_ablation(spec, progress=False)["cells"] == results["cells"]
    assert evaluated.stat().st_mtime_ns == stamp  # reused, not re-evaluated

    # Other weights in a run folder (same settings, same steps): its cells are evaluated again.
    shutil.copy(
        tmp_path / "runs" / "tiny-aug" / "flexmdm-k3" / "checkpoint.safetensors",
        tmp_path / "runs" / "tiny" / "flexmdm-k3" / "checkpoint.safetensors",
    )
    plain_cell = page / "eval" / "paper-data" / "suite" / "flexmdm-k3" / "results.json"
    stamps = plain_cell.stat().st_mtime_ns, evaluated.stat().st_mtime_ns
    build_ablation(spec, progress=False)
    assert plain_cell.stat().st_mtime_ns != stamps[0] and evaluated.stat().st_mtime_ns == stamps[1]


def test_the_variant_a_preset_trains_shares_the_reports_run_and_the_other_has_its_own_folder():
    plain = AblationSpec(ks=(3,), preset="tiny")
    assert (plain.run_dir("paper data", 3), plain.run_dir("augmented", 3)) == (
        Path("runs/tiny/flexmdm-k3"),
        Path("runs/tiny-aug/flexmdm-k3"),
    )
    augmenting = AblationSpec(ks=(3,), preset="tiny", train_options={"reverse_paths": True, "redraw_subgoals": True})
    assert (augmenting.run_dir("paper data", 3), augmenting.run_dir("augmented", 3)) == (
        Path("runs/tiny-paper-data/flexmdm-k3"),
        Path("runs/tiny/flexmdm-k3"),
    )
    assert not augmenting.train_config("paper data").reverse_paths  # the variant's settings, not the preset's


def test_the_ablation_command_checks_its_options():
    result = CliRunner().invoke(cli, ["ablation", "--subgoals", "1"])
    assert result.exit_code == 2 and "--subgoals" in result.output
    assert "reports/<preset>/ablation" in CliRunner().invoke(cli, ["ablation", "--help"]).output
