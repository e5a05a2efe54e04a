"""Reference checkpoints shipped with the package: trained planners to evaluate at once.

Each is the EMA weights of a finished run (half precision where that measured no loss) with what a planner
needs to load them, in the suite's checkpoint format, and an entry in ``reference/index.json``: the planner,
K, the dataset it was trained on (its id and the command that generates it), the command that trained it,
the file's digest and the success measured on its report page (``reports/reference``).
``--checkpoint reference`` picks the entry of the planner and the dataset at hand.

Add one from a finished run (its success measured on its dataset) and write the page:
``python -m agents.reference add RUN NAME --data DATA --data-command "..." --train-command "..."``, then
``python -m agents.reference page reports/reference/README.md``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from agents.checkpoints import checkpoint_digest, read_checkpoint, save_checkpoint
from agents.loading import checkpoint_file
from mazebench.manifest import write_manifest

REFERENCE_DIR = Path(__file__).parent / "reference"
INDEX = REFERENCE_DIR / "index.json"
MEASURED_PAIRS = 100  # the held-out queries a reference's stated success is measured on
MEASURED_PROTOCOLS = ("paper-64", "suite")  # 64 steps each: cheap enough for the slow tests to re-measure them all
KEPT = ("agent", "tokenizer", "model_config", "num_subgoals", "max_path_len", "maze", "dataset_id", "train_config")


ENTRY_FIELDS = {"file": str, "agent": str, "num_subgoals": int, "dataset_id": str, "data_command": str, "sha256": str}


def references() -> list[dict]:
    """The index's entries, in order; a one-line ValueError if the index is no list of entries with the fields
    a lookup reads (``ENTRY_FIELDS``), each ``file`` a name in the reference folder."""
    if not INDEX.exists():
        return []
    try:
        entries = json.loads(INDEX.read_text())
    except (ValueError, RecursionError) as error:
        raise _malformed(f"not JSON: {type(error).__name__}") from None
    if not isinstance(entries, list):
        raise _malformed(f"a {type(entries).__name__}, not a list of entries")
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise _malformed(f"entry {number} is a {type(entry).__name__}, not an object")
        for field, kind in ENTRY_FIELDS.items():
            value = entry.get(field)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise _malformed(f"entry {number} has no {kind.__name__} {field}")
        if Path(entry["file"]).name != entry["file"] or entry["file"] in ("", ".", ".."):
            raise _malformed(f"entry {number}'s file {entry['file']!r} is not a file name")
    return entries


def _malformed(why: str) -> ValueError:
    return ValueError(f"the reference index {INDEX} is malformed ({why}); reinstall mazebench")


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


def measure(
    agent: str,
    dataset,
    *,
    checkpoint: str | Path = "reference",
    limit: int = MEASURED_PAIRS,
    outputs: Path | None = None,
) -> dict:
    """The success of ``agent``'s ``checkpoint`` (by default its reference checkpoint for ``dataset``) on the first
    ``limit`` held-out queries of ``dataset`` under each of ``MEASURED_PROTOCOLS`` at its steps, as the page states
    it and the slow tests check it. With ``outputs``, each protocol's evaluation is kept in ``outputs/<protocol>``
    with its per-query outputs compressed (samples.jsonl.gz), for ``mazebench verify``."""
    from dataclasses import asdict

    from agents import make_agent
    from agents.learned import protocol_sampler, protocol_steps
    from mazebench.evaluation import archive_samples, evaluate

    success = {}
    for protocol in MEASURED_PROTOCOLS:
        settings, steps = protocol_sampler(protocol), protocol_steps(protocol)
        planner = make_agent(agent, dataset=dataset, checkpoint=checkpoint, steps=steps, sampler=asdict(settings))
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "e" if outputs is None else outputs / protocol
            summary = evaluate(planner, dataset, out_dir=out, limit=limit, num_pngs=0, progress=False)
            if outputs is not None:
                archive_samples(out)
        success[protocol] = summary["success_rate"]
    return success


def page(entries: list[dict]) -> str:
    """The reference checkpoints' page: each file with its planner, K, precision, size, digest, success and the
    commands that made its data and trained it."""
    lines = [
        "# Reference checkpoints",
        "",
        "Trained planners shipped with the package (`agents/reference/`): the EMA weights of finished runs in "
        "half precision, with what loading needs. Evaluate one at once with `--checkpoint reference` on the "
        "dataset it was trained on (its command below). Success: the first "
        f"{MEASURED_PAIRS} held-out queries under the paper's sampler at 64 steps (the `paper-64` protocol) and "
        "under the suite's protocol (64 steps), measured by `python -m agents.reference add` (or `remeasure`); the "
        "slow tests plan them again and compare. Each measurement's evaluation is kept in outputs/<file>/<protocol>, "
        "its per-query outputs in samples.jsonl.gz: `mazebench verify reports/reference/outputs` re-scores every "
        "plan and recomputes every figure from them, without the checkpoints. The paper's protocol at its own step "
        "count is measured on each "
        "track's steps page (reports/mini/paper-protocol-steps). AR takes only the protocol's temperature: it "
        "samples at temperature 1 under the paper's sampler and decodes greedily under the suite's (the report pages "
        "evaluate it greedily).",
        "",
        "| file | planner | K | weights | size | success, paper-64 | success, suite protocol | sha256 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in entries:
        size = (REFERENCE_DIR / entry["file"]).stat().st_size
        lines.append(
            f"| `{entry['file']}` | {entry['agent']} | {entry['num_subgoals']} | {entry['dtype']} | "
            f"{size / 2**20:.2f} MiB | {entry['success']['paper-64']:.1%} | {entry['success']['suite']:.1%} | "
            f"`{entry['sha256'][:16]}...` |"
        )
    lines += [
        "",
        "Whether float16 loses anything: every held-out query planned with both float16 and float32 weights "
        "(`benchmarks/reference_precision.py`), for the mini track at K = 12 in [precision.md](precision.md) and "
        "for the cpu preset at K = 12 in [precision-cpu.md](precision-cpu.md).",
        "",
        "Data and training commands:",
        "",
    ]
    for entry in entries:
        lines += [f"- `{entry['file']}`: `{entry['data_command']}`, then `{entry['train_command']}`"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Maintain the reference checkpoints and their page.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add (or replace) a finished run's EMA weights and measure them")
    add.add_argument("run", type=Path, help="the run folder")
    add.add_argument("name", help="the file's name without extension, e.g. mini-flexmdm-k12")
    add.add_argument("--data", type=Path, required=True, help="the run's dataset folder, to measure the success on")
    add.add_argument("--data-command", required=True, help="the command that generates the run's dataset")
    add.add_argument("--train-command", required=True, help="the command that trained the run")
    add.add_argument("--full", action="store_true", help="keep float32 weights")
    write = commands.add_parser("page", help="write the page of the reference checkpoints")
    write.add_argument("out", type=Path, help="the page's file, e.g. reports/reference/README.md")
    again = commands.add_parser("remeasure", help="measure every shipped reference again and rewrite the index")
    again.add_argument("data", type=Path, nargs="+", help="the references' dataset folders (matched by dataset id)")
    again.add_argument(
        "--outputs",
        type=Path,
        default=Path("reports/reference/outputs"),
        help="where each reference's evaluations are kept, per-query outputs compressed (for mazebench verify)",
    )
    args = parser.parse_args(argv)
    if args.command == "page":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(page(references()))
        return
    from mazebench.datasets import load_dataset

    if args.command == "remeasure":
        datasets = {d.meta["dataset_id"]: d for d in map(load_dataset, args.data)}
        entries = references()
        for entry in entries:
            if entry["dataset_id"] not in datasets:
                raise SystemExit(f"Error: no dataset given for {entry['file']}; generate it: {entry['data_command']}")
            entry["success"] = measure(
                entry["agent"],
                datasets[entry["dataset_id"]],
                checkpoint=REFERENCE_DIR / entry["file"],
                outputs=args.outputs / Path(entry["file"]).stem,
            )
            print(f"{entry['file']}: {entry['success']}", flush=True)
        write_manifest(
            args.outputs,
            "python -m agents.reference remeasure " + " ".join(str(d) for d in args.data),
            {
                f"{Path(entry['file']).stem}/{protocol}": (f"agents/reference/{entry['file']}", entry["sha256"])
                for entry in entries
                for protocol in MEASURED_PROTOCOLS
            },
        )
        INDEX.write_text(json.dumps(entries, indent=2) + "\n")
        return

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
        "dtype": "float32" if args.full else "float16",
        "sha256": digest,
    }
    entry["success"] = measure(state["agent"], load_dataset(args.data), checkpoint=REFERENCE_DIR / file)
    others = [e for e in references() if e["file"] != file]
    INDEX.write_text(json.dumps([*others, entry], indent=2) + "\n")
    print(f"{REFERENCE_DIR / file}: {digest}, success {entry['success']}")


if __name__ == "__main__":
    main()
