"""Tokens per second of the real trainer (data, interpolant, model, fused AdamW, EMA) on one device,
side by side for several agents and batch sizes in one run.

    python benchmarks/trainer_throughput.py --device cuda --preset gpu --batch-sizes 256,1024,2048
    python benchmarks/trainer_throughput.py --device cpu --preset cpu --steps 30 --batch-sizes 128

Each cell trains a fresh model for ``--steps`` steps through ``agents.training.train`` with metrics
logged every ``--window`` steps, and reports the median tokens/s of the windows after the first
(warm-up). FlexMDM counts the tokens of its noisy sequences, the MDM its padded ones. The table and
a JSON file (``--out``) name the device.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from agents.config import preset_config
from agents.training import train
from mazebench.datasets import default_data_dir, generate_dataset, load_dataset


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({torch.get_num_threads()} threads)"


def measure(dataset, agent: str, preset: str, batch_size: int, steps: int, window: int, device: str) -> dict:
    cfg = preset_config(
        preset, agent, batch_size=batch_size, log_every=window, eval_every_minutes=1e9, checkpoint_every_minutes=1e9
    )
    with tempfile.TemporaryDirectory() as run:
        summary = train(dataset, agent, cfg, run, device=device, progress=False, stop_after=steps)
        records = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    rate = statistics.median([r["tokens_per_s"] for r in records[1:]] or [records[-1]["tokens_per_s"]])
    tokens_per_step = summary["tokens_seen"] / summary["steps"]
    return {
        "agent": agent,
        "preset": preset,
        "batch_size": batch_size,
        "steps": summary["steps"],
        "tokens_per_step": tokens_per_step,
        "tokens_per_s": rate,
        "ms_per_step": 1000 * tokens_per_step / rate,
        "bf16_autocast": summary["bf16_autocast"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", default="gpu")
    parser.add_argument("--agents", default="flexmdm,mdm")
    parser.add_argument("--batch-sizes", default="256,1024")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--window", type=int, default=25, help="steps per metrics record (one host sync each)")
    parser.add_argument("--subgoals", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("reports") / "bench-trainer.json")
    args = parser.parse_args(argv)
    dataset = load_dataset(
        generate_dataset(default_data_dir(args.subgoals), num_subgoals=args.subgoals, progress=False)
    )
    name = device_name(args.device)
    rows = [
        measure(dataset, agent, args.preset, int(batch), args.steps, args.window, args.device)
        for agent in args.agents.split(",")
        for batch in args.batch_sizes.split(",")
    ]
    print(f"trainer throughput on {name}, preset {args.preset}, K = {args.subgoals}, {args.steps} steps per cell")
    print(f"{'agent':<8} {'batch':>6} {'tokens/step':>12} {'ms/step':>8} {'tokens/s':>12} {'bf16':>5}")
    for row in rows:
        print(
            f"{row['agent']:<8} {row['batch_size']:>6} {row['tokens_per_step']:>12,.0f} {row['ms_per_step']:>8.1f} "
            f"{row['tokens_per_s']:>12,.0f} {str(row['bf16_autocast']):>5}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
