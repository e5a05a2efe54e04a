"""Planners evaluated by mazebench, and a registry that builds them by name.

Besides the built-ins (``AGENT_NAMES``), ``make_agent`` builds plug-in planners: ``package.module:NAME``
imports NAME, and a name that installed packages register under the entry-point group ``mazebench.agents``
loads its entry point. NAME is a ``Planner`` subclass, a factory returning a Planner, or a Planner; a
class or factory is called with the factory options (dataset, checkpoint, steps, sampler, device) that
its signature accepts. A plug-in is imported, built and run in a process of its own
(``mazebench.sandbox``): this process never imports it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import inspect
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from agents.bfs import BFSPlanner
from mazebench.planner import Planner, error_line
from mazebench.sandbox import SandboxedPlanner

ENTRY_POINT_GROUP = "mazebench.agents"
REFERENCE_CHECKPOINT = "reference"  # the checkpoint option that picks the package's reference checkpoint


def _make_bfs(**_options: Any) -> Planner:
    return BFSPlanner()  # the oracle needs no dataset, checkpoint or sampler options


def default_run_dir(agent: str, num_subgoals: int, preset: str = "cpu") -> Path:
    """Where ``mazebench train`` puts a run by default: runs/<preset>/<agent>-k<K>."""
    return Path("runs") / preset / f"{agent}-k{num_subgoals}"


def _learned(agent: str) -> Callable[..., Planner]:
    def make(*, dataset=None, checkpoint=None, steps=None, sampler=None, device=None) -> Planner:
        from agents.learned import LearnedPlanner  # torch loads only for learned agents

        if checkpoint is None:
            if dataset is None:
                raise ValueError(
                    f"agent {agent!r} needs --checkpoint (a run folder) or a dataset to find its default run"
                )
            checkpoint = default_run_dir(agent, dataset.num_subgoals)
        elif isinstance(checkpoint, str) and checkpoint == REFERENCE_CHECKPOINT:  # the word; ./reference is a path
            from agents.reference import reference_checkpoint

            checkpoint = reference_checkpoint(agent, dataset)
        if not Path(checkpoint).exists():
            k = dataset.num_subgoals if dataset is not None else "K"
            raise FileNotFoundError(
                f"no trained {agent} model at {checkpoint}; run `mazebench train --agent {agent} --subgoals {k}` first"
            )
        sampler = dict(sampler or {})
        top_k = sampler.pop("top_k", None)
        if top_k is not None and agent != "ar":
            raise ValueError(f"top_k is a setting of the autoregressive agent (ar), not of {agent}")
        planner = LearnedPlanner.from_checkpoint(checkpoint, steps=steps, sampler=sampler, device=device)
        if planner.name != agent:  # results would be labelled with the wrong planner
            raise ValueError(
                f"the checkpoint at {checkpoint} is a {planner.name} run, not {agent}: evaluate it with "
                f"--agent {planner.name}, or give a {agent} run"
            )
        if agent == "ar":  # next-token decoding takes the temperature; the unmasking settings do not apply
            from agents.ar import Decoding

            planner.sampler = Decoding(temperature=planner.sampler.temperature, top_k=top_k)
        if dataset is not None:
            planner.check_compatible(dataset)
        return planner

    return make


AGENT_FACTORIES: dict[str, Callable[..., Planner]] = {
    "bfs": _make_bfs,
    "flexmdm": _learned("flexmdm"),
    "mdm": _learned("mdm"),
    "ar": _learned("ar"),
}
AGENT_NAMES = tuple(AGENT_FACTORIES)


def registered_agents() -> dict[str, metadata.EntryPoint]:
    """The planners installed packages register under the entry-point group ``mazebench.agents``, by name."""
    return {entry.name: entry for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def check_agent_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a built-in, a registered name or of the form ``package.module:NAME``
    (whose import is left to ``make_agent``)."""
    if name in AGENT_FACTORIES or ":" in name:
        return
    registered = registered_agents()
    if name not in registered:
        known = ", ".join([*AGENT_NAMES, *sorted(registered)])
        raise ValueError(f"unknown agent {name!r}; known agents: {known}; or give a plug-in as package.module:NAME")


