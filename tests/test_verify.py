"""`verify` re-derives an evaluation's figures from its per-query outputs, and names what was tampered with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agents.reference import references
from mazebench.evaluation import archive_samples, evaluate
from mazebench.report.verify import verify
from tests.adversarial_planners import WallEraser


@pytest.fixture(scope="module")
def evaluated(tiny_dataset, tmp_path_factory):
    """An evaluation with successes and failures of several kinds, 3 plans per query."""
    out = tmp_path_factory.mktemp("verify") / "eval"
    evaluate(WallEraser(), tiny_dataset, out_dir=out, limit=12, batch_size=5, samples_per_query=3, progress=False)
    return out


@pytest.fixture()
def page(evaluated, tmp_path):
    """A copy of the evaluation inside a page folder, and a data root that does not hold its dataset yet."""
    shutil.copytree(evaluated, tmp_path / "page" / "eval" / "wall-eraser")
    return tmp_path / "page", tmp_path / "data"


def edit(folder, file, change) -> None:
    path = folder / file
    if file.endswith(".jsonl"):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        change(lines)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    else:
        summary = json.loads(path.read_text())
        change(summary)
        path.write_text(json.dumps(summary))


def test_an_untouched_evaluation_verifies_from_a_regenerated_dataset(page):
    folder, data = page
    found = verify(folder, data)
    assert found.mismatches == [] and (found.evaluations, found.queries, found.plans) == (1, 12, 36)
    assert len(list(data.iterdir())) == 1  # the recorded dataset, regenerated from its settings


@pytest.mark.parametrize(
    "file, change, named",
    [
        ("results.json", lambda s: s.update(success_rate=s["success_rate"] + 0.01), "success_rate: results.json says"),
        ("results.json", lambda s: s["success_ci95"].__setitem__(0, 0.0), "success_ci95"),
        ("results.json", lambda s: s["generative"]["pass_at"].update({"2": 1.0}), "generative"),
        ("samples.jsonl", lambda lines: lines[3].update(success=not lines[3]["success"]), "stored verdict"),
        ("samples.jsonl", lambda lines: lines[2].update(path=[[0, 0]]), "stored verdict"),
        ("samples.jsonl", lambda lines: lines.pop(), "not the recorded evaluation's queries"),
    ],
)
def test_a_tampered_number_or_verdict_is_named(page, file, change, named):
    folder, data = page
    edit(folder / "eval" / "wall-eraser", file, change)
    mismatches = verify(folder, data).mismatches
    assert mismatches and any(named in line for line in mismatches), mismatches


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda cell: (cell / "samples.jsonl").unlink(),
            r"has no per-query outputs \(samples.jsonl or samples.jsonl.gz\)",
        ),
        (lambda cell: (cell / "samples.jsonl").write_text('{"index": 1}\n{"trunc'), "line 2 is no JSON"),
    ],
)
def test_missing_or_truncated_outputs_are_one_error_naming_the_file(page, damage, message):
    folder, data = page
    damage(folder / "eval" / "wall-eraser")
    with pytest.raises(ValueError, match=message):
        verify(folder, data)


def test_compressed_outputs_verify_and_a_truncated_archive_is_one_error(page):
    folder, data = page
    cell = folder / "eval" / "wall-eraser"
    assert archive_samples(folder) == 1
    first = (cell / "samples.jsonl.gz").read_bytes()
    assert archive_samples(folder) == 1 and (cell / "samples.jsonl.gz").read_bytes() == first  # reproducible
    (cell / "samples.jsonl").unlink()
    assert verify(folder, data).mismatches == []
    (cell / "samples.jsonl.gz").write_bytes(first[: len(first) // 2])
    with pytest.raises(ValueError, match="samples.jsonl.gz cannot be read"):
        verify(folder, data)


def test_a_folder_without_evaluations_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="holds no evaluation"):
        verify(tmp_path)


@pytest.mark.slow
def test_the_committed_reference_outputs_verify():
    """Every shipped reference's committed evaluations re-derive from their per-query outputs (the datasets are
    regenerated under data/ from their recorded settings where missing)."""
    found = verify("reports/reference/outputs", "data")
    assert found.mismatches == [] and found.manifest and found.evaluations == 2 * len(references())
    for entry in references():
        for protocol, rate in entry["success"].items():
            stated = json.loads(
                (Path("reports/reference/outputs") / Path(entry["file"]).stem / protocol / "results.json").read_text()
            )
            assert stated["success_rate"] == rate  # the index (and the page) state what the outputs give


def test_the_command_prints_one_line_per_mismatch_and_fails_or_one_summary_line(page):
    from click.testing import CliRunner

    from mazebench.cli import cli

    folder, data = page
    result = CliRunner().invoke(cli, ["verify", str(folder), "--data-root", str(data)])
    assert result.exit_code == 0 and result.output == (
        "verified: 1 evaluations, 12 queries, 36 plans; every figure matches\n"
    ), result.output
    edit(folder / "eval" / "wall-eraser", "results.json", lambda s: s.update(valid_rate=0.5, mean_length=1.0))
    result = CliRunner().invoke(cli, ["verify", str(folder), "--data-root", str(data)])
    assert result.exit_code == 1 and len(result.output.splitlines()) == 2 and "valid_rate" in result.output
    (folder / "eval" / "wall-eraser" / "samples.jsonl").unlink()
    result = CliRunner().invoke(cli, ["verify", str(folder), "--data-root", str(data)])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_the_manifest_is_checked_against_the_page(page, tmp_path):
    from mazebench.manifest import write_manifest

    folder, data = page
    checkpoint = tmp_path / "weights.bin"  # not a checkpoint: its digest cannot match, and verify says so
    manifest = write_manifest(folder, "mazebench evaluate ...", {"eval/wall-eraser": (str(checkpoint), "0" * 64)})
    assert set(manifest["evaluations"]) == {"eval/wall-eraser"} and manifest["command"] == "mazebench evaluate ..."
    assert manifest["suite_version"] and manifest["suite_version"][0].isdigit()
    found = verify(folder, data)
    assert found.manifest and found.mismatches == []  # the checkpoint file is not at hand: nothing to check
    recorded = json.loads((folder / "manifest.json").read_text())
    recorded["evaluations"]["eval/other"] = {"dataset_id": "x"}
    recorded["evaluations"]["eval/wall-eraser"]["dataset_id"] = "y"
    (folder / "manifest.json").write_text(json.dumps(recorded))
    mismatches = verify(folder, data).mismatches
    assert any("lists eval/other, which the page does not hold" in line for line in mismatches)
    assert any("eval/wall-eraser: its dataset id is not the evaluation's" in line for line in mismatches)
