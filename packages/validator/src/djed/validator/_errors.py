"""The exception tree of djed.validator."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["ErrorDetail", "SchemaError", "ValidationError", "ValidatorError"]


class ValidatorError(ValueError):
    """Base of every error raised by djed.validator."""


class SchemaError(ValidatorError):
    """The schema is invalid, unsafe or needs an engine that is not installed.

    ``location`` is a JSON Pointer into the schema (``""`` for the root) when
    the problem has one place.
    """

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(
            message if location is None else f"{message} (at schema {location or '/'})"
        )
        self.location = location


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One reason an instance does not match its schema."""

    path: str
    """JSON Pointer into the instance, e.g. ``/lines/2/price`` (``""`` is the whole document)."""
    keyword: str
    """The schema keyword that failed, e.g. ``minimum``."""
    message: str
    """What is wrong, in words, without the path."""
    schema_path: str
    """JSON Pointer into the schema to the failing keyword, when known."""
    value: Any = dataclasses.field(default=None, compare=False, repr=False)
    """The offending value."""

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message}"


class ValidationError(ValidatorError):
    """The instance does not match the schema; ``errors`` says where and why.

    The entries may be built on first access, so that code which only catches
    the exception (or calls ``is_valid``) does not pay for paths and messages.
    """

    def __init__(self, errors: list[ErrorDetail] | Callable[[], list[ErrorDetail]]) -> None:
        super().__init__()
        self._errors = errors if isinstance(errors, list) else None
        self._build = None if isinstance(errors, list) else errors

    @property
    def errors(self) -> list[ErrorDetail]:
        """Every error found (one unless validating with ``all_errors``)."""
        if self._errors is None:
            assert self._build is not None
            self._errors = self._build()
            self._build = None
        return self._errors

    @property
    def path(self) -> str:
        """The path of the first error."""
        return self.errors[0].path if self.errors else ""

    def __str__(self) -> str:
        errors = self.errors
        if len(errors) == 1:
            return str(errors[0])
        text = f"{len(errors)} errors: " + "; ".join(str(e) for e in errors[:5])
        return text + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")

    def __repr__(self) -> str:
        return f"ValidationError({self.errors!r})"

    def __reduce__(self) -> tuple[type[ValidationError], tuple[list[ErrorDetail]]]:
        # Pickled as the plain public class, whatever engine-specific subclass raised it.
        return (ValidationError, (self.errors,))