def plugin_digest(name: str) -> str | None:
    """The sha256 of the module file that defines the plug-in ``name`` (``package.module:NAME`` or a registered
    name); None for a built-in or a module without a file. It names the plug-in's code (its module's own file,
    not what that imports), as a checkpoint digest names a trained planner's weights. The file is found without
    importing anything (not even the module's packages)."""
    if name in AGENT_FACTORIES:
        return None
    target = name if ":" in name else registered_agents()[name].value if name in registered_agents() else ""
    try:
        locations, spec = None, None
        for part in target.partition(":")[0].split("."):
            spec = importlib.machinery.PathFinder.find_spec(part, locations)
            locations = spec.submodule_search_locations
        return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()
    except Exception:  # no such module, or no file to read: make_agent says what is wrong
        return None


def make_agent(
    name: str, *, dataset=None, checkpoint=None, steps=None, sampler=None, device=None, time_limit=None
) -> Planner:
    """Build the planner ``name``: a built-in (``AGENT_NAMES``), ``package.module:NAME`` or a registered name.

    Options a planner does not use are ignored. ``sampler`` holds settings of
    ``agents.samplers.SamplerSettings`` (mode, temperature, count_law ...); for ``ar`` its temperature and
    ``top_k`` (see ``agents.ar.Decoding``). A plug-in is a ``mazebench.sandbox.SandboxedPlanner``: built and run
    in a process of its own, each of its requests (building it included) limited to ``time_limit`` seconds.
    """
    options = {"dataset": dataset, "checkpoint": checkpoint, "steps": steps, "sampler": sampler, "device": device}
    if name in AGENT_FACTORIES:
        return AGENT_FACTORIES[name](**options)
    check_agent_name(name)
    plain = {
        **options,
        "name": name,
        "dataset": None if dataset is None else str(dataset.path),
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "device": None if device is None else str(device),
    }
    return SandboxedPlanner("agents:build_plugin", plain, label=name, time_limit=time_limit)


def build_plugin(*, name: str, dataset: str | None = None, **options: Any) -> Planner:
    """In a sandbox host: the plug-in ``name`` built with ``make_agent``'s options (``dataset``: the folder of
    the dataset, loaded and checked here)."""
    from mazebench.datasets import load_dataset

    loaded = None if dataset is None else load_dataset(dataset)
    return _build_plugin(name, _load_plugin(name), {**options, "dataset": loaded})


def _load_plugin(name: str) -> Any:
    """The object ``package.module:NAME`` or the registered entry point ``name`` refers to."""
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # a plug-in's own import error, whatever its kind
            raise ValueError(f"agent {name!r}: module {module_name!r} does not import ({error_line(error)})") from None
        target = module
        for part in attribute.split("."):
            if not hasattr(target, part):
                raise ValueError(f"agent {name!r}: module {module_name!r} has no attribute {attribute!r}")
            target = getattr(target, part)
        return target
    check_agent_name(name)
    entry = registered_agents()[name]
    try:
        return entry.load()
    except Exception as error:  # as for a module that does not import
        raise ValueError(
            f"agent {name!r}: its entry point {entry.value!r} does not load ({error_line(error)})"
        ) from None


def _build_plugin(name: str, target: Any, options: dict) -> Planner:
    """A Planner from a plug-in object: a Planner as it is, a Planner subclass or factory called with the
    options its signature accepts."""
    if isinstance(target, type) and not issubclass(target, Planner):
        raise ValueError(f"agent {name!r}: class {target.__qualname__} is not a subclass of mazebench.Planner")
    if isinstance(target, Planner):
        planner = target
    elif callable(target):
        try:
            planner = target(**_accepted(target, options))
        except (ValueError, OSError):  # already a message for the user
            raise
        except Exception as error:
            raise ValueError(f"agent {name!r}: building the planner failed ({error_line(error)})") from None
    else:
        raise ValueError(
            f"agent {name!r} is an object of type {type(target).__name__}, not a Planner subclass, a "
            f"factory of planners or a Planner"
        )
    if not isinstance(planner, Planner):
        raise ValueError(
            f"agent {name!r}: the factory returned an object of type {type(planner).__name__}, not an mazebench.Planner"
        )
    if not isinstance(getattr(planner, "name", None), str):
        raise ValueError(f"agent {name!r}: the planner has no name (set the class attribute `name`)")
    return planner


def _accepted(function: Callable, options: dict) -> dict:
    """The ``options`` that ``function``'s signature accepts (all of them if it takes ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # no signature to read: pass everything
        return options
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return options
    by_name = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = {p.name for p in parameters if p.kind in by_name}
    return {key: value for key, value in options.items() if key in names}


__all__ = [
    "AGENT_NAMES",
    "ENTRY_POINT_GROUP",
    "Planner",
    "check_agent_name",
    "default_run_dir",
    "make_agent",
    "plugin_digest",
    "registered_agents",
]
