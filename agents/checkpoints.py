"""Checkpoint files that cannot run code and are checked before use.

A checkpoint is a header line, the sha256 of the payload and the payload: a ``torch.save`` of plain
data (tensors, numbers, strings, lists and dicts). Reading verifies the checksum and unpickles with
``weights_only=True``, so a damaged file is refused and a crafted pickle never executes. Any problem
is one ``CheckpointError`` line naming the file.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch

MAGIC = b"MAZEBENCH-CHECKPOINT 1\n"
DIGEST_LEN = 64  # hex sha256


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
    try:
        blob = path.read_bytes()
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {path} is a folder, not a file") from None
    except OSError as error:
        raise CheckpointError(f"checkpoint {path} cannot be read: {error.strerror or error}") from None
    header = len(MAGIC) + DIGEST_LEN + 1
    if not blob.startswith(MAGIC) or len(blob) < header or blob[header - 1 : header] != b"\n":
        raise _corrupt(path, "no mazebench checkpoint header")
    digest, payload = blob[len(MAGIC) : header - 1].decode("ascii", "replace"), blob[header:]
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
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(MAGIC) + DIGEST_LEN + 1)
    except OSError as error:
        raise CheckpointError(f"checkpoint {path} cannot be read: {error.strerror or error}") from None
    if not header.startswith(MAGIC) or header[-1:] != b"\n" or len(header) != len(MAGIC) + DIGEST_LEN + 1:
        raise _corrupt(path, "no mazebench checkpoint header")
    return header[len(MAGIC) : -1].decode("ascii", "replace")


def _corrupt(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is corrupt or not a mazebench checkpoint ({why})")
