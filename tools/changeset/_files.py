"""Reading, validating and writing `.changeset/<slug>.md` files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tools.changeset._bump import Bump
from tools.changeset._errors import ChangesetError, ReleaseError
from tools.changeset._slug import random_slug

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tools.changeset._workspace import Workspace

__all__ = [
    "CHANGESET_DIR",
    "Changeset",
    "changeset_files",
    "parse_changeset",
    "read_changesets",
    "render_changeset",
    "write_changeset",
]

CHANGESET_DIR = ".changeset"
"""Where pending changesets live, relative to the workspace root."""

_FENCE = "---"
_ENTRY = re.compile(
    r"""^(?P<q>["']?)(?P<name>[^"':\s]+)(?P=q)\s*:\s*(?P<bq>["']?)(?P<bump>[^"'\s]*)(?P=bq)\s*$"""
)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_BUMP_WORDS = ", ".join(bump.value for bump in Bump)


@dataclass(frozen=True)
class Changeset:
    """One pending change: the bump each named package gets, and the text for its changelog."""

    path: Path
    releases: Mapping[str, Bump]
    summary: str

    @property
    def slug(self) -> str:
        """The file name without its ``.md`` suffix."""
        return self.path.stem


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else as given."""
    try:
        return os.path.relpath(path) if Path.cwd() in path.resolve().parents else str(path)
    except ValueError:  # another drive on Windows
        return str(path)


def parse_changeset(path: Path, text: str, workspace: Workspace) -> Changeset:
    """The changeset in ``text``, checked against the packages of ``workspace``.

    Raises:
        ChangesetError: Every problem found, each as ``<file>:<line>: <what to fix>``: missing
            or unclosed front matter, an unknown package, a bad bump word, a package named
            twice, no package at all, or an empty body.
    """
    where = _display(path)
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != _FENCE:
        problem = f"{where}:1: missing front matter: the file must start with a '---' line"
        raise ChangesetError([problem])
    closing = next((i for i in range(1, len(lines)) if lines[i].strip() == _FENCE), None)
    if closing is None:
        problem = f"{where}:1: front matter is not closed: add a '---' line after the packages"
        raise ChangesetError([problem])
    problems: list[str] = []
    releases: dict[str, Bump] = {}
    for number in range(1, closing):
        line = lines[number].strip()
        if not line or line.startswith("#"):
            continue
        at = f"{where}:{number + 1}"
        entry = _ENTRY.match(line)
        if entry is None:
            problems.append(f'{at}: expected a line like "djed-logger": minor, got {line!r}')
            continue
        package = workspace.get(entry["name"])
        if package is None:
            known = ", ".join(p.name for p in workspace) or "none"
            problems.append(f"{at}: unknown package {entry['name']!r}; workspace packages: {known}")
        elif package.name in releases:
            problems.append(f"{at}: {package.name} is named twice")
        try:
            bump = Bump(entry["bump"])
        except ValueError:
            problems.append(
                f"{at}: bad bump {entry['bump']!r} for {entry['name']}; use one of {_BUMP_WORDS}"
            )
            continue
        if package is not None:
            releases[package.name] = bump
    if not releases and not problems:
        problems.append(f"{where}:1: the front matter names no package")
    summary = "\n".join(lines[closing + 1 :]).strip()
    if not summary:
        problems.append(
            f"{where}:{closing + 2}: empty body: add a line saying what changed for users"
        )
    if problems:
        raise ChangesetError(problems)
    return Changeset(path=path, releases=releases, summary=summary)


def changeset_files(directory: Path) -> list[Path]:
    """The changeset files in ``directory``: its ``*.md`` files except README.md, by name."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.is_file() and path.suffix == ".md" and path.name.lower() != "readme.md"
    )


def read_changesets(workspace: Workspace) -> list[Changeset]:
    """Every pending changeset of ``workspace``, all validated, in file name order.

    Raises:
        ChangesetError: The problems of every invalid file together.
    """
    changesets: list[Changeset] = []
    problems: list[str] = []
    for path in changeset_files(workspace.root / CHANGESET_DIR):
        try:
            changesets.append(parse_changeset(path, path.read_text("utf-8"), workspace))
        except ChangesetError as error:
            problems.extend(error.problems)
    if problems:
        raise ChangesetError(problems)
    return changesets


def render_changeset(releases: Mapping[str, Bump], summary: str) -> str:
    """The file contents for a changeset bumping ``releases`` and saying ``summary``."""
    entries = "".join(f'"{name}": {bump.value}\n' for name, bump in releases.items())
    return f"{_FENCE}\n{entries}{_FENCE}\n{summary.strip()}\n"


def write_changeset(
    workspace: Workspace,
    releases: Mapping[str, Bump],
    summary: str,
    slug: str | None = None,
) -> Path:
    """Create `.changeset/<slug>.md` for ``releases``; an existing file is never overwritten.

    Args:
        workspace: The workspace the packages belong to.
        releases: Bump per package name (any PEP 503 spelling of a member's name).
        summary: What changed, in words for users; the changelog line.
        slug: The file name without ``.md``; a random readable one when None.

    Raises:
        ChangesetError: No package, an unknown package, an empty summary or a bad slug.
        ReleaseError: A file with that slug already exists.
    """
    problems: list[str] = []
    canonical: dict[str, Bump] = {}
    for name, bump in releases.items():
        package = workspace.get(name)
        if package is None:
            known = ", ".join(p.name for p in workspace) or "none"
            problems.append(f"unknown package {name!r}; workspace packages: {known}")
        else:
            canonical[package.name] = bump
    if not releases:
        problems.append("name at least one package to release")
    if not summary.strip():
        problems.append("the summary is empty: say what changed for users")
    if slug is not None and not _SLUG.match(slug):
        problems.append(f"bad slug {slug!r}: use lower-case letters, digits and '-'")
    if problems:
        raise ChangesetError(problems)
    directory = workspace.root / CHANGESET_DIR
    directory.mkdir(parents=True, exist_ok=True)
    text = render_changeset(canonical, summary)
    for _ in range(100):
        path = directory / f"{slug or random_slug()}.md"
        try:
            with path.open("x", encoding="utf-8") as file:
                file.write(text)
        except FileExistsError:
            if slug is not None:
                msg = f"{_display(path)} already exists; choose another --slug"
                raise ReleaseError(msg) from None
            continue
        return path
    msg = f"could not find a free random file name in {_display(directory)}; pass --slug"
    raise ReleaseError(msg)
