"""Datasets in formats other tools read: Parquet (one row per example) and Minari (env episodes).

Both need an optional extra: ``pip install "mazebench-suite[parquet]"`` (pyarrow) or
``pip install "mazebench-suite[minari]"``; the core install has neither.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mazebench.datasets import Dataset
from mazebench.maze import maze_to_text

SPLITS = ("train", "val")


def _require(module: str, extra: str):
    """Import ``module`` or say which extra installs it."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ImportError(f'this export needs {module}: pip install "mazebench-suite[{extra}]"') from None


def parquet_table(dataset: Dataset):
    """The dataset as a pyarrow Table: one row per example (split, index in the split, pair id, subgoals and path
    as lists of [row, col], the subgoals' positions on the path, the path length), the dataset's metadata and
    maze in the schema's metadata."""
    pa = _require("pyarrow", "parquet")
    columns = {name: [] for name in ("split", "index", "pair_id", "subgoals", "path", "subgoal_index", "length")}
    for name in SPLITS:
        split = getattr(dataset, name)
        offsets = np.asarray(split.offsets)
        columns["split"].append(pa.array([name] * len(split), pa.string()))
        columns["index"].append(pa.array(np.arange(len(split)), pa.int64()))
        columns["pair_id"].append(pa.array(np.asarray(split.pair_id), pa.int64()))
        cells = pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(split.cells).reshape(-1), pa.int32()), 2)
        columns["path"].append(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), cells))
        index = np.asarray(split.subgoal_index)
        starts = np.arange(len(split) + 1) * index.shape[1]
        columns["subgoal_index"].append(
            pa.ListArray.from_arrays(pa.array(starts, pa.int32()), pa.array(index.reshape(-1), pa.int32()))
        )
        flat = (offsets[:-1, None] + index).reshape(-1)  # the subgoals' cells, K per example
        goal_cells = pa.FixedSizeListArray.from_arrays(
            pa.array(np.asarray(split.cells)[flat].reshape(-1), pa.int32()), 2
        )
        columns["subgoals"].append(pa.ListArray.from_arrays(pa.array(starts, pa.int32()), goal_cells))
        columns["length"].append(pa.array(np.diff(offsets), pa.int32()))
    table = pa.table({name: pa.concat_arrays(parts) for name, parts in columns.items()})
    metadata = {"mazebench": json.dumps(dataset.meta), "maze": maze_to_text(dataset.maze)}
    return table.replace_schema_metadata(metadata)


