"""Who may write a folder: one writer at a time (a lock file beside it), and only into what is its own.

Every command that writes a folder (``generate``: the dataset; ``train``: the run; ``evaluate``,
``report``, ``ablation``: the report) holds :func:`folder_lock` while it runs. The lock is an
``fcntl.flock`` on ``.<name>.lock`` beside the folder (beside, because reports and datasets are swapped
in whole); the file records the holder's pid and command, so a second writer's one-line error names it.
The lock is released, and its file removed, when the command ends; the system releases it if the
process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path


class FolderBusyError(ValueError):
    """Another process is writing the folder."""


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold the lock of ``folder`` for the block; FolderBusyError naming the holder if another process has it."""
    folder = Path(os.path.realpath(folder))  # a folder and a symbolic link to it share one lock
    lock = folder.parent / f".{folder.name}.lock"
    folder.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(lock, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise FolderBusyError(
                f"{folder} is being written by {holder}; wait until it ends or choose another folder"
            ) from None
        if _same_file(handle, lock):  # not a lock file its last holder removed while we opened it
            break
        handle.close()
    try:
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} ({' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])})\n")
        handle.flush()
        yield
    finally:
        lock.unlink(missing_ok=True)
        handle.close()  # releases the lock


def _same_file(handle, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def check_own_folder(folder: Path, what: str, result_keys: Iterable[str], names: Iterable[str]) -> None:
    """Raise ValueError unless ``folder`` is missing, or holds a ``what`` (a results.json with ``result_keys``),
    or holds nothing but entries such a command writes (``names``, PNG files, hidden working files)."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ValueError(f"{folder} exists and is not a folder")
    try:
        results = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError):
        results = None
    if isinstance(results, dict) and set(result_keys) <= results.keys():
        return
    foreign = sorted(
        entry.name
        for entry in folder.iterdir()
        if not (entry.name in names or entry.suffix == ".png" or entry.name.startswith("."))
    )
    if foreign:
        raise ValueError(
            f"{folder} exists and is not {what} (it holds {', '.join(foreign[:3])}"
            f"{' ...' if len(foreign) > 3 else ''}): refusing to write into it; choose another --out"
        )
