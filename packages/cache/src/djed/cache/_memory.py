"""The default backend: in-process memory, TTL plus LRU by entries and by approximate bytes."""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from ._backend import Entry

__all__ = ["AsyncMemoryBackend", "MemoryBackend", "approximate_size"]


def approximate_size(value: Any) -> int:
    """Bytes a value takes, roughly: its JSON length, or ``sys.getsizeof`` if not JSON."""
    if isinstance(value, bytes | str):
        return len(value) + 49
    try:
        return len(orjson.dumps(value)) + 64
    except TypeError:
        return sys.getsizeof(value)


class MemoryBackend:
    """Entries in a dict in least-recently-used order, thread-safe, for sync and async use.

    ``max_entries`` and ``max_bytes`` (estimated by ``sizer``, default
    :func:`approximate_size`) bound the store; the least recently used entries
    are evicted first. Entries past their ``stale_until`` are dropped when met.
    :meth:`as_async` gives the same store behind the async backend interface.
    """

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_bytes: int | None = None,
        sizer: Callable[[Any], int] = approximate_size,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries < 1 or (max_bytes is not None and max_bytes < 1):
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._sizer = sizer
        self._clock = clock
        self._entries: collections.OrderedDict[str, tuple[Entry, int]] = collections.OrderedDict()
        self._tags: dict[str, set[str]] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    # -- sync ------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """The entry, refreshed in LRU order, or None.

        A live entry is read without the lock (each dict operation is atomic);
        only dropping an expired one takes it.
        """
        found = self._entries.get(key)
        if found is None:
            return None
        entry = found[0]
        if not entry.is_usable(self._clock()):
            with self._lock:
                current = self._entries.get(key)
                if current is not None and current[0] is entry:
                    self._remove(key)
            return None
        try:  # noqa: SIM105 - the hot path: a try costs less than contextlib.suppress
            self._entries.move_to_end(key)
        except KeyError:
            pass  # removed by another thread meanwhile: still a valid read of that moment
        return entry

    def peek(self, key: str) -> Entry | None:
        """The entry without touching its LRU position (for prefetch decisions)."""
        found = self._entries.get(key)
        return None if found is None else found[0]

    def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        """Entries in the order of ``keys``."""
        return [self.get(key) for key in keys]

    def set(self, key: str, entry: Entry) -> None:
        """Store an entry, evicting the least recently used ones beyond the bounds."""
        size = self._sizer(entry.value) if self.max_bytes is not None else 0
        with self._lock:
            if key in self._entries:
                self._remove(key)
            self._entries[key] = (entry, size)
            self._bytes += size
            for tag in entry.tags:
                self._tags.setdefault(tag, set()).add(key)
            self._evict()

    def set_many(self, entries: Mapping[str, Entry]) -> None:
        """Store several entries."""
        for key, entry in entries.items():
            self.set(key, entry)

    def delete(self, key: str) -> bool:
        """Remove a key; whether it was there."""
        with self._lock:
            if key not in self._entries:
                return False
            self._remove(key)
            return True

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._entries.clear()
            self._tags.clear()
            self._bytes = 0

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove the entries carrying any of ``tags``."""
        removed = 0
        with self._lock:
            for tag in tags:
                for key in self._tags.pop(tag, set()):
                    if key in self._entries:
                        self._remove(key)
                        removed += 1
        return removed

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        """Approximate bytes held (0 unless ``max_bytes`` is set)."""
        return self._bytes

    def _remove(self, key: str) -> None:
        entry, size = self._entries.pop(key)
        self._bytes -= size
        for tag in entry.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or (
            self.max_bytes is not None and self._bytes > self.max_bytes and len(self._entries) > 1
        ):
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self.evictions += 1

    def as_async(self) -> AsyncMemoryBackend:
        """The same store behind the async backend interface."""
        return AsyncMemoryBackend(self)


class AsyncMemoryBackend:
    """A :class:`MemoryBackend` behind the async interface (memory access never blocks)."""

    def __init__(self, store: MemoryBackend | None = None) -> None:
        self.store = store if store is not None else MemoryBackend()

    async def get(self, key: str) -> Entry | None:
        """See :meth:`MemoryBackend.get`."""
        return self.store.get(key)

    async def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        """See :meth:`MemoryBackend.get_many`."""
        return self.store.get_many(keys)

    async def set(self, key: str, entry: Entry) -> None:
        """See :meth:`MemoryBackend.set`."""
        self.store.set(key, entry)

    async def set_many(self, entries: Mapping[str, Entry]) -> None:
        """See :meth:`MemoryBackend.set_many`."""
        self.store.set_many(entries)

    async def delete(self, key: str) -> bool:
        """See :meth:`MemoryBackend.delete`."""
        return self.store.delete(key)

    async def clear(self) -> None:
        """See :meth:`MemoryBackend.clear`."""
        self.store.clear()

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        """See :meth:`MemoryBackend.invalidate_tags`."""
        return self.store.invalidate_tags(tags)
