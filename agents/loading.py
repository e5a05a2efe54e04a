"""A planner's method and network, built from settings or loaded from a trained run's checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.ar import AR
from agents.checkpoints import read_checkpoint
from agents.config import TrainConfig
from agents.flexmdm import FlexMDM
from agents.mdm import MDM
from agents.model import DiT, ModelConfig
from agents.tokenizer import CellTokenizer

METHODS = {"flexmdm": FlexMDM, "mdm": MDM, "ar": AR}
CHECKPOINT = "checkpoint.safetensors"
LEGACY_CHECKPOINT = "checkpoint.pt"  # mazebench 0.1's name: `mazebench convert-checkpoint` rewrites it


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def build_method(agent: str, tokenizer: CellTokenizer, num_subgoals: int, max_path_len: int):
    if agent not in METHODS:
        raise ValueError(f"unknown trainable agent {agent!r}; choose from {', '.join(METHODS)}")
    return METHODS[agent](tokenizer, num_subgoals, max_path_len)


def build_model(method, tokenizer: CellTokenizer, cfg: TrainConfig) -> DiT:
    return DiT(
        ModelConfig(
            height=tokenizer.height,
            width=tokenizer.width,
            vocab_size=tokenizer.vocab_size,
            num_classes=method.num_classes,
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            n_layers=cfg.n_layers,
            cond_dim=cfg.cond_dim,
            dropout=cfg.dropout,
            geometry=cfg.geometry,
            insertion_head=method.insertion_head,
            max_len=method.max_len + 1,
            causal=method.name == "ar",
        )
    )


def checkpoint_file(path: str | Path) -> Path:
    """The checkpoint file of a run folder or the file itself; FileNotFoundError if there is none (a run of
    mazebench 0.1: with the command that converts it)."""
    path = Path(path)
    if path.is_dir():
        if not (path / CHECKPOINT).exists() and (path / LEGACY_CHECKPOINT).exists():
            raise FileNotFoundError(
                f"the run {path} has a checkpoint of mazebench 0.1 ({LEGACY_CHECKPOINT}); convert it once with "
                f"`mazebench convert-checkpoint {path}`"
            )
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return path


def load_checkpoint(path: str | Path, device: str = "auto"):
    """(method, EMA model in eval mode, checkpoint dict) from a run folder or a checkpoint file; a one-line
    ValueError if the checkpoint lacks what a planner needs or holds weights no planner should run (NaN or
    infinite values, integer or boolean tensors where the model has floats)."""
    path = checkpoint_file(path)
    dev = pick_device(device)
    state = read_checkpoint(path, dev)
    try:
        num_subgoals = state["num_subgoals"]
        if isinstance(num_subgoals, bool) or not isinstance(num_subgoals, int):
            raise ValueError(f"checkpoint {path}: num_subgoals must be an integer, got {num_subgoals!r}")
        tokenizer = CellTokenizer(**state["tokenizer"])
        method = build_method(state["agent"], tokenizer, num_subgoals, state["max_path_len"])
        model = DiT(ModelConfig(**state["model_config"])).to(dev)
        _check_weights(path, state["ema"]["model"], model)
        model.load_state_dict(state["ema"]["model"])
    except (KeyError, TypeError, RuntimeError) as error:
        raise ValueError(
            f"checkpoint {path} is not a mazebench checkpoint of this version ({type(error).__name__})"
        ) from None
    state["maze"] = _maze(path, state.get("maze"))
    return method, model.eval(), state


def _check_weights(path: Path, weights, model: DiT) -> None:
    """Refuse weights that are not a dict of tensors, or that give one of the model's floating-point tensors an
    integer or boolean tensor, or NaN or infinite values (a sampler fed them may never end): ValueError naming
    the tensor."""
    if not isinstance(weights, dict):
        raise ValueError(f"checkpoint {path}: its EMA weights are a {type(weights).__name__}, not named tensors")
    for name, expected in model.state_dict().items():
        weight = weights.get(name)
        if weight is None or not expected.is_floating_point():
            continue  # missing: load_state_dict names the error
        if not isinstance(weight, torch.Tensor):
            raise ValueError(f"checkpoint {path}: the weight {name} is a {type(weight).__name__}, not a tensor")
        if not weight.is_floating_point():
            raise ValueError(
                f"checkpoint {path}: the weight {name} is a {str(weight.dtype).removeprefix('torch.')} tensor, "
                "not a floating-point one"
            )
        if not bool(torch.isfinite(weight).all()):
            raise ValueError(f"checkpoint {path}: the weight {name} holds NaN or infinite values")


def _maze(path: Path, maze) -> np.ndarray:
    """The checkpoint's maze as an array of 0 (open) and 1 (wall); ValueError if it has none or another thing."""
    if maze is None:
        raise ValueError(f"checkpoint {path} has no maze: it is not a checkpoint of a mazebench run")
    if not isinstance(maze, torch.Tensor) or maze.ndim != 2 or maze.numel() == 0 or maze.is_floating_point():
        kind = f"a {maze.ndim}-D {maze.dtype} tensor" if isinstance(maze, torch.Tensor) else type(maze).__name__
        raise ValueError(f"checkpoint {path}: its maze is {kind}, not a 2-D integer tensor of 0 and 1")
    maze = maze.cpu().numpy()
    if not np.isin(maze, (0, 1)).all():
        raise ValueError(f"checkpoint {path}: its maze holds values other than 0 (open) and 1 (wall)")
    return maze
