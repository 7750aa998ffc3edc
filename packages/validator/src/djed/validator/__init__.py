"""Fast, correct and safe JSON Schema validation on fastjsonschema.

>>> from djed.validator import SchemaValidator, ValidationError
>>> v = SchemaValidator({"type": "object", "properties": {"qty": {"minimum": 1}}})
>>> v.validate({"qty": 2})
{'qty': 2}
"""

from __future__ import annotations

from ._aot import compile_to_source
from ._cache import CacheStats, ValidatorCache, default_cache, validate
from ._errors import ErrorDetail, SchemaError, ValidationError, ValidatorError
from ._inspect import MAX_SCHEMA_DEPTH
from ._plugins import PluginError, format_plugins
from ._validator import DEFAULT_PATTERN_LIMIT, SchemaValidator

__all__ = [
    "DEFAULT_PATTERN_LIMIT",
    "MAX_SCHEMA_DEPTH",
    "CacheStats",
    "ErrorDetail",
    "PluginError",
    "SchemaError",
    "SchemaValidator",
    "ValidationError",
    "ValidatorCache",
    "ValidatorError",
    "compile_to_source",
    "default_cache",
    "format_plugins",
    "validate",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - only when asked

        return version("djed-validator")
    msg = f"module 'djed.validator' has no attribute {name!r}"
    raise AttributeError(msg)
