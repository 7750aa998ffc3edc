"""Running git and uv, turning their failures into clear errors."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from typing import TYPE_CHECKING

from tools.changeset._errors import CommandError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

__all__ = ["run", "uv"]


def uv() -> str:
    """The uv executable: the one running us (``$UV`` under `uv run`), else uv on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        msg = "uv is not installed or not on PATH: install it from https://docs.astral.sh/uv/"
        raise CommandError(msg)
    return found


def run(
    args: Sequence[str | Path],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``args`` in ``cwd`` and return its standard output.

    Raises:
        CommandError: The program is missing or exits with a non-zero status; the message
            holds the command line and what it wrote to standard error.
    """
    command = [str(arg) for arg in args]
    try:
        completed = subprocess.run(
            command,
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        msg = f"{command[0]} is not installed or not on PATH"
        raise CommandError(msg) from None
    if completed.returncode != 0:
        output = (completed.stderr.strip() or completed.stdout.strip() or "(no output)").replace(
            "\n", "\n  "
        )
        msg = f"`{shlex.join(command)}` failed with exit code {completed.returncode}:\n  {output}"
        raise CommandError(msg)
    return completed.stdout
