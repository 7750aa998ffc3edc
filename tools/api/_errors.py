"""The error the API tool reports to its user."""

from __future__ import annotations

from tools.changeset import ReleaseError

__all__ = ["ApiError"]


class ApiError(ReleaseError):
    """A package cannot be described or its snapshot cannot be read; the message says why."""
