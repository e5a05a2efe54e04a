"""Re-derive an evaluation's figures from its per-query outputs (``mazebench verify``).

Every stored plan is re-scored by the scorer against the dataset the evaluation recorded (regenerated from its
settings where it is missing, checked by its id), and every figure of its results.json that the verdicts give
(success and its interval, valid and in-order rates, lengths, failure and jump kinds, and with several plans
per query pass@k, distinct paths and coverage) is recomputed and compared. No checkpoint is needed.
"""

from __future__ import annotations

import gzip
import inspect
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mazebench.datasets import Dataset, default_data_dir, generate_dataset, load_dataset
from mazebench.evaluation import PLANNER_ERROR, generative_metrics, planner_failure, query_line, score_summary
from mazebench.manifest import MANIFEST, read_manifest
from mazebench.scoring import score_path

SHOWN_MISMATCHES = 5  # per evaluation, for per-query verdicts


@dataclass
class Verification:
    """What ``verify`` checked and every mismatch it found (one line each)."""

    evaluations: int = 0
    queries: int = 0
    plans: int = 0
    manifest: bool = False  # whether the folder's manifest.json was checked too
    mismatches: list[str] = field(default_factory=list)


def verify(folder: str | Path, data_root: str | Path = "data") -> Verification:
    """Verify every evaluation under ``folder`` (each folder with a results.json of an evaluation); a ValueError
    for a folder without any, or one whose per-query outputs are missing or unreadable."""
    root, found, datasets = Path(folder), Verification(), {}
    summaries = {path.parent: _evaluation_summary(path) for path in sorted(root.rglob("results.json"))}
    cells = {cell: summary for cell, summary in summaries.items() if summary is not None}
    if not cells:
        raise ValueError(f"{root} holds no evaluation (no results.json of an evaluation under it)")
    for cell, summary in cells.items():
        _verify_evaluation(cell, summary, Path(data_root), datasets, found)
    manifest = read_manifest(root)
    if manifest is not None:
        found.manifest = True
        found.mismatches += [f"{root / MANIFEST}: {line}" for line in _manifest_mismatches(root, cells, manifest)]
    return found


def _manifest_mismatches(root: Path, cells: dict[Path, dict], manifest: dict) -> list[str]:
    """What the manifest says that the page does not hold: evaluations listed or not, their datasets, and the
    digests of the checkpoints that are at hand (one that is not cannot be checked here)."""
    from agents.checkpoints import checkpoint_digest

    listed, found = manifest["evaluations"], {cell.relative_to(root).as_posix(): cell for cell in cells}
    lines = [f"lists {name}, which the page does not hold" for name in sorted(listed.keys() - found.keys())]
    lines += [f"does not list {name}" for name in sorted(found.keys() - listed.keys())]
    for name in sorted(listed.keys() & found.keys()):
        entry, summary = listed[name], cells[found[name]]
        if not isinstance(entry, dict) or entry.get("dataset_id") != summary["dataset"]["dataset_id"]:
            lines.append(f"{name}: its dataset id is not the evaluation's")
        elif "checkpoint" in entry and Path(entry["checkpoint"]).is_file():
            if checkpoint_digest(entry["checkpoint"]) != entry.get("checkpoint_sha256"):
                lines.append(f"{name}: the checkpoint {entry['checkpoint']} does not have the recorded digest")
    return lines


