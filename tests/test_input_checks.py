"""Bad inputs are one-line errors before any work: datasets that contradict themselves, nonsense sizes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import mazebench.datasets as datasets
from agents.config import TrainConfig
from mazebench.cli import cli


@pytest.fixture()
def copied_dataset(tiny_dataset_dir, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(tiny_dataset_dir, folder)
    return folder


def edit_meta(folder, change) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    change(meta)
    (folder / "meta.json").write_text(json.dumps(meta))


def test_a_held_out_query_that_is_a_training_query_is_refused(copied_dataset):
    """The first held-out example becomes a copy of a training example (its pair id kept): the pair ids
    still differ, the content does not."""
    loaded = datasets.load_dataset(copied_dataset)
    val, train = loaded.val, loaded.train
    first = slice(val.offsets[0], val.offsets[1])
    cells = np.concatenate([train.cells[train.offsets[0] : train.offsets[1]], val.cells[first.stop :]])
    offsets = np.concatenate([[0], val.offsets[1:] - val.offsets[1] + train.lengths[0]])
    index = np.concatenate([train.subgoal_index[:1], val.subgoal_index[1:]])
    splits = {"train": train, "val": datasets.Split(cells, offsets.astype(np.int64), index, val.pair_id)}
    datasets._write_npz(copied_dataset / "val.npz", splits["val"].arrays())
    lengths = np.concatenate([split.lengths for split in splits.values()])

    def rehash(meta):
        meta.update(content_sha256=datasets._content_hash(loaded.maze, splits))
        meta["counts"].update(mean_path_length=round(float(lengths.mean()), 3), max_path_length=int(lengths.max()))

    edit_meta(copied_dataset, rehash)
    with pytest.raises(ValueError, match=r"corrupt .*\(1 held-out queries are training queries too"):
        datasets.load_dataset(copied_dataset)


def test_meta_counts_that_contradict_the_arrays_are_refused(copied_dataset):
    edit_meta(copied_dataset, lambda meta: meta["counts"].update(open_cells=7, max_path_length=1000))
    with pytest.raises(
        ValueError,
        match=r"counts do not match the arrays: max_path_length 1000 \(the arrays: \d+\), "
        r"open_cells 7 \(the arrays: \d+\)",
    ):
        datasets.load_dataset(copied_dataset)


@pytest.mark.parametrize("broken", ["[]", "{", '{"format_version": 1, "config": {"num_subgoals": "x"}}'])
def test_a_malformed_meta_json_is_a_one_line_error(copied_dataset, broken):
    (copied_dataset / "meta.json").write_text(broken)
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(copied_dataset)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: dataset {copied_dataset} is corrupt or incomplete (")


@pytest.mark.parametrize(
    "setting, value",
    [
        ("epochs", 20_000),
        ("warmup_epochs", 1e5),
        ("d_model", 16_384),
        ("lr", 5.0),
        ("n_layers", 1000),
        ("batch_size", 10**7),
    ],
)
def test_training_settings_have_upper_bounds(setting, value):
    with pytest.raises(ValueError, match=f"{setting} must be at most"):
        TrainConfig(**{setting: value, **({"n_heads": 4} if setting == "d_model" else {})})


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["train", "--agent", "mdm", "--epochs", "20000"], 1, "epochs must be at most 10000, got 20000.0"),
        (["train", "--agent", "mdm", "--lr", "3"], 1, "lr must be at most 1, got 3.0"),
        (
            ["train", "--agent", "mdm", "--nproc", "3", "--batch-size", "64"],
            2,
            "Invalid value for --nproc: 3 processes do not split the batch size 64",
        ),
        (["generate", "--paths-per-pair", "5000"], 2, "5000 is not in the range 1<=x<=1000"),
        (["generate", "--attempts-per-path", "5000"], 2, "5000 is not in the range 1<=x<=1000"),
        (["evaluate", "--steps", "1000000"], 2, "1000000 is not in the range 1<=x<=100000"),
        (["evaluate", "--window", "1000000"], 2, "1000000 is not in the range 1<=x<=100000"),
        (["report", "--sweep-steps", "16,1000000"], 2, "every number must be at least 1 and at most 100000"),
        (["report", "--epochs", "1e6"], 1, "epochs must be positive and at most 10000"),
    ],
)
def test_nonsense_sizes_are_refused_before_any_work(tmp_path, monkeypatch, args, code, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code and message in result.output, result.output
    assert "launching" not in result.output and list(tmp_path.iterdir()) == []


def test_a_num_subgoals_that_is_a_string_is_said_to_be_no_integer(copied_dataset):
    edit_meta(copied_dataset, lambda meta: meta["config"].update(num_subgoals="12"))
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(copied_dataset)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "(num_subgoals must be an integer, got '12')" in result.output
    with pytest.raises(ValueError, match=r"^num_subgoals must be an integer, got '12' \(a str\)$"):
        datasets.generate_dataset(copied_dataset.parent / "new", num_subgoals="12", pairs=10)


def test_a_batch_timeout_past_a_day_is_refused_before_any_work(tiny_dataset_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["evaluate", "--data", str(tiny_dataset_dir), "--limit", "2", "--num-pngs", "0", "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--batch-timeout", "1e10"])
    assert result.exit_code == 2 and "1e10" not in result.output, result.output  # no OverflowError traceback
    assert "Invalid value for '--batch-timeout': 10000000000.0 is not in the range 0<x<=86400" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_reference_index_is_one_line(tiny_dataset_dir, tmp_path, monkeypatch):
    import agents.reference as reference

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(reference, "INDEX", tmp_path / "index.json")
    args = ["evaluate", "--agent", "mdm", "--checkpoint", "reference", "--data", str(tiny_dataset_dir), "--quiet"]
    for broken, why in [
        ("{", "not JSON"),
        ("[" * 100_000 + "]" * 100_000, "not JSON: RecursionError"),
        ('{"agent": "mdm"}', "a dict, not a list of entries"),
        ("[1]", "entry 1 is a int, not an object"),
        ('[{"agent": "mdm"}]', "entry 1 has no str file"),
        ('[{"file": "x", "agent": "mdm", "num_subgoals": "4", "dataset_id": "x"}]', "entry 1 has no int num_subgoals"),
    ]:
        (tmp_path / "index.json").write_text(broken)
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert result.output.startswith(f"Error: the reference index {tmp_path / 'index.json'} is malformed ({why}")


def test_checkpoint_reference_means_the_shipped_reference_even_beside_a_folder_of_that_name(
    tiny_dataset_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reference").mkdir()
    args = ["evaluate", "--agent", "flexmdm", "--data", str(tiny_dataset_dir), "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--checkpoint", "reference"])
    assert result.exit_code == 1 and result.output.startswith("Error: no reference flexmdm checkpoint for the dataset")
    result = CliRunner().invoke(cli, [*args, "--checkpoint", "./reference"])  # the folder, asked for as a path
    assert result.exit_code == 1 and "no checkpoint at reference/checkpoint.safetensors" in result.output


def test_evaluate_refuses_a_batch_timeout_past_a_day_from_python_too(tiny_dataset, tmp_path):
    from agents import make_agent
    from mazebench.evaluation import evaluate

    with pytest.raises(ValueError, match=r"batch_timeout must lie in \(0, 86400\] seconds, got 10000000000.0"):
        evaluate(make_agent("bfs"), tiny_dataset, out_dir=tmp_path / "r", batch_timeout=1e10, progress=False)
    assert list(tmp_path.iterdir()) == []
