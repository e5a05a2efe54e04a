"""Does ``torch.compile`` speed up the FlexMDM training step on this CPU? Eager against compiled,
side by side in one process, on the same batches of the default K = 12 dataset (cpu preset model)
or of ``--data`` with the ``--preset`` model.

    python benchmarks/compile_trial.py [--steps 40] [--agent flexmdm] [--preset mini --data data/maze15-s2025-k2]

Prints one JSON line: tokens/s of each and the compiled run's warm-up (compilation) seconds. Batch
lengths vary from step to step, so the compiled model is built with ``dynamic=True``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from agents.batching import TokenizedSplit, epoch_batches
from agents.config import PRESETS
from agents.loading import build_method, build_model
from agents.tokenizer import CellTokenizer
from mazebench.datasets import default_data_dir, generate_dataset, load_dataset


def measure(agent: str, compiled: bool, steps: int, preset: str, data: str | None, warmup: int = 10) -> dict:
    dataset = load_dataset(data or generate_dataset(default_data_dir(12), num_subgoals=12, progress=False))
    tokenizer = CellTokenizer(*dataset.maze.shape)
    data = TokenizedSplit.from_split(dataset.train, tokenizer)
    method = build_method(agent, tokenizer, dataset.num_subgoals, int(data.lengths.max()))
    torch.manual_seed(0)
    model = build_model(method, tokenizer, PRESETS[preset]).train()
    forward = torch.compile(model, dynamic=True) if compiled else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = epoch_batches(
        len(data),
        PRESETS[preset].batch_size,
        lambda i, t: method.expected_length(data, i, t),
        0.999,
        torch.Generator().manual_seed(0),
        group=PRESETS[preset].time_group,
    )

    def step(i: int) -> int:
        indices, t = batches[i % len(batches)]
        loss, _, tokens = method.loss(forward, data, indices, t, torch.Generator().manual_seed(i))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return tokens

    start = time.perf_counter()
    for i in range(warmup):
        step(i)
    warmup_seconds = time.perf_counter() - start
    start = time.perf_counter()
    tokens = sum(step(i) for i in range(warmup, warmup + steps))
    return {"tokens_per_s": round(tokens / (time.perf_counter() - start)), "warmup_seconds": round(warmup_seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--agent", default="flexmdm", choices=("flexmdm", "mdm"))
    parser.add_argument("--preset", default="cpu", choices=PRESETS)
    parser.add_argument("--data", help="a dataset folder (default: the K = 12 dataset under data/)")
    args = parser.parse_args()
    eager = measure(args.agent, False, args.steps, args.preset, args.data)
    compiled = measure(args.agent, True, args.steps, args.preset, args.data)
    print(
        json.dumps(
            {
                "agent": args.agent,
                "steps": args.steps,
                "eager": eager,
                "compiled": compiled,
                "compiled_over_eager": round(compiled["tokens_per_s"] / eager["tokens_per_s"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
