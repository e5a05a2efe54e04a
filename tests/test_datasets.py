"""Path datasets: the generated paths, the split, determinism, the folder format and its checks."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.bfs import shortest_path
from mazebench import datasets
from mazebench.datasets import default_data_dir, generate_dataset, load_dataset
from mazebench.scoring import score_path
from tests.conftest import TINY_DATASET


def _examples(dataset):
    return [example for split in (dataset.train, dataset.val) for example in split]


def test_every_path_is_a_simple_success_with_subgoals_in_path_order(tiny_dataset):
    k = tiny_dataset.num_subgoals
    for example in _examples(tiny_dataset):
        assert score_path(tiny_dataset.maze, example.subgoals, example.path).success
        index = example.subgoal_index
        assert len(index) == k and index[0] == 0 and index[-1] == len(example.path) - 1
        assert np.all(np.diff(index) > 0)
        np.testing.assert_array_equal(example.subgoals, example.path[index])
        assert len({tuple(cell) for cell in example.path.tolist()}) == len(example.path)


def test_each_pair_starts_with_a_shortest_path_then_distinct_bounded_detours(tiny_dataset):
    ratio, per_pair = TINY_DATASET.get("max_detour_ratio", 2.0), TINY_DATASET["paths_per_pair"]
    by_pair: dict[int, list] = {}
    for example in _examples(tiny_dataset):
        by_pair.setdefault(example.pair_id, []).append(example.path)
    assert len(by_pair) == TINY_DATASET["pairs"]
    for paths in by_pair.values():
        start, goal = tuple(paths[0][0].tolist()), tuple(paths[0][-1].tolist())
        shortest = len(shortest_path(tiny_dataset.maze, start, goal))
        assert len(paths[0]) == shortest >= TINY_DATASET["num_subgoals"]
        assert 1 <= len(paths) <= per_pair
        assert len({tuple(map(tuple, p.tolist())) for p in paths}) == len(paths)
        for path in paths:
            assert tuple(path[0].tolist()) == start and tuple(path[-1].tolist()) == goal
            assert len(path) <= ratio * shortest
    assert any(len(paths) > 1 for paths in by_pair.values())


def test_no_pair_in_either_direction_is_in_both_splits(tiny_dataset):
    def pairs(split):
        return {frozenset((tuple(e.path[0].tolist()), tuple(e.path[-1].tolist()))) for e in split}

    assert not pairs(tiny_dataset.train) & pairs(tiny_dataset.val)
    assert not set(tiny_dataset.train.pair_id.tolist()) & set(tiny_dataset.val.pair_id.tolist())
    meta = tiny_dataset.meta
    assert meta["split_checked"] is True
    assert meta["counts"]["val_pairs"] == round(TINY_DATASET["pairs"] * TINY_DATASET["val_frac"])
    assert meta["counts"]["train_pairs"] + meta["counts"]["val_pairs"] == TINY_DATASET["pairs"]


def test_meta_records_every_parameter(tiny_dataset):
    config = tiny_dataset.meta["config"]
    for key, value in TINY_DATASET.items():
        assert config[key] == value
    assert tiny_dataset.meta["format_version"] == datasets.FORMAT_VERSION
    assert tiny_dataset.meta["generator_version"] == datasets.GENERATOR_VERSION
    assert tiny_dataset.num_subgoals == TINY_DATASET["num_subgoals"]


def test_split_access(tiny_dataset):
    split = tiny_dataset.val
    n = len(split)
    assert [e.pair_id for e in split] == split.pair_id.tolist()
    np.testing.assert_array_equal(split[-1].path, split[n - 1].path)
    with pytest.raises(IndexError):
        split[n]
    assert split.lengths.tolist() == [len(e.path) for e in split]
    first = split.first_per_pair()
    assert len(first) == len(set(split.pair_id.tolist()))
    for i in first:
        assert i == 0 or split.pair_id[i - 1] != split.pair_id[i]


def test_same_configuration_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    config = dict(TINY_DATASET, pairs=40)
    a = generate_dataset(tmp_path / "a", progress=False, **config)
    b = generate_dataset(tmp_path / "b", progress=False, **config)
    c = generate_dataset(tmp_path / "c", progress=False, **dict(config, seed=config["seed"] + 1))
    for name in ("meta.json", "maze.txt", "train.npz", "val.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    meta_a, meta_c = (json.loads((d / "meta.json").read_text()) for d in (a, c))
    assert meta_a["dataset_id"] != meta_c["dataset_id"]
    assert meta_a["content_sha256"] != meta_c["content_sha256"]


def test_rerun_is_a_no_op_another_config_needs_force(tmp_path):
    config = dict(TINY_DATASET, pairs=30)
    out = generate_dataset(tmp_path / "d", progress=False, **config)
    os.utime(out / "train.npz", ns=(1, 1))
    generate_dataset(out, progress=False, **config)
    assert (out / "train.npz").stat().st_mtime_ns == 1
    with pytest.raises(ValueError, match="--force"):
        generate_dataset(out, progress=False, **dict(config, seed=99))
    generate_dataset(out, progress=False, force=True, **dict(config, seed=99))
    assert load_dataset(out).meta["config"]["seed"] == 99
    assert (out / "train.npz").stat().st_mtime_ns != 1
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary folders left


def test_a_foreign_folder_is_never_overwritten(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a mazebench dataset"):
        generate_dataset(tmp_path, progress=False, force=True, **dict(TINY_DATASET, pairs=30))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_crash_while_writing_leaves_no_dataset(tmp_path, monkeypatch):
    def crash(file, arrays):
        Path(file).write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(datasets, "_write_npz", crash)
    with pytest.raises(RuntimeError):
        generate_dataset(tmp_path / "d", progress=False, **dict(TINY_DATASET, pairs=30))
    assert list(tmp_path.iterdir()) == []


def test_an_explicit_maze_overrides_size_and_seed(tmp_path, small_maze):
    maze = small_maze.copy()
    maze[1:4, 1:4] = 0
    out = generate_dataset(tmp_path / "d", maze=maze, progress=False, num_subgoals=3, pairs=20)
    dataset = load_dataset(out)
    np.testing.assert_array_equal(dataset.maze, maze)
    assert dataset.meta["config"]["maze_size"] is None and dataset.meta["config"]["maze_shape"] == [15, 15]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"num_subgoals": 1}, "num_subgoals"),
        ({"pairs": 10**7}, "fewer pairs"),
        ({"val_frac": 0.0}, "val_frac"),
        ({"pairs": 5}, "split empty"),
        ({"max_detour_ratio": 0.5}, "max_detour_ratio"),
        ({"paths_per_pair": 0}, "paths_per_pair"),
        ({"maze_size": 14}, "odd"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_parameters_are_clear_value_errors(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        generate_dataset(tmp_path / "d", progress=False, **dict(TINY_DATASET, **change))
    assert not (tmp_path / "d").exists()


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for file in src.iterdir():
        (dst / file.name).write_bytes(file.read_bytes())
    return dst


def _truncate(folder):
    data = (folder / "train.npz").read_bytes()
    (folder / "train.npz").write_bytes(data[: len(data) // 2])


def _change_a_cell(folder):
    with np.load(folder / "val.npz") as data:
        arrays = {key: data[key].copy() for key in data}
    arrays["cells"][3, 0] += 2
    datasets._write_npz(folder / "val.npz", arrays)


def _edit_meta(key, value):
    def edit(folder):
        meta = json.loads((folder / "meta.json").read_text())
        meta.update({key: value})
        (folder / "meta.json").write_text(json.dumps(meta))

    return edit


def _open_a_wall(folder):
    text = (folder / "maze.txt").read_text()
    (folder / "maze.txt").write_text(text.replace("#", ".", 1))


@pytest.mark.parametrize(
    "damage, message",
    [
        (_truncate, "train.npz"),
        (_change_a_cell, "content hash"),
        (lambda folder: (folder / "val.npz").unlink(), "val.npz"),
        (lambda folder: (folder / "maze.txt").unlink(), "maze.txt"),
        (_open_a_wall, "maze hash"),
        (lambda folder: (folder / "meta.json").write_text("{"), "corrupt"),
        (_edit_meta("format_version", 99), "format version 99"),
        (_edit_meta("counts", {"train_examples": 1, "val_examples": 1}), "examples"),
        (lambda folder: (folder / "meta.json").unlink(), "no meta.json"),
    ],
)
def test_a_damaged_folder_fails_to_load_clearly(tmp_path, tiny_dataset_dir, damage, message):
    folder = _copy(tiny_dataset_dir, tmp_path / "copy")
    load_dataset(folder)
    damage(folder)
    with pytest.raises(ValueError, match=message):
        load_dataset(folder)


def test_a_missing_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="mazebench generate"):
        load_dataset(tmp_path / "nothing")


def test_default_data_dir():
    assert default_data_dir(12) == Path("data/maze41-s2025-k12")
    assert default_data_dir(2, 15, 7, root="x") == Path("x/maze15-s7-k2")


@settings(max_examples=8, deadline=None)
@given(k=st.integers(2, 7), seed=st.integers(0, 10**6), per_pair=st.integers(1, 5), ratio=st.floats(1.0, 3.0))
def test_generated_paths_always_score_as_successes(small_maze, k, seed, per_pair, ratio):
    with tempfile.TemporaryDirectory() as tmp:
        out = generate_dataset(
            Path(tmp) / "d",
            maze=small_maze,
            num_subgoals=k,
            pairs=20,
            paths_per_pair=per_pair,
            seed=seed,
            max_detour_ratio=ratio,
            val_frac=0.2,
            progress=False,
        )
        dataset = load_dataset(out)
    for example in _examples(dataset):
        score = score_path(dataset.maze, example.subgoals, example.path)
        assert score.success and score.subgoals_reached == k
        assert np.all(np.diff(example.subgoal_index) > 0)


def test_parallel_generation_is_byte_identical_to_serial(tmp_path):
    config = dict(TINY_DATASET, pairs=600)  # three tasks of 250 pairs
    serial = generate_dataset(tmp_path / "serial", progress=False, **config)
    parallel = generate_dataset(tmp_path / "parallel", progress=False, workers=2, **config)
    for name in ("meta.json", "maze.txt", "train.npz", "val.npz"):
        assert (serial / name).read_bytes() == (parallel / name).read_bytes()
    with pytest.raises(ValueError, match="workers"):
        generate_dataset(tmp_path / "none", progress=False, workers=0, **config)


def _rehashed(edit_arrays=None, edit_config=None, fix_id=True):
    """A damage that edits val.npz and/or the config, then fixes the content hash (and the id) as a forger would."""

    def damage(folder):
        meta = json.loads((folder / "meta.json").read_text())
        if edit_arrays:
            with np.load(folder / "val.npz") as data:
                arrays = {key: data[key].copy() for key in data}
            edit_arrays(arrays)
            datasets._write_npz(folder / "val.npz", arrays)
        if edit_config:
            edit_config(meta["config"])
            if fix_id:
                meta["dataset_id"] = datasets._dataset_id(meta["config"], meta["generator_version"])
        maze = datasets._read_maze(folder)
        splits = {name: datasets._load_split(folder, name, meta["config"]["num_subgoals"]) for name in datasets.SPLITS}
        meta["content_sha256"] = datasets._content_hash(maze, splits)
        (folder / "meta.json").write_text(json.dumps(meta))

    return damage


def _set(key, value):
    return lambda config: config.update({key: value})


def _move_cell(arrays):
    arrays["cells"][1] = arrays["cells"][0]  # the second cell of path 0 repeats the first: no 4-neighbour step


def _cell_into_a_wall(arrays):
    arrays["cells"][0] = (0, 0)  # the border is wall


def _index(position, value):
    def edit(arrays):
        arrays["subgoal_index"][0, position] = value

    return edit


@pytest.mark.parametrize(
    "damage, message",
    [
        (_rehashed(_move_cell), "val example 0, cell 1 .* not a 4-neighbour"),
        (_rehashed(_cell_into_a_wall), "val example 0, cell 0 at \\(0, 0\\) is a wall"),
        (_rehashed(_index(1, 999)), "subgoal positions \\[0, 999"),
        (_rehashed(_index(1, 0)), "not increasing"),
        (_rehashed(_index(-1, -1)), "subgoal positions"),
        (_rehashed(edit_config=_set("seed", 4), fix_id=False), "dataset_id does not match its config"),
        (_rehashed(edit_config=_set("maze_shape", [15, 17])), "maze_shape"),
        (_rehashed(edit_config=_set("maze_seed", 8)), "maze_seed"),
        (_rehashed(edit_config=_set("pairs", 119)), "119 distinct pairs"),
        (_rehashed(edit_config=_set("paths_per_pair", 1)), "paths_per_pair=1"),
        (_rehashed(edit_config=_set("val_frac", 2.0)), "val_frac"),
    ],
)
def test_a_rehashed_folder_with_bad_paths_or_config_is_refused(tmp_path, tiny_dataset_dir, damage, message):
    folder = _copy(tiny_dataset_dir, tmp_path / "copy")
    damage(folder)
    with pytest.raises(ValueError, match=message):
        load_dataset(folder)


def test_maze_txt_as_a_folder_is_a_corrupt_dataset(tmp_path, tiny_dataset_dir):
    folder = _copy(tiny_dataset_dir, tmp_path / "copy")
    (folder / "maze.txt").unlink()
    (folder / "maze.txt").mkdir()
    with pytest.raises(ValueError, match="corrupt .*maze.txt"):
        load_dataset(folder)


def _regenerate_with_faulty_replace(out, monkeypatch, fail_at):
    """``generate --force`` into ``out`` while the ``fail_at``-th os.replace of the swap raises."""
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == fail_at:
            raise OSError("power cut")
        os.rename(src, dst)

    monkeypatch.setattr(datasets.os, "replace", replace)
    with pytest.raises(OSError, match="power cut"):
        generate_dataset(out, progress=False, force=True, **dict(TINY_DATASET, pairs=30, seed=99))
    monkeypatch.undo()


@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_failed_swap_keeps_the_old_dataset(tmp_path, monkeypatch, fail_at):
    out = generate_dataset(tmp_path / "d", progress=False, **dict(TINY_DATASET, pairs=30))
    _regenerate_with_faulty_replace(out, monkeypatch, fail_at)  # 1: moving the old one aside, 2: moving the new in
    assert load_dataset(out).meta["config"]["seed"] == TINY_DATASET["seed"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_a_swap_killed_between_the_renames_is_recovered(tmp_path):
    out = generate_dataset(tmp_path / "d", progress=False, **dict(TINY_DATASET, pairs=30))
    aside = tmp_path / ".d.old"
    os.replace(out, aside)  # the state a kill after the first rename leaves
    assert load_dataset(out).meta["config"]["pairs"] == 30 and not aside.exists()
    generate_dataset(tmp_path / "aside", progress=False, **dict(TINY_DATASET, pairs=30))
    os.replace(tmp_path / "aside", aside)  # a kill after the second rename: old and new both there
    generate_dataset(out, progress=False, force=True, **dict(TINY_DATASET, pairs=30, seed=99))
    assert load_dataset(out).meta["config"]["seed"] == 99 and sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_an_infinite_detour_ratio_is_refused_and_meta_is_strict_json(tmp_path, tiny_dataset_dir):
    with pytest.raises(ValueError, match="finite"):
        generate_dataset(tmp_path / "d", progress=False, **dict(TINY_DATASET, max_detour_ratio=float("inf")))
    json.loads((tiny_dataset_dir / "meta.json").read_text(), parse_constant=lambda name: pytest.fail(name))


@pytest.mark.parametrize(
    "maze, k, message",
    [
        (np.ones((7, 7), dtype=np.uint8), 2, "0 open cells"),
        (np.pad(np.zeros((1, 5), dtype=np.uint8), 1, constant_values=1), 6, "no two open cells .* longest has 5"),
    ],
)
def test_a_maze_without_pairs_says_why(tmp_path, maze, k, message):
    with pytest.raises(ValueError, match=message):
        generate_dataset(tmp_path / "d", maze=maze, num_subgoals=k, pairs=2, val_frac=0.5, progress=False)


def test_a_maze_too_large_for_the_distance_table_fails_before_any_work(tmp_path, monkeypatch, small_maze):
    with pytest.raises(ValueError, match="a 2001x2001 maze has at least 1999999 open cells; the table"):
        generate_dataset(tmp_path / "d", progress=False, **dict(TINY_DATASET, maze_size=2001))  # not even built
    monkeypatch.setattr("mazebench.maze.MAX_OPEN_CELLS", 50)
    with pytest.raises(ValueError, match=f"the maze has {(small_maze == 0).sum()} open cells; the table .* at most 50"):
        generate_dataset(tmp_path / "d", maze=small_maze, num_subgoals=3, pairs=20, progress=False)
    assert not (tmp_path / "d").exists()
