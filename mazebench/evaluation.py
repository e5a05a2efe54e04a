"""Evaluate a planner on the held-out examples of a dataset and write a report folder."""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from mazebench.datasets import QUERY_SEED, Dataset, check_content, recover_folder, replacing_folder
from mazebench.folders import check_own_folder, folder_lock, mark_own_folder
from mazebench.maze import frozen_copy, save_maze
from mazebench.parallel import TaskFailed, ordered_map
from mazebench.planner import Planner, PlannerOutputError, check_path_count, error_line, failure_text, finite_number
from mazebench.progress import progress_bar
from mazebench.sandbox import SandboxedPlanner
from mazebench.scoring import PathScore, json_safe, path_cap, plain_path, score_path
from mazebench.statistics import pass_at, wasserstein1, wilson_interval

PLANNER_ERROR = "planner_error"  # failure kind of the examples of a batch the planner failed
REPORT_KEYS = ("n", "success_rate", "planner", "dataset")  # results.json of an evaluation report holds these
LOG = logging.getLogger(__name__)
MAX_SAMPLES_PER_QUERY = 1000  # far above use, low enough to refuse a typo before any work
MAX_BATCH_TIMEOUT = 86_400.0  # a day: seconds past this overflow the system's timers
DRAW_SEED_STRIDE = 1_000_003  # seeds of a query's draws: first + draw * stride, apart for any split size
REPORT_FILES = (
    "results.json",
    "samples.jsonl",
    "samples.jsonl.gz",
    "maze.txt",
    "request.json",
)  # besides PNGs (request: report.py)


