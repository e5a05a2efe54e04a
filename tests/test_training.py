"""Training loop: checkpoints, exact resume, error paths, and the planner built from a run."""

import json

import numpy as np
import pytest
import torch

from agents import make_agent
from agents.training import load_checkpoint, preset_config, train

FAST = dict(epochs=0.5, batch_size=16, d_model=32, n_heads=2, n_layers=1, cond_dim=32)


@pytest.mark.parametrize("agent", ["flexmdm", "mdm"])
def test_checkpoint_holds_config_tokenizer_dataset_and_ema(tiny_dataset, tmp_path, agent):
    summary = train(tiny_dataset, agent, preset_config("tiny", **FAST), tmp_path, progress=False)
    assert summary["steps"] == int(0.5 * summary["steps_per_epoch"])
    method, model, state = load_checkpoint(tmp_path)
    assert state["dataset_id"] == tiny_dataset.meta["dataset_id"]
    assert state["tokenizer"] == {"height": 15, "width": 15}
    assert method.name == agent and not model.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state["ema"]["model"][name])
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == summary["steps"] and all(np.isfinite(json.loads(line)["loss"]) for line in lines)


def test_resume_continues_exactly(tiny_dataset, tmp_path):
    cfg = preset_config("tiny", **FAST)
    straight = train(tiny_dataset, "flexmdm", cfg, tmp_path / "a", progress=False)
    first = train(tiny_dataset, "flexmdm", cfg, tmp_path / "b", progress=False, stop_after=3)
    assert first["steps"] == 3 and first["stopped_by"] == "stop_after"
    resumed = train(tiny_dataset, "flexmdm", cfg, tmp_path / "b", progress=False, resume=True)
    assert resumed["steps"] == straight["steps"]
    a, b = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False), torch.load(
        tmp_path / "b" / "checkpoint.pt", weights_only=False)
    for key in ("model", "ema"):
        flat_a = a[key] if key == "model" else a[key]["model"]
        flat_b = b[key] if key == "model" else b[key]["model"]
        for name in flat_a:
            torch.testing.assert_close(flat_a[name], flat_b[name], rtol=0, atol=1e-6)
    assert a["ema"]["updates"] == b["ema"]["updates"]


def test_run_folder_errors(tiny_dataset, tmp_path):
    cfg = preset_config("tiny", **FAST)
    with pytest.raises(ValueError, match="no checkpoint"):
        train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, resume=True)
    train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, stop_after=1)
    with pytest.raises(ValueError, match="--resume"):
        train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False)
    with pytest.raises(ValueError, match="trained 'flexmdm'"):
        train(tiny_dataset, "mdm", cfg, tmp_path, progress=False, resume=True)
    with pytest.raises(ValueError, match="lr"):
        train(tiny_dataset, "flexmdm", preset_config("tiny", **{**FAST, "lr": 0.5}), tmp_path, progress=False, resume=True)
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("huge")
    with pytest.raises(ValueError, match="unknown training settings"):
        preset_config("tiny", learning_rate=1.0)


def test_planner_from_run_checks_the_dataset(tiny_dataset, tmp_path):
    train(tiny_dataset, "flexmdm", preset_config("tiny", **FAST), tmp_path, progress=False, stop_after=2)
    planner = make_agent("flexmdm", dataset=tiny_dataset, checkpoint=tmp_path, steps=8)
    paths = planner.plan(tiny_dataset.maze, [ex.subgoals for ex in list(tiny_dataset.val)[:5]])
    assert len(paths) == 5 and all(p.ndim == 2 and p.shape[1] == 2 for p in paths)
    # Subgoals are exempt: every one of them is in the generated path, in order.
    for ex, path in zip(list(tiny_dataset.val)[:5], paths):
        cells = [tuple(c) for c in path.tolist()]
        positions = [cells.index(tuple(g)) for g in ex.subgoals.tolist()]
        assert positions == sorted(positions)
    described = planner.describe()
    assert described["counters"]["paths"] == 5 and described["counters"]["network_calls"] >= 8
    with pytest.raises(FileNotFoundError, match="mazebench train --agent mdm"):
        make_agent("mdm", dataset=tiny_dataset, checkpoint=tmp_path / "missing")


def test_planner_refuses_another_k(tiny_dataset, tmp_path):
    from mazebench.datasets import generate_dataset, load_dataset

    train(tiny_dataset, "mdm", preset_config("tiny", **FAST), tmp_path / "run", progress=False, stop_after=1)
    other = load_dataset(generate_dataset(tmp_path / "k3", num_subgoals=3, pairs=30, maze_size=15, maze_seed=7,
                                          progress=False))
    with pytest.raises(ValueError, match="K=4"):
        make_agent("mdm", dataset=other, checkpoint=tmp_path / "run")


def test_parallel_evaluation_matches_serial_and_draws_the_generation(tiny_dataset, tmp_path):
    from mazebench.evaluation import evaluate

    train(tiny_dataset, "flexmdm", preset_config("tiny", **FAST), tmp_path / "run", progress=False, stop_after=2)
    summaries = {}
    for workers in (1, 2):
        planner = make_agent("flexmdm", dataset=tiny_dataset, checkpoint=tmp_path / "run", steps=8,
                             sampling={"temperature": 1.0})
        summaries[workers] = evaluate(planner, tiny_dataset, out_dir=tmp_path / f"w{workers}", batch_size=3,
                                      progress=False, workers=workers)
    serial, parallel = ((tmp_path / f"w{w}" / "samples.jsonl").read_text() for w in (1, 2))
    assert serial == parallel and len(serial.splitlines()) == summaries[1]["n"] > 3
    assert summaries[1]["planner"]["counters"] == summaries[2]["planner"]["counters"]
    assert summaries[2]["planner"]["counters"]["paths"] == summaries[1]["n"]
    assert (tmp_path / "w1" / "generation.png").stat().st_size > 10_000
