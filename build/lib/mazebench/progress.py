"""Progress bars of long library calls, drawn the way the application chooses.

Library code (dataset generation, evaluation, training, the reports) opens ``progress_bar(length,
label)`` and logs its messages on the ``logging`` loggers of its modules; it never prints. Nothing is
drawn until an application installs a bar factory with ``show_bars`` (the CLI installs click's).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol


class Bar(Protocol):
    """What library code may do with a bar: advance it and relabel it."""

    label: str

    def update(self, n: int) -> None: ...


class _Hidden:
    label = ""

    def update(self, n: int) -> None:
        pass


BarFactory = Callable[[int, str], AbstractContextManager]  # (length, label) -> a context manager giving a Bar
_factory: BarFactory | None = None


def show_bars(factory: BarFactory | None) -> None:
    """Draw every bar opened from now on with ``factory`` (None: draw none, the default)."""
    global _factory
    _factory = factory


def progress_bar(length: int, label: str, enabled: bool = True) -> AbstractContextManager:
    """A context manager giving a ``Bar`` of ``length`` steps: the installed factory's, or a hidden one when
    none is installed or not ``enabled``."""
    if enabled and _factory is not None:
        return _factory(length, label)
    return nullcontext(_Hidden())
