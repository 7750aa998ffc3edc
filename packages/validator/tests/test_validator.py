from __future__ import annotations

import copy
from typing import Any

import pytest
from djed.validator import (
    ErrorDetail,
    SchemaError,
    SchemaValidator,
    ValidationError,
    ValidatorError,
)

INVOICE = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["number", "lines"],
    "additionalProperties": False,
    "properties": {
        "number": {"type": "string", "pattern": "^INV-[0-9]{4}$"},
        "status": {"enum": ["draft", "sent", "paid"], "default": "draft"},
        "customer": {"type": "object", "properties": {"email": {"format": "email"}}},
        "lines": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["qty"],
                "properties": {"qty": {"type": "integer", "minimum": 1}, "note": {"default": ""}},
            },
        },
    },
}


def errors_of(validator: SchemaValidator, instance: Any) -> list[ErrorDetail]:
    with pytest.raises(ValidationError) as info:
        validator.validate(instance)
    return info.value.errors


class TestValidate:
    def test_returns_the_instance(self) -> None:
        """validate returns the very object it was given when it is valid."""
        data = {"number": "INV-0001", "lines": [{"qty": 1}]}
        assert SchemaValidator(INVOICE).validate(data) is data

    def test_is_valid(self) -> None:
        """is_valid answers without raising."""
        validator = SchemaValidator(INVOICE)
        assert validator.is_valid({"number": "INV-0001", "lines": [{"qty": 2}]})
        assert not validator.is_valid({"number": "X", "lines": []})
        assert not validator.is_valid("not an object")

    def test_error_entry(self) -> None:
        """An error has a JSON Pointer with integer indices, the keyword, a clean message."""
        (error,) = errors_of(
            SchemaValidator(INVOICE), {"number": "INV-0001", "lines": [{"qty": 1}, {"qty": 0}]}
        )
        assert error.path == "/lines/1/qty"
        assert error.keyword == "minimum"
        assert error.message == "must be bigger than or equal to 1"
        assert not error.message.startswith("data")
        assert error.schema_path == "/properties/lines/items/properties/qty/minimum"
        assert error.value == 0

    def test_error_message_names_the_place(self) -> None:
        """str(ValidationError) starts with the path."""
        with pytest.raises(ValidationError, match=r"^/number: must match pattern"):
            SchemaValidator(INVOICE).validate({"number": "INV-1", "lines": [{"qty": 1}]})

    def test_root_errors(self) -> None:
        """An error at the root has the empty path."""
        (error,) = errors_of(SchemaValidator(INVOICE), [])
        assert error.path == ""
        assert error.keyword == "type"
        assert str(error) == "/: must be object"

    def test_keys_with_dots_and_brackets(self) -> None:
        """Property names with '.', '[' or '/' give exact pointers."""
        validator = SchemaValidator(
            {
                "properties": {
                    "a.b": {"properties": {"c[0]": {"type": "integer"}, "d/e": {"type": "string"}}}
                }
            }
        )
        (error,) = errors_of(validator, {"a.b": {"c[0]": "x"}})
        assert error.path == "/a.b/c[0]"
        (error,) = errors_of(validator, {"a.b": {"d/e": 1}})
        assert error.path == "/a.b/d~1e"

    def test_first_error_by_default(self) -> None:
        """Without all_errors the first error stops validation."""
        data = {"number": "bad", "lines": [{"qty": 0}], "extra": 1}
        assert len(errors_of(SchemaValidator(INVOICE), data)) == 1

    def test_all_errors(self) -> None:
        """all_errors=True reports every error in one exception."""
        data = {"number": "bad", "lines": [{"qty": 0}, {"qty": "x"}]}
        errors = errors_of(SchemaValidator(INVOICE, all_errors=True), data)
        assert {(e.path, e.keyword) for e in errors} >= {
            ("/number", "pattern"),
            ("/lines/0/qty", "minimum"),
            ("/lines/1/qty", "type"),
        }

    def test_exception_tree(self) -> None:
        """SchemaError and ValidationError share a ValueError base."""
        assert issubclass(SchemaError, ValidatorError)
        assert issubclass(ValidationError, ValidatorError)
        assert issubclass(ValidatorError, ValueError)


