"""Changeset-style release tooling for the Djed uv workspace.

Run it as ``python -m tools.changeset <command>``; see tools/README.md.
"""

from tools.changeset._bump import Bump, next_version
from tools.changeset._errors import ChangesetError, CommandError, ReleaseError, WorkspaceError
from tools.changeset._files import Changeset, read_changesets, write_changeset
from tools.changeset._plan import ReleasePlan, plan_release
from tools.changeset._workspace import Package, Workspace, find_root, load_workspace
from tools.changeset.cli import main

__all__ = [
    "Bump",
    "Changeset",
    "ChangesetError",
    "CommandError",
    "Package",
    "ReleaseError",
    "ReleasePlan",
    "Workspace",
    "WorkspaceError",
    "find_root",
    "load_workspace",
    "main",
    "next_version",
    "plan_release",
    "read_changesets",
    "write_changeset",
]
