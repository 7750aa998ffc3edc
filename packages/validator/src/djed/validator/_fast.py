"""The default engine: fastjsonschema, compiled once per schema, fed only checked schemas."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from fastjsonschema import JsonSchemaDefinitionException
from fastjsonschema.draft04 import CodeGeneratorDraft04
from fastjsonschema.draft06 import CodeGeneratorDraft06
from fastjsonschema.draft07 import CodeGeneratorDraft07
from fastjsonschema.ref_resolver import RefResolver, normalize

from ._convert import SchemaLocator, to_detail
from ._drafts import Draft
from ._errors import ErrorDetail, SchemaError, ValidationError
from ._inspect import SchemaIndex, pointer_join, rewrite_refs
from ._patterns import PatternInputTooLong, guard_pattern
from ._refs import NO_FETCH

__all__ = ["GENERATED_ERRORS", "FastEngine", "too_deep", "too_long"]

_GENERATORS: dict[str, type[CodeGeneratorDraft04]] = {
    "4": CodeGeneratorDraft04,
    "6": CodeGeneratorDraft06,
    "7": CodeGeneratorDraft07,
}


class _GeneratedError(ValidationError):
    """Raised by the generated code itself, in place of fastjsonschema's exception.

    Taking fastjsonschema's constructor arguments lets the generated function raise
    our error directly: no catching and raising again on the way out. The entries of
    ``errors`` are built on first access, from the name fastjsonschema gives and the
    instance that the caller attaches.
    """

    locator: SchemaLocator  # set on the per-schema subclass
    instance: Any = None
    _errors: list[ErrorDetail] | None = None

    def __init__(
        self,
        message: str,
        value: Any = None,
        name: str | None = None,
        definition: Any = None,
        rule: str | None = None,
    ) -> None:
        self.message = message
        self.value = value
        self.name = name
        self.definition = definition
        self.rule = rule

    @property
    def errors(self) -> list[ErrorDetail]:
        """The one error found."""
        if self._errors is None:
            self._errors = [to_detail(self, self.instance, self.locator)]
        return self._errors


_NESTED: Any = object()  # the instance of an error still inside the generated code


class _GeneratedManyError(ValidationError):
    """Raised by the generated code with ``all_errors``: every error found."""

    locator: SchemaLocator
    instance: Any = None
    _errors: list[ErrorDetail] | None = None

    def __init__(self, errors: list[_GeneratedError]) -> None:
        self.found = errors
        self.instance = _NESTED

    @property
    def errors(self) -> list[ErrorDetail]:
        """Every error found.

        The generated code of a schema with ``$ref`` reads ``errors`` too, from the
        error of the referenced part (``errors.extend(e.errors)``): until the
        validator hands the error over with its instance, the raw errors are given,
        to be converted once, with the whole instance, at the top.
        """
        if self.instance is _NESTED:
            return self.found  # type: ignore[return-value]
        if self._errors is None:
            self._errors = [to_detail(e, self.instance, self.locator) for e in self.found]
        return self._errors


class _Located(dict[str, Any]):
    """A subschema that the generated code refers to by its JSON Pointer, not as a literal.

    fastjsonschema writes ``repr(definition)`` into every ``raise``; this makes that a
    short string constant, which is cheaper to raise and gives exact schema paths.
    """

    def __init__(self, definition: dict[str, Any], pointer: str) -> None:
        super().__init__(definition)
        self.pointer = pointer

    def __repr__(self) -> str:
        return repr(self.pointer)


def _locating(
    base: type[CodeGeneratorDraft04], pointers: dict[int, str]
) -> type[CodeGeneratorDraft04]:
    """A generator class that names each failing subschema by its pointer in ``pointers``."""

    class Locating(base):  # type: ignore[valid-type, misc]
        def _expand_refs(self, definition: Any) -> Any:
            expanded = super()._expand_refs(definition)
            if definition is self._definition and isinstance(expanded, dict):
                pointer = pointers.get(id(definition))
                if pointer is not None:
                    return _Located(expanded, pointer)
            return expanded

    return Locating


def _pointers(document: Any, prefix: str, into: dict[int, str]) -> None:
    """Record the JSON Pointer of every object inside ``document`` by identity."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, pointer = stack.pop()
        if isinstance(node, dict):
            into.setdefault(id(node), prefix + pointer)
            stack.extend((v, pointer_join(pointer, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, pointer_join(pointer, i)) for i, v in enumerate(node))


#: What the generated code raises for invalid data.
GENERATED_ERRORS = (_GeneratedError, _GeneratedManyError)


class FastEngine:
    """A schema compiled to a Python function by fastjsonschema."""

    __slots__ = ("_generator_options", "_sources", "formats", "function", "scope_name")

    def __init__(
        self,
        schema: Any,
        draft: Draft,
        index: SchemaIndex,
        *,
        formats: Mapping[str, Callable[[str], bool]],
        assert_formats: bool,
        fill_defaults: bool,
        all_errors: bool,
        pattern_limit: int,
    ) -> None:
        # fastjsonschema rewrites $ref values in place while it walks, and resolves
        # some relative forms wrongly: give it copies whose references are already
        # absolute URIs (plain-name anchors turned into JSON Pointers).
        schema = copy.deepcopy(schema)
        copied = rewrite_refs(schema, draft, "", index.anchors)
        resolved: dict[str, Any] = dict(copied.resources)
        if index.base_uri:
            resolved[index.base_uri] = schema
        for uri, original in index.documents.items():
            document = copy.deepcopy(original)
            resolved.update(rewrite_refs(document, draft, uri, index.anchors).resources)
            resolved[uri] = document
        self._sources = (schema, index.base_uri, resolved, draft)
        self._generator_options = {
            "formats": dict(formats),
            "use_default": fill_defaults,
            "use_formats": assert_formats,
            "detailed_exceptions": True,
            "fast_fail": not all_errors,
        }
        pointers: dict[int, str] = {}
        _pointers(schema, "", pointers)
        for uri in index.documents:
            _pointers(resolved[uri], uri + "#", pointers)
        generator, scope = self._generator(_locating(_GENERATORS[draft], pointers))
        try:
            code = generator.func_code
            global_state = generator.global_state
            global_state["REGEX_PATTERNS"] = {
                pattern: _guarded(pattern, compiled, pattern_limit)
                for pattern, compiled in global_state["REGEX_PATTERNS"].items()
            }
            namespace = {"locator": SchemaLocator(schema)}
            global_state["JsonSchemaValueException"] = type(
                "ValidationError", (_GeneratedError,), namespace
            )
            global_state["JsonSchemaValuesException"] = type(
                "ValidationError", (_GeneratedManyError,), namespace
            )
            exec(code, global_state)  # noqa: S102 - code generated from a checked schema
        except SchemaError:
            raise
        except JsonSchemaDefinitionException as exc:
            raise SchemaError(f"fastjsonschema cannot compile this schema: {exc}") from None
        except (SyntaxError, RecursionError, MemoryError, ValueError, TypeError) as exc:
            msg = f"schema cannot be compiled ({type(exc).__name__}: {exc})"
            raise SchemaError(msg) from None
        self.scope_name = scope
        self.function: Callable[..., Any] = global_state[scope]
        self.formats = dict(formats)

    def _generator(self, generator_class: type[CodeGeneratorDraft04]) -> tuple[Any, str]:
        schema, base_uri, resolved, _draft = self._sources
        store = {normalize(uri): doc for uri, doc in resolved.items()}
        resolver = RefResolver(base_uri, schema, store=store, handlers=NO_FETCH)
        generator = generator_class(schema, resolver=resolver, **self._generator_options)
        return generator, resolver.get_scope_name()

    def export_source(self) -> str:
        """The module source fastjsonschema itself writes for this schema (stock exceptions)."""
        generator, _scope = self._generator(_GENERATORS[self._sources[3]])
        code = generator.func_code
        return f"{generator.global_state_code}\n{code}"

    def validate(self, instance: Any) -> Any:
        """Return ``instance`` (with defaults filled if asked) or raise ValidationError.

        :class:`SchemaValidator` inlines this body on its hot path.
        """
        try:
            return self.function(instance, self.formats)
        except GENERATED_ERRORS as exc:
            exc.instance = instance
            raise
        except PatternInputTooLong as exc:
            raise ValidationError([too_long(exc)]) from None
        except RecursionError:
            raise ValidationError([too_deep()]) from None

    def is_valid(self, instance: Any) -> bool:
        """Whether ``instance`` matches; never raises for bad data."""
        try:
            self.function(instance, self.formats)
        except (ValidationError, PatternInputTooLong, RecursionError):
            return False
        return True


def _guarded(pattern: str, compiled: re.Pattern[str], limit: int) -> Any:
    """The pattern to run: fastjsonschema's own for a linear one, else a length-guarded one."""
    guarded = guard_pattern(pattern, polynomial_limit=limit)
    return compiled if guarded.max_length is None else guarded


def too_long(exc: PatternInputTooLong) -> ErrorDetail:
    return ErrorDetail(path="", keyword="pattern", message=str(exc), schema_path="")


def too_deep() -> ErrorDetail:
    return ErrorDetail(
        path="",
        keyword="$ref",
        message="is nested too deeply to validate (the recursion limit was reached)",
        schema_path="",
    )
