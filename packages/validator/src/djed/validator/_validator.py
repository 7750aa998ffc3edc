"""SchemaValidator: a schema checked, compiled and ready to validate instances."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ._drafts import FAST_DRAFTS, detect_draft
from ._errors import SchemaError, ValidationError
from ._fast import GENERATED_ERRORS, FastEngine, too_deep, too_long
from ._formats import FORMAT_CHECKERS
from ._inspect import inspect_schema
from ._patterns import PatternInputTooLong, UnsafePatternError, guard_pattern
from ._plugins import enabled_formats
from ._refs import build_store, check_refs
from ._rs import RsEngine, RsValidationError, rs_available, unsupported

__all__ = ["DEFAULT_PATTERN_LIMIT", "Engine", "SchemaValidator"]

Engine = Literal["auto", "fast", "rs"]

#: Longest string checked against a pattern whose worst case is polynomial.
DEFAULT_PATTERN_LIMIT = 10_000

_INSTALL_RS = "install the extra: pip install 'djed-validator[rs]'"


def _check_formats(formats: Mapping[str, Any]) -> dict[str, Callable[[str], bool]]:
    merged: dict[str, Callable[[str], bool]] = dict(FORMAT_CHECKERS)
    for name, checker in formats.items():
        if not isinstance(name, str) or not callable(checker):
            msg = f"formats must map format names to callables; {name!r} maps to {checker!r}"
            raise SchemaError(msg)
        merged[name] = checker
    return merged


class SchemaValidator:
    """Validate instances against one JSON Schema, compiled once.

    >>> v = SchemaValidator({"type": "object", "required": ["id"]})
    >>> v.validate({"id": 1})
    {'id': 1}
    >>> v.is_valid({})
    False

    Args:
        schema: The schema (a dict, or a boolean from draft 6 on). It is checked
            first: anything malformed or unsafe raises :class:`SchemaError`.
        draft: ``4``, ``6``, ``7``, ``"2019-09"`` or ``"2020-12"``; by default from
            ``$schema``, else draft 7.
        formats: Extra or replacement format checkers, ``{"sku": callable}``; a
            checker gets a string and returns whether it is valid. They take
            precedence over the plugins ``DJED_VALIDATOR_PLUGINS`` enables, which
            take precedence over the built-in checkers.
        resources: Schemas that ``$ref`` may point to, by URI. Nothing else is
            ever fetched.
        engine: ``"auto"`` (fastjsonschema for drafts 4-7, jsonschema-rs for
            2019-09 and 2020-12), ``"fast"`` or ``"rs"``.
        all_errors: Report every error in one ``ValidationError`` instead of the first.
        assert_formats: Whether ``format`` fails validation or only annotates. By
            default it asserts in drafts 4, 6 and 7 and annotates in 2019-09 and
            2020-12, as those drafts specify.
        fill_defaults: Make ``validate`` return a copy of the instance with
            ``default`` values filled in; the caller's object is never changed.
        pattern_limit: Longest string checked against a pattern whose worst case is
            polynomial; longer strings fail validation with a message saying so.

    Raises:
        SchemaError: The schema or an option cannot be used.
        PluginError: A format plugin named in ``DJED_VALIDATOR_PLUGINS`` is not
            installed or cannot be loaded.
    """

    __slots__ = (
        "_engine",
        "_formats",
        "_function",
        "_rs_error",
        "_rs_validate",
        "all_errors",
        "draft",
        "engine",
        "fill_defaults",
        "schema",
    )

    def __init__(
        self,
        schema: Any,
        *,
        draft: str | int | None = None,
        formats: Mapping[str, Callable[[str], bool]] | None = None,
        resources: Mapping[str, Any] | None = None,
        engine: Engine = "auto",
        all_errors: bool = False,
        assert_formats: bool | None = None,
        fill_defaults: bool = False,
        pattern_limit: int = DEFAULT_PATTERN_LIMIT,
    ) -> None:
        self.schema = schema
        self.draft = detect_draft(schema, draft)
        if assert_formats is None:
            # Drafts 4-7 treat format as an assertion; 2019-09 and 2020-12 as an annotation.
            assert_formats = self.draft in FAST_DRAFTS
        self.all_errors = all_errors
        self.fill_defaults = fill_defaults
        self.engine = self._choose_engine(engine)
        self._function: Callable[..., Any] | None = None
        self._rs_validate: Callable[[Any], None] | None = None
        # Plugins are looked up here, once per compiled schema: validation itself never asks.
        extra = {**enabled_formats(), **(formats or {})}
        checkers = _check_formats(extra)
        if self.engine == "rs":
            if fill_defaults:
                raise SchemaError("fill_defaults needs the fast engine (drafts 4, 6 and 7)")
            index = inspect_schema(schema, self.draft)
            self._engine: FastEngine | RsEngine = RsEngine(
                schema,
                self.draft,
                resources,
                formats=extra,
                assert_formats=assert_formats,
                all_errors=all_errors,
                recursive=bool(index.refs) or _mentions_dynamic_refs(schema),
            )
            self._rs_validate = self._engine.plain_validate
            self._rs_error = self._engine.error_class
            return
        index = inspect_schema(schema, self.draft)
        check_refs(schema, index, build_store(schema, index, resources, self.draft))
        for pattern, where in index.patterns:
            try:
                guard_pattern(pattern, polynomial_limit=pattern_limit)
            except UnsafePatternError as exc:
                raise SchemaError(str(exc), location=where) from None
        self._engine = FastEngine(
            schema,
            self.draft,
            index,
            formats=checkers,
            assert_formats=assert_formats,
            fill_defaults=fill_defaults,
            all_errors=all_errors,
            pattern_limit=pattern_limit,
        )
        if not fill_defaults:
            self._function = self._engine.function
            self._formats = self._engine.formats

    def _choose_engine(self, engine: Engine) -> Literal["fast", "rs"]:
        if engine not in {"auto", "fast", "rs"}:
            raise SchemaError(f"engine must be 'auto', 'fast' or 'rs', not {engine!r}")
        if engine == "fast" and self.draft not in FAST_DRAFTS:
            msg = f"the fast engine (fastjsonschema) does not implement draft {self.draft}"
            raise SchemaError(f"{msg}: use engine='rs' and {_INSTALL_RS}")
        if engine == "rs" or (engine == "auto" and self.draft not in FAST_DRAFTS):
            if not rs_available():
                raise SchemaError(f"draft {self.draft} needs jsonschema-rs: {_INSTALL_RS}")
            return "rs"
        return "fast"

    def validate(self, instance: Any) -> Any:
        """Return the instance if it matches the schema, else raise :class:`ValidationError`.

        With ``fill_defaults=True`` the return value is a filled-in copy.
        """
        function = self._function
        if function is None:
            rs_validate = self._rs_validate
            if rs_validate is None:
                if self.fill_defaults:
                    instance = copy.deepcopy(instance)
                return self._engine.validate(instance)
            # The rs engine's validate, inlined: its other hot path.
            try:
                rs_validate(instance)
            except self._rs_error as exc:
                raise RsValidationError([exc]) from None
            except ValueError as exc:  # data jsonschema-rs cannot read (not JSON)
                raise ValidationError([unsupported(exc)]) from None
            return instance
        # The fast engine's validate, inlined: this is the hot path.
        try:
            return function(instance, self._formats)
        except GENERATED_ERRORS as exc:
            exc.instance = instance  # paths are worked out only if someone reads them
            raise
        except PatternInputTooLong as exc:
            raise ValidationError([too_long(exc)]) from None
        except RecursionError:
            raise ValidationError([too_deep()]) from None

    def is_valid(self, instance: Any) -> bool:
        """Whether the instance matches the schema; never raises for bad data."""
        return self._engine.is_valid(instance)

    def __repr__(self) -> str:
        return f"SchemaValidator(draft={self.draft!r}, engine={self.engine!r})"


def _mentions_dynamic_refs(schema: Any) -> bool:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "$recursiveRef" in node or "$dynamicRef" in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
