"""Schemas from outside: every hostile one is refused cleanly or handled safely."""

from __future__ import annotations

import builtins
import socket
import string
import threading
from typing import Any

import pytest
from djed.validator import MAX_SCHEMA_DEPTH, SchemaError, SchemaValidator, ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def refused(schema: Any, match: str, **options: Any) -> SchemaError:
    with pytest.raises(SchemaError, match=match) as info:
        SchemaValidator(schema, **options)
    return info.value


class TestNumbers:
    @pytest.mark.parametrize("keyword", ["minimum", "maximum", "multipleOf", "exclusiveMaximum"])
    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
    def test_non_finite_numbers(self, keyword: str, value: float) -> None:
        """NaN and infinities in numeric keywords are refused with the keyword's location."""
        error = refused({"properties": {"n": {keyword: value}}}, "finite number")
        assert error.location == f"/properties/n/{keyword}"

    @pytest.mark.parametrize("keyword", ["enum", "const"])
    def test_non_finite_values(self, keyword: str) -> None:
        """NaN inside enum or const is refused instead of producing broken code."""
        value: Any = [1, float("nan")] if keyword == "enum" else float("nan")
        error = refused({keyword: value}, "not a JSON number")
        assert error.location is not None
        assert error.location.startswith(f"/{keyword}")

    @pytest.mark.parametrize(
        ("schema", "match"),
        [
            ({"minimum": "3"}, "minimum must be a number"),
            ({"minLength": -1}, "non-negative integer"),
            ({"minLength": 1.5}, "non-negative integer"),
            ({"multipleOf": 0}, "greater than 0"),
            ({"required": "id"}, "array of strings"),
            ({"type": "text"}, "type must be one of"),
            ({"properties": []}, "properties must be an object"),
            ({"anyOf": []}, "non-empty array"),
            ({"uniqueItems": "yes"}, "uniqueItems must be a boolean"),
            ({"$ref": 7}, r"\$ref must be a string"),
            ("string", "must be an object or a boolean"),
        ],
    )
    def test_keyword_types(self, schema: Any, match: str) -> None:
        """A keyword with a value of the wrong type is a SchemaError naming it."""
        refused(schema, match)


class TestPatterns:
    def test_invalid_regex(self) -> None:
        """An invalid pattern is a SchemaError with its location, not re.error."""
        error = refused({"properties": {"code": {"pattern": "[a-"}}}, "pattern")
        assert error.location == "/properties/code/pattern"

    def test_invalid_pattern_property(self) -> None:
        """An invalid patternProperties key is refused too."""
        refused({"patternProperties": {"(?P<": {}}}, "pattern")

    @pytest.mark.parametrize("pattern", ["^(a+)+$", "(a|aa)+$", "^(\\w+\\s?)*$", "(.*a){12}"])
    def test_catastrophic_patterns_are_refused(self, pattern: str) -> None:
        """Patterns that backtrack exponentially are refused before anything runs."""
        refused({"pattern": pattern}, "exponential")

    def test_polynomial_pattern_is_bounded(self) -> None:
        """A pattern with a polynomial worst case checks strings up to the limit only."""
        validator = SchemaValidator({"pattern": "^.*a.*b.*c$"}, pattern_limit=100)
        assert validator.is_valid("xaxbxc")
        with pytest.raises(ValidationError, match="longer than"):
            validator.validate("a" * 101)


class TestNesting:
    def nested(self, depth: int) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        for _ in range(depth):
            schema = {"properties": {"a": schema}}
        return schema

    def test_deep_schema_is_refused(self) -> None:
        """A schema nested deeper than the documented limit is a SchemaError."""
        refused(self.nested(MAX_SCHEMA_DEPTH + 1), "nested deeper than")

    def test_schema_at_the_limit_works(self) -> None:
        """A schema just inside the limit compiles and validates."""
        depth = MAX_SCHEMA_DEPTH
        validator = SchemaValidator(self.nested(depth))
        data: Any = 1
        for _ in range(depth):
            data = {"a": data}
        assert validator.is_valid(data)

    def test_absurdly_deep_schema(self) -> None:
        """A schema nested 100,000 levels is refused, not a RecursionError."""
        refused(self.nested(100_000), "nested")

    @pytest.mark.parametrize("engine", ["fast", "rs"])
    def test_deep_data_with_recursive_schema(self, engine: str) -> None:
        """Data nested 100,000 levels raises ValidationError, never RecursionError or a crash."""
        validator = SchemaValidator({"items": {"$ref": "#"}}, engine=engine)  # type: ignore[arg-type]
        data: Any = []
        for _ in range(100_000):
            data = [data]
        with pytest.raises(ValidationError, match="nested"):
            validator.validate(data)
        assert validator.is_valid(data) is False


