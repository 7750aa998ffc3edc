"""How entries become bytes for a remote backend, and back."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson

from ._backend import Entry

__all__ = ["OrjsonSerializer", "PickleSerializer", "SerializationError", "Serializer"]


class SerializationError(ValueError):
    """An entry cannot be turned into bytes, or stored bytes cannot be read back."""


class Serializer(Protocol):
    """Turns an :class:`Entry` into bytes and back; both directions raise SerializationError."""

    def dumps(self, entry: Entry) -> bytes:
        """The entry as bytes."""

    def loads(self, data: bytes) -> Entry:
        """The entry these bytes hold."""


class OrjsonSerializer:
    """Entries as small JSON objects, through orjson: the default, and safe for any input.

    >>> OrjsonSerializer().dumps(Entry({"total": 12}, 1700000000.0, None, ("invoice:7",)))
    b'{"v":{"total":12},"f":1700000000.0,"s":null,"t":["invoice:7"]}'

    The object has ``v`` (the value), ``f`` (``fresh_until``), ``s``
    (``stale_until``) and ``t`` (the tags). Values must be what JSON holds:
    str, int (64-bit), float, bool, None, lists, dicts with str keys, plus what
    orjson writes natively (dataclasses, datetimes, enums, UUIDs). They come
    back as plain JSON types: tuples as lists, datetimes as ISO strings. Dict
    keys that are not str are refused (orjson could stringify them, but the
    value would not come back equal).

    Args:
        default: called with each object orjson cannot write; returns something
            it can (e.g. ``str`` for Decimal), or raises TypeError.
    """

    def __init__(self, *, default: Callable[[Any], Any] | None = None) -> None:
        self._default = default

    def dumps(self, entry: Entry) -> bytes:
        """The entry as a JSON object."""
        record = {"v": entry.value, "f": entry.fresh_until, "s": entry.stale_until}
        record["t"] = list(entry.tags)
        try:
            return orjson.dumps(record, default=self._default)
        except orjson.JSONEncodeError as exc:
            raise SerializationError(_explain(entry.value, exc)) from exc

    def loads(self, data: bytes) -> Entry:
        """The entry a JSON object holds."""
        try:
            record = orjson.loads(data)
            return Entry(record["v"], record["f"], record["s"], tuple(record["t"]))
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise SerializationError(
                f"stored bytes are not an entry written by OrjsonSerializer ({exc}); "
                "do all writers of this prefix use the same serializer?"
            ) from exc


def _explain(value: Any, error: Exception) -> str:
    """Say which part of ``value`` orjson refused and what to do about it."""
    bad_key = _non_str_key(value, "value")
    if bad_key is not None:
        where, key = bad_key
        return (
            f"{where} has a key of type {type(key).__name__} ({key!r}); JSON object keys "
            "must be str: convert the keys, or use another serializer"
        )
    return (
        f"value cannot be written as JSON: {error}; convert it to JSON types first, "
        "pass OrjsonSerializer(default=...), or use another serializer"
    )


def _non_str_key(value: Any, where: str) -> tuple[str, Any] | None:
    """The first dict key below ``value`` that is not a str, with where it is."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return where, key
            found = _non_str_key(item, f"{where}[{key!r}]")
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _non_str_key(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None


class PickleSerializer:
    """Entries as pickles: any Python object, for data this application alone produces.

    Never use it for a Redis that anyone else can write to: unpickling runs
    code chosen by whoever wrote the bytes, so a writable cache becomes remote
    code execution. It must be asked for by name, with ``trusted=True``:

    >>> serializer = PickleSerializer(trusted=True)

    Args:
        trusted: must be True: confirms every writer of the cache is trusted.
        protocol: the pickle protocol; the highest available by default.
    """

    def __init__(self, *, trusted: bool = False, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        if trusted is not True:
            raise ValueError(
                "PickleSerializer runs code from the bytes it reads: use it only when "
                "every writer of the cache is trusted, and say so with "
                "PickleSerializer(trusted=True); OrjsonSerializer is the safe default"
            )
        self._protocol = protocol

    def dumps(self, entry: Entry) -> bytes:
        """The entry pickled (as a tuple, so no class path of this package is stored)."""
        record = (entry.value, entry.fresh_until, entry.stale_until, entry.tags)
        try:
            return pickle.dumps(record, protocol=self._protocol)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise SerializationError(f"value cannot be pickled: {exc}") from exc

    def loads(self, data: bytes) -> Entry:
        """The entry a pickle holds."""
        try:
            value, fresh_until, stale_until, tags = pickle.loads(data)  # noqa: S301 - opt-in, trusted
        except Exception as exc:
            raise SerializationError(
                f"stored bytes are not an entry written by PickleSerializer ({exc}); "
                "do all writers of this prefix use the same serializer?"
            ) from exc
        return Entry(value, fresh_until, stale_until, tuple(tags))
