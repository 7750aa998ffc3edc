"""The optional engine: jsonschema-rs (``pip install 'djed-validator[rs]'``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._drafts import Draft
from ._errors import ErrorDetail, SchemaError, ValidationError
from ._inspect import pointer_join

__all__ = ["MAX_RS_DEPTH", "RsEngine", "RsValidationError", "rs_available", "unsupported"]

#: Deepest data the rs engine accepts with a recursive schema: deeper data would
#: overflow the native stack (a crash no Python code can catch).
MAX_RS_DEPTH = 10_000


def rs_available() -> bool:
    """Whether jsonschema-rs can be imported."""
    try:
        import jsonschema_rs  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _too_deep(instance: Any) -> bool:
    """Whether ``instance`` nests deeper than MAX_RS_DEPTH (iterative, never recursive)."""
    stack: list[tuple[Any, int]] = [(instance, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_RS_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


class RsValidationError(ValidationError):
    """jsonschema-rs's errors, turned into ErrorDetail entries on first access."""

    _errors: list[ErrorDetail] | None = None

    def __init__(self, found: list[Any]) -> None:
        self.found = found

    @property
    def errors(self) -> list[ErrorDetail]:
        """Every error found."""
        if self._errors is None:
            self._errors = [
                ErrorDetail(
                    path=pointer_join("", *error.instance_path),
                    keyword=str(error.schema_path[-1]) if error.schema_path else "schema",
                    message=str(error.message),
                    schema_path=pointer_join("", *error.schema_path),
                    value=error.instance,
                )
                for error in self.found
            ]
        return self._errors


class RsEngine:
    """A schema compiled by jsonschema-rs; the only engine for drafts 2019-09 and 2020-12."""

    __slots__ = ("_all_errors", "_recursive", "_rs", "_validator", "error_class", "plain_validate")

    def __init__(
        self,
        schema: Any,
        draft: Draft,
        resources: Mapping[str, Any] | None,
        *,
        formats: Mapping[str, Callable[[str], bool]],
        assert_formats: bool,
        all_errors: bool,
        recursive: bool,
    ) -> None:
        import jsonschema_rs  # noqa: PLC0415 - optional dependency

        self._rs = jsonschema_rs
        draft_ids = {
            "4": jsonschema_rs.Draft4,
            "6": jsonschema_rs.Draft6,
            "7": jsonschema_rs.Draft7,
            "2019-09": jsonschema_rs.Draft201909,
            "2020-12": jsonschema_rs.Draft202012,
        }
        classes = {
            "4": jsonschema_rs.Draft4Validator,
            "6": jsonschema_rs.Draft6Validator,
            "7": jsonschema_rs.Draft7Validator,
            "2019-09": jsonschema_rs.Draft201909Validator,
            "2020-12": jsonschema_rs.Draft202012Validator,
        }
        registry = None
        if resources:
            registry = jsonschema_rs.Registry(
                resources=list(resources.items()), draft=draft_ids[draft]
            )
        try:
            self._validator = classes[draft](
                schema,
                formats=dict(formats) or None,
                validate_formats=assert_formats,
                registry=registry,
                offline=True,
            )
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise SchemaError(f"jsonschema-rs refused the schema: {first_line}") from None
        self._all_errors = all_errors
        self._recursive = recursive
        self.error_class: type[ValueError] = jsonschema_rs.ValidationError
        #: jsonschema-rs's own validate, when nothing needs doing around it (the hot path).
        self.plain_validate = None if all_errors or recursive else self._validator.validate

    def validate(self, instance: Any) -> Any:
        """Return ``instance`` or raise ValidationError."""
        if self._recursive and _too_deep(instance):
            raise ValidationError([_deep_detail()])
        try:
            if not self._all_errors:
                self._validator.validate(instance)
                return instance
            errors = list(self._validator.iter_errors(instance))
        except ValueError as exc:
            if isinstance(exc, self._rs.ValidationError):
                raise RsValidationError([exc]) from None
            raise ValidationError([unsupported(exc)]) from None
        if errors:
            raise RsValidationError(errors)
        return instance

    def is_valid(self, instance: Any) -> bool:
        """Whether ``instance`` matches; never raises for bad data."""
        if self._recursive and _too_deep(instance):
            return False
        try:
            return bool(self._validator.is_valid(instance))
        except ValueError:
            return False


def _deep_detail() -> ErrorDetail:
    return ErrorDetail(
        path="",
        keyword="$ref",
        message=f"is nested deeper than {MAX_RS_DEPTH} levels, the limit of the rs engine",
        schema_path="",
    )


def unsupported(exc: ValueError) -> ErrorDetail:
    return ErrorDetail(path="", keyword="type", message=f"is not JSON data: {exc}", schema_path="")
