"""The three floors import only downward: the benchmark core (mazebench, without its application), the planners
(agents), then the application (mazebench.cli and mazebench.report); only the CLI draws with click."""

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPLICATION = ("mazebench.cli", "mazebench.__main__", "mazebench.report")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _floor(module: str) -> str:
    if module.startswith("agents"):
        return "planners"
    return "application" if module.startswith(APPLICATION) else "core"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


@functools.cache
def _modules() -> dict[str, set[str]]:
    return {
        _module_name(path): _imports(path)
        for package in ("mazebench", "agents")
        for path in sorted((ROOT / package).rglob("*.py"))
    }


FORBIDDEN = {  # floor -> what its modules may not import
    "core": ("agents", *APPLICATION, "click"),
    "planners": (*APPLICATION, "click"),
    "application": (),
}


@pytest.mark.parametrize("module", sorted(_modules()))
def test_a_module_imports_only_its_own_floor_and_those_below(module):
    imported = _modules()[module]
    forbidden = FORBIDDEN[_floor(module)]
    if module.startswith("mazebench.report"):
        forbidden = ("mazebench.cli", "click")  # the report is library code of the application: no printing
    wrong = sorted(name for name in imported if name.startswith(forbidden))
    assert not wrong, f"{module} ({_floor(module)}) imports {wrong}"


def test_the_floors_are_what_the_layout_says():
    floors = {module: _floor(module) for module in _modules()}
    assert floors["mazebench.evaluation"] == floors["mazebench.planner"] == floors["mazebench.progress"] == "core"
    assert floors["agents.training"] == floors["agents.loading"] == "planners"
    assert floors["mazebench.report.pipeline"] == floors["mazebench.cli"] == "application"
    assert {"mazebench.report.ablation", "mazebench.report.factors"} <= {
        m for m, f in floors.items() if f == "application"
    }


def test_the_core_and_the_planners_load_without_click_and_the_contract_is_public():
    code = (
        "import sys, mazebench, mazebench.evaluation, mazebench.rendering, agents, agents.learned, agents.training\n"
        "from mazebench import Planner\n"
        "from agents.base import Planner as Alias\n"
        "assert Alias is Planner and 'click' not in sys.modules, sorted(m for m in sys.modules if 'click' in m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
