"""JSON Schema drafts: names, ``$schema`` URIs and which engine handles them."""

from __future__ import annotations

from typing import Any, Literal

from ._errors import SchemaError

__all__ = ["DRAFTS", "FAST_DRAFTS", "Draft", "detect_draft"]

Draft = Literal["4", "6", "7", "2019-09", "2020-12"]

DRAFTS: tuple[Draft, ...] = ("4", "6", "7", "2019-09", "2020-12")
#: Drafts that fastjsonschema compiles; the later ones need jsonschema-rs.
FAST_DRAFTS: frozenset[str] = frozenset({"4", "6", "7"})

_ALIASES: dict[str, Draft] = {
    "4": "4",
    "draft4": "4",
    "draft-04": "4",
    "6": "6",
    "draft6": "6",
    "draft-06": "6",
    "7": "7",
    "draft7": "7",
    "draft-07": "7",
    "2019-09": "2019-09",
    "draft2019-09": "2019-09",
    "2020-12": "2020-12",
    "draft2020-12": "2020-12",
}


def _from_uri(uri: str) -> Draft | None:
    text = uri.strip().lower()
    for marker, draft in (
        ("draft-04", "4"),
        ("draft-06", "6"),
        ("draft-07", "7"),
        ("draft/2019-09", "2019-09"),
        ("draft/2020-12", "2020-12"),
    ):
        if marker in text:
            return draft  # type: ignore[return-value]
    return None


def detect_draft(schema: Any, requested: str | int | None) -> Draft:
    """The draft to validate with: ``requested`` wins, then ``$schema``, then draft 7."""
    if requested is not None:
        draft = _ALIASES.get(str(requested).strip().lower())
        if draft is None:
            msg = f"Unknown draft {requested!r}: use one of 4, 6, 7, 2019-09, 2020-12"
            raise SchemaError(msg)
        return draft
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    if declared is None:
        return "7"
    if not isinstance(declared, str):
        msg = f"$schema must be a string URI, not {type(declared).__name__}"
        raise SchemaError(msg, location="/$schema")
    draft = _from_uri(declared)
    if draft is None:
        msg = (
            f"Unknown $schema {declared!r}: use a draft 4, 6, 7, 2019-09 or 2020-12 "
            "meta-schema URI, or pass draft= explicitly"
        )
        raise SchemaError(msg, location="/$schema")
    return draft
