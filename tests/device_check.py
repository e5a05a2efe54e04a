"""Every code path of the suite on one device, end to end, failing loudly: ``make gpu-check``.

    python -m tests.device_check --device cuda      # a few minutes on one GPU
    python -m tests.device_check --device cpu       # the same on the CPU (CI runs it: tests/test_device_check.py)

On a small maze it generates data, trains both planners with every preset for a few steps (the
periodic held-out check included), resumes a run, evaluates each sampler variant, trains and
evaluates the autoregressive baseline, writes a tiny report, and trains under torchrun with one
process, each through the command line as a user would. It prints one line per check and exits 1 if any
failed, with that command's output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL_DATA = ["--maze-size", "15", "--maze-seed", "7", "--pairs", "60", "--paths-per-pair", "3", "--val-frac", "0.2"]
# A few steps of any preset (2 epochs of the ~150 training paths), with quick held-out checks.
FEW_STEPS = ["--eval-every-minutes", "1e-6", "--eval-examples", "4", "--eval-steps", "4", "--log-every", "2", "--quiet"]
SAMPLERS = {
    "adaptive-binomial-balanced-argmax": [
        "--mode",
        "adaptive",
        "--count-law",
        "binomial",
        "--time-grid",
        "balanced",
        "--temperature",
        "0",
    ],
    "adaptive-poisson-uniform-window": [
        "--mode",
        "adaptive",
        "--count-law",
        "poisson",
        "--time-grid",
        "uniform",
        "--temperature",
        "1",
        "--window",
        "2",
        "--confidence",
        "margin",
    ],
    "vanilla-poisson-uniform (paper)": [
        "--mode",
        "vanilla",
        "--count-law",
        "poisson",
        "--time-grid",
        "uniform",
        "--temperature",
        "1",
    ],
    "vanilla-binomial-balanced": [
        "--mode",
        "vanilla",
        "--count-law",
        "binomial",
        "--time-grid",
        "balanced",
        "--temperature",
        "1",
    ],
}


def checks(device: str, work: Path) -> list[tuple[str, list[str]]]:
    """(name, argv) of every check, in order; later checks use what earlier ones wrote under ``work``."""
    cli = [sys.executable, "-m", "mazebench"]
    data = work / "maze15-s7-k3"
    runs = work / "runs"
    found = [("generate", cli + ["generate", "--subgoals", "3", *SMALL_DATA, "--out", str(work), "--quiet"])]
    for agent in ("flexmdm", "mdm"):
        for preset in ("tiny", "cpu", "gpu", "paper"):
            found.append(
                (
                    f"train {agent} --preset {preset}",
                    cli
                    + [
                        "train",
                        "--agent",
                        agent,
                        "--data",
                        str(data),
                        "--preset",
                        preset,
                        "--device",
                        device,
                        "--out",
                        str(runs / f"{agent}-{preset}"),
                        "--epochs",
                        "2",
                        *FEW_STEPS,
                    ],
                )
            )
        found.append(
            (
                f"resume {agent}",
                cli
                + [
                    "train",
                    "--agent",
                    agent,
                    "--data",
                    str(data),
                    "--preset",
                    "tiny",
                    "--device",
                    device,
                    "--out",
                    str(runs / f"{agent}-tiny"),
                    "--resume",
                    "--epochs",
                    "3",
                    *FEW_STEPS,
                ],
            )
        )
        for name, options in SAMPLERS.items():
            found.append(
                (
                    f"evaluate {agent} {name}",
                    cli
                    + [
                        "evaluate",
                        "--agent",
                        agent,
                        "--data",
                        str(data),
                        "--checkpoint",
                        str(runs / f"{agent}-gpu"),
                        "--device",
                        device,
                        "--steps",
                        "6",
                        "--limit",
                        "6",
                        "--batch-size",
                        "4",
                        "--num-pngs",
                        "1",
                        *options,
                        "--out",
                        str(work / "eval" / f"{agent}-{name.split()[0]}"),
                    ],
                )
            )
    found.append(
        (
            "train ar --preset gpu",
            cli
            + [
                "train",
                "--agent",
                "ar",
                "--data",
                str(data),
                "--preset",
                "gpu",
                "--device",
                device,
                "--out",
                str(runs / "ar-gpu"),
                "--epochs",
                "2",
                *FEW_STEPS,
            ],
        )
    )
    found.append(
        (
            "evaluate ar (greedy)",
            cli
            + [
                "evaluate",
                "--agent",
                "ar",
                "--data",
                str(data),
                "--checkpoint",
                str(runs / "ar-gpu"),
                "--device",
                device,
                "--limit",
                "6",
                "--batch-size",
                "4",
                "--num-pngs",
                "1",
                "--out",
                str(work / "eval" / "ar"),
            ],
        )
    )
    found.append(
        (
            "torchrun, one process",
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc_per_node=1",
                "-m",
                "mazebench",
                "train",
                "--agent",
                "flexmdm",
                "--data",
                str(data),
                "--preset",
                "gpu",
                "--device",
                device,
                "--out",
                str(runs / "torchrun"),
                "--epochs",
                "2",
                *FEW_STEPS,
            ],
        )
    )
    found.append(("tiny report", [sys.executable, "-c", _REPORT.format(work=str(work))]))
    return found


# The report trains on the default device (CUDA when present), as `mazebench report` does.
_REPORT = """
from pathlib import Path
from mazebench.report import ReportSpec, build_report
spec = ReportSpec(ks=(2, 3), preset="tiny", steps=4, sweep_steps=(2, 4), sweep_limit=4, limit=5,
                  dataset_options=dict(maze_size=15, maze_seed=7, pairs=60, paths_per_pair=3, val_frac=0.2),
                  train_options=dict(epochs=0.5, batch_size=16, d_model=32, n_heads=2, n_layers=1, cond_dim=32),
                  data_root=Path({work!r}) / "report-data", out=Path({work!r}) / "report")
build_report(spec, progress=False)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="torch device to check (cuda, cuda:1, cpu ...)")
    parser.add_argument(
        "--keep", type=Path, default=None, help="work in this folder and keep it (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mazebench-device-check-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        failed = []
        for name, argv_ in checks(args.device, work):
            started = time.perf_counter()
            done = subprocess.run(argv_, cwd=work, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            print(f"{'ok  ' if done.returncode == 0 else 'FAIL'} {seconds:6.1f} s  {name}", flush=True)
            if done.returncode != 0:
                failed.append(name)
                print("    $ " + " ".join(argv_) + "\n" + _indent(done.stdout + done.stderr), flush=True)
        print(
            f"device check on {args.device}: "
            f"{'all passed' if not failed else f'{len(failed)} failed: ' + ', '.join(failed)}"
        )
        return 1 if failed else 0


def _indent(text: str, lines: int = 40) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


if __name__ == "__main__":
    raise SystemExit(main())
