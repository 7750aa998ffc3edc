"""A throwaway three-package uv workspace in a git repository, for the release tool's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Djed Tests",
    "GIT_AUTHOR_EMAIL": "tests@djed.invalid",
    "GIT_COMMITTER_NAME": "Djed Tests",
    "GIT_COMMITTER_EMAIL": "tests@djed.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

ROOT_PYPROJECT = """\
[tool.uv.workspace]
members = ["packages/*"]

[tool.uv.sources]
djed-alpha = { workspace = true }
djed-beta = { workspace = true }
"""

BUILD = """
[build-system]
requires = ["hatchling>=1.26"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/djed"]
"""

ALPHA_PYPROJECT = (
    """\
[project]
name = "djed-alpha"
version = "0.1.0"
description = "First test package."
requires-python = ">=3.11"
dependencies = []
"""
    + BUILD
)

BETA_PYPROJECT = (
    """\
[project]
name = "djed-beta"
version = "0.1.0"
description = "Second test package, on top of djed-alpha."
requires-python = ">=3.11"
dependencies = [
  # the sibling this package builds on
  "djed-alpha>=0.1.0",
]

[dependency-groups]
dev = ["djed-alpha>=0.1.0"]
"""
    + BUILD
)

GAMMA_PYPROJECT = (
    """\
[project]
name = "djed-gamma"
version = "0.1.0"
description = "Third test package; uses djed-beta only through an extra."
requires-python = ">=3.11"
dependencies = []

[project.optional-dependencies]
beta = ['djed-beta>=0.1.0']
"""
    + BUILD
)

CHANGELOG_HEADER = """\
# Changelog of {name}

Entries are written by the release tool.
"""


@dataclass(frozen=True)
class Outcome:
    """Exit status and output of one in-process run of the release tool."""

    code: int
    out: str
    err: str


Tool = Callable[..., Outcome]
"""Runs the release tool in-process on the test's workspace: ``tool("status")``."""


@dataclass(frozen=True)
class Repo:
    """A workspace checkout: run git in it and read or write its files."""

    root: Path

    def git(self, *args: str) -> str:
        """Run git in the checkout and return its standard output."""
        completed = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            text=True,
            check=True,
        )
        return completed.stdout

    def write(self, relative: str, text: str) -> Path:
        """Write ``text`` to the file at ``relative``, creating folders as needed."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def read(self, relative: str) -> str:
        """The text of the file at ``relative``."""
        return (self.root / relative).read_text(encoding="utf-8")

    def commit(self, message: str = "change") -> str:
        """Commit everything and return the new commit's hash."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def changeset(self, slug: str, releases: dict[str, str], summary: str) -> Path:
        """Write `.changeset/<slug>.md` by hand, bypassing the tool."""
        front = "".join(f'"{name}": {bump}\n' for name, bump in releases.items())
        return self.write(f".changeset/{slug}.md", f"---\n{front}---\n{summary}\n")

    def project(self, name: str) -> dict[str, Any]:
        """The [project] table of ``packages/<name>/pyproject.toml``."""
        project = tomllib.loads(self.read(f"packages/{name}/pyproject.toml"))["project"]
        assert isinstance(project, dict)
        return project

    def locked_versions(self) -> dict[str, str]:
        """The version of each package recorded in uv.lock."""
        lock = tomllib.loads(self.read("uv.lock"))
        return {package["name"]: package["version"] for package in lock["package"]}

    def status(self) -> str:
        """`git status --porcelain` of the checkout."""
        return self.git("status", "--porcelain")

    def copy_to(self, destination: Path) -> Repo:
        """A full copy of the checkout, history included, at ``destination``."""
        shutil.copytree(self.root, destination, symlinks=True)
        return Repo(destination)


def make_template(root: Path, uv: str) -> Repo:
    """Create the workspace, lock it with uv and commit it as a single first commit."""
    repo = Repo(root)
    repo.write("pyproject.toml", ROOT_PYPROJECT)
    repo.write(".gitignore", "dist/\n__pycache__/\n")
    repo.write(".changeset/README.md", "Pending changesets live here.\n")
    repo.write(".changeset/config.json", "{}\n")
    for name, pyproject in (
        ("alpha", ALPHA_PYPROJECT),
        ("beta", BETA_PYPROJECT),
        ("gamma", GAMMA_PYPROJECT),
    ):
        repo.write(f"packages/{name}/pyproject.toml", pyproject)
        repo.write(f"packages/{name}/src/djed/{name}/__init__.py", f'"""djed.{name}."""\n')
    for name in ("alpha", "beta"):  # gamma has no changelog yet: the tool creates it
        repo.write(f"packages/{name}/CHANGELOG.md", CHANGELOG_HEADER.format(name=f"djed-{name}"))
    subprocess.run([uv, "lock", "--offline", "--quiet"], cwd=root, check=True)
    repo.git("init", "--quiet", "--initial-branch=main")
    repo.commit("Create the workspace")
    return repo
