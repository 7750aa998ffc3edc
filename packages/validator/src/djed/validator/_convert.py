"""Turn fastjsonschema's exceptions into :class:`ErrorDetail` entries with JSON Pointers."""

from __future__ import annotations

import re
from typing import Any

import orjson

from ._errors import ErrorDetail
from ._inspect import pointer_join

__all__ = ["SchemaLocator", "to_detail"]

_NAIVE_SPLIT = re.compile(r"[.\[\]]+")
_MAX_STEPS = 10_000


def _canonical(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return None


class SchemaLocator:
    """Find where in the schema a failing subschema sits (built on the first error only)."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema
        self._places: dict[bytes, list[str]] | None = None

    def _index(self) -> dict[bytes, list[str]]:
        places: dict[bytes, list[str]] = {}
        stack: list[tuple[Any, str]] = [(self._schema, "")]
        while stack:
            node, pointer = stack.pop()
            if isinstance(node, dict):
                key = _canonical(node)
                if key is not None:
                    places.setdefault(key, []).append(pointer)
                stack.extend((v, pointer_join(pointer, k)) for k, v in node.items())
            elif isinstance(node, list):
                stack.extend((v, pointer_join(pointer, i)) for i, v in enumerate(node))
        return places

    def locate(self, definition: Any, instance_path: str) -> str | None:
        """The JSON Pointer of ``definition`` in the schema, preferring one that fits the path."""
        if not isinstance(definition, dict):
            return None
        if self._places is None:
            self._places = self._index()
        key = _canonical(definition)
        candidates = self._places.get(key, []) if key is not None else []
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        tokens = [t for t in instance_path.split("/") if t]
        return max(candidates, key=lambda c: (sum(t in c.split("/") for t in tokens), -len(c)))


def _walk_name(rest: str, node: Any, steps: list[int]) -> list[str] | None:
    """Split fastjsonschema's ``.key[0]`` path using the instance to settle ambiguous keys."""
    steps[0] += 1
    if not rest:
        return []
    if steps[0] > _MAX_STEPS:
        return None
    if rest[0] == "[" and isinstance(node, list):
        close = rest.find("]")
        token = rest[1:close]
        if close > 0 and token.isdigit() and int(token) < len(node):
            tail = _walk_name(rest[close + 1 :], node[int(token)], steps)
            if tail is not None:
                return [token, *tail]
    if rest[0] == "." and isinstance(node, dict):
        body = rest[1:]
        for key in sorted((k for k in node if isinstance(k, str)), key=len, reverse=True):
            after = body[len(key) :]
            if body.startswith(key) and (not after or after[0] in ".["):
                tail = _walk_name(after, node[key], steps)
                if tail is not None:
                    return [key, *tail]
    return None


def _plain_tokens(rest: str, instance: Any) -> list[str] | None:
    """Split on ``.`` and ``[]`` and keep the result if every step exists in the instance."""
    tokens = [t for t in _NAIVE_SPLIT.split(rest) if t]
    node = instance
    rebuilt = []
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
            rebuilt.append("." + token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
            rebuilt.append(f"[{token}]")
        else:
            return None
    return tokens if "".join(rebuilt) == rest else None


def instance_pointer(name: str | None, instance: Any) -> str:
    """The JSON Pointer for fastjsonschema's ``data.a[0].b`` style name."""
    rest = (name or "data").removeprefix("data")
    tokens = _plain_tokens(rest, instance)
    if tokens is None:
        # A key holding "." or "[": settle it by trying the keys the instance has.
        tokens = _walk_name(rest, instance, [0])
    if tokens is None:
        # The name leads outside the data (a missing key, a property name): split plainly.
        tokens = [t for t in _NAIVE_SPLIT.split(rest) if t]
    return pointer_join("", *tokens)


def to_detail(error: Any, instance: Any, locator: SchemaLocator) -> ErrorDetail:
    """One ErrorDetail from a fastjsonschema-style error (``message``, ``name``, ``rule``...)."""
    path = instance_pointer(error.name, instance)
    message = error.message
    if error.name and message.startswith(error.name):
        message = message[len(error.name) :].lstrip()
    keyword = error.rule or "schema"
    definition = error.definition
    location = definition if isinstance(definition, str) else locator.locate(definition, path)
    schema_path = "" if location is None else pointer_join(location, keyword)
    return ErrorDetail(
        path=path, keyword=keyword, message=message, schema_path=schema_path, value=error.value
    )
