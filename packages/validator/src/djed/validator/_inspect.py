"""Walk a schema before it is compiled: check it is well formed and safe, and index it.

Nothing from a schema runs as code: every keyword value is checked for its
type here, numbers must be finite, nesting is bounded, and the engine never
sees a keyword it would silently ignore.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import urldefrag, urljoin

from ._drafts import FAST_DRAFTS, Draft
from ._errors import SchemaError

__all__ = [
    "MAX_SCHEMA_DEPTH",
    "SchemaIndex",
    "inspect_schema",
    "join_uri",
    "pointer_join",
    "rewrite_refs",
]

#: Deepest nesting of subschemas accepted (the root is depth 0).
MAX_SCHEMA_DEPTH = 24

_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
_SINGLE = frozenset({"additionalItems", "additionalProperties", "not"})
_SINGLE_6 = frozenset({"contains", "propertyNames"})
_SINGLE_7 = frozenset({"if", "then", "else"})
_BOOLEAN_OR_SCHEMA = frozenset({"additionalItems", "additionalProperties"})
_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_MAPS = frozenset({"properties", "patternProperties", "definitions"})
_NUMBERS = frozenset({"maximum", "minimum"})
_COUNTS = frozenset(
    {"maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties"}
)
#: Keywords of 2019-09 and 2020-12 that fastjsonschema would ignore without a word.
_LATER_KEYWORDS = frozenset(
    {
        "$anchor",
        "$dynamicAnchor",
        "$dynamicRef",
        "$recursiveAnchor",
        "$recursiveRef",
        "$vocabulary",
        "dependentRequired",
        "dependentSchemas",
        "maxContains",
        "minContains",
        "prefixItems",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)


def join_uri(base: str, reference: str) -> str:
    """Resolve ``reference`` against ``base``; fragments also work on URNs."""
    if reference.startswith("#"):
        return urldefrag(base)[0] + reference
    return urljoin(base, reference)


def pointer_join(pointer: str, *parts: str | int) -> str:
    """Append reference tokens to a JSON Pointer, escaping ``~`` and ``/``."""
    for part in parts:
        pointer += "/" + str(part).replace("~", "~0").replace("/", "~1")
    return pointer


@dataclasses.dataclass(slots=True)
class SchemaIndex:
    """What the walk learnt: embedded resources, references and patterns, with locations."""

    base_uri: str
    resources: dict[str, Any] = dataclasses.field(default_factory=dict)
    refs: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    """(absolute reference, the ``$ref`` as written, JSON Pointer of the ``$ref``)."""
    patterns: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    """(pattern, JSON Pointer where it appears)."""
    anchors: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    """Plain-name ``$id`` (``…#foo``) -> (its resource's URI, JSON Pointer inside that resource)."""
    documents: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Caller-provided resources the schema reaches, by URI."""
    uses_formats: bool = False


def _check_finite(value: Any, pointer: str, depth: int = 0) -> None:
    """Refuse NaN and infinities anywhere inside a value (enum, const, default...)."""
    stack = [(value, pointer, depth)]
    while stack:
        item, where, level = stack.pop()
        if level > 256:
            raise SchemaError("value nested too deeply", location=where)
        if isinstance(item, float) and not math.isfinite(item):
            raise SchemaError(f"{item!r} is not a JSON number", location=where)
        if isinstance(item, dict):
            stack.extend((v, pointer_join(where, k), level + 1) for k, v in item.items())
        elif isinstance(item, list | tuple):
            stack.extend((v, pointer_join(where, i), level + 1) for i, v in enumerate(item))
        elif not isinstance(item, str | int | float | bool | type(None)):
            raise SchemaError(f"{type(item).__name__} is not a JSON value", location=where)


def _number(value: Any, keyword: str, pointer: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{keyword} must be a number", location=pointer)
    if not math.isfinite(value):
        raise SchemaError(f"{keyword} must be a finite number, not {value!r}", location=pointer)


def _count(value: Any, keyword: str, pointer: str) -> None:
    _number(value, keyword, pointer)
    if value < 0 or value != int(value):
        raise SchemaError(f"{keyword} must be a non-negative integer", location=pointer)


def _string_list(value: Any, keyword: str, pointer: str) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchemaError(f"{keyword} must be an array of strings", location=pointer)
    if len(set(value)) != len(value):
        raise SchemaError(f"{keyword} must not repeat a name", location=pointer)


class _Walker:
    def __init__(
        self,
        draft: Draft,
        index: SchemaIndex,
        anchors: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.draft = draft
        self.index = index
        self.id_key = "id" if draft == "4" else "$id"
        self.rewrite = anchors  # set: rewrite every $ref to its canonical absolute form
        self.resource_start = ""

    def walk(self, schema: Any, pointer: str, base: str, depth: int) -> None:
        if depth > MAX_SCHEMA_DEPTH:
            msg = f"schema nested deeper than {MAX_SCHEMA_DEPTH} levels"
            raise SchemaError(msg, location=pointer)
        if isinstance(schema, bool):
            if self.draft == "4":
                raise SchemaError("draft 4 does not allow true/false as a schema", location=pointer)
            return
        if not isinstance(schema, dict):
            msg = f"a schema must be an object or a boolean, not {type(schema).__name__}"
            raise SchemaError(msg, location=pointer)
        outer_start = self.resource_start
        base = self._enter_resource(schema, pointer, base)
        for keyword, value in schema.items():
            if not isinstance(keyword, str):
                raise SchemaError(f"keyword {keyword!r} must be a string", location=pointer)
            where = pointer_join(pointer, keyword)
            if keyword == "$ref" and self.rewrite is not None and isinstance(value, str):
                schema["$ref"] = self._canonical_ref(join_uri(base, value))
            for child, child_pointer in self._check_keyword(keyword, value, where, base):
                self.walk(child, child_pointer, base, depth + 1)
        self.resource_start = outer_start

    def _canonical_ref(self, absolute: str) -> str:
        assert self.rewrite is not None
        anchor = self.rewrite.get(absolute)
        if anchor is None:
            return absolute
        resource, inner_pointer = anchor
        return f"{resource}#{inner_pointer}"

    def _enter_resource(self, schema: dict[str, Any], pointer: str, base: str) -> str:
        identifier = schema.get(self.id_key)
        if identifier is None or "$ref" in schema:
            return base
        if not isinstance(identifier, str):
            raise SchemaError(f"{self.id_key} must be a string", location=pointer)
        absolute = join_uri(base, identifier)
        uri, fragment = urldefrag(absolute)
        if fragment:
            # A location-independent name ("#foo"): refers to this subschema.
            self.index.resources.setdefault(absolute, schema)
            inner = pointer[len(self.resource_start) :]
            self.index.anchors.setdefault(absolute, (urldefrag(base)[0], inner))
            return base
        self.index.resources.setdefault(uri, schema)
        self.resource_start = pointer
        return uri

    def _check_keyword(  # noqa: PLR0912 - one branch per keyword family
        self, keyword: str, value: Any, where: str, base: str
    ) -> Iterator[tuple[Any, str]]:
        draft = self.draft
        if keyword in _LATER_KEYWORDS and draft in FAST_DRAFTS:
            msg = (
                f"{keyword} belongs to JSON Schema 2019-09/2020-12, but this schema is "
                f"validated as draft {draft}, which would ignore it: declare "
                '"$schema": "https://json-schema.org/draft/2020-12/schema" and install '
                "djed-validator[rs], or remove the keyword"
            )
            raise SchemaError(msg, location=where)
        if keyword == "$ref":
            if not isinstance(value, str):
                raise SchemaError("$ref must be a string", location=where)
            self.index.refs.append((join_uri(base, value), value, where))
        elif keyword in _BOOLEAN_OR_SCHEMA and draft == "4" and isinstance(value, bool):
            pass  # draft 4 allows true/false here (but nowhere else)
        elif (
            keyword in _SINGLE
            or (keyword in _SINGLE_6 and draft != "4")
            or (keyword in _SINGLE_7 and draft not in {"4", "6"})
        ):
            yield value, where
        elif keyword in _LISTS:
            if not isinstance(value, list) or not value:
                raise SchemaError(f"{keyword} must be a non-empty array of schemas", location=where)
            yield from ((v, pointer_join(where, i)) for i, v in enumerate(value))
        elif keyword == "items":
            if isinstance(value, list):
                yield from ((v, pointer_join(where, i)) for i, v in enumerate(value))
            else:
                yield value, where
        elif keyword in _MAPS or keyword == "$defs":
            if not isinstance(value, dict):
                raise SchemaError(f"{keyword} must be an object", location=where)
            for name, sub in value.items():
                if keyword == "patternProperties":
                    self.index.patterns.append((name, pointer_join(where, name)))
                yield sub, pointer_join(where, name)
        elif keyword == "dependencies":
            if not isinstance(value, dict):
                raise SchemaError("dependencies must be an object", location=where)
            for name, sub in value.items():
                if isinstance(sub, list):
                    _string_list(sub, "a property dependency", pointer_join(where, name))
                else:
                    yield sub, pointer_join(where, name)
        else:
            self._check_scalar(keyword, value, where)

    def _check_scalar(self, keyword: str, value: Any, where: str) -> None:  # noqa: PLR0912
        draft = self.draft
        if keyword in _NUMBERS:
            _number(value, keyword, where)
        elif keyword in {"exclusiveMaximum", "exclusiveMinimum"}:
            if draft == "4":
                if not isinstance(value, bool):
                    raise SchemaError(f"{keyword} must be a boolean in draft 4", location=where)
            else:
                _number(value, keyword, where)
        elif keyword == "multipleOf":
            _number(value, keyword, where)
            if value <= 0:
                raise SchemaError("multipleOf must be greater than 0", location=where)
        elif keyword in _COUNTS:
            _count(value, keyword, where)
        elif keyword == "required":
            _string_list(value, keyword, where)
            if draft == "4" and not value:
                raise SchemaError("required must not be empty in draft 4", location=where)
        elif keyword == "enum":
            if not isinstance(value, list):
                raise SchemaError("enum must be an array", location=where)
            _check_finite(value, where)
        elif keyword in {"const", "default", "examples"}:
            _check_finite(value, where)
        elif keyword == "type":
            names = value if isinstance(value, list) else [value]
            if not names or not all(isinstance(n, str) and n in _TYPES for n in names):
                msg = f"type must be one of {', '.join(sorted(_TYPES))} or an array of them"
                raise SchemaError(msg, location=where)
            if len(set(names)) != len(names):
                raise SchemaError("type must not repeat a name", location=where)
        elif keyword == "uniqueItems":
            if not isinstance(value, bool):
                raise SchemaError("uniqueItems must be a boolean", location=where)
        elif keyword == "pattern":
            if not isinstance(value, str):
                raise SchemaError("pattern must be a string", location=where)
            self.index.patterns.append((value, where))
        elif keyword == "format":
            if not isinstance(value, str):
                raise SchemaError("format must be a string", location=where)
            self.index.uses_formats = True
        elif keyword in {"$schema", "$comment", "title", "description", self.id_key}:
            if not isinstance(value, str):
                raise SchemaError(f"{keyword} must be a string", location=where)
        else:
            # An unknown keyword is an annotation; it must still be plain JSON.
            _check_finite(value, where)


def inspect_schema(schema: Any, draft: Draft, *, base_uri: str = "") -> SchemaIndex:
    """Check ``schema`` for ``draft`` and index it; raises SchemaError with a location."""
    index = SchemaIndex(base_uri=base_uri)
    walker = _Walker(draft, index)
    if isinstance(schema, dict):
        identifier = schema.get(walker.id_key)
        if isinstance(identifier, str) and "$ref" not in schema:
            index.base_uri = urldefrag(join_uri(base_uri, identifier))[0]
    try:
        walker.walk(schema, "", base_uri, 0)
    except RecursionError:
        raise SchemaError("schema nested too deeply", location="") from None
    return index


def rewrite_refs(
    schema: Any, draft: Draft, base_uri: str, anchors: dict[str, tuple[str, str]]
) -> SchemaIndex:
    """Rewrite, in place, every ``$ref`` of an already checked schema to an absolute URI.

    References to plain-name ``$id``s become pointers into their resource, so the
    engine resolves every reference by URI and JSON Pointer alone. Only call this
    on a copy. Returns the index of the rewritten schema.
    """
    index = SchemaIndex(base_uri=base_uri)
    walker = _Walker(draft, index, anchors)
    walker.walk(schema, "", base_uri, 0)
    return index
