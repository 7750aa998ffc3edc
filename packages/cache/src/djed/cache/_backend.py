"""What a cache backend stores and the interface every backend implements."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

__all__ = ["AsyncBackend", "Entry", "SyncBackend"]


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """A cached value with its times (wall-clock epoch seconds) and tags.

    ``fresh_until``: served as fresh before this time. ``stale_until``: after
    ``fresh_until`` and before this, served stale while one refresh runs; the
    backend may drop the entry after it. ``None`` means no limit.
    """

    value: Any
    fresh_until: float | None = None
    stale_until: float | None = None
    tags: tuple[str, ...] = ()

    def is_fresh(self, now: float) -> bool:
        """Whether the entry is within its time to live."""
        return self.fresh_until is None or now < self.fresh_until

    def is_usable(self, now: float) -> bool:
        """Whether the entry may still be served (fresh or stale)."""
        limit = self.stale_until if self.stale_until is not None else self.fresh_until
        return limit is None or now < limit


class SyncBackend(Protocol):
    """A store of entries by key, used from sync code."""

    def get(self, key: str) -> Entry | None:
        """The entry, or None when absent or past its ``stale_until``."""

    def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        """Entries in the order of ``keys``."""

    def set(self, key: str, entry: Entry) -> None:
        """Store an entry (replacing any other)."""

    def set_many(self, entries: Mapping[str, Entry]) -> None:
        """Store several entries."""

    def delete(self, key: str) -> bool:
        """Remove a key; whether it was there."""

    def clear(self) -> None:
        """Remove every entry."""

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove every entry carrying one of ``tags``; how many were removed."""


class AsyncBackend(Protocol):
    """The same store, used from async code."""

    async def get(self, key: str) -> Entry | None:
        """The entry, or None when absent or past its ``stale_until``."""

    async def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        """Entries in the order of ``keys``."""

    async def set(self, key: str, entry: Entry) -> None:
        """Store an entry (replacing any other)."""

    async def set_many(self, entries: Mapping[str, Entry]) -> None:
        """Store several entries."""

    async def delete(self, key: str) -> bool:
        """Remove a key; whether it was there."""

    async def clear(self) -> None:
        """Remove every entry."""

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove every entry carrying one of ``tags``; how many were removed."""
