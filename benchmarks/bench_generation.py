"""Speed of generating one full default dataset (K=12, 15,000 pairs, 10 paths per pair): one round.

Run with ``make bench`` (``pytest benchmarks/ -o python_files='bench_*.py' --benchmark-json=...``).
"""

from __future__ import annotations

from mazebench.datasets import generate_dataset, load_dataset


def test_generate_default_k12(benchmark, tmp_path):
    out = benchmark.pedantic(
        generate_dataset,
        args=(tmp_path / "k12",),
        kwargs={"num_subgoals": 12, "progress": False},
        rounds=1,
        iterations=1,
    )
    dataset = load_dataset(out)
    benchmark.extra_info.update(dataset.meta["counts"])
    assert dataset.meta["counts"]["train_pairs"] + dataset.meta["counts"]["val_pairs"] == 15000
