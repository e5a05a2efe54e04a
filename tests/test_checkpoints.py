"""Checkpoint files in safetensors: exact round trips, a digest verified on load, nothing unpickled, one-line
errors, and the converter of mazebench 0.1's files."""

import hashlib
import io
import json
import pickle
import struct

import pytest
import torch

from agents.checkpoints import (
    LEGACY_MAGIC,
    CheckpointError,
    checkpoint_digest,
    convert_legacy_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from agents.model import DiT, ModelConfig

STATE = {
    "model": {"w": torch.arange(6.0).reshape(2, 3)},
    "step": 7,
    "agent": "flexmdm",
    "config": {"lr": 1e-3, "x": None},
}


def trained_state() -> dict:
    """A model, its optimiser after two steps (integer keys, tuples), an RNG state and bf16 / bool tensors."""
    torch.manual_seed(0)
    model = DiT(ModelConfig(height=5, width=5, vocab_size=28, num_classes=26, d_model=16, n_heads=2, n_layers=1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    for _ in range(2):
        tokens = torch.randint(0, 25, (3, 7))
        logits, _ = model(tokens, torch.zeros_like(tokens, dtype=torch.bool), None, torch.rand(3), tokens < 10)
        logits.sum().backward()
        optimizer.step()
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "half": torch.randn(4).to(torch.bfloat16),
        "flags": torch.tensor([True, False]),
        "settings": {"lr": 1e-3, "betas": (0.9, 0.99), "name": "x", "none": None, "inf": float("inf")},
    }


def same(a, b) -> bool:
    """Equal values of equal types, tensors bit for bit with their dtypes."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_a_round_trip_is_exact_and_resumes_the_optimizer(tmp_path):
    state = trained_state()
    save_checkpoint(state, tmp_path / "c.safetensors")
    back = read_checkpoint(tmp_path / "c.safetensors")
    assert same({**state, "model": dict(state["model"])}, back)
    assert not (tmp_path / "c.safetensors.tmp").exists()
    model = DiT(ModelConfig(height=5, width=5, vocab_size=28, num_classes=26, d_model=16, n_heads=2, n_layers=1))
    model.load_state_dict(back["model"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    optimizer.load_state_dict(back["optimizer"])  # integer parameter ids survive: the moments are restored
    assert torch.equal(optimizer.state[next(model.parameters())]["exp_avg"], back["optimizer"]["state"][0]["exp_avg"])
    with pytest.raises(TypeError, match="plain data and tensors only, not set .at /x"):
        save_checkpoint({"x": {1, 2}}, tmp_path / "bad.safetensors")


def test_the_file_is_plain_safetensors_with_the_settings_and_digest_in_its_metadata(tmp_path):
    from safetensors import safe_open

    save_checkpoint(STATE, tmp_path / "a.safetensors")
    with safe_open(tmp_path / "a.safetensors", framework="pt") as handle:  # any safetensors reader opens it
        metadata = handle.metadata()
        assert list(handle.keys()) == ["/model/w"] and torch.equal(handle.get_tensor("/model/w"), STATE["model"]["w"])
    skeleton = json.loads(metadata["skeleton"])
    assert skeleton["config"] == {"lr": 1e-3, "x": None} and skeleton["model"] == {"w": {"$tensor": "/model/w"}}
    w = STATE["model"]["w"]
    expected = hashlib.sha256(metadata["skeleton"].encode())
    expected.update(json.dumps(["/model/w", str(w.dtype), list(w.shape)]).encode())
    expected.update(w.numpy().tobytes())
    assert metadata["sha256"] == expected.hexdigest() == checkpoint_digest(tmp_path / "a.safetensors")
    save_checkpoint({**STATE, "model": {"w": w + 1}}, tmp_path / "b.safetensors")
    save_checkpoint({**STATE, "step": 8}, tmp_path / "c.safetensors")
    digests = {checkpoint_digest(tmp_path / f"{n}.safetensors") for n in "abc"}
    assert len(digests) == 3  # weights and settings both count


def _tamper(path, offset_from_end: int) -> None:
    blob = bytearray(path.read_bytes())
    blob[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(blob))


def test_a_changed_byte_or_setting_is_refused_with_one_line(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(trained_state(), path)
    _tamper(path, 5)  # one bit of the last tensor's data
    with pytest.raises(CheckpointError, match=r"^checkpoint .* is corrupt or not a mazebench checkpoint \(checksum"):
        read_checkpoint(path)
    save_checkpoint(STATE, path)
    blob = path.read_bytes()
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + size])
    skeleton = json.loads(header["__metadata__"]["skeleton"])
    skeleton["step"] = 8  # a setting changed, its digest kept
    header["__metadata__"]["skeleton"] = json.dumps(skeleton)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + size :])
    with pytest.raises(CheckpointError, match="checksum mismatch") as refused:
        read_checkpoint(path)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, struct.pack("<Q", 2**40) + b"{}", b"\x10" + b"\0" * 7])
def test_empty_random_or_truncated_files_are_refused(tmp_path, content):
    (tmp_path / "c.safetensors").write_bytes(content)
    for read in (read_checkpoint, checkpoint_digest):
        with pytest.raises(CheckpointError, match="corrupt or not a mazebench checkpoint"):
            read(tmp_path / "c.safetensors")
    save_checkpoint(STATE, tmp_path / "d.safetensors")
    (tmp_path / "d.safetensors").write_bytes((tmp_path / "d.safetensors").read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="unreadable tensors"):
        read_checkpoint(tmp_path / "d.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, tmp_path / "foreign.safetensors")  # safetensors, but not ours
    with pytest.raises(CheckpointError, match="no mazebench metadata"):
        read_checkpoint(tmp_path / "foreign.safetensors")


def _legacy(state_or_payload, path) -> None:
    """A file in mazebench 0.1's format: the magic line, the payload's sha256, a torch.save payload."""
    raw = io.BytesIO()
    torch.save(state_or_payload, raw)
    payload = raw.getvalue()
    path.write_bytes(LEGACY_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)


def test_an_old_checkpoint_names_its_converter_which_keeps_every_value(tmp_path):
    state = trained_state()
    _legacy(state, tmp_path / "checkpoint.pt")
    for read in (read_checkpoint, checkpoint_digest):
        with pytest.raises(CheckpointError, match="format of mazebench 0.1; convert it once with `mazebench convert"):
            read(tmp_path / "checkpoint.pt")
    convert_legacy_checkpoint(tmp_path / "checkpoint.pt", tmp_path / "checkpoint.safetensors")
    assert same({**state, "model": dict(state["model"])}, read_checkpoint(tmp_path / "checkpoint.safetensors"))
    save_checkpoint(STATE, tmp_path / "new.safetensors")
    with pytest.raises(CheckpointError, match="not a checkpoint of mazebench 0.1"):
        convert_legacy_checkpoint(tmp_path / "new.safetensors", tmp_path / "x.safetensors")


class _Payload:
    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(_Payload.target),))


def test_a_crafted_pickle_never_runs(tmp_path):
    _Payload.target = str(tmp_path / "pwned")
    raw = io.BytesIO()
    torch.save({"model": _Payload()}, raw)
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "plain.pt").write_bytes(raw.getvalue())  # a plain torch file
    _legacy({"model": _Payload()}, tmp_path / "signed.pt")  # a valid 0.1 checksum
    with pytest.raises(CheckpointError, match="corrupt or not a mazebench checkpoint"):
        read_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="corrupt or not a mazebench checkpoint .UnpicklingError"):
        convert_legacy_checkpoint(tmp_path / "signed.pt", tmp_path / "out.safetensors")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out.safetensors").exists()
    pickle.loads(pickle.dumps(_Payload()))  # the payload does run when unpickled without protection
    assert (tmp_path / "pwned").exists()


def test_a_folder_or_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        read_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="cannot be read"):
        read_checkpoint(tmp_path / "missing.safetensors")


def test_a_device_or_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import agents.checkpoints

    with pytest.raises(CheckpointError, match="is not a regular file"):
        read_checkpoint("/dev/zero")  # read whole, it would never end
    save_checkpoint(STATE, tmp_path / "ok.safetensors")
    size = (tmp_path / "ok.safetensors").stat().st_size
    monkeypatch.setattr(agents.checkpoints, "MAX_CHECKPOINT_BYTES", size - 1)
    for read in (read_checkpoint, checkpoint_digest):
        with pytest.raises(CheckpointError, match=f"has {size:,} bytes, more than the {size - 1:,}"):
            read(tmp_path / "ok.safetensors")


def test_the_convert_command_rewrites_an_old_run_which_is_refused_until_then(tmp_path):
    from click.testing import CliRunner

    from agents.loading import load_checkpoint
    from mazebench.cli import cli

    run = tmp_path / "run"
    run.mkdir()
    _legacy(STATE, run / "checkpoint.pt")
    with pytest.raises(FileNotFoundError, match=f"convert it once with `mazebench convert-checkpoint {run}`"):
        load_checkpoint(run)
    done = CliRunner().invoke(cli, ["convert-checkpoint", str(run)])
    assert done.exit_code == 0, done.output
    assert same(STATE, read_checkpoint(run / "checkpoint.safetensors")) and (run / "checkpoint.pt").exists()
    again = CliRunner().invoke(cli, ["convert-checkpoint", str(run)])
    assert again.exit_code == 2 and "exists already" in again.output
    broken = CliRunner().invoke(cli, ["convert-checkpoint", str(run / "checkpoint.safetensors")])
    assert broken.exit_code != 0 and "not a checkpoint of mazebench 0.1" in broken.output


def _reference_state() -> dict:
    """The state of a shipped reference checkpoint (a small MDM): what a planner loads."""
    from agents.reference import REFERENCE_DIR

    return read_checkpoint(REFERENCE_DIR / "mini-mdm-k2.safetensors")


def _one_line_cli_error(path, tiny_dataset_dir) -> str:
    from click.testing import CliRunner

    from mazebench.cli import cli

    result = CliRunner().invoke(
        cli, ["evaluate", "--agent", "mdm", "--checkpoint", str(path), "--data", str(tiny_dataset_dir), "--quiet"]
    )
    assert result.exit_code == 1 and result.output.count("\n") == 1 and result.output.startswith("Error: "), (
        result.output
    )
    return result.output


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda w: w.fill_(float("nan")), "holds NaN or infinite values"),
        (lambda w: w.fill_(float("inf")), "holds NaN or infinite values"),
        (lambda w: w.to(torch.int64), "is a int64 tensor, not a floating-point one"),
        (lambda w: w.to(torch.bool), "is a bool tensor, not a floating-point one"),
    ],
)
def test_weights_no_planner_should_run_are_refused_naming_the_tensor(tmp_path, tiny_dataset_dir, change, message):
    from agents.loading import load_checkpoint

    state = _reference_state()
    weights = state["ema"]["model"]
    name = sorted(name for name, w in weights.items() if w.is_floating_point())[-1]
    changed = change(weights[name].float())
    weights[name] = changed if changed.dtype != torch.float32 else changed.half()
    save_checkpoint(state, tmp_path / "c.safetensors")
    with pytest.raises(ValueError, match=f"the weight {name} {message}"):
        load_checkpoint(tmp_path / "c.safetensors", device="cpu")
    assert f"the weight {name} {message}" in _one_line_cli_error(tmp_path / "c.safetensors", tiny_dataset_dir)


@pytest.mark.parametrize(
    "maze, message",
    [
        (None, "has no maze"),
        ("#.#", "its maze is str, not a 2-D integer tensor"),
        (torch.zeros(3, 3, 3, dtype=torch.uint8), "its maze is a 3-D torch.uint8 tensor"),
        (torch.full((5, 5), 7, dtype=torch.uint8), "holds values other than 0 (open) and 1 (wall)"),
        ("num_subgoals", "num_subgoals must be an integer, got '2'"),
    ],
)
def test_a_checkpoint_without_a_maze_or_with_a_wrong_one_is_one_line(tmp_path, tiny_dataset_dir, maze, message):
    state = _reference_state()
    if maze == "num_subgoals":
        state["num_subgoals"] = "2"
    elif maze is None:
        del state["maze"]
    else:
        state["maze"] = maze
    save_checkpoint(state, tmp_path / "c.safetensors")
    assert message in _one_line_cli_error(tmp_path / "c.safetensors", tiny_dataset_dir)


def _with_header(path, header: bytes) -> None:
    path.write_bytes(struct.pack("<Q", len(header)) + header)


def test_deeply_nested_headers_and_skeletons_are_one_line(tmp_path, tiny_dataset_dir):
    from safetensors.torch import save as save_tensors

    from agents.checkpoints import FORMAT, _digest

    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "c.safetensors"
    _with_header(path, b'{"__metadata__": {"format": "x"}, "x": ' + deep.encode() + b"}")
    for read in (read_checkpoint, checkpoint_digest):
        with pytest.raises(CheckpointError, match="no safetensors header"):
            read(path)
    assert "corrupt or not a mazebench checkpoint" in _one_line_cli_error(path, tiny_dataset_dir)
    path.write_bytes(save_tensors({}, metadata={"format": FORMAT, "skeleton": deep, "sha256": _digest(deep, {})}))
    with pytest.raises(CheckpointError, match="bad skeleton: RecursionError"):
        read_checkpoint(path)
    assert "bad skeleton" in _one_line_cli_error(path, tiny_dataset_dir)