class _Listener:
    """A TCP socket on 127.0.0.1 that records whether anybody connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connected = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        try:
            conn, _ = self.sock.accept()
            self.connected = True
            conn.close()
        except OSError:
            pass

    def close(self) -> None:
        self.thread.join()
        self.sock.close()


class TestReferences:
    @pytest.mark.parametrize("scheme", ["http", "https", "file", "ftp"])
    def test_remote_refs_are_refused(self, scheme: str) -> None:
        """A $ref to anything outside the schema is refused, naming how to allow it."""
        target = "file:///etc/passwd" if scheme == "file" else f"{scheme}://example.com/s.json"
        error = refused({"properties": {"a": {"$ref": target}}}, "resources=")
        assert error.location == "/properties/a/$ref"

    def test_nothing_is_fetched(self) -> None:
        """A $ref to a listening loopback server never opens a connection."""
        listener = _Listener()
        try:
            refused({"$ref": f"http://127.0.0.1:{listener.port}/schema.json"}, "never fetched")
        finally:
            listener.close()
        assert not listener.connected

    def test_allowed_by_resources(self) -> None:
        """The same $ref works when the caller provides the document."""
        uri = "https://schemas.example.com/money.json"
        validator = SchemaValidator(
            {"properties": {"total": {"$ref": uri}}},
            resources={uri: {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"}},
        )
        assert validator.is_valid({"total": "12.50"})
        assert not validator.is_valid({"total": 12.5})

    def test_unresolvable_local_ref(self) -> None:
        """A $ref to a missing definition names the missing piece."""
        error = refused({"$ref": "#/definitions/missing"}, "does not resolve")
        assert error.location == "/$ref"


_EVIL = st.sampled_from(
    [
        '"',
        "'",
        "\n",
        "\\",
        "{",
        "}",
        "{0}",
        "{data}",
        "{data.__class__}",
        '"; import builtins; builtins.DJED_PWNED = 1; "',
        "'); builtins.DJED_PWNED = 1; ('",
        '"]; builtins.DJED_PWNED = 1 #',
        "\\n import builtins; builtins.DJED_PWNED = 1",
        "${{}}",
        "%s%d",
        "\x00",
        "\u2028",
    ]
)
_NAME = st.lists(_EVIL | st.text(string.printable, max_size=5), min_size=1, max_size=4).map("".join)


class TestNothingRunsAsCode:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(name=_NAME, enum_value=_NAME, identifier=_NAME, literal=_NAME)
    def test_hostile_strings_in_every_position(
        self, name: str, enum_value: str, identifier: str, literal: str
    ) -> None:
        """Quotes, braces, newlines and code in names, enums, patterns and $ids stay data."""
        import re

        schema = {
            "$id": f"https://example.com/{identifier}",
            "type": "object",
            "properties": {
                name: {"type": "integer"},
                "kind": {"enum": [enum_value, "other"]},
                "text": {"pattern": "^" + re.escape(literal) + "$"},
                "fixed": {"const": literal},
            },
            "patternProperties": {"^x-" + re.escape(literal): {"type": "string"}},
            "required": [name],
            "additionalProperties": False,
        }
        try:
            validator = SchemaValidator(schema)
        except SchemaError:
            return  # refusing is allowed; running is not
        good = {name: 1, "kind": enum_value, "text": literal, "fixed": literal}
        assert validator.is_valid(good), good
        assert not validator.is_valid({**good, name: "not an integer"})
        assert not validator.is_valid({**good, "kind": enum_value + "?"})
        errors = None
        try:
            validator.validate({**good, name: "x"})
        except ValidationError as exc:
            errors = exc.errors
        assert errors is not None
        assert errors[0].path == "/" + name.replace("~", "~0").replace("/", "~1")
        assert not hasattr(builtins, "DJED_PWNED")

    def test_unknown_format_name_is_inert(self) -> None:
        """A hostile format name is an unknown format: ignored, never executed."""
        validator = SchemaValidator({"format": '"]; import builtins; builtins.DJED_PWNED = 1 #'})
        assert validator.is_valid("anything")
        assert not hasattr(builtins, "DJED_PWNED")
