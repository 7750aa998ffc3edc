"""Stable cache keys from function arguments."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson

__all__ = ["CacheKeyError", "KeyBuilder", "key_part"]


class CacheKeyError(TypeError):
    """An argument cannot be part of a cache key; the message names it and says what to do."""


_SCALARS = (str, int, float, bool, type(None))


def key_part(value: Any, where: str) -> Any:  # noqa: PLR0911 - one return per kind
    """A JSON-ready, stable form of ``value``; refuses what has no stable identity."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, decimal.Decimal | uuid.UUID | datetime.date | datetime.time):
        return str(value)
    if isinstance(value, enum.Enum):
        return key_part(value.value, where)
    if isinstance(value, list | tuple):
        return [key_part(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, frozenset | set):
        return sorted((key_part(v, where) for v in value), key=repr)
    if isinstance(value, Mapping):
        return {str(k): key_part(v, f"{where}[{k!r}]") for k, v in sorted(value.items(), key=repr)}
    custom = getattr(value, "__cache_key__", None)
    if callable(custom):
        return key_part(custom(), where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return key_part(dataclasses.asdict(value), where)
    msg = (
        f"{where} of type {type(value).__name__} cannot be part of a cache key (it has no "
        "stable identity); pass key= to cached(), or give the type a __cache_key__() method"
    )
    raise CacheKeyError(msg)


class KeyBuilder:
    """Build the key of one call of ``function``.

    ``key`` may be ``None`` (the qualified name and every argument, bound to the
    signature so ``f(1)`` and ``f(x=1)`` share a key), a template such as
    ``"invoice:{invoice_id}"`` formatted with the bound arguments, or a callable
    taking the call's arguments and returning a string.
    """

    def __init__(self, function: Callable[..., Any], key: str | Callable[..., str] | None) -> None:
        self._signature = inspect.signature(function)
        plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        parameters = list(self._signature.parameters.values())
        self._positional: tuple[str, ...] = (
            tuple(p.name for p in parameters) if all(p.kind in plain for p in parameters) else ()
        )
        self._prefix = f"{function.__module__}.{function.__qualname__}"
        self._key = key
        if isinstance(key, str):
            names = set(self._signature.parameters)
            for field in _template_fields(key):
                if field.split(".")[0].split("[")[0] not in names:
                    msg = (
                        f"cache key template {key!r} names {field!r}, "
                        f"not an argument of {self._prefix}"
                    )
                    raise CacheKeyError(msg)

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name, defaults applied."""
        if not kwargs and len(args) == len(self._positional):
            # Every parameter given by position: no binding needed (the common case).
            return dict(zip(self._positional, args, strict=True))
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The key for these arguments."""
        key = self._key
        if callable(key):
            return str(key(*args, **kwargs))
        arguments = self.arguments(args, kwargs)
        if isinstance(key, str):
            return key.format(**arguments)
        parts = {name: key_part(value, f"argument {name!r}") for name, value in arguments.items()}
        return f"{self._prefix}:{orjson.dumps(parts, option=orjson.OPT_SORT_KEYS).decode()}"


def _template_fields(template: str) -> list[str]:
    import string  # noqa: PLC0415 - only for templates

    return [field for _, field, _, _ in string.Formatter().parse(template) if field]
