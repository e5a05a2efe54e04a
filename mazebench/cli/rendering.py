"""The render command: PNG pictures of a dataset's or an evaluation's paths, or GIFs of a planner's generation."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agents import make_agent
from agents.config import SAMPLING_STEPS
from mazebench.cli.options import CHECKPOINT_OPTION, PROTOCOL_CHOICE, STEPS, agent_name, resolve_checkpoint
from mazebench.datasets import load_dataset
from mazebench.maze import load_maze


@click.command()
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
@click.option("--agent", default=None, callback=agent_name, help="The planner to animate (with --animate).")
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
        checkpoint=resolve_checkpoint(agent, checkpoint, dataset),
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
