"""The exception tree of the release tool."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ChangesetError", "CommandError", "ReleaseError", "WorkspaceError"]


class ReleaseError(Exception):
    """Base of every error the release tool reports to its user."""


class WorkspaceError(ReleaseError, ValueError):
    """The uv workspace or one of its member pyproject files cannot be used as it is."""


class CommandError(ReleaseError, RuntimeError):
    """An external command (git or uv) failed or could not be started."""


class ChangesetError(ReleaseError, ValueError):
    """One or more changeset files break the format; each problem names its file and line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))
