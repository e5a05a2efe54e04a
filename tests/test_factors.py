"""The one-factor page on the tiny preset: every row changes exactly one setting of the paper's protocol."""

import json
from dataclasses import asdict

from agents.learned import protocol_sampler
from mazebench.report.factors import FACTORS, FactorsSpec, build_factors
from tests.test_report import FAST, SMALL


def test_each_row_changes_one_setting_of_the_papers_protocol():
    paper, suite = asdict(protocol_sampler("paper")), asdict(protocol_sampler("suite"))
    rows = list(FACTORS.values())
    assert rows[0] == {} and rows[-1] == suite and rows[-2] == {**suite, "feasible_counts": False}
    for change in rows[1:-2]:
        assert len(change) == 1 and all(paper[key] != value == suite[key] for key, value in change.items())
    changed = {key for change in rows[1:-2] for key in change}
    assert changed == {key for key in paper if paper[key] != suite[key]} - {"feasible_counts"}


def test_the_page_on_the_tiny_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = FactorsSpec(
        ks=(3,), agents=("flexmdm",), preset="tiny", steps=4, limit=4, dataset_options=SMALL, train_options=FAST
    )
    results = build_factors(spec, progress=False)
    assert len(results["cells"]) == len(FACTORS) and all(cell["n"] == 4 for cell in results["cells"].values())
    sampled = results["cells"]["flexmdm/k3/temperature 1 -> argmax"]["sampler"]  # what the planner used
    assert (sampled["mode"], sampled["temperature"], sampled["count_law"]) == ("vanilla", 0.0, "poisson")
    assert results["cells"]["flexmdm/k3/paper's protocol"]["end_game_reveals_per_path"] >= 0
    folder = tmp_path / "reports" / "tiny" / "factors"
    readme = (folder / "README.md").read_text()
    assert "| end game argmax -> leap |" in readme and "mazebench factors --subgoals 3 --agents flexmdm" in readme
    assert (folder / "factors.png").stat().st_size > 5_000
    assert json.loads((folder / "results.json").read_text()) == results


def test_the_page_refuses_a_folder_of_someone_elses(tmp_path):
    import pytest

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a factors page"):
        build_factors(FactorsSpec(ks=(3,), preset="tiny", out=tmp_path / "mine", dataset_options=SMALL), progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
