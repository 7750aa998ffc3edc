"""``djed.cache.backends``: a dict backend in both flavours, and one that is sync only."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from djed.cache import Entry


class DictBackend:
    """Entries in a dict, for sync code."""

    def __init__(self, *, label: str = "dict") -> None:
        self.label = label
        self.entries: dict[str, Entry] = {}

    def get(self, key: str) -> Entry | None:
        entry = self.entries.get(key)
        return entry if entry is not None and entry.is_usable(time.time()) else None

    def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        return [self.get(key) for key in keys]

    def set(self, key: str, entry: Entry) -> None:
        self.entries[key] = entry

    def set_many(self, entries: Mapping[str, Entry]) -> None:
        self.entries.update(entries)

    def delete(self, key: str) -> bool:
        return self.entries.pop(key, None) is not None

    def clear(self) -> None:
        self.entries.clear()

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        wanted = set(tags)
        doomed = [key for key, entry in self.entries.items() if wanted & set(entry.tags)]
        for key in doomed:
            del self.entries[key]
        return len(doomed)


class AsyncDictBackend:
    """The same dict, for async code."""

    def __init__(self, *, label: str = "dict") -> None:
        self.store = DictBackend(label=label)

    async def get(self, key: str) -> Entry | None:
        return self.store.get(key)

    async def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        return self.store.get_many(keys)

    async def set(self, key: str, entry: Entry) -> None:
        self.store.set(key, entry)

    async def set_many(self, entries: Mapping[str, Entry]) -> None:
        self.store.set_many(entries)

    async def delete(self, key: str) -> bool:
        return self.store.delete(key)

    async def clear(self) -> None:
        self.store.clear()

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        return self.store.invalidate_tags(tags)


def dict_backend(*, asynchronous: bool = False, **options: Any) -> DictBackend | AsyncDictBackend:
    """The factory the entry point names: one flavour or the other, as asked."""
    return AsyncDictBackend(**options) if asynchronous else DictBackend(**options)


def sync_only(*, asynchronous: bool = False, **options: Any) -> DictBackend:
    """A factory that ignores ``asynchronous``: wrong when async code asks for it."""
    return DictBackend(**options)
