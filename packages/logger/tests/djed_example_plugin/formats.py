"""``djed.validator.formats``: a format checker, and an entry that is not one."""

from __future__ import annotations


def is_sku(value: str) -> bool:
    """``SKU-`` followed by six ASCII digits."""
    digits = value[4:]
    return value.startswith("SKU-") and len(digits) == 6 and digits.isascii() and digits.isdigit()


NOT_A_CHECKER = "a string where a checker should be"
