"""The ``djed`` command: templates, ``add``, ``eject``, ``update`` and ``doctor``."""

from __future__ import annotations

from ._app import app
from ._errors import CliError
from ._templates import TEMPLATES

__all__ = ["TEMPLATES", "CliError", "app", "main"]


def main() -> None:
    """The ``djed`` console script."""
    app()


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - only when asked

        return version("djed-cli")
    msg = f"module 'djed.cli' has no attribute {name!r}"
    raise AttributeError(msg)
