"""The steps page: success against sampling steps from the shipped references, where curves flatten, the claims
at every step count, and its command's refusals."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mazebench.cli import cli
from mazebench.report.steps import StepsSpec, build_steps_page, flattens_at
from mazebench.report.verify import verify


def test_a_curve_flattens_at_the_first_step_count_no_larger_one_tells_apart():
    rng = np.random.default_rng(0)
    base = rng.random(300)
    rising = {64: list(base < 0.4), 256: list(base < 0.7), 1024: list(base < 0.8), 2048: list(base < 0.805)}
    assert flattens_at(rising) == 1024  # 256 -> 1024 is 30 queries apart, 1024 -> 2048 one and a half
    still = {64: list(base < 0.4), 256: list(base < 0.6), 1024: list(base < 0.8)}
    assert flattens_at(still) == 1024  # only the largest qualifies: the page says "not within the range"
    flat = {64: list(base < 0.5), 256: list(base < 0.5)}
    assert flattens_at(flat) == 64


def test_the_page_from_the_mini_references(tmp_path):
    spec = StepsSpec(ks=(2, 12), steps=(2, 4), limit=6, data_root=tmp_path / "data", out=tmp_path / "page")
    results = build_steps_page(spec)
    assert set(results["cells"]) == {f"{a}-k{k}-s{s}" for a in ("mdm", "flexmdm") for k in (2, 12) for s in (2, 4)}
    assert all(cell["n"] == 6 for cell in results["cells"].values())
    assert set(results["claims"]) == {"2", "4"} and "flexmdm_beats_mdm" in results["claims"]["4"]
    assert set(results["flattens_at"]) == {"mdm-k2", "mdm-k12", "flexmdm-k2", "flexmdm-k12"}
    assert results["sampler"]["mode"] == "vanilla" and results["cells"]["flexmdm-k2-s4"]["sampler"]["steps"] == 4
    flex = results["cells"]["flexmdm-k12-s2"]
    assert flex["count_error_jumps"] <= flex["failed"] and results["cells"]["mdm-k2-s2"]["count_error_jumps"] == 0
    assert sum(flex["jump_kinds"].values()) == flex["failure_kinds"].get("jump", 0)
    readme = (spec.folder / "README.md").read_text()
    assert "| MDM | 12 |" in readme and "## The paper's claims at each step count" in readme and "### 4 steps" in readme
    assert "mazebench steps --track mini --protocol paper --subgoals 2,12" in readme
    assert (spec.folder / "success_vs_steps.png").stat().st_size > 5_000
    stored = json.loads((spec.folder / "results.json").read_text())
    assert stored["checkpoints"]["flexmdm-k12"] == results["checkpoints"]["flexmdm-k12"]
    again = build_steps_page(spec)  # every cell cached: the same numbers
    assert again["cells"] == results["cells"]
    for cell in (spec.folder / "eval").iterdir():
        (cell / "samples.jsonl").unlink()  # what a clone has: the committed, compressed outputs
    found = verify(spec.folder, tmp_path / "data")
    assert found.mismatches == [] and (found.evaluations, found.queries) == (8, 48)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--agents", "ar"], "choose among flexmdm, mdm"),
        (["--steps", "0,64"], "--steps"),
        (["--protocol", "fast"], "--protocol"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_the_steps_command_refuses_bad_input_in_one_line(args, message):
    result = CliRunner().invoke(cli, ["steps", *args])
    assert result.exit_code == 2 and message in result.output