def evaluate(
    planner: Planner,
    dataset: Dataset,
    *,
    out_dir: str | Path,
    limit: int | None = None,
    batch_size: int = 256,
    num_pngs: int = 8,
    progress: bool = True,
    workers: int = 1,
    queries: str = "drawn",
    query_seed: int = QUERY_SEED,
    batch_timeout: float | None = None,
    samples_per_query: int = 1,
) -> dict:
    """Plan and score one held-out example per pair (the first ``limit`` pairs); write the report; return
    the summary. ``queries``: which example of a pair is its query (``Split.queries``: "drawn" at random
    with ``query_seed``, as training examples are; or "shortest").

    ``out_dir`` receives ``results.json`` (the summary), ``samples.jsonl`` (one line per example),
    ``maze.txt``, galleries ``successes.png`` / ``failures.png`` of up to ``num_pngs`` examples each and,
    for planners with a generation process, ``generation.png`` and ``generation.gif``: a filmstrip of the
    first query's states and an animation of them, one frame per step.
    The folder is written beside ``out_dir`` and swapped in whole (``datasets.replacing_folder``): it
    holds one evaluation's files, all or none; a non-empty folder that is no report is never replaced.
    ``workers`` processes plan the batches (each batch is seeded by its position, so the results
    are those of one process). With ``batch_timeout`` (seconds) each batch is planned in a process of
    its own: a batch that outlives it, or whose process dies, fails (``planner_error``).

    ``samples_per_query`` N > 1 plans every query N times, draw j seeded ``first + j * DRAW_SEED_STRIDE``
    (draw 0 is the single-sample evaluation itself: its verdicts are the benchmark's success@1). Each line of
    samples.jsonl then lists the other draws under ``more_samples``, and the summary gains ``generative``:
    pass@k for k = 1, 2, 4 .. N, distinct valid paths per query, and the coverage of the pair's held-out paths.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of examples, got {limit}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if batch_timeout is not None and not 0 < batch_timeout <= MAX_BATCH_TIMEOUT:
        raise ValueError(f"batch_timeout must lie in (0, {MAX_BATCH_TIMEOUT:g}] seconds, got {batch_timeout}")
    if not 1 <= samples_per_query <= MAX_SAMPLES_PER_QUERY:
        raise ValueError(f"samples_per_query must lie in 1 .. {MAX_SAMPLES_PER_QUERY}, got {samples_per_query}")
    check_content(dataset)  # the split the planner is scored on is the dataset's own, as its hash says
    indices = dataset.val.queries(queries, query_seed)[:limit]
    examples = [dataset.val[int(i)] for i in indices]
    pair_lengths = dataset.val.pair_lengths()
    out = Path(out_dir)
    maze = frozen_copy(dataset.maze)  # the scorer's own copy, checked above; planners get copies of their own
    sandboxed = isinstance(planner, SandboxedPlanner)  # it keeps the time limit itself, in its own process
    if sandboxed:
        planner.time_limit = batch_timeout
    in_own_process = None if sandboxed else batch_timeout  # a built-in's batches in processes of their own
    with (
        contextlib.closing(planner) if sandboxed else contextlib.nullcontext(),  # its processes end with the run
        _report_folder(out) as folder,  # made first: an unwritable --out fails before the work
    ):
        started = time.perf_counter()
        # per draw and example: the path as the scorer read it (JSON), or None; why its batch has none, or None
        drawn_paths: list[list[Any]] = [[] for _ in range(samples_per_query)]
        drawn_errors: list[list[str | None]] = [[] for _ in range(samples_per_query)]
        tasks = [
            (first, [example.subgoals for example in examples[first : first + batch_size]], draw)
            for draw in range(samples_per_query)
            for first in range(0, len(examples), batch_size)
        ]
        planned_elsewhere = workers > 1 or in_own_process is not None  # by a copy of the planner in another process
        with (
            progress_bar(len(examples) * samples_per_query, f"planning with {planner.name}", progress) as bar,
            ordered_map(_plan_batch, (planner, maze), workers, in_own_process) as run,
        ):
            for (first, batch, draw), (planned, counts, error) in zip(tasks, map(_outcome, run(tasks))):
                if error is not None:
                    draw_text = f" (draw {draw})" if draw else ""
                    LOG.warning("examples %d..%d%s failed: %s", first, first + len(batch) - 1, draw_text, error)
                drawn_paths[draw] += [None] * len(batch) if error else planned
                drawn_errors[draw] += [error] * len(batch)
                if planned_elsewhere:  # a worker's planner counted them; this process's did not
                    _add_counts(planner, counts)
                bar.update(len(batch))
        plan_seconds = time.perf_counter() - started
        check_content(dataset)
        drawn_scores = [
            [
                planner_failure(error) if error else score_path(maze, example.subgoals, path)
                for example, path, error in zip(examples, paths, errors)
            ]
            for paths, errors in zip(drawn_paths, drawn_errors)
        ]
        paths, scores = drawn_paths[0], drawn_scores[0]  # draw 0: the benchmark's single-sample evaluation

        samples = [
            query_line(
                i, example, pair_lengths, [(drawn_paths[d][j], drawn_scores[d][j]) for d in range(samples_per_query)]
            )
            for j, (i, example) in enumerate(zip(indices, examples))
        ]
        summary = _summarize(scores, samples, planner, dataset)
        summary["network_calls_per_path"] = _calls_per_path(summary["planner"].get("counters"))
        if samples_per_query > 1:
            summary["generative"] = generative_metrics(samples, dataset.val.pair_paths())
        summary["evaluation"] = {
            "split": "val",
            "one_per_pair": True,
            "queries": queries,
            "query_seed": query_seed,
            "limit": limit,
            "batch_size": batch_size,
            "samples_per_query": samples_per_query,
        }
        summary.update(
            plan_seconds=round(plan_seconds, 3),
            wall_seconds=round(time.perf_counter() - started, 3),
            paths_per_second=round(len(examples) * samples_per_query / plan_seconds, 2) if plan_seconds > 0 else None,
        )
        with open(folder / "samples.jsonl", "w") as handle:
            for sample in samples:
                handle.write(json.dumps(sample, allow_nan=False) + "\n")
        save_maze(maze, folder / "maze.txt")
        _save_galleries(folder, maze, examples, paths, scores, indices, num_pngs)
        if examples and num_pngs:
            _save_generation(folder, planner, maze, examples[0].subgoals)
        (folder / "results.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return summary


def archive_samples(folder: str | Path) -> int:
    """Compress every evaluation's samples.jsonl under ``folder`` into samples.jsonl.gz beside it (byte for byte
    the same for the same lines, to be committed with a page); the number of files written."""
    written = 0
    for samples in sorted(Path(folder).rglob("samples.jsonl")):
        with open(samples.with_suffix(".jsonl.gz"), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            out.write(samples.read_bytes())
        written += 1
    return written


def _outcome(result: tuple | TaskFailed) -> tuple:
    """A batch's (paths, counts, error), also for one whose process outlived the time limit or died."""
    return (None, {}, f"planner's batch {result.reason}") if isinstance(result, TaskFailed) else result


