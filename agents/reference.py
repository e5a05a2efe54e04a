"""Reference checkpoints shipped with the package: trained planners to evaluate at once.

Each is the EMA weights of a finished run (half precision where that measured no loss) with what a planner
needs to load them, in the suite's checkpoint format, and an entry in ``reference/index.json``: the planner,
K, the dataset it was trained on (its id and the command that generates it), the command that trained it,
the file's digest and the success measured on its report page (``reports/reference``).
``--checkpoint reference`` picks the entry of the planner and the dataset at hand.

Make one from a run: ``python -m agents.reference RUN NAME --data-command "..." --train-command "..."``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from agents.checkpoints import checkpoint_digest, read_checkpoint, save_checkpoint
from agents.loading import checkpoint_file

REFERENCE_DIR = Path(__file__).parent / "reference"
INDEX = REFERENCE_DIR / "index.json"
KEPT = ("agent", "tokenizer", "model_config", "num_subgoals", "max_path_len", "maze", "dataset_id", "train_config")


def references() -> list[dict]:
    """The index's entries, in order."""
    return json.loads(INDEX.read_text()) if INDEX.exists() else []


def reference_checkpoint(agent: str, dataset) -> Path:
    """The file of the reference checkpoint of ``agent`` trained on ``dataset`` (by its id), its digest
    checked against the index; ValueError naming the datasets that have one when there is none."""
    entries = [entry for entry in references() if entry["agent"] == agent]
    for entry in entries:
        if dataset is not None and entry["dataset_id"] == dataset.meta["dataset_id"]:
            path = REFERENCE_DIR / entry["file"]
            if checkpoint_digest(path) != entry["sha256"]:
                raise ValueError(f"the reference checkpoint {path} does not match its digest in {INDEX}")
            return path
    known = "; ".join(f"K = {e['num_subgoals']}: `{e['data_command']}`" for e in entries) or "none"
    raise ValueError(
        f"no reference {agent} checkpoint for "
        + ("this dataset" if dataset is None else f"the dataset {dataset.path}")
        + f"; reference {agent} checkpoints exist for the datasets of: {known}"
    )


def make_reference(run: str | Path, out: str | Path, *, half: bool = True) -> str:
    """Write the EMA weights of ``run`` (float16 if ``half``) and what loading needs to ``out``; its digest."""
    state = read_checkpoint(checkpoint_file(run))
    weights = state["ema"]["model"]
    if half:
        weights = {name: w.half() if w.is_floating_point() else w for name, w in weights.items()}
    save_checkpoint({**{key: state[key] for key in KEPT}, "ema": {"model": weights}}, out)
    return checkpoint_digest(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Add a finished run's EMA weights to the reference checkpoints.")
    parser.add_argument("run", type=Path, help="the run folder")
    parser.add_argument("name", help="the file's name without extension, e.g. mini-flexmdm-k12")
    parser.add_argument("--data-command", required=True, help="the command that generates the run's dataset")
    parser.add_argument("--train-command", required=True, help="the command that trained the run")
    parser.add_argument("--full", action="store_true", help="keep float32 weights")
    args = parser.parse_args(argv)
    REFERENCE_DIR.mkdir(exist_ok=True)
    file = f"{args.name}.safetensors"
    digest = make_reference(args.run, REFERENCE_DIR / file, half=not args.full)
    state = read_checkpoint(REFERENCE_DIR / file)
    entry = {
        "file": file,
        "agent": state["agent"],
        "num_subgoals": state["num_subgoals"],
        "dataset_id": state["dataset_id"],
        "data_command": args.data_command,
        "train_command": args.train_command,
        "dtype": str(torch.float32 if args.full else torch.float16).removeprefix("torch."),
        "sha256": digest,
    }
    entries = [e for e in references() if e["file"] != file] + [entry]
    INDEX.write_text(json.dumps(entries, indent=2) + "\n")
    print(f"{REFERENCE_DIR / file}: {digest}")


if __name__ == "__main__":
    main()
