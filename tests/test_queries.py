"""Held-out queries drawn as training examples are (one of each pair's paths, fixed seed), the shortest-path
queries on request, and length fidelity against each pair's own path distribution."""

import json

import numpy as np
import pytest

from agents.bfs import BFSPlanner
from mazebench.datasets import generate_dataset, load_dataset
from mazebench.evaluation import evaluate
from mazebench.planner import Planner
from tests.conftest import SMALL_MAZE


@pytest.fixture(scope="module")
def many_pairs(tmp_path_factory):
    """300 held-out pairs of up to 6 paths each on the small maze."""
    folder = tmp_path_factory.mktemp("data") / "pairs-k2"
    return load_dataset(
        generate_dataset(
            folder, num_subgoals=2, pairs=600, paths_per_pair=6, seed=5, val_frac=0.5, progress=False, **SMALL_MAZE
        )
    )


class _DataPaths(Planner):
    """A perfect model of the data: for each query, one of the held-out paths with its subgoals, at random
    (at K = 2 any path of the pair)."""

    name = "data"

    def __init__(self, split):
        self.by_subgoals = {}
        for i in range(len(split)):
            example = split[i]
            self.by_subgoals.setdefault(example.subgoals.tobytes(), []).append(example.path)
        self.dtype = split.cells.dtype

    def describe(self):
        return {"agent": self.name}

    def plan(self, maze, subgoal_batch, seed=0):
        rng = np.random.default_rng(seed)
        choices = [self.by_subgoals[np.asarray(s, dtype=self.dtype).tobytes()] for s in subgoal_batch]
        return [paths[rng.integers(len(paths))] for paths in choices]


def test_drawn_queries_spread_over_each_pairs_paths_and_are_fixed_by_the_seed(many_pairs):
    split = many_pairs.val
    drawn, first = split.queries("drawn"), split.queries("shortest")
    assert np.array_equal(first, split.first_per_pair())
    assert np.array_equal(split.pair_id[drawn], split.pair_id[first])  # one query per pair, in the same order
    position = drawn - first  # the examples of a pair are stored together, the shortest first
    counts = np.array([len(lengths) for lengths in split.pair_lengths().values()])
    assert (position >= 0).all() and (position < counts[np.argsort(np.argsort(split.pair_id[first]))]).all()
    assert (position > 0).mean() > 0.5 and len(set(position.tolist())) >= 5  # not only index 0
    assert np.array_equal(split.queries("drawn"), drawn) and not np.array_equal(split.queries("drawn", seed=1), drawn)
    with pytest.raises(ValueError, match="query kind"):
        split.queries("longest")


def test_every_planner_and_worker_count_gets_the_same_queries(tiny_dataset, tmp_path):
    indices = []
    for name, planner, workers in (
        ("bfs", BFSPlanner(), 1),
        ("data", _DataPaths(tiny_dataset.val), 1),
        ("bfs2", BFSPlanner(), 2),
    ):
        evaluate(
            planner, tiny_dataset, out_dir=tmp_path / name, batch_size=3, progress=False, workers=workers, num_pngs=0
        )
        indices.append([json.loads(line)["index"] for line in (tmp_path / name / "samples.jsonl").open()])
    assert indices[0] == indices[1] == indices[2] == tiny_dataset.val.queries().tolist()


def test_the_datas_own_paths_score_100_percent_and_match_the_pairs_length_distribution(many_pairs, tmp_path):
    data = evaluate(_DataPaths(many_pairs.val), many_pairs, out_dir=tmp_path / "data", progress=False, num_pngs=0)
    assert data["success_rate"] == 1.0
    assert data["length_w1_pair_paths"] < 0.05 * data["mean_pair_length"]
    # shortest paths are far from the pairs' distribution, which holds the detours
    bfs = evaluate(BFSPlanner(), many_pairs, out_dir=tmp_path / "bfs", progress=False, num_pngs=0)
    assert bfs["length_w1_pair_paths"] > 4 * data["length_w1_pair_paths"]
    assert bfs["mean_length"] < data["mean_pair_length"]


def test_shortest_queries_are_each_pairs_first_path_and_say_so(tiny_dataset, tmp_path):
    summary = evaluate(BFSPlanner(), tiny_dataset, out_dir=tmp_path, progress=False, queries="shortest", num_pngs=0)
    assert summary["evaluation"]["queries"] == "shortest"
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").open()]
    assert [s["index"] for s in samples] == tiny_dataset.val.first_per_pair().tolist()
    # the first path of a pair is a shortest path, and its subgoals lie on it: BFS finds paths just as long
    assert summary["mean_length"] == pytest.approx(summary["mean_reference_length"])
    assert all(s["reference_length"] == min(s["pair_lengths"]) for s in samples)
