"""Exports other tools read: the Parquet file reads back as the dataset, the Minari episodes replay in the env to
the scorer's verdicts."""

import json
import os
import shutil
from pathlib import Path

import gymnasium
import minari
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mazebench.cli import cli
from mazebench.env import ENV_ID
from mazebench.export import export_minari, export_parquet, minari_root
from mazebench.maze import maze_from_text
from mazebench.scoring import score_path


def test_the_parquet_file_reads_back_as_the_dataset(tiny_dataset, tmp_path):
    table = pq.read_table(export_parquet(tiny_dataset, tmp_path / "d.parquet"))
    rows = table.to_pylist()
    assert len(rows) == len(tiny_dataset.train) + len(tiny_dataset.val)
    for row in rows:
        example = getattr(tiny_dataset, row["split"])[row["index"]]
        assert row["pair_id"] == example.pair_id and row["length"] == len(example.path)
        assert np.array_equal(row["path"], example.path) and np.array_equal(row["subgoals"], example.subgoals)
        assert row["subgoal_index"] == example.subgoal_index.tolist()
    assert [row["split"] for row in rows].count("val") == len(tiny_dataset.val)
    metadata = table.schema.metadata
    assert json.loads(metadata[b"mazebench"])["dataset_id"] == tiny_dataset.meta["dataset_id"]
    assert np.array_equal(maze_from_text(metadata[b"maze"].decode()), tiny_dataset.maze)


def test_the_minari_episodes_replay_in_the_env_to_the_scorers_verdicts(tiny_dataset, tmp_path):
    dataset_id = export_minari(tiny_dataset, tmp_path, split="val", limit=6, progress=False)
    with minari_root(tmp_path):
        exported = minari.load_dataset(dataset_id)
        env = exported.recover_environment()
    assert exported.total_episodes == 6 and env.spec.id == ENV_ID
    for number, episode in enumerate(exported.iterate_episodes()):
        example = tiny_dataset.val[number]
        positions = episode.observations["position"]
        assert np.array_equal(positions, example.path)  # the episode walks the dataset's path
        assert np.array_equal(episode.observations["subgoals"][0], example.subgoals)
        observation, _ = env.reset(options={"subgoals": episode.observations["subgoals"][0]})
        for action, reward in zip(episode.actions, episode.rewards):
            observation, replayed, terminated, truncated, info = env.step(int(action))
            assert replayed == reward
        verdict = score_path(tiny_dataset.maze, example.subgoals, positions)
        assert terminated and info["success"] == verdict.success is True
        assert episode.terminations[-1] and episode.rewards.sum() == tiny_dataset.num_subgoals - 1
    with pytest.raises(ValueError, match="unknown split"):
        export_minari(tiny_dataset, tmp_path, split="test")


def test_the_export_command_writes_both_formats(tiny_dataset_dir, tmp_path):
    done = CliRunner().invoke(
        cli, ["export", "--data", str(tiny_dataset_dir), "--format", "parquet", "--out", str(tmp_path / "x.parquet")]
    )
    assert done.exit_code == 0, done.output
    assert pq.read_table(tmp_path / "x.parquet").num_rows > 0
    args = ["export", "--data", str(tiny_dataset_dir), "--format", "minari", "--out", str(tmp_path / "m")]
    done = CliRunner().invoke(cli, [*args, "--limit", "3", "--quiet"])
    assert done.exit_code == 0, done.output
    with minari_root(tmp_path / "m"):
        assert minari.load_dataset(f"mazebench/{tiny_dataset_dir.name}-train-v0").total_episodes == 3
    assert gymnasium.make(ENV_ID).spec.id == ENV_ID


def _export(*args):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


