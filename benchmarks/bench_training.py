"""Speed of the hot paths, side by side in one run: the training step (FlexMDM and MDM, fp32 against
bf16 autocast, cpu and paper model sizes), sampler, scoring, and the machine's matrix-multiply peak.

Run with ``make bench``. Figures land in the pytest-benchmark JSON; ``extra_info`` holds tokens/s,
paths/s and the fraction of the measured fp32 matmul peak.
"""

from __future__ import annotations

import time

import pytest
import torch

from agents.batching import TokenizedSplit, epoch_batches
from agents.config import PRESETS
from agents.learned import LearnedPlanner
from agents.loading import build_method, build_model
from agents.tokenizer import CellTokenizer
from agents.training import bf16_autocast_supported
from mazebench.datasets import default_data_dir, generate_dataset, load_dataset
from mazebench.scoring import score_path


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(generate_dataset(default_data_dir(12), num_subgoals=12, progress=False))


@pytest.fixture(scope="module")
def matmul_peak() -> float:
    """fp32 GFLOP/s of a large square matmul on all threads."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    return 20 * 2 * 1024**3 / (time.perf_counter() - start) / 1e9


def _training_step(dataset, agent: str, preset: str, bf16: bool):
    tokenizer = CellTokenizer(*dataset.maze.shape)
    data = TokenizedSplit.from_split(dataset.train, tokenizer)
    method = build_method(agent, tokenizer, dataset.num_subgoals, int(data.lengths.max()))
    model = build_model(method, tokenizer, PRESETS[preset]).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = epoch_batches(
        len(data),
        PRESETS["cpu"].batch_size,
        lambda i, t: method.expected_length(data, i, t),
        0.999,
        torch.Generator().manual_seed(0),
    )
    counter = {"step": 0, "tokens": 0}

    def step():
        indices, t = batches[counter["step"] % len(batches)]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _, tokens = method.loss(model, data, indices, t, torch.Generator().manual_seed(counter["step"]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        counter["step"] += 1
        counter["tokens"] += tokens

    flops_per_token = 6 * sum(p.numel() for n, p in model.named_parameters() if "emb" not in n)
    return step, counter, flops_per_token


@pytest.mark.parametrize("preset", ["cpu", "paper"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("agent", ["flexmdm", "mdm"])
def test_training_step(benchmark, dataset, matmul_peak, agent, precision, preset):
    step, counter, flops_per_token = _training_step(dataset, agent, preset, precision == "bf16")
    step()  # warm-up
    counter.update(step=0, tokens=0)
    benchmark.pedantic(step, rounds=8, iterations=1)
    tokens_per_s = counter["tokens"] / counter["step"] / benchmark.stats.stats.mean
    benchmark.extra_info.update(
        tokens_per_step=counter["tokens"] / counter["step"],
        tokens_per_s=round(tokens_per_s),
        native_bf16=bf16_autocast_supported(torch.device("cpu")),
        matmul_peak_gflops=round(matmul_peak, 1),
        fraction_of_peak=round(tokens_per_s * flops_per_token / 1e9 / matmul_peak, 3),
    )


@pytest.mark.parametrize("agent", ["flexmdm", "mdm"])
def test_sampling_64_steps(benchmark, dataset, agent):
    tokenizer = CellTokenizer(*dataset.maze.shape)
    lengths = dataset.train.lengths
    method = build_method(agent, tokenizer, dataset.num_subgoals, int(max(lengths.max(), dataset.val.lengths.max())))
    planner = LearnedPlanner(method, build_model(method, tokenizer, PRESETS["cpu"]).eval(), steps=64)
    queries = [dataset.val[int(i)].subgoals for i in dataset.val.first_per_pair()[:128]]
    benchmark.pedantic(planner.plan, args=(dataset.maze, queries), rounds=2, iterations=1)
    benchmark.extra_info.update(
        paths_per_s=round(len(queries) / benchmark.stats.stats.mean, 1),
        note="untrained cpu-size model: FlexMDM lengths differ from a trained one's",
    )


def test_bfs_oracle_planning(benchmark, dataset):
    from agents.bfs import BFSPlanner

    queries = [dataset.val[int(i)].subgoals for i in dataset.val.first_per_pair()[:128]]
    benchmark.pedantic(BFSPlanner().plan, args=(dataset.maze, queries), rounds=3, iterations=1)
    benchmark.extra_info.update(paths_per_s=round(len(queries) / benchmark.stats.stats.mean, 1))


def test_scoring(benchmark, dataset):
    examples = [dataset.val[i] for i in range(1000)]

    def score_all():
        return [score_path(dataset.maze, ex.subgoals, ex.path) for ex in examples]

    scores = benchmark.pedantic(score_all, rounds=3, iterations=1)
    assert all(s.success for s in scores)
    benchmark.extra_info.update(paths_per_s=round(len(examples) / benchmark.stats.stats.mean))
