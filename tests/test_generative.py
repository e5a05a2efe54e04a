"""Many samples per query: the pass@k estimator, distinct paths and coverage, the draws an evaluation stores, and
the network evaluations per path (NFE) a learned planner counts."""

import itertools
import json

import numpy as np
import pytest
import torch

from agents.bfs import BFSPlanner
from agents.config import preset_config
from agents.learned import LearnedPlanner, protocol_sampler
from agents.loading import build_method, build_model
from agents.tokenizer import CellTokenizer
from mazebench import Planner
from mazebench.evaluation import evaluate, generative_metrics
from mazebench.statistics import pass_at


@pytest.mark.parametrize("n", range(1, 7))
def test_pass_at_k_equals_the_brute_force_chance_over_every_subset(n):
    for c in range(n + 1):
        outcomes = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(outcomes, k))
            assert pass_at(k, n, c) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
    with pytest.raises(ValueError, match="pass@k"):
        pass_at(n + 1, n, 0)


def _draw(path, success):
    return {"path": path, "success": success}


def test_distinct_paths_and_coverage_on_hand_made_draws():
    p1, p2, q1, q2 = [[0, 0], [0, 1]], [[0, 0], [1, 0]], [[5, 5], [5, 6]], [[5, 5], [6, 5]]
    samples = [
        {"pair_id": 0, **_draw(p1, True), "more_samples": [_draw(p1, True), _draw([[0, 0]], False)]},
        {"pair_id": 1, **_draw(q1, False), "more_samples": [_draw(q2, True), _draw(q1, True)]},
    ]
    metrics = generative_metrics(samples, {0: [p1, p2], 1: [q1], 2: [p2]})
    assert metrics["samples_per_query"] == 3 and sorted(metrics["pass_at"]) == ["1", "2", "3"]
    assert metrics["pass_at"]["1"] == pytest.approx(2 / 3) and metrics["pass_at"]["3"] == 1.0
    assert metrics["mean_distinct_valid_paths"] == 1.5  # p1 twice; q2 and q1
    assert metrics["mean_reference_coverage"] == 0.75  # 1 of pair 0's 2 paths, pair 1's only path


class Coin(Planner):
    """Plans the BFS path or a one-cell path, each with probability 1/2, drawn from the batch's seed."""

    name = "coin"

    def plan(self, maze, subgoal_batch, seed=0):
        rng = np.random.default_rng(seed)
        honest = BFSPlanner().plan(maze, subgoal_batch, seed)
        return [path if rng.random() < 0.5 else path[:1] for path in honest]

    def describe(self):
        return {"agent": self.name}


def test_an_evaluation_stores_every_draw_and_its_metrics_follow_from_them(tiny_dataset, tmp_path):
    single = evaluate(Coin(), tiny_dataset, out_dir=tmp_path / "one", limit=12, batch_size=3, progress=False)
    summary = evaluate(
        Coin(), tiny_dataset, out_dir=tmp_path / "four", limit=12, batch_size=3, progress=False, samples_per_query=4
    )
    rows = [json.loads(line) for line in (tmp_path / "four" / "samples.jsonl").read_text().splitlines()]
    assert "generative" not in single and "more_samples" not in json.loads(
        (tmp_path / "one" / "samples.jsonl").read_text().splitlines()[0]
    )
    assert summary["success_rate"] == single["success_rate"]  # draw 0 is the single-sample evaluation
    draws = [[row["success"]] + [more["success"] for more in row["more_samples"]] for row in rows]
    assert {len(d) for d in draws} == {4} and 0 < np.mean(draws) < 1  # the draws differ: seeds apart
    generative = summary["generative"]
    assert generative["pass_at"]["1"] == pytest.approx(np.mean(draws))
    assert generative["pass_at"]["4"] == pytest.approx(np.mean([any(d) for d in draws]))
    assert generative["mean_distinct_valid_paths"] == pytest.approx(np.mean([any(d) for d in draws]))  # one BFS path
    assert summary["evaluation"]["samples_per_query"] == 4
    with pytest.raises(ValueError, match="samples_per_query"):
        evaluate(Coin(), tiny_dataset, out_dir=tmp_path / "none", samples_per_query=0, progress=False)


def test_nfe_per_path_is_the_number_of_network_calls_every_path_went_through(tiny_dataset, tmp_path):
    tokenizer = CellTokenizer(*tiny_dataset.maze.shape)
    method = build_method("flexmdm", tokenizer, tiny_dataset.num_subgoals, int(tiny_dataset.train.lengths.max()))
    torch.manual_seed(0)
    small = preset_config("tiny", d_model=32, n_heads=2, n_layers=1, cond_dim=32)
    planner = LearnedPlanner(
        method, build_model(method, tokenizer, small).eval(), steps=5, sampler=protocol_sampler("paper")
    )
    summary = evaluate(planner, tiny_dataset, out_dir=tmp_path, limit=7, batch_size=3, num_pngs=0, progress=False)
    counters = summary["planner"]["counters"]
    assert counters["network_calls"] == 3 * 5  # three batches, one call per step (the official end game)
    assert summary["network_calls_per_path"] == 5.0
    assert (
        evaluate(Coin(), tiny_dataset, out_dir=tmp_path / "c", limit=3, progress=False)["network_calls_per_path"]
        is None
    )


def test_the_evaluate_command_plans_several_samples_per_query(tiny_dataset_dir, tmp_path):
    from click.testing import CliRunner

    from mazebench.cli import cli

    args = ["evaluate", "--agent", "bfs", "--data", str(tiny_dataset_dir), "--limit", "4", "--num-pngs", "0"]
    done = CliRunner().invoke(cli, [*args, "--samples-per-query", "3", "--out", str(tmp_path / "e"), "--quiet"])
    assert done.exit_code == 0, done.output
    assert "pass@1 100.0%  pass@2 100.0%  pass@3 100.0%  distinct valid paths per query 1.00" in done.output
    refused = CliRunner().invoke(cli, [*args, "--samples-per-query", "0"])
    assert refused.exit_code == 2 and "--samples-per-query" in refused.output
