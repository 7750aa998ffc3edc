"""$ref forms that the engine underneath resolves wrongly on its own."""

from __future__ import annotations

from typing import Any

import pytest
from djed.validator import SchemaError, SchemaValidator, ValidationError

NESTED_ID_RELATIVE = {
    "$id": "https://shop.example/order.json",
    "properties": {
        "customer": {
            "$id": "customer.json",
            "definitions": {"name": {"properties": {"last": {"type": "string"}}}},
            "allOf": [{"$ref": "#/definitions/name"}],
        }
    },
    "allOf": [{"$ref": "customer.json"}],
}

NESTED_ID_ABSOLUTE = {
    "$id": "https://shop.example/order.json",
    "properties": {
        "customer": {
            "$id": "https://shop.example/people/customer.json",
            "definitions": {"name": {"properties": {"last": {"type": "string"}}}},
            "allOf": [{"$ref": "#/definitions/name"}],
        }
    },
    "allOf": [{"$ref": "people/customer.json"}],
}

URN_ANCHOR = {
    "$id": "urn:uuid:7d3f3c1e-0000-4000-8000-000000000001",
    "properties": {"sku": {"$ref": "urn:uuid:7d3f3c1e-0000-4000-8000-000000000001#sku"}},
    "definitions": {"sku": {"$id": "#sku", "type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}},
}


class TestScopes:
    @pytest.mark.parametrize("schema", [NESTED_ID_RELATIVE, NESTED_ID_ABSOLUTE])
    def test_fragment_refs_resolve_against_the_nearest_id(self, schema: dict[str, Any]) -> None:
        """'#/definitions/x' under a nested $id points into that $id's resource."""
        validator = SchemaValidator(schema)
        assert validator.is_valid({"customer": {"last": "Lovelace"}, "last": "x"})
        assert not validator.is_valid({"customer": {"last": 1}, "last": "x"})
        assert not validator.is_valid({"customer": {"last": "Lovelace"}, "last": 1})

    def test_plain_name_anchor_under_urn(self) -> None:
        """A plain-name $id ('#sku') under a URN base is found through a full URN $ref."""
        validator = SchemaValidator(URN_ANCHOR)
        assert validator.is_valid({"sku": "ABC-1"})
        assert not validator.is_valid({"sku": "abc"})

    def test_draft4_id_keyword(self) -> None:
        """Draft 4 uses 'id', not '$id', to change the base URI."""
        schema = {
            "id": "https://shop.example/root.json",
            "properties": {"n": {"$ref": "item.json#/definitions/n"}},
        }
        item = {"id": "https://shop.example/item.json", "definitions": {"n": {"type": "integer"}}}
        validator = SchemaValidator(
            schema, draft=4, resources={"https://shop.example/item.json": item}
        )
        assert validator.is_valid({"n": 1})
        assert not validator.is_valid({"n": "1"})

    def test_resources_that_refer_to_each_other(self) -> None:
        """A resource may itself refer to another resource."""
        money = {"$ref": "https://shop.example/amount.json"}
        amount = {"type": "string", "pattern": "^[0-9]+[.][0-9]{2}$"}
        validator = SchemaValidator(
            {"properties": {"total": {"$ref": "https://shop.example/money.json"}}},
            resources={
                "https://shop.example/money.json": money,
                "https://shop.example/amount.json": amount,
            },
        )
        assert validator.is_valid({"total": "10.00"})
        assert not validator.is_valid({"total": "10"})

    def test_recursive_reference_to_the_root(self) -> None:
        """'#' refers to the whole schema, recursively."""
        tree = {"properties": {"children": {"type": "array", "items": {"$ref": "#"}}}}
        validator = SchemaValidator(tree)
        assert validator.is_valid({"children": [{"children": []}]})
        assert not validator.is_valid({"children": [{"children": 3}]})

    def test_error_inside_a_referenced_definition(self) -> None:
        """An error reached through $ref points at the definition in the schema path."""
        validator = SchemaValidator(
            {
                "definitions": {"qty": {"minimum": 1}},
                "properties": {"q": {"$ref": "#/definitions/qty"}},
            }
        )
        with pytest.raises(ValidationError) as info:
            validator.validate({"q": 0})
        errors = info.value.errors
        assert [(e.path, e.schema_path) for e in errors] == [("/q", "/definitions/qty/minimum")]

    def test_metaschema_needs_a_resource(self) -> None:
        """A $ref to a meta-schema is not resolved from the network either."""
        with pytest.raises(SchemaError, match="resources="):
            SchemaValidator({"$ref": "http://json-schema.org/draft-07/schema#"})
