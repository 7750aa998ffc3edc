"""Invoices as CRDT documents: their shape, exact money, and the edits the server makes.

One document per invoice, named ``invoice-<id>``: a map ``invoice`` (number,
customer, dates, status, currency, tax rate, delivery), an array ``lines`` of
maps (id, description, quantity, unit price) and a text ``notes``. Amounts are
decimal strings end to end, never floats, and are rounded half-up to cents at
the same points as the page does, so both show the same totals.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pycrdt import Array, Doc, Map, Text

__all__ = [
    "SHAPE",
    "STATUSES",
    "InvoiceError",
    "add_line",
    "decimal_or_zero",
    "document_name",
    "full",
    "invoice_id",
    "money",
    "new_invoice",
    "summary",
    "totals",
]

SHAPE = {"invoice": "map", "lines": "array", "notes": "text"}
STATUSES = ("draft", "sent", "paid", "void")
_PREFIX = "invoice-"
_ID = re.compile(r"^[0-9]{1,9}$")
_CENT = Decimal("0.01")
_AMOUNT = re.compile(r"^\+?([0-9]+\.?[0-9]*|\.[0-9]+)$", re.ASCII)
_QUANTITY = re.compile(r"^\d{1,6}(\.\d{1,3})?$")
_PRICE = re.compile(r"^\d{1,9}(\.\d{1,2})?$")


class InvoiceError(ValueError):
    """A request names no invoice, or holds a value an invoice cannot take."""


def document_name(identifier: str) -> str:
    """The document of invoice ``identifier`` (``1001`` → ``invoice-1001``)."""
    if not _ID.match(identifier):
        raise InvoiceError(f"invoice id {identifier!r}: expected digits such as 1001")
    return f"{_PREFIX}{identifier}"


def invoice_id(name: str) -> str | None:
    """The invoice id of document ``name``, or None for another document."""
    identifier = name.removeprefix(_PREFIX)
    return identifier if name.startswith(_PREFIX) and _ID.match(identifier) else None


def decimal_or_zero(text: Any) -> Decimal:
    """A decimal string (``12``, ``12.5``, ``.5``) as a Decimal; anything else counts as 0.

    The page reads amounts with the same grammar: no exponents, no signs but ``+``,
    no separators, ASCII digits only, so both show the same totals for any input.
    """
    match = _AMOUNT.match(str(text).strip())
    return Decimal(match.group(1)) if match else Decimal(0)


def money(value: Decimal) -> str:
    """Cents, rounded half-up, as a plain string (``1440.00``)."""
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def totals(data: dict[str, Any]) -> dict[str, Any]:
    """Each line's amount, the subtotal, the tax and the total of a snapshot."""
    invoice = data.get("invoice") or {}
    lines = []
    subtotal = Decimal(0)
    for line in data.get("lines") or []:
        amount = decimal_or_zero(line.get("quantity")) * decimal_or_zero(line.get("unit_price"))
        amount = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
        subtotal += amount
        lines.append({**line, "amount": money(amount)})
    rate = decimal_or_zero(invoice.get("tax_rate", "0"))
    tax = (subtotal * rate / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
    return {
        "lines": lines,
        "subtotal": money(subtotal),
        "tax": money(tax),
        "total": money(subtotal + tax),
    }


def full(identifier: str, data: dict[str, Any]) -> dict[str, Any]:
    """A snapshot as the API and the MCP tools show it."""
    invoice = data.get("invoice") or {}
    computed = totals(data)
    return {
        "id": identifier,
        "number": invoice.get("number", f"INV-{identifier}"),
        "customer": invoice.get("customer", ""),
        "issued": invoice.get("issued", ""),
        "due": invoice.get("due", ""),
        "status": invoice.get("status", "draft"),
        "currency": invoice.get("currency", "EUR"),
        "tax_rate": invoice.get("tax_rate", "0"),
        "delivery": invoice.get("delivery"),
        "delivered_at": invoice.get("delivered_at"),
        "notes": data.get("notes") or "",
        **computed,
    }


def summary(identifier: str, data: dict[str, Any]) -> dict[str, Any]:
    """One row of the invoice list."""
    whole = full(identifier, data)
    keys = ("id", "number", "customer", "status", "delivery", "total", "currency")
    return {key: whole[key] for key in keys}


def new_invoice(
    doc: Doc[Any], identifier: str, customer: str, lines: Sequence[tuple[str, str, str]] = ()
) -> None:
    """Fill an empty document as a draft invoice dated today, due in 30 days."""
    today = datetime.datetime.now(datetime.UTC).date()
    invoice = doc.get("invoice", type=Map)
    invoice.update(
        {
            "number": f"INV-{identifier}",
            "customer": customer,
            "issued": today.isoformat(),
            "due": (today + datetime.timedelta(days=30)).isoformat(),
            "status": "draft",
            "currency": "EUR",
            "tax_rate": "20",
        }
    )
    doc.get("notes", type=Text)
    for description, quantity, unit_price in lines:
        add_line(doc, description, quantity, unit_price)


def add_line(doc: Doc[Any], description: str, quantity: str, unit_price: str) -> str:
    """Append a line item; its id. Quantities and prices are checked decimal strings."""
    if not _QUANTITY.match(quantity):
        raise InvoiceError(f"quantity {quantity!r}: a number such as 2 or 1.5 (3 decimals at most)")
    if not _PRICE.match(unit_price):
        raise InvoiceError(f"unit_price {unit_price!r}: an amount such as 120 or 99.90")
    if not description.strip():
        raise InvoiceError("description: say what the line is for")
    line_id = str(uuid.uuid4())
    lines = doc.get("lines", type=Array)
    lines.append(
        Map(
            {
                "id": line_id,
                "description": description.strip(),
                "quantity": quantity,
                "unit_price": unit_price,
            }
        )
    )
    return line_id