def export_parquet(dataset: Dataset, out: str | Path, *, force: bool = False) -> Path:
    """Write ``dataset`` to the Parquet file ``out`` (see ``parquet_table``): into a temporary file beside it,
    renamed to ``out`` once complete, so that ``out`` is never a truncated file. An existing ``out`` is refused
    unless ``force``; a path in the dataset's own folder always."""
    pq = _require("pyarrow.parquet", "parquet")
    out = Path(out)
    _outside_the_dataset(out, dataset)
    if out.is_dir():
        raise ValueError(f"{out} is a folder; give the Parquet file's path")
    if (out.exists() or out.is_symlink()) and not force:
        raise ValueError(f"{out} exists already; give --force to replace it")
    table = parquet_table(dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            pq.write_table(table, file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _outside_the_dataset(out: Path, dataset: Dataset) -> None:
    """Refuse an export target that is, is in or holds the exported dataset's folder: no export, forced or not,
    may replace or add to the dataset's own files."""
    data = Path(os.path.realpath(dataset.path))
    for target in {Path(os.path.realpath(out)), Path(os.path.realpath(out.parent)) / out.name}:
        if target == data or data in target.parents or target in data.parents:
            raise ValueError(
                f"{out} is in or holds the folder of the dataset {dataset.path} being exported; choose an --out "
                "outside it"
            )


@contextmanager
def minari_root(folder: str | Path):
    """Minari's datasets folder set to ``folder`` while inside."""
    before = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(Path(folder).resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = before


def export_minari(
    dataset: Dataset,
    root: str | Path,
    *,
    split: str = "train",
    limit: int | None = None,
    progress: bool = True,
    force: bool = False,
) -> str:
    """Write the examples of ``split`` (the first ``limit``) as a Minari dataset of ``mazebench/Maze-v0``
    episodes under the folder ``root``: each path walked in the env from its first subgoal, one action per
    move, with the env's observations, rewards and terminations; the env's spec holds the maze, so
    ``recover_environment()`` rebuilds it. Returns the dataset id (``mazebench/<data folder>-<split>-v0``).

    The Minari dataset is built in a temporary folder beside ``root`` and renamed into place when complete: an
    export cut short leaves no dataset behind (its temporary folder is removed by the next export). An existing
    dataset of that id is refused unless ``force``; a ``root`` in the exported dataset's folder always."""
    import gymnasium

    from mazebench.env import ENV_ID
    from mazebench.folders import folder_lock
    from mazebench.progress import progress_bar

    minari = _require("minari", "minari")
    from minari.data_collector import EpisodeBuffer

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    root = Path(root)
    dataset_id = f"mazebench/{Path(dataset.path).name}-{split}-v0"
    final = root / dataset_id
    _outside_the_dataset(final, dataset)
    with folder_lock(root):  # one exporter per Minari folder: it may remove the temporary folders of killed ones
        if (final.exists() or final.is_symlink()) and not force:
            raise ValueError(
                f"{final} exists already (the Minari dataset {dataset_id}, or what an export cut short by an older "
                "mazebench left); give --force to replace it"
            )
        examples = getattr(dataset, split)
        count = len(examples) if limit is None else min(limit, len(examples))
        env = gymnasium.make(ENV_ID, maze=dataset.maze.tolist(), num_subgoals=dataset.num_subgoals)
        buffers = []
        with progress_bar(count, f"walking the {split} paths in {ENV_ID}", progress) as bar:
            for i in range(count):
                buffers.append(EpisodeBuffer(id=i, **_episode(env, examples[i])))
                bar.update(1)
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.parent.glob(f".{glob.escape(root.name)}.tmp-*"):  # of a killed export
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
        try:
            with minari_root(tmp), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="`(author_email|code_permalink)` is set to None")
                minari.create_dataset_from_buffers(
                    dataset_id,
                    buffers,
                    env=env,
                    eval_env=env,
                    algorithm_name="mazebench generate: BFS shortest paths plus controlled detours",
                    author="mazebench",
                    description=f"The {split} paths of the mazebench dataset {dataset.meta['dataset_id']} as env "
                    "episodes.",
                    data_format="arrow",
                )
            _move_into_place(tmp, root, dataset_id)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dataset_id


def _move_into_place(tmp: Path, root: Path, dataset_id: str) -> None:
    """Move the Minari dataset ``dataset_id`` built under ``tmp`` to ``root`` (its namespace's metadata too if
    ``root`` has none), replacing the one there: the old one is moved into ``tmp`` first and removed with it."""
    namespace = dataset_id.split("/")[0]
    (root / namespace).mkdir(exist_ok=True)
    for entry in (tmp / namespace).iterdir():
        if entry.is_file() and not (root / namespace / entry.name).exists():
            os.replace(entry, root / namespace / entry.name)  # namespace_metadata.json
    final = root / dataset_id
    if final.exists() or final.is_symlink():
        os.replace(final, tmp / "replaced")
    os.replace(tmp / dataset_id, final)


def _episode(env, example) -> dict:
    """The episode of walking ``example``'s path in ``env`` from its first subgoal: observations (one more
    than the moves), actions, rewards, terminations and truncations."""
    from mazebench.env import MOVES

    observation, _ = env.reset(options={"subgoals": example.subgoals.tolist()})
    observations, steps = [observation], []
    for move in np.diff(example.path, axis=0):
        action = int(np.flatnonzero((MOVES == move).all(axis=1))[0])
        observation, reward, terminated, truncated, _ = env.step(action)
        observations.append(observation)
        steps.append((action, reward, terminated, truncated))
    actions, rewards, terminations, truncations = (list(column) for column in zip(*steps)) if steps else ([],) * 4
    return {
        "observations": {key: np.stack([o[key] for o in observations]) for key in observations[0]},
        "actions": np.array(actions, dtype=np.int64),
        "rewards": rewards,
        "terminations": terminations,
        "truncations": truncations,
        "infos": {},
    }
