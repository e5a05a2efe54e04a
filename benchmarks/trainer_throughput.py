"""Tokens per second of the real trainer (data, interpolant, model, fused AdamW, EMA) on one device,
side by side for several agents and batch sizes in one run, optionally against an older commit.

    python benchmarks/trainer_throughput.py --device cuda --preset gpu --batch-sizes 256,1024,2048
    python benchmarks/trainer_throughput.py --device cpu --preset cpu --steps 30 --batch-sizes 128
    python benchmarks/trainer_throughput.py --device cpu --preset mini --agents flexmdm --batch-sizes 64 \\
        --data data/maze15-s2025-k2 --steps 60 --window 10 --baseline 3f61d3c --rounds 3

Each cell trains a fresh model for ``--steps`` steps through ``agents.training.train`` with metrics
logged every ``--window`` steps, and reports the median tokens/s of the windows after the first
(warm-up), and the mean training loss (the same batches and noise in every cell of an agent, so
two trainers that learn alike show the same loss). FlexMDM counts the tokens of its noisy sequences,
the MDM its padded ones. ``pct_peak``
is the training FLOPs per second by the run's own estimate (``agents.compute``) as a percentage of
the fp32 matmul peak of one core, measured in the same run. With ``--baseline REV`` every cell also
runs the trainer of commit REV (``git archive`` into a temporary folder); the two alternate for
``--rounds`` rounds, each cell in its own process, and the table gives the medians. ``--profile``
prints each cell's top operators (torch.profiler). The table and a JSON file (``--out``) name the device.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from agents.compute import BACKWARD_FACTOR, forward_flops_per_token
from agents.config import preset_config
from agents.training import train
from mazebench.datasets import default_data_dir, generate_dataset, load_dataset

ROOT = Path(__file__).resolve().parents[1]


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return f"CPU ({torch.get_num_threads()} threads, avx512_bf16 {'yes' if 'avx512_bf16' in flags else 'no'})"


def one_core_matmul_peak() -> float:
    """fp32 GFLOP/s of a 1024 x 1024 matmul on one thread (the best of three rounds of ten)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        best = min(best, time.perf_counter() - start)
    torch.set_num_threads(threads)
    return 10 * 2 * 1024**3 / best / 1e9


def measure(dataset, agent: str, preset: str, batch_size: int, steps: int, window: int, device: str, profile: bool):
    cfg = preset_config(
        preset, agent, batch_size=batch_size, log_every=window, eval_every_minutes=1e9, checkpoint_every_minutes=1e9
    )
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if profile else nullcontext()
    with tempfile.TemporaryDirectory() as run, profiler:
        summary = train(dataset, agent, cfg, run, device=device, progress=False, stop_after=steps)
        records = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    if profile:
        print(f"{agent} batch {batch_size}: top operators by own CPU time over {steps} steps")
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=50))
    rate = statistics.median([r["tokens_per_s"] for r in records[1:]] or [records[-1]["tokens_per_s"]])
    tokens_per_step = summary["tokens_seen"] / summary["steps"]
    flops_per_token = BACKWARD_FACTOR * forward_flops_per_token(summary["model_config"], tokens_per_step / batch_size)
    return {
        "agent": agent,
        "preset": preset,
        "batch_size": batch_size,
        "steps": summary["steps"],
        "tokens_per_step": tokens_per_step,
        "tokens_per_s": rate,
        "ms_per_step": 1000 * tokens_per_step / rate,
        "gflops_per_s": rate * flops_per_token / 1e9,
        "mean_loss": statistics.mean(r["loss"] for r in records),
        "bf16_autocast": summary["bf16_autocast"],
    }


def measure_all(args) -> list[dict]:
    """Every (agent, batch size) cell with this process's trainer."""
    if args.threads:
        torch.set_num_threads(args.threads)
    data = args.data or generate_dataset(default_data_dir(args.subgoals), num_subgoals=args.subgoals, progress=False)
    dataset = load_dataset(data)
    return [
        measure(dataset, agent, args.preset, int(batch), args.steps, args.window, args.device, args.profile)
        for agent in args.agents.split(",")
        for batch in args.batch_sizes.split(",")
    ]


