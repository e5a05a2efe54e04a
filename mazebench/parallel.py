"""Ordered maps over tasks, in this process or in a pool of worker processes, with the same results.

Used by dataset generation and evaluation (``--workers``). Workers are spawned (never forked: the
caller may hold torch's thread pools) and receive a shared ``state`` once, at start-up. With a time
limit (``evaluate --batch-timeout``) every call runs in a process of its own, which is killed when
the call outlives the limit; such a call, or one whose process dies, gives a ``TaskFailed``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

_WORKER: tuple = ()
STARTED = "mazebench: the call has started"  # a process's first message in isolated_map


@dataclass(frozen=True)
class TaskFailed:
    """The result of a call that outlived the time limit or whose process died."""

    reason: str


@contextlib.contextmanager
def ordered_map(function: Callable[[Any, Any], Any], state: Any, workers: int, timeout: float | None = None):
    """Yield ``run(tasks)``: an iterator of ``function(state, task)`` in task order (``workers`` >= 1).

    With ``workers`` > 1 the calls run in that many spawned processes (``function`` must be a
    module-level function and ``state`` picklable); each worker gets an equal share of the cores
    for torch. With ``timeout`` (seconds) see :func:`isolated_map`.
    """
    if timeout is not None:
        yield lambda tasks: isolated_map(function, state, tasks, workers, timeout)
        return
    if workers == 1:
        yield lambda tasks: (function(state, task) for task in tasks)
        return
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(function, state, _threads(workers)),
    )
    try:
        yield lambda tasks: pool.map(_call_in_worker, tasks)  # results come back in task order
    except BaseException:  # the caller stopped (an error, Ctrl-C, SIGTERM): no queued task starts, no call goes on
        workers_now = list(pool._processes.values())  # the executor's own list; it has no public one
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers_now:
            process.terminate()  # SIGTERM: a training stops at its next step with a checkpoint
        for process in workers_now:
            process.join()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def isolated_map(
    function: Callable[[Any, Any], Any], state: Any, tasks: list, workers: int, timeout: float
) -> Iterator[Any]:
    """``function(state, task)`` for each task in order, each call in a fresh spawned process (``workers`` at
    a time); a call that runs longer than ``timeout`` seconds (its process is killed; start-up is not
    counted) or whose process dies gives a TaskFailed instead."""
    context = multiprocessing.get_context("spawn")
    waiting, running, results = list(enumerate(tasks))[::-1], {}, {}  # running: pipe -> [process, index, deadline]
    try:
        for wanted in range(len(waiting)):
            while wanted not in results:
                while waiting and len(running) < workers:
                    receiver, sender = context.Pipe(duplex=False)
                    index, task = waiting.pop()
                    process = context.Process(
                        target=_call_in_process, args=(sender, function, state, task, _threads(workers))
                    )
                    process.start()
                    sender.close()
                    running[receiver] = [process, index, None]  # no deadline until the call has started
                deadlines = [deadline for _, _, deadline in running.values() if deadline is not None]
                for receiver in wait(list(running), max(0.0, min(deadlines) - time.monotonic()) if deadlines else None):
                    _receive(receiver, running, results, timeout)
                for receiver, (_, _, deadline) in list(running.items()):
                    if deadline is not None and time.monotonic() >= deadline:
                        _stop(receiver, running, results, TaskFailed(f"ran longer than the limit of {timeout:g} s"))
            yield results.pop(wanted)
    finally:  # the caller stopped early: no call outlives it
        for receiver in list(running):
            _stop(receiver, running, results, None)


def _threads(workers: int) -> int:
    """Torch threads of each of ``workers`` processes: an equal share of the cores."""
    return max(1, (os.cpu_count() or 1) // workers)


def _receive(receiver, running: dict, results: dict, timeout: float) -> None:
    """Take a message of a running call: its start (its deadline begins), its result, or its process's end."""
    try:
        message = receiver.recv()
    except (EOFError, OSError):
        process = running[receiver][0]
        process.join()
        _stop(receiver, running, results, TaskFailed(f"its process died (exit code {process.exitcode})"))
        return
    if isinstance(message, str) and message == STARTED:
        running[receiver][2] = time.monotonic() + timeout
    else:
        _stop(receiver, running, results, message)


def _stop(receiver, running: dict, results: dict, result: Any) -> None:
    """End a running call's process and keep ``result`` as its result."""
    process, index, _ = running.pop(receiver)
    process.kill()
    process.join()
    receiver.close()
    results[index] = result


def _call_in_process(sender, function: Callable, state: Any, task: Any, threads: int) -> None:
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    sender.send(STARTED)
    sender.send(function(state, task))


def _start_worker(function: Callable, state: Any, threads: int) -> None:
    global _WORKER
    _WORKER = (function, state)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _call_in_worker(task: Any) -> Any:
    function, state = _WORKER
    return function(state, task)