@contextlib.contextmanager
def _report_folder(out: Path) -> Iterator[Path]:
    """The new folder that replaces the report ``out`` when the block ends (``datasets.replacing_folder``), with
    ``out``'s lock held throughout; a ValueError if ``out`` holds anything but an evaluation report."""
    with folder_lock(out):
        recover_folder(out)
        check_own_folder(out, "an evaluation report", REPORT_KEYS, REPORT_FILES)
        with replacing_folder(out) as folder:
            mark_own_folder(folder, "an evaluation report")
            yield folder


def query_line(index: int, example, pair_lengths: dict, draws: list[tuple[Any, PathScore]]) -> dict:
    """One line of samples.jsonl: the query (its index in the split, pair, subgoals, reference length and its
    pair's path lengths) and its plans, ``draws`` of (path as the scorer read it, verdict): draw 0's fields on
    the line, the others under ``more_samples``."""
    (path, score), *more = draws
    line = {
        "index": int(index),
        "pair_id": example.pair_id,
        "subgoals": example.subgoals.tolist(),
        "path": path,
        "reference_length": len(example.path),
        "pair_lengths": pair_lengths[example.pair_id],
        **asdict(score),
    }
    if more:
        line["more_samples"] = [{"path": other, **asdict(verdict)} for other, verdict in more]
    return line


def planner_failure(reason: str) -> PathScore:
    """The verdict on an example whose batch the planner failed (it raised or returned no path per query)."""
    return PathScore(False, False, False, reason, None, PLANNER_ERROR, 0, 0)


def _plan_batch(state: tuple[Planner, np.ndarray], task: tuple[int, list, int]) -> tuple[list | None, dict, str | None]:
    """The paths of one (first index, subgoal batch, draw) task, seeded by its position and draw (``first +
    draw * DRAW_SEED_STRIDE``) and read as the scorer reads
    them (``scoring.plain_path``), the counter increments, and None; or instead of the paths the reason the
    planner failed the batch (it raised, even SystemExit, or gave a wrong count). The planner gets writable
    copies of the maze and the subgoals: what it does to them stays in them."""
    (planner, maze), (first, batch, draw) = state, task

    def plan() -> tuple[list, dict]:
        before = _counts(planner)
        planned = planner.plan(
            np.array(maze), [np.array(subgoals) for subgoals in batch], seed=first + draw * DRAW_SEED_STRIDE
        )
        check_path_count(planned, len(batch))
        cap = path_cap(maze)
        return [plain_path(path, cap) for path in planned], _increments(before, _counts(planner))

    result, error = guarded(plan)
    return (None, {}, failure_text(error)) if error else (*result, None)


def guarded(function: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """``(function(), None)`` with its prints sent to stderr, or ``(None, error)`` for anything it raised but
    KeyboardInterrupt: a plug-in's exception, even SystemExit, costs only what it was asked for."""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return function(), None
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # untrusted code
        return None, error


def _counts(planner: Planner) -> dict[str, float]:
    """The planner's counters that are finite numbers, as Python numbers (others are not added up)."""
    return {
        key: int(value) if isinstance(value, Integral) else float(value)
        for key, value in dict(planner.counters).items()
        if isinstance(key, str) and finite_number(value)
    }


def _increments(before: dict, after: dict) -> dict[str, float]:
    return {key: value - before.get(key, 0) for key, value in after.items()}


def _add_counts(planner: Planner, counts: dict) -> None:
    """Add a worker's counter increments to the planner's counters (a warning if they cannot be written)."""

    def add():
        for key, value in counts.items():
            planner.counters[key] = planner.counters.get(key, 0) + value

    _, error = guarded(add)
    if error:
        LOG.warning("the planner's counters cannot be added to (%s)", error_line(error))


def _summarize(scores: list, samples: list[dict], planner: Planner, dataset: Dataset) -> dict:
    return {
        **score_summary(scores, samples),
        "planner": _description(planner),
        "dataset": {
            "path": str(dataset.path),
            "dataset_id": dataset.meta["dataset_id"],
            "num_subgoals": dataset.num_subgoals,
            "meta": dataset.meta,
        },
    }


def score_summary(scores: list[PathScore], samples: list[dict]) -> dict:
    """What results.json says of the verdicts ``scores`` on the queries of ``samples`` (samples.jsonl's lines):
    success with its Wilson interval, the valid and in-order rates, lengths, failure and jump kinds."""
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
        "jump_kinds": dict(
            Counter(score.jump_kind for score in scores if not score.success and score.failure_kind == "jump")
        ),
    }