class TestFormats:
    def test_formats_assert_by_default(self) -> None:
        """A malformed email fails validation."""
        validator = SchemaValidator(INVOICE)
        data = {"number": "INV-0001", "lines": [{"qty": 1}], "customer": {"email": "nope"}}
        (error,) = errors_of(validator, data)
        assert (error.path, error.keyword) == ("/customer/email", "format")

    def test_formats_can_annotate_only(self) -> None:
        """assert_formats=False turns formats into annotations."""
        validator = SchemaValidator(INVOICE, assert_formats=False)
        assert validator.is_valid(
            {"number": "INV-0001", "lines": [{"qty": 1}], "customer": {"email": "nope"}}
        )

    def test_custom_format(self) -> None:
        """A callable registered under a name checks that format."""
        validator = SchemaValidator(
            {"format": "sku"}, formats={"sku": lambda s: s.startswith("SKU-")}
        )
        assert validator.is_valid("SKU-1")
        assert not validator.is_valid("1")
        assert validator.is_valid(5)  # formats apply to strings only

    def test_custom_format_must_be_callable(self) -> None:
        """A non-callable format checker is a SchemaError."""
        with pytest.raises(SchemaError, match="callables"):
            SchemaValidator({"format": "sku"}, formats={"sku": "^SKU"})  # type: ignore[dict-item]


class TestDefaults:
    def test_defaults_are_not_filled_unless_asked(self) -> None:
        """By default validate never adds default values."""
        data = {"number": "INV-0001", "lines": [{"qty": 1}]}
        SchemaValidator(INVOICE).validate(data)
        assert "status" not in data

    def test_fill_defaults_returns_a_copy(self) -> None:
        """fill_defaults=True returns a filled copy and leaves the caller's data alone."""
        data = {"number": "INV-0001", "lines": [{"qty": 1}]}
        original = copy.deepcopy(data)
        filled = SchemaValidator(INVOICE, fill_defaults=True).validate(data)
        assert data == original
        assert filled["status"] == "draft"
        assert filled["lines"][0]["note"] == ""

    def test_schema_is_not_mutated(self) -> None:
        """Compiling never changes the caller's schema (refs stay as written)."""
        schema = {
            "definitions": {"n": {"type": "integer"}},
            "properties": {"a": {"$ref": "#/definitions/n"}},
        }
        before = copy.deepcopy(schema)
        SchemaValidator(schema).validate({"a": 1})
        assert schema == before


