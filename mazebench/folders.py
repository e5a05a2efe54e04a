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
    """Hold the lock of ``folder`` for the block; FolderBusyError naming the holder if another process has it. A
    symbolic link that points nowhere is refused before anything is created."""
    if os.path.islink(folder) and not os.path.exists(folder):
        raise ValueError(f"{folder} is a symbolic link to {os.readlink(folder)}, which does not exist; give a folder")
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


MARKER = ".mazebench"  # in a folder the suite writes: the kind of folder ("an evaluation report", "a steps page" ...)
FIGURES = (".png", ".gif")  # galleries, figures and animations, besides the named entries
PAGE_ENTRIES = ("README.md", "results.json", "eval")  # what every page folder holds (besides figures)


def check_own_folder(folder: Path, what: str, result_keys: Iterable[str], names: Iterable[str]) -> None:
    """Raise ValueError unless ``folder`` is missing or is ``what`` (e.g. "an evaluation report"), a folder the
    suite wrote and may write again (evaluation reports are replaced whole: what else is in them is deleted).

    A folder is ``what`` if its marker file (``MARKER``, which :func:`mark_own_folder` writes) names ``what``;
    one whose marker names another kind is refused. A folder without a marker (written before the marker existed,
    as the pages committed under reports/) is
    taken only if it holds nothing but entries such a command writes (``names``, PNG and GIF files, hidden
    working files) and, if it has a results.json, that is a JSON object with ``result_keys``: a results.json
    with the right keys alone does not make a folder the suite's (a user's folder with a few generic keys and
    files of its own is refused, its files kept), and a report cut short before its results.json is taken."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ValueError(f"{folder} exists and is not a folder")
    kind = _marker(folder)
    if kind == what:
        return
    if kind is not None:
        raise ValueError(f"{folder} is {kind}, not {what}: refusing to write into it; choose another --out")
    names = set(names)
    foreign = sorted(
        entry.name
        for entry in folder.iterdir()
        if not (entry.name in names or entry.suffix in FIGURES or entry.name.startswith("."))
    )
    if foreign:
        raise ValueError(
            f"{folder} exists and is not {what} (it holds {', '.join(foreign[:3])}"
            f"{' ...' if len(foreign) > 3 else ''}): refusing to write into it; choose another --out"
        )
    if (folder / "results.json").exists() or (folder / "results.json").is_symlink():
        try:
            results = json.loads((folder / "results.json").read_text())
        except (OSError, ValueError, RecursionError):
            results = None
        if not isinstance(results, dict) or not set(result_keys) <= results.keys():
            raise ValueError(
                f"{folder} exists and is not {what} (its results.json is not one): refusing to write into it; "
                "choose another --out"
            )


def mark_own_folder(folder: Path, what: str) -> None:
    """Create ``folder`` if need be and mark it as ``what`` (see :func:`check_own_folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(what + "\n")


def _marker(folder: Path) -> str | None:
    """The kind of folder its marker names; None if it has none."""
    marker = folder / MARKER
    if not marker.is_file():
        return None
    try:
        return marker.read_text(errors="replace").strip() or "a folder of an unknown kind"
    except OSError:
        return "a folder of an unknown kind"