def test_an_existing_file_is_kept_unless_force_and_the_datasets_own_files_always(tiny_dataset_dir, tmp_path):
    tiny_dataset_dir = Path(shutil.copytree(tiny_dataset_dir, tmp_path / "data"))  # a copy: it may be overwritten
    document = tmp_path / "thesis.parquet"
    document.write_text("two years of work")
    args = ["--data", tiny_dataset_dir, "--format", "parquet", "--out"]
    refused = _export(*args, document)
    assert (
        refused.exit_code == 1 and refused.output == f"Error: {document} exists already; give --force to replace it\n"
    )
    assert document.read_text() == "two years of work"
    done = _export(*args, document, "--force")
    assert done.exit_code == 0, done.output
    assert pq.read_table(document).num_rows > 0
    before = (tiny_dataset_dir / "train.npz").read_bytes()
    for own in (tiny_dataset_dir / "train.npz", tiny_dataset_dir / "new.parquet"):
        refused = _export(*args, own, "--force")
        assert refused.exit_code == 1 and refused.output.count("\n") == 1, refused.output
        assert refused.output.startswith(f"Error: {own} is in or holds the folder of the dataset")
    assert (tiny_dataset_dir / "train.npz").read_bytes() == before and not (tiny_dataset_dir / "new.parquet").exists()


def test_a_parquet_export_cut_short_leaves_no_file(tiny_dataset, tmp_path, monkeypatch):
    def cut_short(table, where, **_kwargs):
        where.write(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", cut_short)
    with pytest.raises(KeyboardInterrupt):
        export_parquet(tiny_dataset, tmp_path / "d.parquet")
    assert os.listdir(tmp_path) == []  # neither the target nor a temporary file
    (tmp_path / "d.parquet").write_bytes(b"an earlier export")
    with pytest.raises(KeyboardInterrupt):
        export_parquet(tiny_dataset, tmp_path / "d.parquet", force=True)
    assert os.listdir(tmp_path) == ["d.parquet"] and (tmp_path / "d.parquet").read_bytes() == b"an earlier export"


def test_a_minari_export_cut_short_leaves_no_dataset_and_a_rerun_works(tiny_dataset_dir, tiny_dataset, tmp_path):
    from unittest import mock

    real = minari.create_dataset_from_buffers

    def cut_short(*args, **kwargs):
        dataset = real(*args, **kwargs)
        for episodes in (Path(dataset.storage.data_path)).rglob("*.arrow"):
            episodes.unlink()  # partway through writing the episodes
        raise KeyboardInterrupt

    with mock.patch.object(minari, "create_dataset_from_buffers", cut_short), pytest.raises(KeyboardInterrupt):
        export_minari(tiny_dataset, tmp_path / "m", limit=3, progress=False)
    dataset_id = f"mazebench/{tiny_dataset_dir.name}-train-v0"
    with minari_root(tmp_path / "m"), pytest.raises(FileNotFoundError):
        minari.load_dataset(dataset_id)  # no empty dataset that looks valid
    assert sorted(os.listdir(tmp_path)) == ["m"]  # nor a temporary folder
    args = ["--data", tiny_dataset_dir, "--format", "minari", "--out", tmp_path / "m", "--limit", 3, "--quiet"]
    assert _export(*args).exit_code == 0
    refused = _export(*args)
    assert refused.exit_code == 1 and refused.output.count("\n") == 1, refused.output
    assert "exists already" in refused.output and "give --force to replace it" in refused.output
    done = _export(*args[:-2], 5, "--force", "--quiet")
    assert done.exit_code == 0, done.output
    with minari_root(tmp_path / "m"):
        assert minari.load_dataset(dataset_id).total_episodes == 5
    data = Path(shutil.copytree(tiny_dataset_dir, tmp_path / "data"))  # a copy: it may be written into
    refused = _export("--data", data, "--format", "minari", "--out", data, "--force")
    assert refused.exit_code == 1 and "is in or holds the folder of the dataset" in refused.output
    assert sorted(os.listdir(data)) == ["maze.txt", "meta.json", "train.npz", "val.npz"]
