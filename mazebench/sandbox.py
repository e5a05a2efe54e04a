"""Plug-in planners in a process of their own: the suite's process never imports them, and their answers come
back as plain JSON.

A :class:`SandboxedPlanner` is the suite's end of a plug-in: a Planner whose construction, ``plan``,
``describe`` and ``trace`` are requests to a host process (:func:`serve`, in a fresh interpreter). The host imports
the suite's ``builder`` (a ``module:function``, such as ``agents:build_plugin``), builds the planner with it and
answers each request with one line of JSON on a pipe of its own (the planner's prints go to stderr). The suite
reads at most ``MAX_REPLY_BYTES`` of a reply, parses it as JSON (never a pickle) and checks its shape; what the
scorer then reads of the paths is decided in the suite's process, as for any planner.

Each request waits at most ``time_limit`` seconds (None: no limit). A host that outlives it, dies or answers
out of protocol is ended with every process it started (:func:`end_process_tree`), and the request fails with
a :class:`~mazebench.planner.PlannerOutputError`; the next request starts a fresh host, built anew. ``close``
(called when an evaluation ends, and at exit) ends the host's whole process tree: the host runs in a session
of its own and, on Linux, the suite's process is a child subreaper, so that a descendant that detaches
(double fork, ``setsid``) is reparented to it and ended too.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from mazebench.planner import Planner, PlannerOutputError, check_path_count, error_line, failure_text, finite_number
from mazebench.scoring import json_safe, path_cap, plain_path, short_text

MAX_REPLY_BYTES = 256 * 2**20  # far above a batch of 256 paths at the path cap on the 41x41 maze
MAX_NAME_CHARS = 100
PR_SET_CHILD_SUBREAPER = 36  # prctl option (Linux >= 3.4)
_LIVE_HOSTS: set[int] = set()  # pids (= session ids) of this process's running hosts


class SandboxedPlanner(Planner):
    """A planner built and run by ``builder(**options)`` in a host process (see the module docstring).

    Construction builds it at once, so that a plug-in that does not import or build is a ValueError here.
    Pickled (``evaluate --workers``), it carries only its recipe: each process starts a host of its own."""

    def __init__(self, builder: str, options: dict, label: str, time_limit: float | None = None):
        self.builder, self.options, self.label, self.time_limit = builder, options, label, time_limit
        self.counters: dict[str, float] = {}
        self._host: _Host | None = None
        self.name = self._start(building=True)

    def __getstate__(self) -> dict:
        return {key: getattr(self, key) for key in ("builder", "options", "label", "time_limit", "name")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, counters={}, _host=None)

    def plan(self, maze, subgoal_batch, seed=0):
        request = {
            "op": "plan",
            "maze": np.asarray(maze).tolist(),
            "subgoals": [np.asarray(subgoals).tolist() for subgoals in subgoal_batch],
            "seed": int(seed),
        }
        return self._ask(request)

    def describe(self) -> dict:
        return self._ask({"op": "describe", "counters": self.counters})

    def trace(self, subgoals, frames=8):
        return self._ask({"op": "trace", "subgoals": np.asarray(subgoals).tolist(), "frames": frames})

    def close(self) -> None:
        """End the host and every process it started (a later request starts a new one)."""
        if self._host is not None:
            self._host.end()
            self._host = None

    def _start(self, building: bool = False) -> str:
        """Start a host and build the planner in it; its name."""
        try:
            self._host = _Host()
            reply = self._host.ask({"op": "build", "builder": self.builder, "options": self.options}, self.time_limit)
        except HostAnswer as answer:
            self.close()
            if answer.told:  # the builder's own words: no such module, a bad checkpoint ...
                raise ValueError(str(answer)) from None
            raise ValueError(f"agent {self.label!r}: building the planner failed ({answer})") from None
        except PlannerOutputError as error:
            self.close()
            raise ValueError(
                f"agent {self.label!r}: {'building' if building else 'rebuilding'} the planner failed ({error})"
            ) from None
        name = reply["answer"].get("name") if isinstance(reply["answer"], dict) else None
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
            self.close()
            raise ValueError(f"agent {self.label!r}: the planner's name {short_text(name)} is no short text")
        return name

    def _ask(self, request: dict) -> Any:
        if self._host is None:
            self._start()
        try:
            reply = self._host.ask(request, self.time_limit)
        except HostAnswer:  # the planner failed the request; its process answered and goes on
            raise
        except PlannerOutputError:  # past the time limit, dead or out of protocol: ended, restarted when asked again
            self.close()
            raise
        self.counters = reply["counters"]
        return reply["answer"]


class HostAnswer(PlannerOutputError):
    """A request the planner failed, as its host answered it (``told``: in the builder's own words, a ValueError
    or OSError while building)."""

    def __init__(self, text: str, told: bool):
        super().__init__(text)
        self.told = told


class _Host:
    """A host process and its reply pipe."""

    def __init__(self):
        _become_subreaper()
        self.buffer = bytearray()
        search_path = [str(Path(entry or ".").resolve()) for entry in sys.path]  # the suite's own modules
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from mazebench.sandbox import serve; serve()"],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(search_path)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # its own session: ended as a group, told apart from the suite's processes
        )
        _LIVE_HOSTS.add(self.process.pid)
        self._finalizer = weakref.finalize(self, _end_host, self.process)
        self._reply(None, None)  # started (the interpreter and the suite's imports): the clock runs from here

    def ask(self, request: dict, time_limit: float | None) -> dict:
        """The host's reply to ``request``, given within ``time_limit`` seconds."""
        deadline = None if time_limit is None else time.monotonic() + time_limit
        self._send((json.dumps(request, allow_nan=False) + "\n").encode(), deadline, time_limit)
        reply = self._reply(deadline, time_limit)
        if "error" in reply:
            text = reply["error"][:500] if isinstance(reply["error"], str) else "planner failed"
            raise HostAnswer(text, told=reply.get("told") is True)
        return reply

    def end(self) -> None:
        self._finalizer()

    def _send(self, data: bytes, deadline: float | None, time_limit: float | None) -> None:
        view = memoryview(data)
        while view:
            _wait_for(self.process.stdin, "w", deadline, time_limit)
            try:
                view = view[os.write(self.process.stdin.fileno(), view[: 1 << 16]) :]
            except (BrokenPipeError, OSError):
                raise PlannerOutputError(self._death()) from None

    def _reply(self, deadline: float | None, time_limit: float | None) -> dict:
        """The next line of the host as a checked reply dict."""
        while b"\n" not in self.buffer:
            _wait_for(self.process.stdout, "r", deadline, time_limit)
            chunk = os.read(self.process.stdout.fileno(), 1 << 20)
            if not chunk:
                raise PlannerOutputError(self._death())
            self.buffer += chunk
            if len(self.buffer) > MAX_REPLY_BYTES:
                raise PlannerOutputError(f"planner's process answered more than {MAX_REPLY_BYTES} bytes")
        line, _, rest = bytes(self.buffer).partition(b"\n")
        self.buffer = bytearray(rest)
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError) as error:  # not JSON, too deep, an integer too long ...
            raise PlannerOutputError(f"planner's process answered no JSON ({error_line(error)})") from None
        if not isinstance(reply, dict) or not ({"answer", "counters"} <= reply.keys() or "error" in reply):
            raise PlannerOutputError("planner's process answered out of protocol")
        if "counters" in reply:
            counters = reply["counters"]
            reply["counters"] = (
                {k: v for k, v in counters.items() if finite_number(v)} if isinstance(counters, dict) else {}
            )
        return reply

    def _death(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "planner's process stopped answering"
        return f"planner's process died (exit code {code})"


def _wait_for(pipe, mode: str, deadline: float | None, time_limit: float | None) -> None:
    """Block until ``pipe`` can be read (``mode`` "r") or written ("w"); PlannerOutputError past ``deadline``."""
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    ready = select.select([pipe] if mode == "r" else [], [pipe] if mode == "w" else [], [], remaining)
    if not any(ready):
        raise PlannerOutputError(f"planner's batch ran longer than the limit of {time_limit:g} s")


def _become_subreaper() -> None:
    """Make this process adopt its orphaned descendants (Linux; elsewhere nothing happens)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _end_host(process: subprocess.Popen) -> None:
    _LIVE_HOSTS.discard(process.pid)
    end_process_tree(process)


def end_process_tree(process: subprocess.Popen) -> None:
    """Kill ``process`` (started in a session of its own) and every process it started: those still in its
    session, and those that left it and were reparented to this (subreaper) process, until none is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        with contextlib.suppress(OSError):
            stream.close()
    own_session, me = os.getsid(0), os.getpid()
    for _ in range(100):  # each round ends one more generation of detached descendants
        strays = [
            (pid, parent == me)
            for pid, parent, session, state in _processes()
            if pid != me
            and session != own_session
            and (session == process.pid or (parent == me and session not in _LIVE_HOSTS))
            and (state != "Z" or parent == me)
        ]
        if not strays:
            return
        for pid, _ in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid, adopted in strays:
            if adopted:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
        time.sleep(0.001)


def _processes() -> list[tuple[int, int, int, str]]:
    """(pid, parent pid, session id, state) of every process this one can see in /proc (none without /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            found.append((int(entry.name), int(fields[1]), int(fields[3]), fields[0]))
        except (OSError, ValueError, IndexError):  # gone meanwhile
            continue
    return found


def serve() -> None:
    """The host: answer the suite's requests (one JSON line each) on this process's original stdout."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the planner's prints go to stderr
    sys.stdout = sys.stderr
    requests = os.fdopen(os.dup(0), "r")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)

    def send(reply: dict) -> None:
        replies.write(json.dumps(reply, allow_nan=False) + "\n")
        replies.flush()

    send({"answer": "started", "counters": {}})
    planner = None
    for line in requests:
        request = json.loads(line)
        try:
            if request["op"] == "build":
                module, _, function = request["builder"].partition(":")
                planner = getattr(importlib.import_module(module), function)(**request["options"])
                answer, counters = {"name": planner.name}, {}
            else:
                answer, counters = _answer(planner, request), dict(planner.counters)  # counters that raise fail it
            send({"answer": json_safe(answer), "counters": json_safe(counters)})
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # the planner's own failure, even SystemExit: its request fails
            building = request["op"] == "build" and isinstance(error, (ValueError, OSError))
            send({"error": error_line(error).partition(": ")[2] if building else failure_text(error), "told": building})


def _answer(planner: Planner, request: dict) -> Any:
    if request["op"] == "plan":
        maze = np.array(request["maze"], dtype=np.int8)
        paths = planner.plan(maze, [np.array(s, dtype=np.int64) for s in request["subgoals"]], seed=request["seed"])
        check_path_count(paths, len(request["subgoals"]))
        cap = path_cap(maze)
        return [plain_path(path, cap) for path in paths]
    if request["op"] == "describe":
        with contextlib.suppress(Exception):  # counters added up by the suite (evaluate --workers)
            planner.counters.update(request["counters"])
        return planner.describe()
    if request["op"] == "trace":
        return planner.trace(np.array(request["subgoals"], dtype=np.int64), frames=request["frames"])
    raise ValueError(f"unknown request {request['op']!r}")
