"""Ordered maps over tasks, in this process or in a pool of worker processes, with the same results.

Used by dataset generation and evaluation (``--workers``). Workers are spawned (never forked: the
caller may hold torch's thread pools) and receive a shared ``state`` once, at start-up.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

_WORKER: tuple = ()


@contextlib.contextmanager
def ordered_map(function: Callable[[Any, Any], Any], state: Any, workers: int):
    """Yield ``run(tasks)``: an iterator of ``function(state, task)`` in task order (``workers`` >= 1).

    With ``workers`` > 1 the calls run in that many spawned processes (``function`` must be a
    module-level function and ``state`` picklable); each worker gets an equal share of the cores
    for torch.
    """
    if workers == 1:
        yield lambda tasks: (function(state, task) for task in tasks)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                             initargs=(function, state, threads)) as pool:
        yield lambda tasks: pool.map(_call_in_worker, tasks)  # results come back in task order


def _start_worker(function: Callable, state: Any, threads: int) -> None:
    global _WORKER
    _WORKER = (function, state)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _call_in_worker(task: Any) -> Any:
    function, state = _WORKER
    return function(state, task)
