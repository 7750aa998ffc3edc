"""A user's project as the commands see it: its root, package, dependencies and files."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import CliError

__all__ = ["SETUP_MARKER", "Project", "find_project", "project_files", "run_uv"]

#: The line of a generated server module above which `djed add` puts setup code.
SETUP_MARKER = "# djed: setup"
_SKIP = {".venv", "venv", ".git", "node_modules", "__pycache__", ".tox", "build", "dist"}


def _normalized(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


@dataclass
class Project:
    """A Python project with a ``pyproject.toml``."""

    root: Path
    metadata: dict[str, Any]

    @property
    def name(self) -> str:
        """The distribution name."""
        return str(self.metadata.get("project", {}).get("name", self.root.name))

    @property
    def dependencies(self) -> set[str]:
        """Normalized names of the runtime dependencies."""
        listed = self.metadata.get("project", {}).get("dependencies", [])
        return {_normalized(item) for item in listed}

    @property
    def package_dir(self) -> Path:
        """The folder of the project's import package (``src/<name>`` or ``<name>``)."""
        candidates = [
            self.root / "src" / self.name.replace("-", "_"),
            self.root / self.name.replace("-", "_"),
        ]
        candidates += sorted(p.parent for p in (self.root / "src").glob("*/__init__.py"))
        for candidate in candidates:
            if (candidate / "__init__.py").is_file():
                return candidate
        raise CliError(
            f"no import package found in {self.root} (looked for src/<name>/__init__.py)", code=2
        )

    @property
    def package(self) -> str:
        """The import name of the project's package."""
        return self.package_dir.name

    def python_files(self) -> Iterator[Path]:
        """Every Python file of the project, virtual environments and caches left out."""
        return project_files(self.root, "*.py")

    def marked_module(self) -> Path | None:
        """The module holding the ``# djed: setup`` marker, if any."""
        for path in self.python_files():
            if SETUP_MARKER in path.read_text(encoding="utf-8"):
                return path
        return None

    def reload(self) -> Project:
        """The project as its ``pyproject.toml`` says now."""
        return find_project(self.root)


def project_files(root: Path, pattern: str) -> Iterator[Path]:
    """Files under ``root`` matching ``pattern``, in order.

    The walk never descends into virtual environments, git data, node packages,
    caches or build output, rather than listing them and filtering afterwards.
    """
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in _SKIP)
        found += [Path(folder, name) for name in files if fnmatch.fnmatch(name, pattern)]
    return iter(sorted(found))


def find_project(start: Path) -> Project:
    """The project whose ``pyproject.toml`` is at or above ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        path = folder / "pyproject.toml"
        if path.is_file():
            try:
                metadata = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as error:
                raise CliError(f"{path} is not valid TOML: {error}", code=2) from None
            if "project" in metadata:
                return Project(folder, metadata)
    raise CliError(
        f"no Python project (pyproject.toml with a [project] table) at or above {start}",
        code=2,
        hint="run the command inside your project, or pass --dir",
    )


def uv_command() -> list[str]:
    """How to call uv: ``UV`` (set by ``uv run``), from PATH, or as a module of this Python."""
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run(
        [sys.executable, "-m", "uv", "--version"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "uv"]
    raise CliError(
        "uv is not installed", code=3, hint="install it: pip install uv (or see docs.astral.sh/uv)"
    )


def run_uv(args: list[str], cwd: Path) -> str:
    """Run ``uv args`` in ``cwd``; its output, or a :class:`CliError` with uv's own message."""
    done = subprocess.run(  # noqa: S603 - uv with arguments built by this package
        [*uv_command(), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-8:]
        raise CliError(f"`uv {' '.join(args)}` failed:\n  " + "\n  ".join(detail), code=3)
    return done.stdout