class TestDrafts:
    @pytest.mark.parametrize(
        ("uri", "draft"),
        [
            ("http://json-schema.org/draft-04/schema#", "4"),
            ("http://json-schema.org/draft-06/schema#", "6"),
            ("http://json-schema.org/draft-07/schema#", "7"),
            ("https://json-schema.org/draft/2019-09/schema", "2019-09"),
            ("https://json-schema.org/draft/2020-12/schema", "2020-12"),
        ],
    )
    def test_draft_from_schema_uri(self, uri: str, draft: str) -> None:
        """$schema selects the draft; later drafts use the rs engine."""
        validator = SchemaValidator({"$schema": uri})
        assert validator.draft == draft
        assert validator.engine == ("fast" if draft in {"4", "6", "7"} else "rs")

    def test_default_is_draft_7(self) -> None:
        """Without $schema or draft=, draft 7 applies."""
        assert SchemaValidator({}).draft == "7"

    def test_draft_argument_wins(self) -> None:
        """draft= overrides $schema."""
        assert (
            SchemaValidator({"$schema": "http://json-schema.org/draft-07/schema#"}, draft=4).draft
            == "4"
        )

    def test_unknown_draft(self) -> None:
        """An unknown draft or $schema is a SchemaError listing the known ones."""
        with pytest.raises(SchemaError, match="4, 6, 7, 2019-09, 2020-12"):
            SchemaValidator({}, draft="5")
        with pytest.raises(SchemaError, match="Unknown \\$schema"):
            SchemaValidator({"$schema": "http://example.com/my-meta"})

    @pytest.mark.parametrize(
        "keyword", ["unevaluatedProperties", "dependentRequired", "prefixItems"]
    )
    def test_later_keywords_are_not_ignored_silently(self, keyword: str) -> None:
        """A 2019-09/2020-12 keyword in a draft-7 schema is refused, saying what to do."""
        with pytest.raises(SchemaError, match=r"djed-validator\[rs\]"):
            SchemaValidator({keyword: False})

    def test_rs_engine_for_2020_12(self) -> None:
        """Draft 2020-12 keywords work through the rs engine, with pointers in errors."""
        validator = SchemaValidator(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "prefixItems": [{"type": "string"}, {"type": "integer"}],
                "items": False,
            }
        )
        assert validator.is_valid(["a", 1])
        (error,) = errors_of(validator, ["a", "b"])
        assert (error.path, error.keyword) == ("/1", "type")
        assert error.schema_path == "/prefixItems/1/type"

    def test_rs_engine_all_errors(self) -> None:
        """all_errors works on the rs engine too."""
        validator = SchemaValidator(INVOICE, engine="rs", all_errors=True)
        errors = errors_of(validator, {"number": "bad", "lines": [{"qty": 0}]})
        assert {e.path for e in errors} == {"/number", "/lines/0/qty"}

    def test_fast_engine_refuses_later_drafts(self) -> None:
        """engine='fast' with draft 2020-12 is a SchemaError naming the extra."""
        with pytest.raises(SchemaError, match=r"djed-validator\[rs\]"):
            SchemaValidator({}, draft="2020-12", engine="fast")

    def test_missing_rs_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without jsonschema-rs a 2020-12 schema says what to install."""
        import sys

        monkeypatch.setitem(sys.modules, "jsonschema_rs", None)
        with pytest.raises(SchemaError, match=r"pip install 'djed-validator\[rs\]'"):
            SchemaValidator({"$schema": "https://json-schema.org/draft/2020-12/schema"})


class TestOddData:
    @pytest.mark.parametrize("engine", ["fast", "rs"])
    def test_non_json_values(self, engine: str) -> None:
        """Python objects that are not JSON data are invalid, never a crash."""
        validator = SchemaValidator({"type": "array"}, engine=engine)  # type: ignore[arg-type]
        for value in ({1, 2}, object()):
            with pytest.raises(ValidationError):
                validator.validate(value)
            assert validator.is_valid(value) is False

    def test_error_is_picklable(self) -> None:
        """A ValidationError survives pickling with its entries (for process pools)."""
        import pickle

        with pytest.raises(ValidationError) as info:
            SchemaValidator(INVOICE).validate({"number": 1, "lines": []})
        copy_ = pickle.loads(pickle.dumps(info.value))
        assert copy_.errors == info.value.errors


def test_all_errors_through_a_ref_in_items() -> None:
    """Errors found in a referenced subschema are reported with their full paths."""
    schema = {
        "properties": {"lines": {"items": {"$ref": "#/definitions/line"}}},
        "definitions": {"line": {"properties": {"qty": {"minimum": 1}, "sku": {"type": "string"}}}},
    }
    with pytest.raises(ValidationError) as raised:
        SchemaValidator(schema, all_errors=True).validate(
            {"lines": [{"qty": 0, "sku": 1}, {"qty": 3}, {"qty": -1}]}
        )
    found = [(e.path, e.keyword) for e in raised.value.errors]
    assert found == [
        ("/lines/0/qty", "minimum"),
        ("/lines/0/sku", "type"),
        ("/lines/2/qty", "minimum"),
    ]
    assert raised.value.errors[0].schema_path == "/definitions/line/properties/qty/minimum"
