"""Every knob of a training run (``TrainConfig``) and the presets that fill them in: each default's one home."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

SAMPLING_STEPS = 64  # network calls per path of every evaluation unless one names another (the paper's)
# The largest value a setting may take: far above any sensible run, low enough to refuse a typo before any work.
UPPER_BOUNDS = {
    "epochs": 10_000,
    "warmup_epochs": 10_000,
    "d_model": 8192,
    "cond_dim": 8192,
    "n_heads": 256,
    "n_layers": 256,
    "lr": 1.0,
    "batch_size": 1_000_000,
}


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run (the presets below fill them in).

    The budget is ``epochs``: the learning-rate schedule and the stop follow the step count, so a
    run gives the same model on any machine and every data-parallel rank applies the same update.
    ``max_minutes`` is a safety cap on wall time (agreed across ranks); a run it stops ends early,
    before its schedule has annealed, and says so (``stopped_by``).
    """

    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    cond_dim: int = 128
    dropout: float = 0.0
    geometry: bool = True
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_epochs: float = 0.2
    lr_schedule: str = "cosine"  # or "constant" after warm-up
    ema_decay: float = 0.999
    batch_size: int = 128  # the global batch: split over the processes of a data-parallel run
    epochs: float = 10.0
    max_minutes: float | None = None
    t_max: float = 0.999  # times are drawn on [0, t_max): the 1/(1-t) weights stay <= 1000
    time_group: int = (
        32  # batches sharing one stratified draw of t, sorted by length together; 1: within each batch (official code)
    )
    grad_clip: float = 1.0
    bf16: bool = True  # bf16 autocast where it pays (native bf16; on a CPU, wide models: training.bf16_autocast_pays)
    seed: int = 0
    reverse_paths: bool = False  # augmentation: each epoch, every training path reversed with probability 1/2
    redraw_subgoals: bool = False  # augmentation: each epoch, the K - 2 inner subgoals of every path drawn anew
    log_every: int = 1  # steps per metrics.jsonl record (means over them); the loss is read back only then
    eval_every_minutes: float = 5.0
    eval_examples: int = 200
    eval_steps: int = SAMPLING_STEPS
    checkpoint_every_minutes: float = 2.0

    def __post_init__(self):
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if not 0 < self.t_max < 1:
            raise ValueError(f"t_max must lie in (0, 1), got {self.t_max}")
        for name in (
            "batch_size",
            "n_layers",
            "n_heads",
            "d_model",
            "cond_dim",
            "log_every",
            "eval_steps",
            "time_group",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model must split into n_heads heads of even size")
        positive = ("lr", "epochs", "grad_clip", "eval_every_minutes", "checkpoint_every_minutes")
        for name in positive + (("max_minutes",) if self.max_minutes is not None else ()):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)}")
        for name in ("weight_decay", "warmup_epochs", "eval_examples", "seed"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")
        for name, bound in UPPER_BOUNDS.items():
            if getattr(self, name) > bound:
                raise ValueError(f"{name} must be at most {bound:g}, got {getattr(self, name)}")


PRESETS = {
    # Appendix F.2 of the paper (4 A100s there): 8 layers, hidden 256, 8 heads, cond 128.
    "paper": TrainConfig(
        d_model=256,
        n_heads=8,
        n_layers=8,
        cond_dim=128,
        dropout=0.1,
        lr=1e-4,
        weight_decay=0.01,
        warmup_epochs=20,
        lr_schedule="constant",
        ema_decay=0.9999,
        batch_size=256,
        epochs=100,
    ),
    # One GPU (the default on CUDA): the paper's model, a batch 4x larger (a step costs about the same
    # as at 256 on an H200, ../README), a learning rate scaled with it, cosine, short warm-up, logs every
    # 25 steps. Not yet tuned on a GPU.
    "gpu": TrainConfig(
        d_model=256,
        n_heads=8,
        n_layers=8,
        cond_dim=128,
        dropout=0.0,
        lr=1e-3,
        weight_decay=0.01,
        warmup_epochs=1.0,
        lr_schedule="cosine",
        ema_decay=0.999,
        batch_size=1024,
        epochs=40,
        log_every=25,
        eval_every_minutes=1.0,
        checkpoint_every_minutes=2.0,
    ),
    # About 20 minutes per model on a quiet 2-core CPU (epochs per agent below: the MDM's padded
    # sequences make its steps about 4x slower, the AR's prompt-plus-path ones about 1.7x). FlexMDM's
    # 4 epochs: 3 gave 48 % at K = 2, 4.7 gave 68 % (suite sampler, 300 pairs, README).
    "cpu": TrainConfig(epochs=4.0),
    # The laptop track (mazebench report --preset mini): the maze task on a 15x15 maze (its data:
    # mazebench.report.TRACK_DATA), where every planner can be trained towards a flat held-out curve
    # on 2 CPU cores; every planner the same epochs, checks every minute on every held-out pair.
    # 96 epochs: at 24 no curve had flattened; t stratified within each batch as the official code
    # (time_group 1): reports/mini/time-sampling.
    "mini": TrainConfig(
        d_model=64,
        n_heads=4,
        n_layers=3,
        cond_dim=64,
        batch_size=64,
        epochs=96.0,
        warmup_epochs=1.0,
        time_group=1,
        eval_every_minutes=1.0,
        eval_examples=300,
    ),
    # For tests: seconds.
    "tiny": TrainConfig(
        d_model=64,
        n_heads=4,
        n_layers=2,
        cond_dim=64,
        batch_size=64,
        epochs=1.0,
        lr=2e-3,
        eval_every_minutes=1e9,
        eval_examples=50,
        eval_steps=32,
    ),
}
# Settings of a preset that differ by agent.
# The cpu preset's FlexMDM trains on augmented paths: at 4 epochs they lift K = 2 from 61.9 to 72.4 %
# and leave K = 7 and 12 level (suite sampler, all 750 pairs); the AR's K = 2 measured no better with
# them (20.7 against 27.3 %, 300 pairs). README, "Results on this machine".
AGENT_SETTINGS = {
    "cpu": {
        "mdm": {"epochs": 0.65},
        "ar": {"epochs": 1.75},
        "flexmdm": {"reverse_paths": True, "redraw_subgoals": True},
    }
}


def preset_config(preset: str, agent: str | None = None, **overrides) -> TrainConfig:
    """The ``preset``'s settings for ``agent`` (see AGENT_SETTINGS), with ``overrides`` that are not None."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown training settings: {sorted(unknown)}")
    settings = {
        **AGENT_SETTINGS.get(preset, {}).get(agent, {}),
        **{k: v for k, v in overrides.items() if v is not None},
    }
    return replace(PRESETS[preset], **settings)


def saved_settings(train_config: dict) -> dict:
    """A run's stored training settings, complete: a setting added after the run was saved had its default then."""
    return {**asdict(TrainConfig()), **train_config}
