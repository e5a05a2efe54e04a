"""The training commands: train a learned planner, and convert checkpoints of mazebench 0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from agents.config import AGENT_SETTINGS, PRESETS, TrainConfig
from mazebench.cli.options import DEFAULT_DATA, PRESET_CHOICE, Finite, torch_device
from mazebench.datasets import default_data_dir, generate_dataset, load_dataset


def _train_setting_options(command):
    """One ``--<name>`` option per training setting (agents.config.TrainConfig); unset = the preset's value."""
    from dataclasses import fields

    for field in reversed(fields(TrainConfig)):
        default = getattr(PRESETS["cpu"], field.name)
        kind = bool if isinstance(default, bool) else (float if field.name == "max_minutes" else type(default))
        name = "--" + field.name.replace("_", "-")
        if kind is bool:
            decl, kwargs = f"{name}/--no-{field.name.replace('_', '-')}", {}
        else:
            decl, kwargs = name, {"type": Finite() if kind is float else kind}  # nan and inf are no settings
        per_agent = "".join(
            f"; {agent} {settings[field.name]}"
            for agent, settings in AGENT_SETTINGS["cpu"].items()
            if field.name in settings
        )
        command = click.option(
            decl,
            field.name,
            default=None,
            show_default=False,
            help=f"Training setting {field.name}  [cpu preset: {default}{per_agent}]",
            **kwargs,
        )(command)
    return command


@click.command()
@click.option("--agent", required=True, type=click.Choice(["flexmdm", "mdm", "ar"]), help="The planner to train.")
@click.option(
    "--subgoals",
    default=12,
    type=click.IntRange(min=2),
    help=f"K; selects (and if missing generates) {DEFAULT_DATA}.",
)
@click.option(
    "--data",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Dataset folder  [default: {DEFAULT_DATA}]",
)
@click.option(
    "--preset", default=None, type=PRESET_CHOICE, help="Model size and budget  [default: gpu on CUDA, cpu otherwise]"
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder  [default: runs/<preset>/<agent>-k<K>]",
)
@click.option(
    "--device",
    default="auto",
    callback=torch_device,
    help="Torch device: auto (CUDA if present), cpu, cuda, cuda:1 ...",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--nproc",
    default=1,
    type=click.IntRange(min=1),
    help="Data-parallel processes on this machine: relaunches the command under torchrun --standalone.",
)
@_train_setting_options
def train(agent, subgoals, data, preset, out, device, resume, quiet, nproc, **settings) -> None:
    """Train a FlexMDM, MDM or autoregressive planner; checkpoints, metrics.jsonl and summary.json go to the run folder.

    Under torchrun (`torchrun --nproc_per_node=N -m mazebench train ...`) every process trains on its
    share of each batch; rank 0 writes the run folder.
    """
    import torch

    from agents import default_run_dir
    from agents.config import preset_config
    from agents.distributed import exit_without_teardown, join_process_group, leave_process_group
    from agents.learned import quick_success
    from agents.loading import pick_device
    from agents.training import ReplicaDriftError
    from agents.training import train as run_training

    preset = preset or ("gpu" if torch.cuda.is_available() and device != "cpu" else "cpu")
    cfg = preset_config(preset, agent, **settings)  # every training setting is checked before any work
    if cfg.batch_size % nproc:
        raise click.BadParameter(
            f"{nproc} processes do not split the batch size {cfg.batch_size}; choose a "
            f"divisor of it, or --batch-size a multiple of {nproc}",
            param_hint="--nproc",
        )
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        raise SystemExit(_relaunch_under_torchrun(nproc))
    world, _ = join_process_group(pick_device(device))
    folder = data or default_data_dir(subgoals)
    if world.is_main and data is None and not (folder / "meta.json").exists():
        click.echo(f"no dataset at {folder}: generating it first (mazebench generate --subgoals {subgoals})")
        generate_dataset(folder, num_subgoals=subgoals, progress=not quiet)
    world.barrier()
    dataset = load_dataset(folder)
    out = out or default_run_dir(agent, dataset.num_subgoals, preset)
    try:
        summary = run_training(
            dataset,
            agent,
            cfg,
            out,
            device=device,
            resume=resume,
            progress=not quiet,
            quick_eval=lambda model, method: quick_success(
                model, method, dataset, examples=cfg.eval_examples, steps=cfg.eval_steps
            ),
        )
    except ReplicaDriftError as error:
        raise click.ClickException(str(error)) from None
    if world.is_main:
        click.echo(
            f"{agent}: {summary['steps']} steps, {summary['epochs_done']:.2f} epochs, "
            f"{summary['train_minutes']:.1f} min ({summary['stopped_by']}); run folder {out}"
        )
    leave_process_group()
    code = 130 if summary["stopped_by"] == "interrupted" else 0
    if code:
        click.echo("interrupted: checkpoint written; continue with the same command and --resume", err=True)
    if world.size > 1:
        exit_without_teardown(code)
    if code:
        raise SystemExit(code)


def _relaunch_under_torchrun(nproc: int) -> int:
    """Run this very command again under ``torchrun --standalone --nproc_per_node=nproc``; its exit status."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg == "--nproc" or arg.startswith("--nproc="):
            skip = arg == "--nproc"
            continue
        args.append(arg)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "mazebench",
        *args,
    ]
    click.echo("launching: " + " ".join(command[1:]))
    return subprocess.call(command)


@click.command("convert-checkpoint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def convert_checkpoint(paths) -> None:
    """Rewrite checkpoints of mazebench 0.1 (checkpoint.pt) as safetensors: each PATH a run folder (its
    checkpoint.pt becomes checkpoint.safetensors beside it) or a .pt file (a .safetensors file beside it).
    Nothing is unpickled but plain data; the old file is left as it was."""
    from agents.checkpoints import convert_legacy_checkpoint
    from agents.loading import CHECKPOINT, LEGACY_CHECKPOINT

    for path in paths:
        source = path / LEGACY_CHECKPOINT if path.is_dir() else path
        target = path / CHECKPOINT if path.is_dir() else path.with_suffix(".safetensors")
        if target.exists() and target != source:  # the same file: refused below, as no checkpoint of 0.1
            raise click.UsageError(f"{target} exists already; move it away to convert {source} again")
        convert_legacy_checkpoint(source, target)
        click.echo(f"{source} -> {target}")
