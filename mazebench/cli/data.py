"""The dataset commands: generate path datasets, and export one in formats other tools read."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mazebench.cli.options import Finite, int_list
from mazebench.datasets import (
    MAX_ATTEMPTS_PER_PATH,
    MAX_PATHS_PER_PAIR,
    default_data_dir,
    generate_dataset,
    load_dataset,
)
from mazebench.maze import MAZE_SEED, MAZE_SIZE, load_maze


@click.command()
@click.option(
    "--subgoals",
    default="12",
    callback=int_list(2, "2,7,12"),
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
    type=Finite(0, 1),
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
    type=Finite(0, 1, min_open=True, max_open=True),
    help="Fraction of the pairs held out for validation.",
)
@click.option(
    "--max-detour-ratio",
    default=2.0,
    type=Finite(min=1),
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


@click.command()
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