def _evaluation_summary(results: Path) -> dict | None:
    """The results.json of an evaluation; None for any other file of that name."""
    try:
        summary = json.loads(results.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    is_evaluation = isinstance(summary, dict) and {"n", "success_rate", "dataset", "evaluation"} <= summary.keys()
    return summary if is_evaluation else None


def _verify_evaluation(cell: Path, summary: dict, data_root: Path, datasets: dict, found: Verification) -> None:
    samples = read_samples(cell)
    meta = summary["dataset"]["meta"]
    if meta["dataset_id"] not in datasets:
        datasets[meta["dataset_id"]] = recorded_dataset(meta, data_root)
    dataset = datasets[meta["dataset_id"]]
    setting = summary["evaluation"]
    wanted = dataset.val.queries(setting["queries"], setting["query_seed"])[: setting["limit"]].tolist()
    mismatches = []
    if [sample.get("index") for sample in samples] != wanted:
        mismatches.append("its queries are not the recorded evaluation's queries (index, order or count)")
    else:
        pair_lengths = dataset.val.pair_lengths()
        rescored = [_rescore(dataset, pair_lengths, sample, mismatches) for sample in samples]
        found.plans += len(samples) * (1 + len(samples[0].get("more_samples", [])) if samples else 0)
        recomputed = score_summary([score for score, _ in rescored], [line for _, line in rescored])
        if "generative" in summary:
            recomputed["generative"] = generative_metrics([line for _, line in rescored], dataset.val.pair_paths())
        mismatches += [
            f"{key}: results.json says {_short(summary.get(key))}, the outputs give {_short(value)}"
            for key, value in recomputed.items()
            if not _same(summary.get(key), value)
        ]
    found.evaluations += 1
    found.queries += len(samples)
    found.mismatches += [f"{cell}: {line}" for line in mismatches]


def _rescore(dataset: Dataset, pair_lengths: dict, sample: dict, mismatches: list[str]) -> tuple[Any, dict]:
    """The verdict on a stored query re-scored (its draws too), and its line rebuilt from the dataset; a line
    in ``mismatches`` (up to SHOWN_MISMATCHES) for a stored verdict that differs."""
    example = dataset.val[sample["index"]]
    draws = [sample, *sample.get("more_samples", [])]
    scores = [_score(dataset, example.subgoals, draw) for draw in draws]
    line = query_line(
        sample["index"], example, pair_lengths, [(draw.get("path"), score) for draw, score in zip(draws, scores)]
    )
    for key in ("pair_id", "subgoals", "reference_length"):
        if sample.get(key) != line[key] and len(mismatches) < SHOWN_MISMATCHES:
            mismatches.append(f"query {sample['index']}: its stored {key} is not the dataset's")
    for number, (draw, score) in enumerate(zip(draws, scores)):
        stored = {key: draw.get(key) for key in asdict(score)}
        if stored != asdict(score) and len(mismatches) < SHOWN_MISMATCHES:
            mismatches.append(
                f"query {sample['index']}{f' draw {number}' if number else ''}: stored verdict "
                f"{_short(stored['success'])} ({stored['failure_kind']}), re-scored {score.success} "
                f"({score.failure_kind}: {score.reason})"
            )
    return scores[0], line


def _score(dataset: Dataset, subgoals, draw: dict):
    """A stored plan's verdict: the scorer's, or the planner's failure of its batch (no path to score)."""
    if draw.get("failure_kind") == PLANNER_ERROR and draw.get("path") is None:
        return planner_failure(str(draw.get("reason")))
    return score_path(dataset.maze, subgoals, draw.get("path"))


def recorded_dataset(meta: dict, data_root: Path) -> Dataset:
    """The dataset whose meta.json is ``meta``: its conventional folder under ``data_root`` (generated there
    from the recorded settings if missing), checked by its dataset id."""
    config, dataset_id = meta["config"], meta["dataset_id"]
    missing = [key for key in ("num_subgoals", "maze_size", "maze_seed") if config.get(key) is None]
    if missing:
        raise ValueError(f"dataset {dataset_id[:12]} cannot be regenerated: its settings lack {', '.join(missing)}")
    folder = default_data_dir(config["num_subgoals"], config["maze_size"], config["maze_seed"], data_root)
    if (folder / "meta.json").is_file() and json.loads((folder / "meta.json").read_text()).get(
        "dataset_id"
    ) != dataset_id:
        folder = data_root / f"dataset-{dataset_id[:12]}"  # the conventional folder holds another dataset
    settings = inspect.signature(generate_dataset).parameters  # what the config records of them
    generate_dataset(folder, progress=False, **{key: value for key, value in config.items() if key in settings})
    dataset = load_dataset(folder)
    if dataset.meta["dataset_id"] != dataset_id:
        raise ValueError(
            f"the dataset regenerated from the recorded settings has id {dataset.meta['dataset_id'][:12]}, "
            f"not the recorded {dataset_id[:12]} (another generator version?)"
        )
    return dataset


def read_samples(cell: Path) -> list[dict]:
    """The lines of an evaluation's samples.jsonl (or, where only that is kept, samples.jsonl.gz); a ValueError
    naming the file and the first bad line."""
    file = cell / "samples.jsonl"
    if not file.is_file():
        file = cell / "samples.jsonl.gz"
    if not file.is_file():
        raise ValueError(f"{cell} has no per-query outputs (samples.jsonl or samples.jsonl.gz)")
    try:
        text = gzip.decompress(file.read_bytes()).decode() if file.suffix == ".gz" else file.read_text()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"{file} cannot be read ({error})") from None
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            sample = json.loads(line)
        except (ValueError, RecursionError) as error:
            raise ValueError(f"{file}: line {number} is no JSON ({error})") from None
        if not isinstance(sample, dict) or not isinstance(sample.get("index"), int):
            raise ValueError(f"{file}: line {number} is no query's output (no integer index)")
        lines.append(sample)
    return lines


def _same(stated: Any, derived: Any) -> bool:
    """Whether a stated figure is the derived one (numbers to 1e-9, containers item by item)."""
    if isinstance(derived, dict):
        return (
            isinstance(stated, dict)
            and stated.keys() == derived.keys()
            and all(_same(stated[key], derived[key]) for key in derived)
        )
    if isinstance(derived, (list, tuple)):
        return isinstance(stated, list) and len(stated) == len(derived) and all(map(_same, stated, derived))
    if isinstance(derived, float) and isinstance(stated, (int, float)) and not isinstance(stated, bool):
        return math.isclose(stated, derived, rel_tol=1e-9, abs_tol=1e-12)
    return stated == derived


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."
