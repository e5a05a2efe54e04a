"""Data-parallel training: two gloo processes stay in sync and match one process with the same global batch,
also under a time budget (which only caps the run: the schedule follows the steps); drift is named."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from agents.checkpoints import read_checkpoint
from agents.config import preset_config
from agents.distributed import World, exit_without_teardown, leave_process_group
from agents.training import train
from mazebench.datasets import load_dataset

# max_minutes: a time budget that does not bind (it once made each rank anneal by its own clock).
SETTINGS = dict(epochs=1.0, batch_size=16, d_model=32, n_heads=2, n_layers=1, cond_dim=32, bf16=False, max_minutes=30.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank: int, world_size: int, port: int, data_dir: str, out: str, agent: str, steps: int) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    summary = train(
        load_dataset(data_dir),
        agent,
        preset_config("tiny", **SETTINGS),
        out,
        device="cpu",
        progress=False,
        stop_after=steps,
    )
    with open(os.path.join(out, f"summary-rank{rank}.json"), "w") as handle:
        json.dump(summary, handle)
    leave_process_group()
    exit_without_teardown()


def _run_two_processes(tiny_dataset_dir, out, agent, steps):
    mp.spawn(_rank_main, args=(2, _free_port(), str(tiny_dataset_dir), str(out), agent, steps), nprocs=2)
    return [json.loads((out / f"summary-rank{rank}.json").read_text()) for rank in range(2)]


@pytest.mark.parametrize("agent", ["flexmdm", "mdm"])
def test_two_processes_match_one_with_the_same_global_batch(tiny_dataset, tiny_dataset_dir, tmp_path, agent):
    summaries = _run_two_processes(tiny_dataset_dir, tmp_path / "ddp", agent, steps=4)
    assert all(s["ranks_in_sync"] and s["steps"] == 4 and s["processes"] == 2 for s in summaries)
    single = train(
        tiny_dataset,
        agent,
        preset_config("tiny", **SETTINGS),
        tmp_path / "one",
        device="cpu",
        progress=False,
        stop_after=4,
    )
    assert single["processes"] == 1
    ddp = read_checkpoint(tmp_path / "ddp" / "checkpoint.safetensors")["model"]
    one = read_checkpoint(tmp_path / "one" / "checkpoint.safetensors")["model"]
    for name, tensor in one.items():
        torch.testing.assert_close(ddp[name], tensor, rtol=1e-4, atol=1e-5, msg=name)
    ddp_log = [json.loads(line)["loss"] for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    one_log = [json.loads(line)["loss"] for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert ddp_log == pytest.approx(one_log, rel=1e-4)


def test_a_two_process_run_resumes_in_one_process(tiny_dataset, tiny_dataset_dir, tmp_path):
    _run_two_processes(tiny_dataset_dir, tmp_path / "run", "flexmdm", steps=3)
    resumed = train(
        tiny_dataset,
        "flexmdm",
        preset_config("tiny", **SETTINGS),
        tmp_path / "run",
        device="cpu",
        progress=False,
        resume=True,
        stop_after=2,
    )
    straight = train(
        tiny_dataset,
        "flexmdm",
        preset_config("tiny", **SETTINGS),
        tmp_path / "one",
        device="cpu",
        progress=False,
        stop_after=5,
    )
    assert resumed["steps"] == straight["steps"] == 5
    a = read_checkpoint(tmp_path / "run" / "checkpoint.safetensors")["model"]
    b = read_checkpoint(tmp_path / "one" / "checkpoint.safetensors")["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("count,size", [(16, 2), (17, 2), (5, 3), (2, 2)])
def test_shards_cover_the_batch_once(count, size):
    rows = [list(range(count))[World(rank, size).shard(count)] for rank in range(size)]
    assert sum(rows, []) == list(range(count))
    assert max(map(len, rows)) - min(map(len, rows)) <= 1


def test_a_batch_that_does_not_split_is_refused(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr("agents.training.join_process_group", lambda device: (World(0, 3), device))
    with pytest.raises(ValueError, match="multiple of 3"):
        train(tiny_dataset, "flexmdm", preset_config("tiny", **SETTINGS), tmp_path, device="cpu", progress=False)


def _drift_main(rank: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.distributed.init_process_group("gloo")
    module = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    for param in module.parameters():
        torch.nn.init.constant_(param, 0.5)
    same = World(rank, 2).first_difference(module)
    with torch.no_grad():
        module[1].bias += 1e-7 * rank  # one replica drifts by a hair
    with open(os.path.join(out, f"drift-rank{rank}.json"), "w") as handle:
        json.dump([same, World(rank, 2).first_difference(module)], handle)
    leave_process_group()
    exit_without_teardown()


def test_the_first_parameter_that_differs_between_ranks_is_named(tmp_path):
    mp.spawn(_drift_main, args=(_free_port(), str(tmp_path)), nprocs=2)
    for rank in range(2):
        assert json.loads((tmp_path / f"drift-rank{rank}.json").read_text()) == [None, "1.bias"]
