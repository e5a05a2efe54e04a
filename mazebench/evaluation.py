"""Evaluate a planner on the held-out examples of a dataset and write a report folder."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import numpy as np

from agents.base import Planner, error_line
from mazebench.datasets import QUERY_SEED, Dataset, recover_folder, replacing_folder
from mazebench.maze import save_maze
from mazebench.parallel import ordered_map
from mazebench.scoring import PathScore, score_path
from mazebench.statistics import wasserstein1, wilson_interval

PLANNER_ERROR = "planner_error"  # failure kind of the examples of a batch the planner failed


def evaluate(planner: Planner, dataset: Dataset, *, out_dir: str | Path, limit: int | None = None,
             batch_size: int = 256, num_pngs: int = 8, progress: bool = True, workers: int = 1,
             queries: str = "drawn", query_seed: int = QUERY_SEED) -> dict:
    """Plan and score one held-out example per pair (the first ``limit`` pairs); write the report; return
    the summary. ``queries``: which example of a pair is its query (``Split.queries``: "drawn" at random
    with ``query_seed``, as training examples are; or "shortest").

    ``out_dir`` receives ``results.json`` (the summary), ``samples.jsonl`` (one line per example),
    ``maze.txt``, galleries ``successes.png`` / ``failures.png`` of up to ``num_pngs`` examples each and,
    for planners with a generation process, ``generation.png``: a filmstrip of the first query's states.
    The folder is written beside ``out_dir`` and swapped in whole (``datasets.replacing_folder``): it
    holds one evaluation's files, all or none; a non-empty folder that is no report is never replaced.
    ``workers`` processes plan the batches (each batch is seeded by its position, so the results
    are those of one process).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of examples, got {limit}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    indices = dataset.val.queries(queries, query_seed)[:limit]
    examples = [dataset.val[int(i)] for i in indices]
    pair_lengths = dataset.val.pair_lengths()
    out = Path(out_dir)
    recover_folder(out)
    if out.exists() and not (out.is_dir() and _is_report_or_empty(out)):
        raise ValueError(f"{out} exists and is not an evaluation report (no results.json or samples.jsonl): "
                         f"refusing to replace it; choose another --out")

    with replacing_folder(out) as folder:  # made first: an unwritable --out fails before the work
        started = time.perf_counter()
        paths: list[Any] = []
        errors: list[str | None] = []  # per example: why its batch has no paths (the planner failed), or None
        bar = click.progressbar(length=len(examples), label=f"planning with {planner.name}") if progress else None
        tasks = [(first, [example.subgoals for example in examples[first : first + batch_size]])
                 for first in range(0, len(examples), batch_size)]
        with bar or contextlib.nullcontext(), ordered_map(_plan_batch, (planner, dataset.maze), workers) as run:
            for (first, batch), (planned, counts, error) in zip(tasks, run(tasks)):
                if error is not None:
                    click.echo(f"warning: examples {first}..{first + len(batch) - 1} failed: {error}", err=True)
                paths += [None] * len(batch) if error else planned
                errors += [error] * len(batch)
                if workers > 1:  # a worker's planner counted them; this process's did not
                    for key, value in counts.items():
                        planner.counters[key] = planner.counters.get(key, 0) + value
                if bar is not None:
                    bar.update(len(batch))
        plan_seconds = time.perf_counter() - started
        scores = [planner_failure(error) if error else score_path(dataset.maze, example.subgoals, path)
                  for example, path, error in zip(examples, paths, errors)]

        samples = [
            {"index": int(i), "pair_id": example.pair_id, "subgoals": example.subgoals.tolist(), "path": _jsonable(path),
             "reference_length": len(example.path), "pair_lengths": pair_lengths[example.pair_id], **asdict(score)}
            for i, example, path, score in zip(indices, examples, paths, scores)
        ]
        summary = _summarize(scores, samples, planner, dataset)
        summary["evaluation"] = {"split": "val", "one_per_pair": True, "queries": queries, "query_seed": query_seed,
                                 "limit": limit, "batch_size": batch_size}
        summary.update(plan_seconds=round(plan_seconds, 3), wall_seconds=round(time.perf_counter() - started, 3),
                       paths_per_second=round(len(examples) / plan_seconds, 2) if plan_seconds > 0 else None)
        with open(folder / "samples.jsonl", "w") as handle:
            for sample in samples:
                handle.write(json.dumps(sample, allow_nan=False) + "\n")
        save_maze(dataset.maze, folder / "maze.txt")
        _save_galleries(folder, dataset.maze, examples, paths, scores, indices, num_pngs)
        if examples and num_pngs:
            _save_generation(folder / "generation.png", planner, dataset.maze, examples[0].subgoals)
        (folder / "results.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return summary


def _is_report_or_empty(folder: Path) -> bool:
    """Whether ``folder`` may be replaced by a report: it holds one (or a half one) or nothing."""
    return (folder / "results.json").is_file() or (folder / "samples.jsonl").is_file() or not any(folder.iterdir())


def planner_failure(reason: str) -> PathScore:
    """The verdict on an example whose batch the planner failed (it raised or returned no path per query)."""
    return PathScore(False, False, False, reason, None, PLANNER_ERROR, 0, 0)


def _plan_batch(state: tuple[Planner, np.ndarray], task: tuple[int, list]) -> tuple[list | None, dict, str | None]:
    """The paths of one (first index, subgoal batch) task, seeded by its position, the counter increments, and
    None, or instead of the paths the reason the planner failed the batch (it raised, or gave a wrong count)."""
    (planner, maze), (first, batch) = state, task
    before = dict(planner.counters)
    try:
        planned = planner.plan(maze, batch, seed=first)
    except Exception as exception:  # a plug-in's failure costs its batch, not the evaluation
        planned, error = None, f"planner raised {error_line(exception)}"
    else:
        error = _count_mismatch(planned, len(batch))
    counts = {key: value - before.get(key, 0) for key, value in planner.counters.items()}
    return (None, counts, error) if error else (list(planned), counts, None)


def _count_mismatch(planned: Any, wanted: int) -> str | None:
    """Why ``planned`` is not one path per query (None if it is)."""
    try:
        count = len(planned)
    except TypeError:
        return f"planner returned an object of type {type(planned).__name__}, not a list of paths"
    return None if count == wanted else f"planner returned {count} paths for {wanted} subgoal sequences"


def _summarize(scores: list, samples: list[dict], planner: Planner, dataset: Dataset) -> dict:
    n = len(scores)
    successes = sum(score.success for score in scores)
    low, high = wilson_interval(successes, n)
    return {
        "n": n,
        "success_rate": successes / n if n else None,
        "success_ci95": [low, high],
        "valid_rate": sum(score.valid for score in scores) / n if n else None,
        "in_order_rate": sum(score.in_order for score in scores) / n if n else None,
        "mean_length": float(np.mean([score.length for score in scores])) if n else None,
        "mean_reference_length": float(np.mean([s["reference_length"] for s in samples])) if n else None,
        **length_fidelity(samples),
        "failure_kinds": dict(Counter(score.failure_kind for score in scores if not score.success)),
        "planner": planner.describe(),
        "dataset": {"path": str(dataset.path), "dataset_id": dataset.meta["dataset_id"],
                    "num_subgoals": dataset.num_subgoals, "meta": dataset.meta},
    }


def length_fidelity(samples: list[dict]) -> dict:
    """Generated path lengths (the verdicts' lengths) against the queries' reference lengths, and against the
    queried pairs' own path distributions (every held-out path of a pair, each pair weighing one query):
    the mean pair length and the two 1-Wasserstein distances in cells (None without samples)."""
    if not samples:
        return {"mean_pair_length": None, "length_w1_reference": None, "length_w1_pair_paths": None}
    generated = [s["length"] for s in samples]
    pair_paths = [length for s in samples for length in s["pair_lengths"]]
    weights = [1.0 / len(s["pair_lengths"]) for s in samples for _ in s["pair_lengths"]]
    return {"mean_pair_length": float(np.average(pair_paths, weights=weights)),
            "length_w1_reference": wasserstein1(generated, [s["reference_length"] for s in samples]),
            "length_w1_pair_paths": wasserstein1(generated, pair_paths, weights)}


def _jsonable(path: Any) -> Any:
    """A planned path as JSON (nested lists); anything unserialisable is written as its repr."""
    value = path.tolist() if hasattr(path, "tolist") else path
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _save_galleries(out: Path, maze: np.ndarray, examples: list, paths: list, scores: list[PathScore],
                    indices: np.ndarray, num_pngs: int) -> None:
    """Galleries of the first ``num_pngs`` successes and failures (an empty group gets no file)."""
    from mazebench.rendering import save_gallery_png  # matplotlib loads only when drawing

    for name, wanted in (("successes", True), ("failures", False)):
        chosen = [i for i, score in enumerate(scores) if score.success == wanted][:num_pngs]
        if chosen:
            items = [(examples[i].subgoals, paths[i], scores[i], f"val #{indices[i]}") for i in chosen]
            save_gallery_png(out / f"{name}.png", maze, items)


def _save_generation(out_path: Path, planner: Planner, maze: np.ndarray, subgoals: np.ndarray) -> None:
    from mazebench.rendering import save_filmstrip_png

    try:
        traced = planner.trace(subgoals)
        if traced is not None:
            save_filmstrip_png(out_path, maze, *traced, ncols=4)
    except Exception as error:  # an optional figure: a plug-in's broken trace costs only this file
        out_path.unlink(missing_ok=True)
        click.echo(f"warning: no {out_path.name}: the planner's trace failed ({error_line(error)})", err=True)
