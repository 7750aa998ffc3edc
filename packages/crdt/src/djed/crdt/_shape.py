"""Declared document shapes, exact money, and text offsets that agree with Yjs.

Yrs (and so pycrdt and Yjs) has three kinds of top-level collection: a map,
an array and a text. A root takes whatever kind its first writer gives it and
carries no type of its own on the wire, so two clients disagreeing about a
root's kind silently hide each other's data. A declared shape catches that.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from typing import Any, Literal

from pycrdt import Array, Doc, Map, Text

__all__ = [
    "KINDS",
    "Kind",
    "Shape",
    "cents",
    "from_cents",
    "money",
    "snapshot",
    "utf8_offset",
]

Kind = Literal["map", "array", "text"]
KINDS: Mapping[str, type[Map[Any] | Array[Any] | Text]] = {"map": Map, "array": Array, "text": Text}
MAX_SAFE_INTEGER = 2**53 - 1


class Shape:
    """The collections a document may hold, by name and kind.

    >>> shape = Shape({"invoice": "map", "lines": "array", "notes": "text"})
    >>> shape.violations(update)  # [] when the update keeps to it

    With ``strict=True`` an update may not create collections the shape does not name.
    """

    def __init__(self, collections: Mapping[str, str], *, strict: bool = False) -> None:
        for name, kind in collections.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"collection names must be non-empty strings, not {name!r}")
            if kind not in KINDS:
                raise ValueError(
                    f"collection {name!r} has kind {kind!r}; use one of {', '.join(KINDS)}"
                )
        self.collections: dict[str, Kind] = dict(collections)  # type: ignore[arg-type]
        self.strict = strict

    def __repr__(self) -> str:
        return f"Shape({self.collections!r}, strict={self.strict})"

    def bind(self, doc: Doc[Any]) -> dict[str, Map[Any] | Array[Any] | Text]:
        """Give ``doc``'s declared roots their kinds; returns them by name."""
        return {name: doc.get(name, type=KINDS[kind]) for name, kind in self.collections.items()}

    def violations(self, update: bytes) -> list[str]:
        """What in ``update`` breaks the shape, as messages naming the collection.

        The update is read alone, in a scratch document: content whose
        dependencies are elsewhere is not visible and not judged.
        """
        scratch: Doc[Any] = Doc()
        scratch.apply_update(update)
        problems = []
        for root in list(scratch.keys()):
            declared = self.collections.get(root)
            if declared is None:
                if self.strict:
                    known = ", ".join(sorted(self.collections)) or "none"
                    problems.append(f"collection {root!r} is not in the shape (known: {known})")
                continue
            written = _written_kind(scratch, root)
            if written is not None and written != declared:
                problems.append(
                    f"collection {root!r} is a {declared} but the update writes a {written}"
                )
        return problems


def _written_kind(doc: Doc[Any], root: str) -> Kind | None:
    """The kind of content the update put in ``root`` (None when nothing is visible)."""
    if list(doc.get(root, type=Map).keys()):
        return "map"
    text = doc.get(root, type=Text)
    if len(text) == 0:
        return None
    # Text content is strings whose UTF-8 length is the text's length; array
    # elements count one each and read as no text at all.
    return "text" if len(str(text).encode()) == len(text) else "array"


def snapshot(doc: Doc[Any], shape: Shape | None = None) -> dict[str, Any]:
    """Every collection of ``doc`` as plain data: maps as dicts, arrays as lists, texts as str.

    A collection's kind comes from ``shape`` when it declares it, else from its
    content; an empty undeclared collection reads as None.
    """
    declared = shape.collections if shape is not None else {}
    data: dict[str, Any] = {}
    for name in sorted(doc.keys()):
        kind = declared.get(name) or _written_kind(doc, name)
        if kind is None:
            data[name] = None
        elif kind == "text":
            data[name] = str(doc.get(name, type=Text))
        else:
            data[name] = doc.get(name, type=KINDS[kind]).to_py()
    return data


def cents(amount: decimal.Decimal | str | int) -> int:
    """An amount of money as whole cents, exactly: ``cents("12.34") == 1234``.

    Yrs stores every number as a double, so ``0.1 + 0.2`` style errors creep into
    totals; store integer cents (below 2**53) or :func:`money` strings instead.

    Raises:
        ValueError: Not a number, more than two decimals, or too large to stay exact.
    """
    if isinstance(amount, float):
        raise ValueError("give money as a Decimal, a string or int cents, never a float")
    try:
        value = decimal.Decimal(amount)
    except (decimal.InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{amount!r} is not an amount of money") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not an amount of money")
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount!r} has more than two decimals")
    result = int(scaled)
    if abs(result) > MAX_SAFE_INTEGER:
        raise ValueError(f"{amount!r} is too large to store exactly (at most 2**53-1 cents)")
    return result


def from_cents(value: float | int) -> decimal.Decimal:
    """Cents read back from a document (Yrs returns them as a float) as a Decimal amount.

    Raises:
        ValueError: The value is not a whole number of cents.
    """
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number of cents")
        value = int(value)
    return decimal.Decimal(value).scaleb(-2)


def money(amount: decimal.Decimal | str | int) -> str:
    """An amount as a canonical decimal string with two places: ``money("7.5") == "7.50"``."""
    return f"{from_cents(cents(amount)):.2f}"


def utf8_offset(text: str, index: int) -> int:
    """The UTF-8 byte offset of character ``index`` of ``text``, as pycrdt's Text expects.

    pycrdt counts positions in UTF-8 bytes (Yjs in UTF-16 units); an index that
    falls inside a multi-byte character lands elsewhere and the replicas
    diverge. Convert Python string indices through this.
    """
    if not 0 <= index <= len(text):
        raise IndexError(f"index {index} outside a text of {len(text)} characters")
    return len(text[:index].encode())
