"""The option helpers the commands share: common choices, defaults and options, and the checks of option values
that run before any work."""

from __future__ import annotations

import math
from pathlib import Path

import click

from agents import REFERENCE_CHECKPOINT, check_agent_name
from agents.config import PRESETS
from mazebench.datasets import default_data_dir

DEFAULT_DATA = default_data_dir("<K>")  # shown in help texts
PRESET_CHOICE = click.Choice(list(PRESETS))  # --preset of train, report and ablation
MAX_SAMPLING_STEPS = 100_000  # upper bounds of the sampler's sizes: far above use, refused before any work


STEPS = click.IntRange(1, MAX_SAMPLING_STEPS)  # --steps of evaluate, report and ablation
PROTOCOL_CHOICE = click.Choice(["suite", "paper", "paper-64", "official"])  # agents.learned.PROTOCOLS, without torch
CHECKPOINT_OPTION = click.option(  # evaluate's and render --animate's
    "--checkpoint",
    default=None,
    type=click.Path(),
    callback=lambda _ctx, _param, value: value if value in (None, REFERENCE_CHECKPOINT) else Path(value),
    help="Run folder or checkpoint file of a learned agent, or `reference`: the checkpoint shipped with the "
    "package for this agent and dataset (see reports/reference)  [default: runs/cpu/<agent>-k<K>]",
)


def int_list(minimum: int, example: str, maximum: int | None = None):
    """An option callback: a comma-separated list of integers, each at least ``minimum`` (and at most ``maximum``)."""

    def parse(_ctx, _param, value: str) -> list[int]:
        try:
            numbers = [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise click.BadParameter(
                f"expected a comma-separated list of integers such as {example}, got {value!r}"
            ) from None
        if not numbers or min(numbers) < minimum or max(numbers) > (maximum or max(numbers)):
            raise click.BadParameter(
                f"every number must be at least {minimum}{f' and at most {maximum}' if maximum else ''}, got {value!r}"
            )
        return numbers

    return parse


class Finite(click.FloatRange):
    """A ``click.FloatRange`` that also refuses nan and infinities."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number

    def _describe_range(self) -> str:
        return super()._describe_range() if self.min is not None or self.max is not None else ""  # not "x<=None"


def torch_device(_ctx, _param, value: str | None) -> str | None:
    """An option callback: a torch device name, checked before any work (auto, cpu, cuda, cuda:N, mps)."""
    if value in (None, "auto"):
        return value
    import torch

    try:
        device = torch.device(value)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):
        raise click.BadParameter(f"expected auto, cpu, cuda, cuda:N or mps, got {value!r}")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise click.BadParameter(f"no CUDA device {device.index} (this machine has {torch.cuda.device_count()})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise click.BadParameter("mps asked for, but this machine has no MPS device")
    return value


def agent_name(_ctx, _param, value: str | None) -> str | None:
    """An option callback: a known agent name or package.module:NAME (imported when the planner is built)."""
    if value is None:  # an optional --agent left out
        return None
    try:
        check_agent_name(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


def agent_names(ctx, param, value: str) -> tuple[str, ...]:
    """An option callback: a comma-separated list of agents, each checked as ``--agent`` is."""
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise click.BadParameter(f"expected a comma-separated list of agents such as mdm,flexmdm, got {value!r}")
    return tuple(agent_name(ctx, param, name) for name in names)


def resolve_checkpoint(agent: str, checkpoint: str | Path | None, dataset) -> str | Path | None:
    """The --checkpoint of a learned agent: the word `reference` is always the package's reference checkpoint for
    the agent and dataset, even where a folder of that name exists (give ./reference for that one)."""
    if checkpoint != REFERENCE_CHECKPOINT or agent not in ("flexmdm", "mdm", "ar"):
        return checkpoint
    from agents.reference import reference_checkpoint

    return reference_checkpoint(agent, dataset)
