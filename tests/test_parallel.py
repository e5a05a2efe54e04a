"""Process pools stop with their caller: no queued task starts and no worker outlives it."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mazebench.parallel import ordered_map
from tests.parallel_tasks import mark_and_sleep


def test_a_caller_that_stops_stops_its_workers_and_their_queue(tmp_path):
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with ordered_map(mark_and_sleep, str(tmp_path), workers=2) as run_all:
            for result in run_all(range(8)):
                assert result == 0
                raise KeyboardInterrupt  # as Ctrl-C or the CLI's SIGTERM would, while tasks 1 and 2 sleep
    assert time.monotonic() - started < 25  # the sleeping workers were stopped, not awaited
    ran = sorted(int(p.name.split("-")[1]) for p in tmp_path.glob("started-*"))
    assert ran[0] == 0 and len(ran) <= 4  # the queue was dropped: tasks 4 .. 7 never started


def test_sigterm_to_the_command_stops_its_worker_processes(tmp_path):
    """The CLI turns SIGTERM into an interrupt, so a pool's workers go with it (they once lived on)."""
    script = textwrap.dedent(
        f"""
        import signal, sys
        from mazebench.cli import _interrupt
        from mazebench.parallel import ordered_map
        from tests.parallel_tasks import mark_and_sleep
        signal.signal(signal.SIGTERM, _interrupt)
        with ordered_map(mark_and_sleep, {str(tmp_path)!r}, workers=2) as run_all:
            list(run_all(range(1, 9)))
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd())
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("started-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list(tmp_path.glob("started-*"))) == 2, "the two workers never started"
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) != 0
    time.sleep(0.5)
    alive = [pid for pid in children if os.path.exists(f"/proc/{pid}") and "Z" not in _state(pid)]
    assert not alive, f"worker processes {alive} outlived the command"
    assert len(list(tmp_path.glob("started-*"))) == 2  # and no queued task started


def _state(pid: str) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().split()[2]
    except OSError:
        return "Z"
