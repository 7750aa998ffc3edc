"""The default engine: fastjsonschema, compiled once per schema, fed only checked schemas."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from fastjsonschema import JsonSchemaDefinitionException, JsonSchemaValueException
from fastjsonschema.draft04 import CodeGeneratorDraft04
from fastjsonschema.draft06 import CodeGeneratorDraft06
from fastjsonschema.draft07 import CodeGeneratorDraft07
from fastjsonschema.exceptions import JsonSchemaValuesException
from fastjsonschema.ref_resolver import RefResolver, normalize

from ._convert import SchemaLocator, to_detail
from ._drafts import Draft
from ._errors import ErrorDetail, SchemaError, ValidationError
from ._inspect import SchemaIndex, rewrite_refs
from ._patterns import PatternInputTooLong, guard_pattern
from ._refs import NO_FETCH

__all__ = ["FastEngine"]

_GENERATORS: dict[str, type[CodeGeneratorDraft04]] = {
    "4": CodeGeneratorDraft04,
    "6": CodeGeneratorDraft06,
    "7": CodeGeneratorDraft07,
}


class FastEngine:
    """A schema compiled to a Python function by fastjsonschema."""

    __slots__ = ("_formats", "_function", "_locator", "module_source", "scope_name")

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
        store = {normalize(uri): doc for uri, doc in resolved.items()}
        resolver = RefResolver(index.base_uri, schema, store=store, handlers=NO_FETCH)
        generator = _GENERATORS[draft](
            schema,
            resolver=resolver,
            formats=dict(formats),
            use_default=fill_defaults,
            use_formats=assert_formats,
            detailed_exceptions=True,
            fast_fail=not all_errors,
        )
        try:
            code = generator.func_code
            global_state = generator.global_state
            global_state["REGEX_PATTERNS"] = {
                pattern: _guarded(pattern, compiled, pattern_limit)
                for pattern, compiled in global_state["REGEX_PATTERNS"].items()
            }
            exec(code, global_state)  # noqa: S102 - code generated from a checked schema
        except SchemaError:
            raise
        except JsonSchemaDefinitionException as exc:
            raise SchemaError(f"fastjsonschema cannot compile this schema: {exc}") from None
        except (SyntaxError, RecursionError, MemoryError, ValueError, TypeError) as exc:
            msg = f"schema cannot be compiled ({type(exc).__name__}: {exc})"
            raise SchemaError(msg) from None
        self.scope_name = resolver.get_scope_name()
        self._function: Callable[..., Any] = global_state[self.scope_name]
        self._formats = dict(formats)
        self._locator = SchemaLocator(schema)
        self.module_source = generator.global_state_code + "\n" + code

    def validate(self, instance: Any) -> Any:
        """Return ``instance`` (with defaults filled if asked) or raise ValidationError."""
        try:
            return self._function(instance, self._formats)
        except JsonSchemaValueException as exc:
            raise ValidationError(partial(self._details, [exc], instance)) from None
        except JsonSchemaValuesException as exc:
            raise ValidationError(partial(self._details, exc.errors, instance)) from None
        except PatternInputTooLong as exc:
            raise ValidationError([_too_long(exc)]) from None
        except RecursionError:
            raise ValidationError([_too_deep()]) from None

    def is_valid(self, instance: Any) -> bool:
        """Whether ``instance`` matches; never raises for bad data."""
        try:
            self._function(instance, self._formats)
        except (JsonSchemaValueException, JsonSchemaValuesException, PatternInputTooLong):
            return False
        except RecursionError:
            return False
        return True

    def _details(self, errors: list[JsonSchemaValueException], instance: Any) -> list[ErrorDetail]:
        return [to_detail(error, instance, self._locator) for error in errors]


def _guarded(pattern: str, compiled: re.Pattern[str], limit: int) -> Any:
    """The pattern to run: fastjsonschema's own for a linear one, else a length-guarded one."""
    guarded = guard_pattern(pattern, polynomial_limit=limit)
    return compiled if guarded.max_length is None else guarded


def _too_long(exc: PatternInputTooLong) -> ErrorDetail:
    return ErrorDetail(path="", keyword="pattern", message=str(exc), schema_path="")


def _too_deep() -> ErrorDetail:
    return ErrorDetail(
        path="",
        keyword="$ref",
        message="is nested too deeply to validate (the recursion limit was reached)",
        schema_path="",
    )
