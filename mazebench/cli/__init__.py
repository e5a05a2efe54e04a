"""The ``mazebench`` command line: the command group, its error handling and its entry point.

The commands live in one module per group (data, training, evaluation, reports, rendering), the option
helpers they share in ``options``. Errors in the library (ValueError) and OS errors (a missing, unreadable
or unwritable path) are shown as one line and exit with status 1; usage errors, every option value checked
up front included, with status 2.
"""

from __future__ import annotations

import logging
import signal

import click

from mazebench.cli.data import export, generate
from mazebench.cli.evaluation import evaluate
from mazebench.cli.options import PROTOCOL_CHOICE
from mazebench.cli.rendering import render
from mazebench.cli.reports import ablation, factors, report, steps, verify
from mazebench.cli.training import convert_checkpoint, train
from mazebench.progress import show_bars

__all__ = [
    "PROTOCOL_CHOICE",
    "ablation",
    "cli",
    "convert_checkpoint",
    "evaluate",
    "export",
    "factors",
    "generate",
    "main",
    "render",
    "report",
    "steps",
    "train",
    "verify",
]


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


for _command in (
    generate,
    export,
    train,
    convert_checkpoint,
    evaluate,
    report,
    ablation,
    factors,
    steps,
    verify,
    render,
):
    cli.add_command(_command)
