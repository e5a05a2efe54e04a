"""Checkpoint files that cannot run code and are checked before use.

A checkpoint is a header line, the sha256 of the payload and the payload: a ``torch.save`` of plain
data (tensors, numbers, strings, lists and dicts). Reading checks that the path is a regular file of
at most ``MAX_CHECKPOINT_BYTES`` with the header before reading it whole, verifies the checksum and
unpickles with ``weights_only=True``, so a damaged file is refused and a crafted pickle never executes.
Any problem is one ``CheckpointError`` line naming the file.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import torch

MAGIC = b"MAZEBENCH-CHECKPOINT 1\n"
DIGEST_LEN = 64  # hex sha256
HEADER_LEN = len(MAGIC) + DIGEST_LEN + 1  # magic line, digest, newline
MAX_CHECKPOINT_BYTES = 16 * 2**30  # 16 GiB: far above any model of the presets (the paper's is about 50 MB)


class CheckpointError(ValueError):
    """A file that is not a readable mazebench checkpoint."""


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict:
    """The state saved at ``path``, its tensors on ``device``; CheckpointError if it is damaged or foreign."""
    path = Path(path)
    blob = _read(path)
    digest, payload = _header_digest(blob, path), blob[HEADER_LEN:]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise _corrupt(path, "checksum mismatch")
    try:
        state = torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except Exception as error:  # the unpickler's many failure kinds all mean the same here
        raise _corrupt(path, type(error).__name__) from None
    if not isinstance(state, dict):
        raise _corrupt(path, "payload is not a dict")
    return state


def checkpoint_digest(path: str | Path) -> str:
    """The sha256 of the checkpoint's payload as written in its header (the file is not read further):
    it names the exact weights, e.g. to tell whether an evaluation was made from them."""
    path = Path(path)
    return _header_digest(_read(path, whole=False), path)


def _read(path: Path, whole: bool = True) -> bytes:
    """The header of ``path`` and, if ``whole``, the rest, read only once ``path`` shows itself a regular file
    of at most MAX_CHECKPOINT_BYTES that starts with the header; CheckpointError otherwise."""
    try:
        _check_file(path, os.stat(path))  # before opening: opening a pipe would wait for a writer
        with open(path, "rb") as handle:
            head = handle.read(HEADER_LEN)
            _header_digest(head, path)
            return head + handle.read() if whole else head
    except OSError as error:
        raise CheckpointError(f"checkpoint {path} cannot be read: {error.strerror or error}") from None


def _check_file(path: Path, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError(f"checkpoint {path} is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"checkpoint {path} is not a regular file (a device, pipe or socket)")
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"checkpoint {path} has {info.st_size:,} bytes, more than the "
            f"{MAX_CHECKPOINT_BYTES:,} a checkpoint may have"
        )


def _header_digest(blob: bytes, path: Path) -> str:
    """The payload digest written in the header at the start of ``blob``; CheckpointError if there is none."""
    if not blob.startswith(MAGIC) or len(blob) < HEADER_LEN or blob[HEADER_LEN - 1 : HEADER_LEN] != b"\n":
        raise _corrupt(path, "no mazebench checkpoint header")
    return blob[len(MAGIC) : HEADER_LEN - 1].decode("ascii", "replace")


def _corrupt(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is corrupt or not a mazebench checkpoint ({why})")
