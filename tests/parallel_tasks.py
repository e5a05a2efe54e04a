"""Module-level task functions for the process-pool tests (spawned workers import them by name)."""

import time
from pathlib import Path


def mark_and_sleep(folder: str, task: int) -> int:
    """Mark ``task`` as started in ``folder``, then take a while (task 0 returns at once)."""
    (Path(folder) / f"started-{task}").touch()
    if task:
        time.sleep(30)
    return task
