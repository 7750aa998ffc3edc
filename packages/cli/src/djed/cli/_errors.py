"""The one exception of the command: a message for the user and an exit code."""

from __future__ import annotations

__all__ = ["CliError"]


class CliError(Exception):
    """A user-facing failure: printed without a traceback, exits with ``code``.

    Codes: 1 a check failed, 2 bad input (name, option, file), 3 the
    environment (missing tool, git, network), 4 a conflict needing a decision
    (non-empty directory, dirty tree, merge conflicts).
    """

    def __init__(self, message: str, *, code: int = 1, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