def measure_in(tree: Path, argv: list[str]) -> list[dict]:
    """``measure_all`` in a fresh process running the trainer of the source tree ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, __file__, *argv, "--worker"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    *profile, rows = done.stdout.rstrip("\n").split("\n")
    if profile:
        print(f"--- {tree}", *profile, sep="\n")
    return json.loads(rows)


def side_by_side(argv: list[str], baseline: str, rounds: int) -> dict[str, list[dict]]:
    """Rows of the baseline commit's trainer and of this tree's, alternating for ``rounds`` rounds (medians)."""
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "archive", baseline], cwd=ROOT, capture_output=True, check=True).stdout
        with tempfile.TemporaryFile() as tar:
            tar.write(archive)
            tar.seek(0)
            tarfile.open(fileobj=tar).extractall(old, filter="data")
        trees = {f"{baseline} (before)": Path(old), "this tree (after)": ROOT}
        runs = {name: [] for name in trees}
        for _ in range(rounds):
            for name, tree in trees.items():
                runs[name].append(measure_in(tree, argv))
    return {name: [median_row(cells) for cells in zip(*rows)] for name, rows in runs.items()}


def median_row(cells: tuple[dict, ...]) -> dict:
    """One cell's rounds as one row: the median rates, and every round's tokens/s."""
    rates = {key: statistics.median(c[key] for c in cells) for key in ("tokens_per_s", "ms_per_step", "gflops_per_s")}
    return {**cells[0], **rates, "rounds": [round(c["tokens_per_s"]) for c in cells]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="gpu")
    parser.add_argument("--agents", default="flexmdm,mdm")
    parser.add_argument("--batch-sizes", default="256,1024")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--window", type=int, default=25, help="steps per metrics record (one host sync each)")
    parser.add_argument("--subgoals", type=int, default=12)
    parser.add_argument("--data", type=Path, help="a dataset folder (default: the --subgoals dataset under data/)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--baseline", help="also time the trainer of this git commit, alternating with this tree's")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds with --baseline")
    parser.add_argument("--profile", action="store_true", help="print each cell's top operators")
    parser.add_argument("--out", type=Path, default=Path("reports") / "bench-trainer.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure_all(args)))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    name, peak = device_name(args.device), one_core_matmul_peak()
    if args.baseline:
        worker_argv = [a for a in argv if a not in ("--baseline", args.baseline)]
        tables = side_by_side(worker_argv, args.baseline, args.rounds)
    else:
        tables = {"this tree": measure_all(args)}
    print(f"trainer throughput on {name}, preset {args.preset}, data {args.data or f'K = {args.subgoals}'}, ")
    print(f"{args.steps} steps per cell; one core's fp32 matmul peak {peak:.1f} GFLOP/s (measured in this run)")
    print(
        f"{'trainer':<20} {'agent':<8} {'batch':>6} {'tok/step':>9} {'ms/step':>8} {'tokens/s':>9} {'% peak':>7} "
        f"{'loss':>7} bf16"
    )
    for trainer, rows in tables.items():
        for row in rows:
            row["pct_peak"] = 100 * row["gflops_per_s"] / peak
            print(
                f"{trainer:<20} {row['agent']:<8} {row['batch_size']:>6} {row['tokens_per_step']:>9,.0f} "
                f"{row['ms_per_step']:>8.1f} {row['tokens_per_s']:>9,.0f} {row['pct_peak']:>6.1f}% "
                f"{row['mean_loss']:>7.4f} {row['bf16_autocast']}"
            )
    if args.baseline:
        before, after = tables.values()
        for old, new in zip(before, after):
            speedup = new["tokens_per_s"] / old["tokens_per_s"]
            print(f"{new['agent']} batch {new['batch_size']}: after / before = {speedup:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"device": name, "torch": torch.__version__, "one_core_fp32_peak_gflops": peak, "tables": tables}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
