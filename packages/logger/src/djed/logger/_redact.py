"""Redaction of secrets and personal data in event dictionaries.

This module is self-contained (standard library only) because ``eject`` copies
its source into the generated standalone configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["DEFAULT_REDACT_KEYS", "REDACTED", "Redactor"]

REDACTED = "[REDACTED]"

#: Field names treated as secret. A field matches when these words appear, in
#: order, among the words of its name: ``db_password``, ``X-Api-Key``,
#: ``accessToken`` and ``Set-Cookie`` match; ``max_tokens`` does not.
DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "private_key",
    "credentials",
)

_WORD_SPLIT = re.compile(r"[^0-9a-zA-Z]+|(?<=[a-z0-9])(?=[A-Z])")

# One alternation, so a clean string costs a single scan in C.
_VALUE_PATTERN = re.compile(
    r"(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9\-._~+/]+=*"
    r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+)"
    r"|(?P<card>\b\d(?:[ -]?\d){12,18}\b)"
)
_EMAIL_PATTERN = re.compile(
    r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b"
)
_CARD_BYTES = re.compile(rb"\b\d(?:[ -]?\d){12,18}\b")
_SEPARATOR = re.compile(r"([ -])")
_MAX_DEPTH = 8
_MAX_CACHED_KEYS = 4096


def _words(key: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _WORD_SPLIT.split(key) if w)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _replace_value(match: re.Match[str]) -> str:
    bearer = match.group("bearer")
    if bearer is not None:
        return bearer + REDACTED
    card = match.group("card")
    if card is not None:
        return _redact_card(card)
    return REDACTED


def _redact_card(run: str) -> str:
    """Redact a card number inside a run of digit groups (``"ref 12 4111 1111 1111 1111"``)."""
    if _luhn_valid(run.replace(" ", "").replace("-", "")):
        return REDACTED
    parts = _SEPARATOR.split(run)  # digit groups at even indexes, separators between
    groups = parts[::2]
    for start in range(len(groups)):
        for stop in range(len(groups), start, -1):
            digits = "".join(groups[start:stop])
            if 13 <= len(digits) <= 19 and _luhn_valid(digits):
                head = "".join(parts[: 2 * start])
                tail = "".join(parts[2 * stop - 1 :])
                return head + REDACTED + tail
    return run


def _mask_email(match: re.Match[str]) -> str:
    return f"{match.group(1)}***@{match.group(2)}"


_DIGITS_TO_ZERO = bytes(
    ord("0") if chr(c).isdigit() else ord(chr(c).lower()) if chr(c).isupper() else c
    for c in range(256)
)
_CONTAINERS = frozenset({dict, list, tuple})


class Redactor:
    """Replace secret fields and secret-looking values in an event dictionary.

    Field names are compared word by word, case-insensitively; the decision for
    each name is cached. String values anywhere (including the event message,
    nested dicts and lists) are scanned for bearer tokens, JSON Web Tokens and
    card numbers that pass the Luhn check. Email addresses are masked when
    ``mask_emails`` is true (``jane@example.com`` becomes ``j***@example.com``).

    The hot path is two calls: :meth:`redact_fields` before rendering (set
    operations on the field names) and :meth:`needs_scrub` on the rendered
    line (a translation and three substring tests in C); only a line that may
    hold a secret value pays for :meth:`scrub` and a second rendering.
    """

    __slots__ = ("_cache", "_keys", "_known", "_mask_emails", "_secret")

    def __init__(self, keys: Iterable[str] = DEFAULT_REDACT_KEYS, *, mask_emails: bool = False):
        self._keys = tuple(words for words in map(_words, keys) if words)
        self._mask_emails = mask_emails
        self._cache: dict[str, bool] = {}
        self._known: set[str] = set()
        self._secret: set[str] = set()

    def is_secret_key(self, key: str) -> bool:
        """Whether a field of this name is always redacted."""
        decision = self._cache.get(key)
        if decision is None:
            words = _words(key)
            decision = any(
                words[i : i + len(k)] == k for k in self._keys for i in range(len(words))
            )
            if len(self._cache) < _MAX_CACHED_KEYS:
                self._cache[key] = decision
                self._known.add(key)
                if decision:
                    self._secret.add(key)
        return decision

    def redact_fields(self, event_dict: dict[str, Any]) -> None:
        """Redact, in place, every field whose name is secret, at any depth."""
        if not self._known.issuperset(event_dict):
            for key in event_dict:
                if key.__class__ is str and key not in self._known and self.is_secret_key(key):
                    event_dict[key] = REDACTED
        if not self._secret.isdisjoint(event_dict):
            for key in self._secret.intersection(event_dict):
                event_dict[key] = REDACTED
        if not _CONTAINERS.isdisjoint(map(type, event_dict.values())):
            for key, value in event_dict.items():
                if isinstance(value, dict | list | tuple):
                    event_dict[key] = self._walk(value, 1, scrub=False)

    def needs_scrub(self, line: bytes) -> bool:
        """Whether a rendered line may hold a secret value (rare false positives are fine)."""
        folded = line.translate(_DIGITS_TO_ZERO, b" -")
        if b"bearer" in folded or b"eyj" in folded or (self._mask_emails and b"@" in line):
            return True
        # Long digit runs are common (epoch milliseconds, numeric ids): look closer
        # before paying for a scrub. A run with separators may hide a card inside it.
        return b"0000000000000" in folded and any(
            b" " in run or b"-" in run or _luhn_valid(run.decode())
            for run in _CARD_BYTES.findall(line)
        )

    def scrub(self, event_dict: dict[str, Any]) -> dict[str, Any]:
        """Redact secret fields and secret-looking values, in place, at any depth."""
        for key, value in event_dict.items():
            if key.__class__ is str and self.is_secret_key(key):
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self._walk(value, 1, scrub=True)
        return event_dict

    __call__ = scrub

    def scrub_text(self, text: str) -> str:
        """Redact secret-looking substrings of one string."""
        if _VALUE_PATTERN.search(text) is not None:
            text = _VALUE_PATTERN.sub(_replace_value, text)
        if self._mask_emails and "@" in text:
            text = _EMAIL_PATTERN.sub(_mask_email, text)
        return text

    def _walk(self, value: Any, depth: int, *, scrub: bool) -> Any:
        if isinstance(value, str):
            return self.scrub_text(value) if scrub else value
        if depth > _MAX_DEPTH:
            return value
        if isinstance(value, dict):
            return {
                k: REDACTED
                if isinstance(k, str) and self.is_secret_key(k)
                else self._walk(v, depth + 1, scrub=scrub)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._walk(v, depth + 1, scrub=scrub) for v in value]
        if scrub and value.__class__ is int and 10**12 <= abs(value) < 10**19:
            return REDACTED if _luhn_valid(str(abs(value))) else value
        return value
