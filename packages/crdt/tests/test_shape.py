"""Shapes catch a collection written as the wrong kind; money stays exact; offsets agree."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from djed.crdt import Shape, cents, from_cents, money, utf8_offset
from pycrdt import Array, Doc, Map, Text

SHAPE = {"invoice": "map", "lines": "array", "notes": "text"}


def update_writing(root: str, kind: str) -> bytes:
    doc: Doc[Any] = Doc()
    if kind == "map":
        doc.get(root, type=Map)["status"] = "draft"
    elif kind == "array":
        doc.get(root, type=Array).append({"sku": "A1"})
    else:
        doc.get(root, type=Text).insert(0, "hello")
    return doc.get_update()


class TestShape:
    @pytest.mark.parametrize("root", sorted(SHAPE))
    def test_right_kind_passes(self, root: str) -> None:
        assert Shape(SHAPE).violations(update_writing(root, SHAPE[root])) == []

    @pytest.mark.parametrize(
        ("root", "written"),
        [
            ("invoice", "array"),
            ("invoice", "text"),
            ("lines", "map"),
            ("lines", "text"),
            ("notes", "map"),
            ("notes", "array"),
        ],
    )
    def test_wrong_kind_is_named(self, root: str, written: str) -> None:
        problems = Shape(SHAPE).violations(update_writing(root, written))
        assert problems == [
            f"collection {root!r} is a {SHAPE[root]} but the update writes a {written}"
        ]

    def test_strict_refuses_unknown_collections(self) -> None:
        update = update_writing("extra", "map")
        assert Shape(SHAPE).violations(update) == []
        (problem,) = Shape(SHAPE, strict=True).violations(update)
        assert problem.startswith("collection 'extra' is not in the shape")

    def test_bad_declaration(self) -> None:
        with pytest.raises(ValueError, match="kind 'list'"):
            Shape({"lines": "list"})

    def test_bind_gives_the_roots_their_kinds(self) -> None:
        doc: Doc[Any] = Doc()
        roots = Shape(SHAPE).bind(doc)
        assert isinstance(roots["invoice"], Map)
        assert isinstance(roots["lines"], Array)
        assert isinstance(roots["notes"], Text)


class TestMoney:
    def test_round_trip_through_a_document(self) -> None:
        """Cents survive Yrs' doubles exactly, where float arithmetic would drift."""
        doc: Doc[Any] = Doc()
        lines = doc.get("lines", type=Array)
        for price in ("0.10", "0.20", "19.99"):
            lines.append({"cents": cents(price)})
        total = sum(from_cents(line["cents"]) for line in lines.to_py())
        assert total == Decimal("20.29")
        assert money(total) == "20.29"

    @pytest.mark.parametrize(
        ("amount", "problem"),
        [
            (0.1, "never a float"),
            ("1.005", "more than two decimals"),
            ("abc", "not an amount of money"),
            ("NaN", "not an amount of money"),
            (str(2**60), "too large"),
        ],
    )
    def test_bad_amounts(self, amount: Any, problem: str) -> None:
        with pytest.raises(ValueError, match=problem):
            cents(amount)

    def test_from_cents_refuses_fractions(self) -> None:
        with pytest.raises(ValueError, match="not a whole number of cents"):
            from_cents(12.5)
        assert from_cents(1250.0) == Decimal("12.50")
        assert money(7) == "7.00"


class TestOffsets:
    def test_insert_after_multibyte_characters(self) -> None:
        """Converted offsets land where a Python index says, and replicas agree."""
        doc: Doc[Any] = Doc()
        text = doc.get("notes", type=Text)
        text.insert(0, "naïve 😀 café")
        current = str(text)
        index = current.index("café")
        text.insert(utf8_offset(current, index), "le ")
        replica: Doc[Any] = Doc()
        replica.apply_update(doc.get_update())
        assert str(text) == str(replica.get("notes", type=Text)) == "naïve 😀 le café"

    def test_out_of_range(self) -> None:
        with pytest.raises(IndexError, match="outside a text of 3 characters"):
            utf8_offset("abc", 4)
