"""Everything the command prints goes through here: messages on stderr, results on stdout."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.markup import escape

from ._errors import CliError

__all__ = ["console", "fail", "info", "step", "success", "warn"]

console = Console(stderr=True, highlight=False)


def info(message: str) -> None:
    """A plain line."""
    console.print(escape(message))


def success(message: str) -> None:
    """A line saying something worked."""
    console.print(f"[green]✓[/green] {escape(message)}")


def warn(message: str) -> None:
    """A line the user should read."""
    console.print(f"[yellow]![/yellow] {escape(message)}")


def fail(error: CliError) -> None:
    """The error line (and its hint) for a failed command."""
    console.print(f"[bold red]error:[/bold red] {escape(error.message)}")
    if error.hint:
        console.print(f"  [cyan]hint:[/cyan] {escape(error.hint)}")


@contextlib.contextmanager
def step(message: str) -> Iterator[None]:
    """A spinner while a step that may take a while runs, then its outcome."""
    with console.status(escape(message) + "…", spinner="dots"):
        yield
    success(message)
