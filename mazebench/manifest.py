"""A page's manifest (manifest.json): what made its evaluations, for ``mazebench verify`` to check.

It names the suite's version and git commit, the command that wrote the page, and every evaluation under the
page (its folder relative to the page) with the id of its dataset and, where the planner was loaded from a
checkpoint, the checkpoint's file and digest.
"""

from __future__ import annotations

import json
import subprocess
from importlib import metadata
from pathlib import Path

MANIFEST = "manifest.json"
DISTRIBUTION = "mazebench-suite"  # the name pyproject.toml installs the suite under


def write_manifest(folder: str | Path, command: str, checkpoints: dict[str, tuple[str, str]] | None = None) -> dict:
    """Write ``folder``/manifest.json for the evaluations under ``folder`` (each folder with a results.json that
    records a dataset); ``checkpoints`` maps an evaluation's relative folder to its checkpoint's (file, digest)."""
    root, checkpoints = Path(folder), checkpoints or {}
    evaluations = {}
    for results in sorted(root.rglob("results.json")):
        summary = json.loads(results.read_text())
        if not isinstance(summary, dict) or "evaluation" not in summary:
            continue
        name = results.parent.relative_to(root).as_posix()
        entry = {"dataset_id": summary["dataset"]["dataset_id"]}
        if name in checkpoints:
            entry["checkpoint"], entry["checkpoint_sha256"] = checkpoints[name]
        evaluations[name] = entry
    manifest = {
        "suite_version": _version(),
        "git_commit": git_commit(),
        "command": command,
        "evaluations": evaluations,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest of the page ``folder``, or None if it has none; ValueError if it is malformed."""
    file = Path(folder) / MANIFEST
    if not file.is_file():
        return None
    try:
        manifest = json.loads(file.read_text())
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{file} is no JSON ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("evaluations"), dict):
        raise ValueError(f"{file} is no manifest (it has no evaluations)")
    return manifest


def git_commit() -> str | None:
    """The commit of the git checkout the suite runs from, or None (an installed wheel, no git)."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found.stdout.strip() if found.returncode == 0 else None


def _version() -> str | None:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
