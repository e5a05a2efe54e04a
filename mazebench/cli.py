"""The ``mazebench`` command line: generate datasets, evaluate planners, render paths.

Each command is one function registered with ``@cli.command()``; errors in the library (ValueError)
and OS errors (a missing, unreadable or unwritable path) are shown as one line and exit with status
1; usage errors, every option value checked up front included, with status 2.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from agents import AGENT_NAMES, ENTRY_POINT_GROUP, REFERENCE_CHECKPOINT, check_agent_name, make_agent
from agents.config import AGENT_SETTINGS, PRESETS, SAMPLING_STEPS, TrainConfig
from mazebench.datasets import (
    MAX_ATTEMPTS_PER_PATH,
    MAX_PATHS_PER_PAIR,
    QUERY_KINDS,
    default_data_dir,
    generate_dataset,
    load_dataset,
)
from mazebench.evaluation import MAX_SAMPLES_PER_QUERY
from mazebench.maze import MAZE_SEED, MAZE_SIZE, load_maze
from mazebench.progress import show_bars

DEFAULT_DATA = default_data_dir("<K>")  # shown in help texts
PRESET_CHOICE = click.Choice(list(PRESETS))  # --preset of train, report and ablation
MAX_SAMPLING_STEPS = 100_000  # upper bounds of the sampler's sizes: far above use, refused before any work
MAX_WINDOW = 100_000
MAX_BATCH_TIMEOUT = 86_400.0  # a day: seconds past this overflow the system's timers
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


class _OneLineErrors(click.Group):
    """A command group that reports ValueError and OSError as a one-line click error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ValueError, OSError) as error:
            raise click.ClickException(_one_line(error)) from None


def _one_line(error: Exception) -> str:
    """The message of ``error`` on one line; an OS error from the system as '<path>: <reason>'."""
    text = str(error)
    if isinstance(error, OSError) and error.strerror:
        text = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return " ".join(text.split())


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
def cli() -> None:
    """mazebench: a benchmark for learned maze planners (subgoal-conditioned paths on a fixed maze)."""
    show_bars(lambda length, label: click.progressbar(length=length, label=label, show_pos=True))
    for name in ("mazebench", "agents"):  # the library's messages
        logger = logging.getLogger(name)
        if not any(isinstance(handler, _EchoHandler) for handler in logger.handlers):
            logger.addHandler(_EchoHandler())
            logger.setLevel(logging.INFO)


