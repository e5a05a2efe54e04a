"""Training loop: checkpoints, exact resume, error paths, and the planner built from a run."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from agents import make_agent
from agents.checkpoints import read_checkpoint
from agents.config import preset_config
from agents.loading import load_checkpoint
from agents.training import CPU_BF16_MIN_WIDTH, bf16_autocast_pays, train

FAST = dict(epochs=0.5, batch_size=16, d_model=32, n_heads=2, n_layers=1, cond_dim=32)


@pytest.mark.parametrize("native", [True, False])
def test_bf16_autocast_needs_native_bf16_and_on_a_cpu_a_wide_model(monkeypatch, native):
    monkeypatch.setattr("agents.training.bf16_autocast_supported", lambda device: native)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert bf16_autocast_pays(cpu, CPU_BF16_MIN_WIDTH) == native
    assert not bf16_autocast_pays(cpu, CPU_BF16_MIN_WIDTH // 2)  # the mini preset's width: fp32 is faster
    assert bf16_autocast_pays(cuda, CPU_BF16_MIN_WIDTH // 2) == native
    assert preset_config("mini").d_model < CPU_BF16_MIN_WIDTH <= preset_config("cpu").d_model


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
    a, b = (
        read_checkpoint(tmp_path / "a" / "checkpoint.safetensors"),
        read_checkpoint(tmp_path / "b" / "checkpoint.safetensors"),
    )
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
        train(
            tiny_dataset, "flexmdm", preset_config("tiny", **{**FAST, "lr": 0.5}), tmp_path, progress=False, resume=True
        )
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
    other = load_dataset(
        generate_dataset(tmp_path / "k3", num_subgoals=3, pairs=30, maze_size=15, maze_seed=7, progress=False)
    )
    with pytest.raises(ValueError, match="K=4"):
        make_agent("mdm", dataset=other, checkpoint=tmp_path / "run")


def test_parallel_evaluation_matches_serial_and_draws_the_generation(tiny_dataset, tmp_path):
    from mazebench.evaluation import evaluate

    train(tiny_dataset, "flexmdm", preset_config("tiny", **FAST), tmp_path / "run", progress=False, stop_after=2)
    summaries = {}
    for workers in (1, 2):
        planner = make_agent(
            "flexmdm", dataset=tiny_dataset, checkpoint=tmp_path / "run", steps=8, sampler={"temperature": 1.0}
        )
        summaries[workers] = evaluate(
            planner, tiny_dataset, out_dir=tmp_path / f"w{workers}", batch_size=3, progress=False, workers=workers
        )
    serial, parallel = ((tmp_path / f"w{w}" / "samples.jsonl").read_text() for w in (1, 2))
    assert serial == parallel and len(serial.splitlines()) == summaries[1]["n"] > 3
    assert summaries[1]["planner"]["counters"] == summaries[2]["planner"]["counters"]
    assert summaries[2]["planner"]["counters"]["paths"] == summaries[1]["n"]
    assert (tmp_path / "w1" / "generation.png").stat().st_size > 10_000


def _metrics_steps(folder):
    return [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_ctrl_c_checkpoints_and_resume_equals_an_uninterrupted_run(tiny_dataset, tmp_path, monkeypatch):
    import os
    import signal

    from agents.flexmdm import FlexMDM

    cfg = preset_config("tiny", **FAST)
    straight = train(tiny_dataset, "flexmdm", cfg, tmp_path / "a", progress=False)
    loss, calls = FlexMDM.loss, []

    def interrupting_loss(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during step 3, before any periodic checkpoint
        return loss(self, *args, **kwargs)

    monkeypatch.setattr(FlexMDM, "loss", interrupting_loss)
    stopped = train(tiny_dataset, "flexmdm", cfg, tmp_path / "b", progress=False)
    monkeypatch.setattr(FlexMDM, "loss", loss)
    assert stopped["stopped_by"] == "interrupted" and stopped["steps"] == 3
    assert read_checkpoint(tmp_path / "b" / "checkpoint.safetensors")["step"] == 3
    assert not (tmp_path / "b" / "summary.json").exists()  # not a finished run
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored
    resumed = train(tiny_dataset, "flexmdm", cfg, tmp_path / "b", progress=False, resume=True)
    assert resumed["steps"] == straight["steps"] and resumed["stopped_by"] == "epochs"
    a, b = (read_checkpoint(tmp_path / name / "checkpoint.safetensors")["model"] for name in ("a", "b"))
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    assert _metrics_steps(tmp_path / "b") == list(range(1, straight["steps"] + 1))


def test_resume_drops_metrics_written_after_the_last_checkpoint(tiny_dataset, tmp_path):
    cfg = preset_config("tiny", **FAST)
    train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, stop_after=3)
    with (tmp_path / "metrics.jsonl").open("a") as log:  # a crash after two more logged steps
        log.write('{"step": 4, "loss": 1.0}\n{"step": 5, "loss": 1.0}\n')
    train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, resume=True, stop_after=3)
    assert _metrics_steps(tmp_path) == [1, 2, 3, 4, 5, 6]


def test_a_fresh_run_refuses_a_folder_with_a_run_in_it(tiny_dataset, tmp_path):
    cfg = preset_config("tiny", **FAST)
    train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, stop_after=1)
    with pytest.raises(ValueError, match="already holds a run; pass --resume"):
        train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False)


def test_a_run_killed_before_its_first_checkpoint_is_started_afresh_by_the_command_its_error_names(
    tiny_dataset, tmp_path
):
    cfg = preset_config("tiny", **FAST)
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2, "lo')  # killed mid-line, before a checkpoint
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "checkpoint.safetensors.tmp").write_bytes(b"half")  # and mid-write of its first checkpoint
    with pytest.raises(
        ValueError, match="no checkpoint at .* run the same command without --resume to start it afresh"
    ):
        train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, resume=True)
    train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, stop_after=2)
    assert _metrics_steps(tmp_path) == [1, 2] and not (tmp_path / "checkpoint.safetensors.tmp").exists()


def test_a_damaged_metrics_line_is_named_on_resume(tiny_dataset, tmp_path):
    cfg = preset_config("tiny", **FAST)
    train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, stop_after=2)
    with (tmp_path / "metrics.jsonl").open("a") as log:
        log.write("\x00\x00garbage\n")
    with pytest.raises(ValueError, match=f"{tmp_path / 'metrics.jsonl'} line 3 is not a training record"):
        train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, resume=True)


def test_resuming_with_fewer_epochs_than_trained_is_refused(tiny_dataset, tmp_path):
    cfg = preset_config("tiny", **FAST)
    summary = train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False)
    fewer = dataclasses.replace(cfg, epochs=cfg.epochs / 2)
    with pytest.raises(
        ValueError,
        match=rf"has trained {summary['epochs_done']:.2f} epochs, more than --epochs "
        rf"{fewer.epochs:g}: resume with --epochs \d+ or more",
    ):
        train(tiny_dataset, "flexmdm", fewer, tmp_path, progress=False, resume=True)


@pytest.mark.parametrize(
    "setting",
    [
        {"grad_clip": -1},
        {"d_model": 0},
        {"max_minutes": -1},
        {"ema_decay": 2},
        {"lr": float("nan")},
        {"epochs": 0},
        {"dropout": 1.0},
        {"log_every": 0},
        {"eval_examples": -3},
        {"warmup_epochs": -1},
    ],
)
def test_nonsense_settings_are_refused(setting):
    with pytest.raises(ValueError, match=next(iter(setting))):
        preset_config("tiny", **setting)


def test_a_non_finite_gradient_skips_the_update(tiny_dataset, tmp_path, monkeypatch):
    from agents.flexmdm import FlexMDM

    loss = FlexMDM.loss

    def nan_loss(self, *args, **kwargs):
        value, metrics, tokens = loss(self, *args, **kwargs)
        return value * float("nan"), metrics, tokens

    cfg = preset_config("tiny", **FAST)
    train(tiny_dataset, "flexmdm", cfg, tmp_path / "init", progress=False, stop_after=0)
    monkeypatch.setattr(FlexMDM, "loss", nan_loss)
    train(tiny_dataset, "flexmdm", cfg, tmp_path / "nan", progress=False, stop_after=2)
    init, after = (read_checkpoint(tmp_path / name / "checkpoint.safetensors") for name in ("init", "nan"))
    for name, tensor in init["model"].items():
        assert torch.equal(after["model"][name], tensor), name
    assert [
        json.loads(line)["skipped_steps"] for line in (tmp_path / "nan" / "metrics.jsonl").read_text().splitlines()
    ] == [1, 1]


def test_the_learning_rate_depends_on_the_step_alone():
    from agents.training import learning_rate

    cfg = preset_config("tiny", warmup_epochs=1.0, lr=1e-3, max_minutes=5.0)
    assert learning_rate(cfg, 0, 10, 100) == pytest.approx(1e-4)  # warm-up: (step + 1) / 10
    assert learning_rate(cfg, 10, 10, 100) == pytest.approx(1e-3)  # top of the cosine
    assert learning_rate(cfg, 55, 10, 100) == pytest.approx(1e-3 * (0.1 + 0.45))  # half way
    assert learning_rate(cfg, 100, 10, 100) == pytest.approx(1e-4)  # lr / 10 at the end


def test_metrics_are_logged_every_n_steps_as_means(tiny_dataset, tmp_path):
    summary = train(
        tiny_dataset, "flexmdm", preset_config("tiny", **{**FAST, "log_every": 4}), tmp_path, progress=False
    )
    steps = _metrics_steps(tmp_path)
    assert steps == sorted(set(range(4, summary["steps"] + 1, 4)) | {summary["steps"]})
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) and r["tokens_per_s"] > 0 and r["skipped_steps"] == 0 for r in records)
    assert summary["tokens_seen"] > 0


def test_an_augmented_run_resumes_exactly_across_epochs(tiny_dataset, tmp_path):
    cfg = preset_config(
        "tiny", **{**FAST, "epochs": 1.3, "batch_size": 64, "reverse_paths": True, "redraw_subgoals": True}
    )
    straight = train(tiny_dataset, "flexmdm", cfg, tmp_path / "a", progress=False)
    train(tiny_dataset, "flexmdm", cfg, tmp_path / "b", progress=False, stop_after=straight["steps_per_epoch"] + 2)
    train(tiny_dataset, "flexmdm", cfg, tmp_path / "b", progress=False, resume=True)
    a, b = (read_checkpoint(tmp_path / name / "checkpoint.safetensors")["model"] for name in ("a", "b"))
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    plain = train(
        tiny_dataset,
        "flexmdm",
        preset_config("tiny", **{**FAST, "epochs": 1.3, "batch_size": 64}),
        tmp_path / "c",
        progress=False,
    )
    c = read_checkpoint(tmp_path / "c" / "checkpoint.safetensors")["model"]
    assert plain["steps"] == straight["steps"] and any(not torch.equal(a[name], c[name]) for name in a)


def test_a_run_saved_before_a_setting_existed_resumes_with_that_settings_default(tiny_dataset, tmp_path):
    from agents.checkpoints import save_checkpoint

    cfg = preset_config("tiny", **FAST)
    train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, stop_after=1)
    state = read_checkpoint(tmp_path / "checkpoint.safetensors")
    del state["train_config"]["redraw_subgoals"]  # as written by a version without the option
    save_checkpoint(state, tmp_path / "checkpoint.safetensors")
    assert train(tiny_dataset, "flexmdm", cfg, tmp_path, progress=False, resume=True, stop_after=1)["steps"] == 2
    with pytest.raises(ValueError, match="redraw_subgoals"):
        train(
            tiny_dataset,
            "flexmdm",
            preset_config("tiny", **FAST, redraw_subgoals=True),
            tmp_path,
            progress=False,
            resume=True,
        )
