"""Checkpoint files in safetensors, which hold tensors and text and nothing that runs.

A checkpoint is any nested state of plain data: dicts, lists, tuples, numbers, strings, None and tensors
(a model's and an optimiser's state dicts, an RNG state, the run's settings). Its tensors are the file's
tensors, named by their place in the state; the rest is a JSON skeleton in the file's metadata, with
every tensor replaced by its name. The metadata also holds the sha256 of the whole content (skeleton,
then every tensor's name, dtype, shape and bytes in name order), so the weights and settings are named
by one digest and a changed byte is refused. Reading checks that the path is a regular file of at most
``MAX_CHECKPOINT_BYTES`` first. Any problem is one ``CheckpointError`` line naming the file.

Checkpoints of mazebench 0.1 (a header line, a sha256 and a ``torch.save`` payload) are refused with
the command that converts them, ``mazebench convert-checkpoint``, which reads them with
``weights_only=True`` (no code runs) and writes them again in this format.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

FORMAT = "mazebench-checkpoint 2"
LEGACY_MAGIC = b"MAZEBENCH-CHECKPOINT 1\n"  # mazebench 0.1: the magic line, a hex sha256 and a torch.save payload
MAX_CHECKPOINT_BYTES = 16 * 2**30  # 16 GiB: far above any model of the presets (the paper's is about 50 MB)
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own cap on the JSON header


class CheckpointError(ValueError):
    """A file that is not a readable mazebench checkpoint."""


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_encode(state, "", tensors))
    metadata = {"format": FORMAT, "skeleton": skeleton, "sha256": _digest(skeleton, tensors)}
    blob = save_tensors(tensors, metadata=metadata)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict:
    """The state saved at ``path``, its tensors on ``device``; CheckpointError if it is damaged or foreign."""
    path = Path(path)
    blob = _read(path)
    metadata = _metadata(blob, path)
    try:
        tensors = load_tensors(blob)
    except SafetensorError as error:
        raise _corrupt(path, f"unreadable tensors: {error}") from None
    if _digest(metadata["skeleton"], tensors) != metadata["sha256"]:
        raise _corrupt(path, "checksum mismatch")
    try:
        state = _decode(json.loads(metadata["skeleton"]), {name: t.to(device) for name, t in tensors.items()})
    except (ValueError, KeyError, TypeError, RecursionError) as error:  # RecursionError: nested too deep
        raise _corrupt(path, f"bad skeleton: {type(error).__name__}") from None
    if not isinstance(state, dict):
        raise _corrupt(path, "the state is not a dict")
    return state


def checkpoint_digest(path: str | Path) -> str:
    """The sha256 of the checkpoint's content as written in its header (the tensors are not read): it names
    the exact weights and settings, e.g. to tell whether an evaluation was made from them."""
    path = Path(path)
    return _metadata(_read(path, whole=False), path)["sha256"]


def convert_legacy_checkpoint(source: str | Path, target: str | Path) -> None:
    """Rewrite a mazebench 0.1 checkpoint (checksum verified, unpickled with ``weights_only=True``) in this
    format."""
    source = Path(source)
    blob = _read(source)
    if not blob.startswith(LEGACY_MAGIC):
        raise CheckpointError(f"checkpoint {source} is not a checkpoint of mazebench 0.1")
    header = len(LEGACY_MAGIC) + 65  # the magic line, 64 hex digits and a newline
    digest, payload = blob[len(LEGACY_MAGIC) : header - 1].decode("ascii", "replace"), blob[header:]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise _corrupt(source, "checksum mismatch")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as error:  # the unpickler's many failure kinds all mean the same here
        raise _corrupt(source, type(error).__name__) from None
    save_checkpoint(state, target)


def _encode(value, name: str, tensors: dict):
    """``value`` as JSON, its tensors moved into ``tensors`` under their place (``name``) in the state."""
    if isinstance(value, torch.Tensor):
        if name in tensors:
            raise ValueError(f"two places of the state are both named {name}")
        tensors[name] = value.detach().cpu().contiguous().clone()  # clone: no storage shared between names
        return {"$tensor": name}
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            return {key: _encode(item, f"{name}/{key}", tensors) for key, item in value.items()}
        return {"$items": [[key, _encode(item, f"{name}/{key}", tensors)] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, f"{name}/{i}", tensors) for i, item in enumerate(value)]
        return {"$tuple": items} if isinstance(value, tuple) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a checkpoint holds plain data and tensors only, not {type(value).__name__} (at {name or '/'})")


def _decode(value, tensors: dict):
    if isinstance(value, list):
        return [_decode(item, tensors) for item in value]
    if not isinstance(value, dict):
        return value
    if "$tensor" in value:
        return tensors[value["$tensor"]]
    if "$tuple" in value:
        return tuple(_decode(item, tensors) for item in value["$tuple"])
    if "$items" in value:
        return {key: _decode(item, tensors) for key, item in value["$items"]}
    return {key: _decode(item, tensors) for key, item in value.items()}


def _digest(skeleton: str, tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the skeleton and of every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256(skeleton.encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _metadata(blob: bytes, path: Path) -> dict:
    """The mazebench metadata in the safetensors header at the start of ``blob``; CheckpointError if there is
    none (an 0.1 checkpoint: with the command that converts it)."""
    if blob.startswith(LEGACY_MAGIC):
        raise CheckpointError(
            f"checkpoint {path} is in the format of mazebench 0.1; convert it once with "
            f"`mazebench convert-checkpoint {path}`"
        )
    if len(blob) < 8:
        raise _corrupt(path, "no safetensors header")
    (size,) = struct.unpack("<Q", blob[:8])
    if size > MAX_HEADER_BYTES or len(blob) < 8 + size:
        raise _corrupt(path, "no safetensors header")
    try:
        metadata = json.loads(blob[8 : 8 + size]).get("__metadata__") or {}
    except (ValueError, AttributeError, RecursionError):  # RecursionError: nested too deep
        raise _corrupt(path, "no safetensors header") from None
    if metadata.get("format") != FORMAT or not all(
        isinstance(metadata.get(key), str) for key in ("skeleton", "sha256")
    ):
        raise _corrupt(path, "no mazebench metadata")
    return metadata


def _read(path: Path, whole: bool = True) -> bytes:
    """The header of ``path`` (its first 8 bytes and the JSON they announce) and, if ``whole``, the rest, read
    only once ``path`` shows itself a regular file of at most MAX_CHECKPOINT_BYTES; CheckpointError
    otherwise."""
    try:
        _check_file(path, os.stat(path))  # before opening: opening a pipe would wait for a writer
        with open(path, "rb") as handle:
            if whole:
                return handle.read()
            head = handle.read(8)
            if head.startswith(LEGACY_MAGIC[:8]) or len(head) < 8:
                return head + handle.read(len(LEGACY_MAGIC))
            (size,) = struct.unpack("<Q", head)
            return head + handle.read(min(size, MAX_HEADER_BYTES))
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


def _corrupt(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} is corrupt or not a mazebench checkpoint ({why})")