class _EchoHandler(logging.Handler):
    """Library messages on stderr, warnings marked as such; written by click, so test runners capture them."""

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        click.echo(f"warning: {text}" if record.levelno >= logging.WARNING else text, err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mazebench`` console script. SIGTERM stops a command as Ctrl-C does (a training
    stops at its next step with a checkpoint; worker processes are stopped with it)."""
    signal.signal(signal.SIGTERM, _interrupt)
    cli.main(args=argv, prog_name="mazebench")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _int_list(minimum: int, example: str, maximum: int | None = None):
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


class _Finite(click.FloatRange):
    """A ``click.FloatRange`` that also refuses nan and infinities."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number

    def _describe_range(self) -> str:
        return super()._describe_range() if self.min is not None or self.max is not None else ""  # not "x<=None"


def _device(_ctx, _param, value: str | None) -> str | None:
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


def _agent_name(_ctx, _param, value: str | None) -> str | None:
    """An option callback: a known agent name or package.module:NAME (imported when the planner is built)."""
    if value is None:  # an optional --agent left out
        return None
    try:
        check_agent_name(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


def _agent_names(ctx, param, value: str) -> tuple[str, ...]:
    """An option callback: a comma-separated list of agents, each checked as ``--agent`` is."""
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise click.BadParameter(f"expected a comma-separated list of agents such as mdm,flexmdm, got {value!r}")
    return tuple(_agent_name(ctx, param, name) for name in names)


def _check_unmasking_agents(agents: tuple[str, ...], why: str) -> None:
    """Refuse --agents beyond the planners whose unmasking sampler a page varies (flexmdm, mdm)."""
    if any(agent not in ("flexmdm", "mdm") for agent in agents):
        raise click.BadParameter(f"{why}: choose among flexmdm, mdm, got {','.join(agents)}", param_hint="--agents")


@cli.command()
@click.option(
    "--subgoals",
    default="12",
    callback=_int_list(2, "2,7,12"),
    help="K, the number of subgoals per path (start and goal included); a list such as 2,7,12 makes one dataset per K.",
)
@click.option("--pairs", default=15000, type=click.IntRange(min=2), help="Distinct start-goal pairs.")
@click.option(
    "--paths-per-pair",
    default=10,
    type=click.IntRange(1, MAX_PATHS_PER_PAIR),
    help="At most this many distinct paths per pair.",
)
@click.option(
    "--maze-size", default=MAZE_SIZE, type=click.IntRange(min=5), help="Height and width of the generated maze (odd)."
)
@click.option(
    "--maze-seed", default=MAZE_SEED, type=int, help=f"Seed of the generated maze ({MAZE_SEED} = the FlexMDM paper's)."
)
@click.option(
    "--extra-door-frac",
    default=0.5,
    type=_Finite(0, 1),
    help="Fraction of removable walls opened in the generated maze.",
)
@click.option(
    "--maze-file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use this maze text file ('#' wall, '.' open) instead of a generated maze.",
)
@click.option("--seed", default=0, type=click.IntRange(min=0), help="Seed of the pair, path and subgoal draws.")
@click.option(
    "--val-frac",
    default=0.05,
    type=_Finite(0, 1, min_open=True, max_open=True),
    help="Fraction of the pairs held out for validation.",
)
@click.option(
    "--max-detour-ratio",
    default=2.0,
    type=_Finite(min=1),
    help="A detour has at most this many times the shortest path's cells.",
)
@click.option(
    "--attempts-per-path",
    default=4,
    type=click.IntRange(1, MAX_ATTEMPTS_PER_PATH),
    help="Waypoints tried per wanted detour.",
)
@click.option(
    "--out",
    default=Path("data"),
    type=click.Path(file_okay=False, path_type=Path),
    help="Root folder: datasets go to <out>/maze<size>-s<seed>-k<K> (or <out>/<maze file name>-k<K>).",
)
@click.option(
    "--force", is_flag=True, help="Regenerate even if the folder holds a dataset (same or other configuration)."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--workers", default=1, type=click.IntRange(min=1), help="Processes drawing paths (same files for any number)."
)
def generate(
    subgoals,
    pairs,
    paths_per_pair,
    maze_size,
    maze_seed,
    extra_door_frac,
    maze_file,
    seed,
    val_frac,
    max_detour_ratio,
    attempts_per_path,
    out,
    force,
    quiet,
    workers,
) -> None:
    """Generate one path dataset per K."""
    maze = load_maze(maze_file) if maze_file else None
    for k in subgoals:
        folder = out / f"{maze_file.stem}-k{k}" if maze_file else default_data_dir(k, maze_size, maze_seed, root=out)
        previous_id = _dataset_id(folder)
        generate_dataset(
            folder,
            num_subgoals=k,
            pairs=pairs,
            paths_per_pair=paths_per_pair,
            maze_size=maze_size,
            maze_seed=maze_seed,
            seed=seed,
            maze=maze,
            extra_door_frac=extra_door_frac,
            val_frac=val_frac,
            max_detour_ratio=max_detour_ratio,
            attempts_per_path=attempts_per_path,
            force=force,
            progress=not quiet,
            workers=workers,
        )
        dataset = load_dataset(folder)
        state = "up to date" if previous_id == dataset.meta["dataset_id"] and not force else "written"
        click.echo(
            f"K={k}: {folder} {state}: {len(dataset.train)} train / {len(dataset.val)} val paths, "
            f"mean length {dataset.meta['counts']['mean_path_length']}, id {dataset.meta['dataset_id'][:12]}"
        )


def _dataset_id(folder: Path) -> str | None:
    try:
        return json.loads((folder / "meta.json").read_text())["dataset_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
            decl, kwargs = name, {"type": _Finite() if kind is float else kind}  # nan and inf are no settings
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


@cli.command()
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
    "--device", default="auto", callback=_device, help="Torch device: auto (CUDA if present), cpu, cuda, cuda:1 ..."
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


@cli.command()
@click.option(
    "--agent",
    default="bfs",
    callback=_agent_name,
    help=f"The planner to evaluate: {', '.join(AGENT_NAMES)}, a name registered under the entry-point group "
    f"{ENTRY_POINT_GROUP}, or a plug-in as package.module:NAME (a Planner subclass or factory).",
)
@click.option(
    "--subgoals",
    default=None,
    type=click.IntRange(min=2),
    help=f"K; selects the default dataset {DEFAULT_DATA}  [default: 12, or the K of --data]",
)
@click.option(
    "--data",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Dataset folder  [default: {DEFAULT_DATA}]",
)
@CHECKPOINT_OPTION
@click.option(
    "--steps",
    default=None,
    type=STEPS,
    help="Sampling steps of learned agents  [default: the protocol's own (docs/cli.md lists them)]",
)
@click.option(
    "--protocol",
    default="suite",
    type=PROTOCOL_CHOICE,
    help="The sampler settings and steps of learned agents to start from: the suite's default; the paper's "
    "(vanilla, Poisson, uniform grid, temperature 1, the official end game) at its step count, or at the 64 steps of "
    "the pages before 2026-12-02 (paper-64); or the released FlexMDM code's defaults (official); the options below "
    "override single settings.",
)
@click.option(
    "--mode",
    "--sampler",  # its former name, which the earlier report pages spell
    "mode",
    default=None,
    type=click.Choice(["adaptive", "vanilla"]),
    help="Unmasking mode of learned agents: most confident masks first, or the paper's vanilla clocks "
    "(--sampler: its former name)  [default: the protocol's; suite: adaptive]",
)
@click.option(
    "--temperature",
    default=None,
    type=_Finite(min=0),
    help="Sampling temperature of learned agents, 0 = argmax  [default: the protocol's; suite: 0]",
)
@click.option(
    "--confidence",
    default=None,
    type=click.Choice(["top_prob", "margin"]),
    help="Adaptive sampler: rank masks by top probability or by the margin of the two most likely tokens  "
    "[default: top_prob]",
)
@click.option(
    "--window",
    default=None,
    type=click.IntRange(1, MAX_WINDOW),
    help="Adaptive sampler: only the leftmost N masks of a row compete  [default: all]",
)
@click.option(
    "--count-law",
    default=None,
    type=click.Choice(["poisson", "binomial"]),
    help="Events per step: the paper's Poisson tau-leaping, or the interpolant's exact binomial step law  "
    "[default: the protocol's; suite: binomial]",
)
@click.option(
    "--time-grid",
    default=None,
    type=click.Choice(["uniform", "balanced"]),
    help="Sampling times: uniform, or balanced (equal expected events per step, finer near t = 1)  [default: "
    "the protocol's; suite: balanced]",
)
@click.option(
    "--feasible-counts/--no-feasible-counts",
    default=None,
    help="FlexMDM, binomial law and leap end game: correct pending insertions so that each stretch between "
    "known cells gets a length a path can have (our option, not the paper's)  [default: on where it applies]",
)
@click.option(
    "--end-game",
    default=None,
    type=click.Choice(["argmax", "leap"]),
    help="Last step: argmax every mask left at t = 1 - tau and insert nothing (the official code's), or leap "
    "the last interval and fill what is left with a call at t = 1  [default: the protocol's]",
)
@click.option(
    "--reveal-count",
    default=None,
    type=click.Choice(["hazard", "flat"]),
    help="Adaptive sampler, Poisson law: Poisson(tau x b'/(1 - b) x masks) reveals per step, or the released FlexMDM "
    "code's Poisson(tau x masks)  [default: the protocol's; suite: hazard]",
)
@click.option("--device", default=None, callback=_device, help="Torch device (learned agents).")
@click.option(
    "--limit", default=None, type=click.IntRange(min=1), help="Evaluate only the first N held-out pairs  [default: all]"
)
@click.option("--batch-size", default=256, type=click.IntRange(min=1), help="Subgoal sequences per planner call.")
@click.option(
    "--num-pngs", default=8, type=click.IntRange(min=0), help="Examples in each of the success and failure galleries."
)
@click.option(
    "--queries",
    default="drawn",
    type=click.Choice(list(QUERY_KINDS)),
    help="Each held-out pair's query: one of its paths drawn at random (fixed seed), as training examples are, "
    "or its shortest path.",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder  [default: reports/<agent>-k<K>]",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--workers", default=1, type=click.IntRange(min=1), help="Processes planning batches (same results for any number)."
)
@click.option(
    "--batch-timeout",
    default=None,
    type=_Finite(min=0, max=MAX_BATCH_TIMEOUT, min_open=True),
    help="Seconds a batch may take: each batch is planned in a process of its own, killed past the limit "
    "(its queries fail as planner_error)  [default: no limit, batches planned in this process]",
)
@click.option(
    "--samples-per-query",
    default=1,
    type=click.IntRange(1, MAX_SAMPLES_PER_QUERY),
    help="Plans per query: the first is the benchmark's success@1; more add pass@k, distinct valid paths and "
    "the coverage of each pair's held-out paths to results.json.",
)
def evaluate(
    agent,
    subgoals,
    data,
    checkpoint,
    steps,
    protocol,
    mode,
    temperature,
    confidence,
    window,
    count_law,
    time_grid,
    feasible_counts,
    end_game,
    reveal_count,
    device,
    limit,
    batch_size,
    num_pngs,
    queries,
    out,
    quiet,
    workers,
    batch_timeout,
    samples_per_query,
) -> None:
    """Plan and score the held-out queries (one per pair); write reports/<run>/ and print a table."""
    from dataclasses import asdict

    from agents.learned import protocol_sampler, protocol_steps
    from mazebench.evaluation import evaluate as run_evaluation

    dataset = load_dataset(data or default_data_dir(subgoals or 12))
    if subgoals is not None and subgoals != dataset.num_subgoals:
        raise ValueError(f"--subgoals {subgoals} does not match the dataset {dataset.path} (K={dataset.num_subgoals})")
    out = out or Path("reports") / f"{agent.replace(':', '.')}-k{dataset.num_subgoals}"  # a plug-in's path, no colon
    chosen = {
        "mode": mode,
        "temperature": temperature,
        "confidence": confidence,
        "window": window,
        "count_law": count_law,
        "time_grid": time_grid,
        "feasible_counts": feasible_counts,
        "end_game": end_game,
        "reveal_count": reveal_count,
    }
    sampler = {
        **asdict(protocol_sampler(protocol)),
        **{key: value for key, value in chosen.items() if value is not None},
    }
    sampler["feasible_counts"] = feasible_counts  # None: on where they apply (SamplerSettings)
    steps = steps or protocol_steps(protocol)
    checkpoint = _checkpoint(agent, checkpoint, dataset)
    planner = make_agent(agent, dataset=dataset, checkpoint=checkpoint, steps=steps, device=device, sampler=sampler)
    summary = run_evaluation(
        planner,
        dataset,
        out_dir=out,
        limit=limit,
        batch_size=batch_size,
        num_pngs=num_pngs,
        progress=not quiet,
        workers=workers,
        queries=queries,
        batch_timeout=batch_timeout,
        samples_per_query=samples_per_query,
    )
    click.echo(_table(agent, dataset.num_subgoals, summary))
    if "generative" in summary:
        generative = summary["generative"]
        click.echo(
            "  ".join(f"pass@{k} {rate:.1%}" for k, rate in generative["pass_at"].items())
            + f"  distinct valid paths per query {generative['mean_distinct_valid_paths']:.2f}"
            + f"  coverage of the pairs' paths {generative['mean_reference_coverage']:.1%}"
        )
    click.echo(f"report: {out}")


def _checkpoint(agent: str, checkpoint: str | Path | None, dataset) -> str | Path | None:
    """The --checkpoint of a learned agent: the word `reference` is always the package's reference checkpoint for
    the agent and dataset, even where a folder of that name exists (give ./reference for that one)."""
    if checkpoint != REFERENCE_CHECKPOINT or agent not in ("flexmdm", "mdm", "ar"):
        return checkpoint
    from agents.reference import reference_checkpoint

    return reference_checkpoint(agent, dataset)


def _table(agent: str, k: int, summary: dict) -> str:
    low, high = summary["success_ci95"]
    header = (
        f"{'agent':<10} {'K':>3} {'n':>6}  {'success':>8} {'95% CI':>15}  {'valid':>7} {'in-order':>8}  "
        "mean length (ref)"
    )
    if not summary["n"]:
        return header + f"\n{agent:<10} {k:>3} {0:>6}  (no examples)"
    row = (
        f"{agent:<10} {k:>3} {summary['n']:>6}  {summary['success_rate']:>8.1%} "
        f"{f'[{low:.1%}, {high:.1%}]':>15}  {summary['valid_rate']:>7.1%} {summary['in_order_rate']:>8.1%}  "
        f"{summary['mean_length']:.1f} ({summary['mean_reference_length']:.1f})"
    )
    return header + "\n" + row


@cli.command()
@click.option("--subgoals", default="2,7,12", callback=_int_list(2, "2,7,12"), help="The K of the table's columns.")
@click.option(
    "--agents",
    default="mdm,flexmdm",
    callback=_agent_names,
    help="Planners of the leaderboard: mdm, flexmdm, ar (trained by the report), bfs, and plug-ins (a registered "
    "name or package.module:NAME; evaluated, never trained); the BFS oracle is always added.",
)
@click.option("--preset", default="cpu", type=PRESET_CHOICE, help="Training preset of every run.")
@click.option(
    "--steps",
    default=None,
    type=STEPS,
    help="Sampling steps of the tables, the same for every planner  [default: each protocol's own]",
)
@click.option(
    "--protocols",
    default="paper,suite",
    help="Evaluation protocols, one table each: paper (vanilla, Poisson, uniform grid, temperature 1, at its step "
    "count), paper-64 (the same at 64 steps), official (the released FlexMDM code's defaults) and suite (the "
    "default sampler).",
)
@click.option(
    "--epochs",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Train every model to this many epochs without the preset's time cap (runs/<preset>-<E>ep, "
    "reports/<preset>-<E>ep)  [default: the preset's budget]",
)
@click.option(
    "--sweep-steps",
    default="16,32,64,128,256",
    callback=_int_list(1, "16,64,256", MAX_SAMPLING_STEPS),
    help="Steps of the success-vs-steps figure (largest K).",
)
@click.option("--sweep-limit", default=300, type=click.IntRange(min=1), help="Held-out pairs per point of the sweep.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Held-out pairs per table cell  [default: all]")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder  [default: reports/<preset>, or reports/<preset>-<E>ep with --epochs]",
)
@click.option(
    "--jobs",
    default=1,
    type=click.IntRange(min=1),
    help="Trainings run at once, each its own process (e.g. --preset gpu --jobs 6: the six models share one GPU).",
)
@click.option(
    "--max-minutes",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Cap every training at this many minutes (runs/<preset>-<M>min, reports/<preset>-<M>min), e.g. Table 1 "
    "on one GPU in minutes  [default: the preset's]",
)
@click.option(
    "--check-every-minutes",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Training minutes between held-out checks, the points of the learning curves.",
)
@click.option(
    "--queries",
    default="drawn",
    type=click.Choice(list(QUERY_KINDS)),
    help="Each held-out pair's query: one of its paths drawn at random (fixed seed), or its shortest path.",
)
@click.option(
    "--samples-per-query",
    default=1,
    type=click.IntRange(1, MAX_SAMPLES_PER_QUERY),
    help="Plans per query of the trained planners' cells under the paper's protocol and AR's: the page adds "
    "pass@k, distinct valid paths, coverage and network calls per path.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def report(
    subgoals,
    agents,
    preset,
    steps,
    protocols,
    epochs,
    sweep_steps,
    sweep_limit,
    limit,
    out,
    jobs,
    max_minutes,
    check_every_minutes,
    queries,
    samples_per_query,
    quiet,
) -> None:
    """Reproduce the paper's Table 1 under each protocol, with a leaderboard of every planner and learning curves:
    generate, train and evaluate what is missing, then write reports/<preset>/."""
    from agents.learned import PROTOCOLS
    from mazebench.report import ReportSpec, build_report

    sweep = tuple(sweep_steps)
    chosen = tuple(name.strip() for name in protocols.split(",") if name.strip())
    if not chosen or any(name not in PROTOCOLS for name in chosen):
        raise click.BadParameter(
            f"choose protocols among {', '.join(PROTOCOLS)}, got {protocols!r}", param_hint="--protocols"
        )
    spec = ReportSpec(
        ks=tuple(subgoals),
        agents=agents,
        preset=preset,
        steps=steps,
        protocols=chosen,
        epochs=epochs,
        sweep_steps=sweep,
        sweep_limit=sweep_limit,
        limit=limit,
        out=out,
        jobs=jobs,
        max_minutes=max_minutes,
        check_every_minutes=check_every_minutes,
        queries=queries,
        samples_per_query=samples_per_query,
    )
    results = build_report(spec, progress=not quiet)
    for protocol, data in results["protocols"].items():
        click.echo(f"{protocol} protocol:")
        for name, cell in data["cells"].items():
            click.echo(f"  {name:<14} {cell['success_rate']:7.1%}  (n = {cell['n']})")
    for name, cell in results["oracle"].items():
        click.echo(f"{name:<16} {cell['success_rate']:7.1%}  (n = {cell['n']})")
    click.echo(f"report: {spec.folder / 'README.md'}")


@cli.command()
@click.option("--subgoals", default="2,7,12", callback=_int_list(2, "2,7,12"), help="The K of the page's columns.")
@click.option("--preset", default="cpu", type=PRESET_CHOICE, help="Training preset of every run.")
@click.option("--steps", default=SAMPLING_STEPS, type=STEPS, help="Sampling steps of every cell.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Held-out pairs per cell  [default: all]")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Page folder  [default: reports/<preset>/ablation]",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def ablation(subgoals, preset, steps, limit, out, quiet) -> None:
    """FlexMDM with the suite's departures from the paper (training-data augmentation, the suite's sampler and
    its feasible insertion counts) each alone and together: train and evaluate what is missing, then write
    reports/<preset>/ablation/."""
    from mazebench.report.ablation import AblationSpec, build_ablation

    spec = AblationSpec(ks=tuple(subgoals), preset=preset, steps=steps, limit=limit, out=out)
    results = build_ablation(spec, progress=not quiet)
    for name, cell in results["cells"].items():
        click.echo(f"  {name:<44} {cell['success_rate']:7.1%}  (n = {cell['n']})")
    click.echo(f"ablation: {spec.folder / 'README.md'}")


@cli.command()
@click.option("--subgoals", default="2,12", callback=_int_list(2, "2,12"), help="The K of the page.")
@click.option(
    "--agents",
    default="flexmdm",
    callback=_agent_names,
    help="Trained planners whose sampler the rows change: flexmdm, mdm.",
)
@click.option("--preset", default="cpu", type=PRESET_CHOICE, help="Training preset of the runs (the report's own).")
@click.option(
    "--steps",
    default=None,
    type=STEPS,
    help="Sampling steps of every row  [default: the paper's protocol's]",
)
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Held-out pairs per row  [default: all]")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Page folder  [default: reports/<preset>/factors]",
)
@click.option(
    "--check-every-minutes",
    default=2.0,
    type=click.FloatRange(min=0, min_open=True),
    help="The held-out check interval the report trained its runs with (a run is reused only with the report's "
    "settings).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def factors(subgoals, agents, preset, steps, limit, out, check_every_minutes, quiet) -> None:
    """From the paper's protocol, one sampler setting at a time changed to the suite's, on the report's trained
    models: train and evaluate what is missing, then write reports/<preset>/factors/."""
    from mazebench.report.factors import FactorsSpec, build_factors

    _check_unmasking_agents(agents, "the rows change an unmasking sampler")
    spec = FactorsSpec(
        ks=tuple(subgoals),
        agents=agents,
        preset=preset,
        **({} if steps is None else {"steps": steps}),
        limit=limit,
        out=out,
        check_every_minutes=check_every_minutes,
    )
    results = build_factors(spec, progress=not quiet)
    for name, cell in results["cells"].items():
        click.echo(f"  {name:<64} {cell['success_rate']:7.1%}  (n = {cell['n']})")
    click.echo(f"factors: {spec.folder / 'README.md'}")


@cli.command()
@click.option("--track", default="mini", type=click.Choice(["mini", "cpu"]), help="The track whose references plan.")
@click.option("--protocol", default="paper", type=PROTOCOL_CHOICE, help="The sampler of every cell.")
@click.option("--subgoals", default="2,7,12", callback=_int_list(2, "2,7,12"), help="The K of the page.")
@click.option(
    "--agents",
    default="mdm,flexmdm",
    callback=_agent_names,
    help="Planners with a shipped reference checkpoint for the track and K: flexmdm, mdm.",
)
@click.option(
    "--steps",
    "step_counts",
    default="64,256,1024,2048,4096",
    callback=_int_list(1, "64,256,1024", MAX_SAMPLING_STEPS),
    help="The step counts of the curve.",
)
@click.option("--limit", default=300, type=click.IntRange(min=1), help="Held-out pairs per cell.")
@click.option("--jobs", default=1, type=click.IntRange(1, 64), help="Cells evaluated at once, each in a process.")
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Page folder  [default: reports/<track>/<protocol>-protocol-steps]",
)
def steps(track, protocol, subgoals, agents, step_counts, limit, jobs, out) -> None:
    """Success against the number of sampling steps under one protocol, with the track's shipped reference
    checkpoints: where more steps stop helping, the failures' anatomy and the paper's claims at each step count."""
    from mazebench.report.steps import StepsSpec, build_steps_page

    _check_unmasking_agents(agents, "the cells change an unmasking sampler's steps")
    spec = StepsSpec(
        ks=tuple(subgoals),
        agents=agents,
        track=track,
        protocol=protocol,
        steps=tuple(sorted(set(step_counts))),
        limit=limit,
        jobs=jobs,
        out=out,
    )
    results = build_steps_page(spec)
    for name, flat in results["flattens_at"].items():
        click.echo(f"  {name:<14} flat from {flat or '-'} steps")
    click.echo(f"steps: {spec.folder / 'README.md'}")


@cli.command()
@click.option(
    "--data",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A dataset folder, or an evaluation folder (with samples.jsonl).",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the PNG files  [default: reports/render-<name of --data>]",
)
@click.option("--count", default=8, type=click.IntRange(min=1), help="Number of examples to draw.")
@click.option("--split", default="val", type=click.Choice(["train", "val"]), help="Split to draw from (datasets only).")
@click.option(
    "--animate",
    is_flag=True,
    help="Animate --agent planning the first --count held-out queries of the dataset --data: one GIF per query, "
    "a frame per sampling step (FlexMDM's insertions and reveals, MDM's reveals, AR's decoded prefix).",
)
@click.option("--agent", default=None, callback=_agent_name, help="The planner to animate (with --animate).")
@CHECKPOINT_OPTION
@click.option("--steps", default=None, type=STEPS, help=f"Sampling steps of the animation  [default: {SAMPLING_STEPS}]")
@click.option(
    "--protocol",
    default="suite",
    type=PROTOCOL_CHOICE,
    help="The sampler settings of the animation: the suite's or the paper's.",
)
def render(data, out, count, split, animate, agent, checkpoint, steps, protocol) -> None:
    """Draw examples into PNG files: the first of a dataset split, or an evaluation's failures first; with
    --animate, GIFs of a planner's generation process."""
    from mazebench.rendering import save_path_png
    from mazebench.scoring import score_path

    if animate or agent is not None:
        return _animate(data, out, count, agent, checkpoint, steps, protocol)
    if (data / "samples.jsonl").is_file():
        maze = load_maze(data / "maze.txt")
        samples = _read_samples(data / "samples.jsonl")
        samples.sort(key=lambda sample: bool(sample["success"]))  # stable: failures first, then file order
        items = [(f"sample-{s['index']:05d}-{s['failure_kind'] or 'ok'}", s["subgoals"], s["path"]) for s in samples]
    else:
        dataset = load_dataset(data)
        maze, chosen = dataset.maze, getattr(dataset, split)
        items = [(f"{split}-{i:05d}", chosen[i].subgoals, chosen[i].path) for i in range(len(chosen))]
    out = out or Path("reports") / f"render-{data.resolve().name}"
    out.mkdir(parents=True, exist_ok=True)  # only once the input has been read: an error leaves nothing behind
    for name, subgoals, path in items[:count]:
        score = score_path(maze, subgoals, path)
        save_path_png(out / f"{name}.png", maze, subgoals, path, score=score, title=name)
    click.echo(f"{min(count, len(items))} PNG files in {out}")


def _animate(data: Path, out: Path | None, count: int, agent: str | None, checkpoint, steps, protocol: str) -> None:
    """One GIF per held-out query (the first ``count``, drawn as an evaluation draws them) of ``agent``'s
    generation, a frame per step."""
    from dataclasses import asdict

    from agents.learned import protocol_sampler
    from mazebench.rendering import save_generation_gif

    if agent is None:
        raise click.UsageError("--animate needs --agent (and --checkpoint for a trained planner)")
    dataset = load_dataset(data)
    planner = make_agent(
        agent,
        dataset=dataset,
        checkpoint=_checkpoint(agent, checkpoint, dataset),
        steps=steps,
        sampler=asdict(protocol_sampler(protocol)),
    )
    out = out or Path("reports") / f"animate-{agent.replace(':', '.')}-{data.resolve().name}"
    queries = dataset.val.queries()[:count]
    for number, index in enumerate(queries):
        traced = planner.trace(dataset.val[int(index)].subgoals, frames=None)
        if traced is None:
            raise click.UsageError(f"{agent} has no generation process to animate (its planner has no trace)")
        if number == 0:
            out.mkdir(parents=True, exist_ok=True)
        save_generation_gif(out / f"{agent.replace(':', '.')}-val-{int(index):05d}.gif", dataset.maze, *traced)
    click.echo(f"{len(queries)} GIF files in {out}")


@cli.command()
@click.option(
    "--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path), help="A dataset folder."
)
@click.option(
    "--format",
    "kind",
    required=True,
    type=click.Choice(["parquet", "minari"]),
    help="parquet: one row per example of both splits (needs the [parquet] extra); minari: the paths of --split "
    "as episodes of mazebench/Maze-v0 (needs the [minari] extra).",
)
@click.option(
    "--out",
    default=None,
    type=click.Path(path_type=Path),
    help="The Parquet file, or Minari's datasets folder  [default: data/exports/<data folder>.parquet, "
    "data/exports/minari]",
)
@click.option("--split", default="train", type=click.Choice(["train", "val"]), help="The split of a Minari export.")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="First N paths of a Minari export.")
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing Parquet file, or the Minari dataset of the same id (never a file of the dataset --data).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def export(data, kind, out, split, limit, force, quiet) -> None:
    """Write a dataset in a format other tools read: Parquet (pyarrow, pandas, Hugging Face datasets) or Minari
    (offline and goal-conditioned RL)."""
    from mazebench.export import export_minari, export_parquet

    dataset = load_dataset(data)
    if kind == "parquet":
        written = export_parquet(
            dataset, out or Path("data") / "exports" / f"{data.resolve().name}.parquet", force=force
        )
        click.echo(f"{len(dataset.train) + len(dataset.val)} examples in {written}")
    else:
        root = out or Path("data") / "exports" / "minari"
        dataset_id = export_minari(dataset, root, split=split, limit=limit, progress=not quiet, force=force)
        click.echo(f"{dataset_id} in {root} (load it with MINARI_DATASETS_PATH={root} minari.load_dataset)")


@cli.command("convert-checkpoint")
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


SAMPLE_KEYS = {"index", "success", "subgoals", "path", "failure_kind"}


def _read_samples(file: Path) -> list[dict]:
    samples = []
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        try:
            sample = json.loads(line)
        except ValueError:
            sample = None
        if not isinstance(sample, dict) or not SAMPLE_KEYS <= sample.keys():
            raise ValueError(f"{file} line {number} is not an evaluation sample")
        samples.append(sample)
    return samples
