"""JSON Schema validation on fastjsonschema alone, written by `djed eject validator`.

It keeps the names your code used from djed-validator (``SchemaValidator``,
``ValidationError`` with ``errors[i].path`` as a JSON Pointer, ``validate``),
so nothing else had to change. Schemas found as files at eject time were
compiled ahead of time into ``compiled_schemas/`` and are used when the same
schema is given again; any other schema is compiled by fastjsonschema on first
use. Remote ``$ref``s are refused, never fetched. Yours to edit.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import fastjsonschema

__all__ = [
    "ErrorDetail",
    "SchemaError",
    "SchemaValidator",
    "ValidationError",
    "ValidatorError",
    "schema_key",
    "validate",
]

#: Schemas compiled ahead of time: schema_key(schema) -> module (relative to this package).
COMPILED: dict[str, str] = {}


class ValidatorError(ValueError):
    """Root of this module's errors."""


class SchemaError(ValidatorError):
    """The schema itself is not usable."""


@dataclass(frozen=True)
class ErrorDetail:
    """One failed check: where (a JSON Pointer), which keyword, and what is wrong."""

    path: str
    keyword: str
    message: str
    schema_path: str = ""


class ValidationError(ValidatorError):
    """The data does not match the schema; ``errors`` says where and why."""

    def __init__(self, errors: list[ErrorDetail]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.path or '/'}: {e.message}" for e in errors))


def schema_key(schema: Mapping[str, Any] | bool) -> str:
    """The identity of a schema: the SHA-256 of its canonical JSON."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _refuse(uri: str) -> Any:
    raise SchemaError(f"remote reference {uri!r} refused: put the schema it names in $defs")


# fastjsonschema fetches a $ref of any scheme it has no handler for: refuse them all.
_HANDLERS = dict.fromkeys(("http", "https", "file", "ftp", "urn", "data", "tag"), _refuse)
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _pointer(name: str) -> str:
    """``data.lines[1].qty`` -> ``/lines/1/qty`` (``data`` alone, the root, -> ``""``)."""
    rest = name.removeprefix("data")
    parts = [key or index for key, index in _SEGMENT.findall(rest)]
    escaped = [p.replace("~", "~0").replace("/", "~1") for p in parts]
    return "".join(f"/{part}" for part in escaped)


def _detail(error: fastjsonschema.JsonSchemaValueException) -> ErrorDetail:
    name = error.name or "data"
    message = error.message.removeprefix(f"{name} ").strip()
    return ErrorDetail(_pointer(name), str(error.rule or ""), message, str(error.rule_definition))


def _compile(schema: Mapping[str, Any] | bool) -> Callable[[Any], Any]:
    module = COMPILED.get(schema_key(schema))
    if module is not None:
        compiled: Callable[[Any], Any] = importlib.import_module(module, __package__).validate
        return compiled
    try:
        checker: Callable[[Any], Any] = fastjsonschema.compile(
            schema if isinstance(schema, bool) else dict(schema),
            handlers=_HANDLERS,
            use_default=False,
        )
    except fastjsonschema.JsonSchemaDefinitionException as error:
        raise SchemaError(f"invalid schema: {error}") from None
    return checker


class SchemaValidator:
    """A compiled schema: ``validate(data)`` returns ``data`` or raises :class:`ValidationError`."""

    def __init__(self, schema: Mapping[str, Any] | bool) -> None:
        self.schema = schema
        self._check = _compile(schema)

    def validate(self, data: Any) -> Any:
        """``data`` when it matches the schema."""
        try:
            self._check(data)
        except fastjsonschema.JsonSchemaValueException as error:
            raise ValidationError([_detail(error)]) from None
        return data

    def is_valid(self, data: Any) -> bool:
        """Whether ``data`` matches the schema."""
        try:
            self._check(data)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True


_CACHE: dict[str, SchemaValidator] = {}


def validate(schema: Mapping[str, Any] | bool, data: Any) -> Any:
    """Validate ``data`` against ``schema``, compiling each distinct schema once."""
    key = schema_key(schema)
    validator = _CACHE.get(key)
    if validator is None:
        validator = _CACHE[key] = SchemaValidator(schema)
    return validator.validate(data)