def _calls_per_path(counters: Any) -> float | None:
    """The mean number of network evaluations a planned path went through (NFE), from a learned planner's
    counters; None for a planner that does not count them."""
    if not isinstance(counters, Mapping):
        return None
    calls, paths = counters.get("path_network_calls"), counters.get("paths")
    return calls / paths if finite_number(calls) and finite_number(paths) and paths > 0 else None


def generative_metrics(samples: list[dict], pair_paths: dict[int, list[list]]) -> dict:
    """What N plans per query say about a generative planner (``samples``: samples.jsonl's lines with their
    ``more_samples``; ``pair_paths``: every pair's held-out paths as cell lists): the unbiased pass@k for
    k = 1, 2, 4 .. N averaged over the queries; the mean number of distinct successful paths per query; and
    the mean coverage, the fraction of a queried pair's held-out paths that some successful draw reproduced
    exactly."""
    draws = [[sample, *sample["more_samples"]] for sample in samples]
    n = len(draws[0]) if draws else 0
    ks = sorted({k for k in (2**i for i in range(n.bit_length())) if k <= n} | {n}) if n else []
    successes = [sum(draw["success"] for draw in query) for query in draws]
    valid = [{tuple(map(tuple, draw["path"])) for draw in query if draw["success"]} for query in draws]
    coverage = [
        len(found & {tuple(map(tuple, path)) for path in pair_paths[sample["pair_id"]]})
        / len(pair_paths[sample["pair_id"]])
        for sample, found in zip(samples, valid)
    ]
    return {
        "samples_per_query": n,
        "pass_at": {str(k): float(np.mean([pass_at(k, n, c) for c in successes])) for k in ks},
        "mean_distinct_valid_paths": float(np.mean([len(found) for found in valid])) if draws else None,
        "mean_reference_coverage": float(np.mean(coverage)) if draws else None,
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
    return {
        "mean_pair_length": float(np.average(pair_paths, weights=weights)),
        "length_w1_reference": wasserstein1(generated, [s["reference_length"] for s in samples]),
        "length_w1_pair_paths": wasserstein1(generated, pair_paths, weights),
    }


def _description(planner: Planner) -> dict:
    """``planner.describe()`` as strict JSON; if it raises or is no dict, the planner's name and why."""

    def describe() -> dict:
        described = planner.describe()
        if not isinstance(described, Mapping):
            raise PlannerOutputError(f"describe() returned an object of type {type(described).__name__}, not a dict")
        return json_safe(described)

    described, error = guarded(describe)
    if error:
        LOG.warning("the planner's description is left out: %s", failure_text(error))
        return {"name": str(getattr(planner, "name", "?")), "describe_error": failure_text(error)}
    return described


def _save_galleries(
    out: Path,
    maze: np.ndarray,
    examples: list,
    paths: list,
    scores: list[PathScore],
    indices: np.ndarray,
    num_pngs: int,
) -> None:
    """Galleries of the first ``num_pngs`` successes and failures (an empty group gets no file)."""
    from mazebench.rendering import save_gallery_png  # matplotlib loads only when drawing

    for name, wanted in (("successes", True), ("failures", False)):
        chosen = [i for i, score in enumerate(scores) if score.success == wanted][:num_pngs]
        if chosen:
            items = [(examples[i].subgoals, paths[i], scores[i], f"val #{indices[i]}") for i in chosen]
            save_gallery_png(out / f"{name}.png", maze, items)


def _save_generation(folder: Path, planner: Planner, maze: np.ndarray, subgoals: np.ndarray) -> None:
    """The first query's generation as a filmstrip (generation.png) and an animation (generation.gif, one frame
    per step); a planner without a trace has neither."""
    from mazebench.rendering import save_filmstrip_png, save_generation_gif

    def draw(name: str, frames: int | None) -> None:
        traced = planner.trace(np.array(subgoals), frames=frames)
        if traced is None:
            return
        if frames is None:
            save_generation_gif(folder / name, maze, *traced)
        else:
            save_filmstrip_png(folder / name, maze, *traced, ncols=4)

    for name, frames in (("generation.png", 8), ("generation.gif", None)):
        _, error = guarded(lambda: draw(name, frames))  # noqa: B023 - called at once
        if error:  # an optional figure: a plug-in's broken trace costs only this file
            (folder / name).unlink(missing_ok=True)
            LOG.warning("no %s: the planner's trace failed (%s)", name, error_line(error))
