"""The few git questions the release tool asks: changed files, refs and tags."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.changeset._errors import CommandError
from tools.changeset._process import run

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["changed_files", "create_tag", "has_uncommitted_changes", "ref_exists", "tags"]


def _git(root: Path, *args: str) -> str:
    """Run ``git args`` from ``root`` and return its output."""
    return run(["git", *args], root)


def _paths(output: str, prefix: str) -> set[str]:
    """NUL-separated repository paths, kept only below ``prefix`` and made relative to it."""
    return {path[len(prefix) :] for path in output.split("\0") if path and path.startswith(prefix)}


def ref_exists(root: Path, ref: str) -> bool:
    """Whether ``ref`` names a commit in the repository holding ``root``."""
    try:
        _git(root, "rev-parse", "--quiet", "--verify", f"{ref}^{{commit}}")
    except CommandError:
        return False
    return True


def changed_files(root: Path, base: str | None) -> set[str]:
    """Files changed since ``base``, committed or not, relative to ``root`` in posix form.

    The result joins `git diff REF...HEAD` (changes since the merge base), uncommitted changes
    to tracked files, staged ones included, and untracked files that are not ignored. When
    ``base`` is None every file is taken as changed, as against an empty repository.

    Raises:
        CommandError: git failed, for instance because ``base`` has no merge base with HEAD.
    """
    prefix = _git(root, "rev-parse", "--show-prefix").strip()
    has_head = ref_exists(root, "HEAD")
    changed: set[str] = set()
    if base is not None and has_head:
        committed = _git(root, "diff", "--name-only", "--no-renames", "-z", f"{base}...HEAD")
        changed |= _paths(committed, prefix)
    elif has_head:
        everything = _git(root, "ls-tree", "-r", "-z", "--name-only", "--full-tree", "HEAD")
        changed |= _paths(everything, prefix)
    if has_head:
        uncommitted = _git(root, "diff", "--name-only", "--no-renames", "-z", "HEAD")
    else:
        uncommitted = _git(root, "ls-files", "-z", "--full-name", "--cached")
    changed |= _paths(uncommitted, prefix)
    untracked = _git(root, "ls-files", "-z", "--full-name", "--others", "--exclude-standard")
    changed |= _paths(untracked, prefix)
    return changed


def tags(root: Path) -> set[str]:
    """Every tag name in the repository holding ``root``."""
    return {line for line in _git(root, "tag", "--list").splitlines() if line}


def create_tag(root: Path, name: str) -> None:
    """Create the lightweight tag ``name`` on HEAD."""
    _git(root, "tag", name, "HEAD")


def has_uncommitted_changes(root: Path) -> bool:
    """Whether tracked files under ``root`` differ from HEAD or untracked files exist."""
    return bool(_git(root, "status", "--porcelain", "--", ".").strip())
