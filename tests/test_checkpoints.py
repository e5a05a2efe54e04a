"""Checkpoint files: a checksum verified on load, weights-only unpickling, one-line errors."""

import hashlib
import io
import pickle

import pytest
import torch

from agents.checkpoints import MAGIC, CheckpointError, checkpoint_digest, read_checkpoint, save_checkpoint

STATE = {
    "model": {"w": torch.arange(6.0).reshape(2, 3)},
    "step": 7,
    "agent": "flexmdm",
    "config": {"lr": 1e-3, "x": None},
}


def test_a_saved_state_reads_back(tmp_path):
    save_checkpoint(STATE, tmp_path / "c.pt")
    state = read_checkpoint(tmp_path / "c.pt")
    assert state["step"] == 7 and state["config"] == {"lr": 1e-3, "x": None}
    assert torch.equal(state["model"]["w"], STATE["model"]["w"])
    assert not (tmp_path / "c.pt.tmp").exists()


def test_the_digest_is_the_payloads_sha256_and_tells_weights_apart(tmp_path):
    save_checkpoint(STATE, tmp_path / "a.pt")
    save_checkpoint({**STATE, "model": {"w": STATE["model"]["w"] + 1}}, tmp_path / "b.pt")
    payload = (tmp_path / "a.pt").read_bytes()[len(MAGIC) + 65 :]
    assert checkpoint_digest(tmp_path / "a.pt") == hashlib.sha256(payload).hexdigest()
    assert checkpoint_digest(tmp_path / "a.pt") != checkpoint_digest(tmp_path / "b.pt")
    (tmp_path / "c.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="no mazebench checkpoint header"):
        checkpoint_digest(tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="cannot be read"):
        checkpoint_digest(tmp_path / "missing.pt")


def test_flipped_bytes_are_refused(tmp_path):
    save_checkpoint(STATE, tmp_path / "c.pt")
    blob = bytearray((tmp_path / "c.pt").read_bytes())
    for offset in range(len(blob) - 50, len(blob), 10):  # damage inside the payload
        blob[offset] ^= 0xFF
    (tmp_path / "c.pt").write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="corrupt or not a mazebench checkpoint .checksum mismatch"):
        read_checkpoint(tmp_path / "c.pt")


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"MAZEBENCH-CHECKPOINT 1\n" + b"0" * 30])
def test_empty_random_or_truncated_files_are_refused(tmp_path, content):
    (tmp_path / "c.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match="corrupt or not a mazebench checkpoint"):
        read_checkpoint(tmp_path / "c.pt")
    save_checkpoint(STATE, tmp_path / "d.pt")
    (tmp_path / "d.pt").write_bytes((tmp_path / "d.pt").read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        read_checkpoint(tmp_path / "d.pt")


class _Payload:
    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(_Payload.target),))


def test_a_crafted_pickle_never_runs(tmp_path):
    _Payload.target = str(tmp_path / "pwned")
    raw = io.BytesIO()
    torch.save({"model": _Payload()}, raw)
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "plain.pt").write_bytes(raw.getvalue())  # a plain torch file: no header
    import hashlib

    digest = hashlib.sha256(raw.getvalue()).hexdigest().encode()
    (tmp_path / "signed.pt").write_bytes(MAGIC + digest + b"\n" + raw.getvalue())  # a valid checksum
    for name in ("plain.pt", "signed.pt"):
        with pytest.raises(CheckpointError, match="corrupt or not a mazebench checkpoint"):
            read_checkpoint(tmp_path / name)
    assert not (tmp_path / "pwned").exists()
    pickle.loads(pickle.dumps(_Payload()))  # the payload does run when unpickled without protection
    assert (tmp_path / "pwned").exists()


def test_a_folder_or_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        read_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="cannot be read"):
        read_checkpoint(tmp_path / "missing.pt")


def test_a_device_or_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import agents.checkpoints

    with pytest.raises(CheckpointError, match="is not a regular file"):
        read_checkpoint("/dev/zero")  # read whole, it would never end
    save_checkpoint(STATE, tmp_path / "ok.pt")
    size = (tmp_path / "ok.pt").stat().st_size
    monkeypatch.setattr(agents.checkpoints, "MAX_CHECKPOINT_BYTES", size - 1)
    for read in (read_checkpoint, checkpoint_digest):
        with pytest.raises(CheckpointError, match=f"has {size:,} bytes, more than the {size - 1:,}"):
            read(tmp_path / "ok.pt")
