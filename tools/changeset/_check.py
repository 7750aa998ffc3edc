"""The `check` command: source changes to a package must come with a changeset naming it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tools.changeset._errors import CommandError
from tools.changeset._files import CHANGESET_DIR, read_changesets
from tools.changeset._git import changed_files, ref_exists

if TYPE_CHECKING:
    from tools.changeset._workspace import Workspace

__all__ = ["DEFAULT_BASES", "CheckResult", "check_changesets", "default_base"]

DEFAULT_BASES = ("origin/main", "HEAD~1")
"""Base refs tried in order when none is given."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of `check`: what changed since the base and what the changesets cover."""

    base: str
    note: str | None
    changed: dict[str, list[str]] = field(default_factory=dict)
    covered: set[str] = field(default_factory=set)

    @property
    def missing(self) -> list[str]:
        """Packages whose sources changed without a changeset naming them."""
        return sorted(name for name in self.changed if name not in self.covered)

    @property
    def ok(self) -> bool:
        """Whether every package with changed sources is named by a new changeset."""
        return not self.missing


def default_base(workspace: Workspace) -> str:
    """The first of ``origin/main`` and ``HEAD~1`` that exists, else ``origin/main``."""
    for ref in DEFAULT_BASES:
        if ref_exists(workspace.root, ref):
            return ref
    return DEFAULT_BASES[0]


def check_changesets(workspace: Workspace, base: str) -> CheckResult:
    """Compare the changes since ``base`` with the changesets added since ``base``.

    A change is any file under ``<member>/src/``: committed since the merge base of ``base``
    and HEAD, uncommitted, or untracked. A changeset counts when its file is among the changed
    files and still exists. When ``base`` does not exist or shares no history with HEAD (a
    shallow clone, a fresh repository), every file counts as changed, so the check fails safe.

    Raises:
        ChangesetError: A pending changeset file is invalid.
        CommandError: git failed.
    """
    changesets = read_changesets(workspace)
    note: str | None = None
    if not ref_exists(workspace.root, base):
        note = f"base {base!r} does not exist here (a shallow clone or a new repository?)"
        files = changed_files(workspace.root, None)
    else:
        try:
            files = changed_files(workspace.root, base)
        except CommandError:
            note = f"base {base!r} shares no history with HEAD (a shallow clone?)"
            files = changed_files(workspace.root, None)
    if note is not None:
        note += "; compared against an empty tree, so every file counts as changed"
    changed: dict[str, list[str]] = {}
    for path in sorted(files):
        package = workspace.owner(path)
        if package is not None and path.startswith(f"{package.relative}/src/"):
            changed.setdefault(package.name, []).append(path)
    covered: set[str] = set()
    for changeset in changesets:
        if f"{CHANGESET_DIR}/{changeset.path.name}" in files:
            covered.update(changeset.releases)
    return CheckResult(base=base, note=note, changed=changed, covered=covered)
