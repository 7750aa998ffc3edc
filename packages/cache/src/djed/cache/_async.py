"""Cache: the async twin of SyncCache, with the same methods awaited."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace

from ._backend import AsyncBackend, Entry
from ._common import CacheSettings, Spec, dependency_down, format_tags
from ._keys import KeyBuilder
from ._lock import RedisLock
from ._memory import AsyncMemoryBackend, MemoryBackend

__all__ = ["Cache"]

P = ParamSpec("P")
R = TypeVar("R")
_log = logging.getLogger("djed.cache")
_tracer = trace.get_tracer("djed.cache")


class Cache(CacheSettings):
    """A cache for async code, with stale-while-revalidate and single-flight loads.

    >>> cache = Cache(ttl=60, stale_ttl=300)
    >>> @cache.cached(key="invoice:{invoice_id}", tags=("invoice:{invoice_id}",))
    ... async def invoice(invoice_id: int) -> dict: ...

    The backend is memory by default; pass a :class:`MemoryBackend`, a Redis or a
    two-level backend. Concurrent misses of one key in this process share one
    load (single flight); with ``lock=RedisLock(...)`` processes share it too:
    the one holding the key's lease loads, the others wait (up to
    ``lock_lease`` seconds) for its value. A stale value is served at once
    while one background task refreshes it.
    """

    def __init__(
        self,
        backend: AsyncBackend | MemoryBackend | None = None,
        *,
        ttl: float | None = 300.0,
        stale_ttl: float = 0.0,
        negative_ttl: float | None = None,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
        lock: RedisLock | None = None,
        lock_lease: float = 10.0,
    ) -> None:
        super().__init__(
            ttl=ttl,
            stale_ttl=stale_ttl,
            negative_ttl=negative_ttl,
            namespace=namespace,
            clock=clock,
        )
        if backend is None:
            backend = MemoryBackend(clock=clock)
        # Memory is read without awaiting anything: the hot path stays a plain call.
        self._memory = backend if isinstance(backend, MemoryBackend) else None
        self.backend: AsyncBackend = (
            AsyncMemoryBackend(backend) if isinstance(backend, MemoryBackend) else backend
        )
        self.lock = lock
        self.lock_lease = lock_lease
        self._flights: dict[str, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _get_entry(self, full: str) -> Entry | None:
        if self._memory is not None:
            return self._memory.get(full)
        return await self.backend.get(full)

    async def get(self, key: str, default: Any = None) -> Any:
        """The cached value (fresh or stale), or ``default``."""
        memory = self._memory
        full = self.namespace + key
        entry = memory.get(full) if memory is not None else await self.backend.get(full)
        if entry is None:
            self.stats.misses += 1
            return default
        self.stats.hits += 1
        return entry.value

    async def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: float | object | None = ...,
        stale_ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> None:
        """Store a value; ``ttl=None`` keeps it until evicted or deleted."""
        await self.backend.set(self.namespace + key, self.entry(value, ttl, stale_ttl, tags))

    async def delete(self, key: str) -> bool:
        """Remove a key."""
        return await self.backend.delete(self.namespace + key)

    async def get_many(self, keys: Iterable[str], default: Any = None) -> list[Any]:
        """Values in the order of ``keys`` (``default`` for misses)."""
        keys = list(keys)
        entries = await self.backend.get_many([self.namespace + k for k in keys])
        values = []
        for entry in entries:
            if entry is None:
                self.stats.misses += 1
                values.append(default)
            else:
                self.stats.hits += 1
                values.append(entry.value)
        return values

    async def set_many(
        self, values: Mapping[str, Any], *, ttl: float | object | None = ...
    ) -> None:
        """Store several values with one TTL."""
        await self.backend.set_many(
            {self.namespace + k: self.entry(v, ttl, None, ()) for k, v in values.items()}
        )

    async def clear(self) -> None:
        """Remove every entry of the backend."""
        await self.backend.clear()

    async def invalidate_tags(self, *tags: str) -> int:
        """Remove every entry stored with one of ``tags``; how many were removed."""
        return await self.backend.invalidate_tags(tags)

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[R]],
        *,
        ttl: float | object | None = ...,
        stale_ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> R:
        """The cached value, or ``await loader()``'s (stored); a stale one refreshes behind."""
        full = self.namespace + key
        entry = await self._get_entry(full)
        spec: Spec = (ttl, stale_ttl, tuple(tags))
        if entry is not None:
            if entry.is_fresh(self.clock()):
                self.stats.hits += 1
                return entry.value  # type: ignore[no-any-return]
            self.stats.stale_hits += 1
            if full not in self._flights:
                self.stats.refreshes += 1
                task = asyncio.create_task(self._refresh(full, loader, spec, entry))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return entry.value  # type: ignore[no-any-return]
        self.stats.misses += 1
        return await self._load(full, loader, spec, None)

    async def _load(
        self, full: str, loader: Callable[[], Awaitable[R]], spec: Spec, stale: Entry | None
    ) -> R:
        flight = self._flights.get(full)
        if flight is not None:
            return await asyncio.shield(flight)
        flight = asyncio.get_running_loop().create_future()
        self._flights[full] = flight
        try:
            # One span per load (a miss or a refresh), none per hit: hits cost what they did.
            with _tracer.start_as_current_span("djed.cache.load", attributes={"cache.key": full}):
                value = await self._load_across_processes(full, loader, spec)
        except Exception as error:
            self.stats.load_errors += 1
            if stale is not None:
                self.stats.stale_on_error += 1
                _log.warning(
                    "loading %s failed (%s: %s); keeping the stale value",
                    full,
                    type(error).__name__,
                    error,
                )
                flight.set_result(stale.value)
                return stale.value  # type: ignore[no-any-return]
            flight.set_exception(error)
            flight.exception()  # retrieved here, so an unawaited flight logs nothing
            raise
        except BaseException as error:
            flight.set_exception(error)
            flight.exception()
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            self._flights.pop(full, None)

    async def _load_across_processes(
        self, full: str, loader: Callable[[], Awaitable[R]], spec: Spec
    ) -> R:
        """Run the loader (as the one process holding the key's lock, when there is a lock)."""
        lease = None
        if self.lock is not None:
            lease = await self.lock.acquire(full, self.lock_lease)
            if lease is None:
                # Another process is loading this key: wait for its value, up to one lease.
                deadline = time.monotonic() + self.lock_lease
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                    entry = await self.backend.get(full)
                    if entry is not None:
                        return entry.value  # type: ignore[no-any-return]
        try:
            started = time.perf_counter()
            try:
                value = await loader()
            finally:
                self.stats.loads += 1
                self.stats.load_seconds += time.perf_counter() - started
            worth_storing = value is not None or self.negative_ttl is not None
            # A holder whose lease ran out must not overwrite a newer holder's value.
            still_ours = lease is None or self.lock is None or await self.lock.is_current(lease)
            if worth_storing and still_ours:
                await self.backend.set(full, self.entry_for_load(value, spec))
            return value
        finally:
            if lease is not None and self.lock is not None:
                await self.lock.release(lease)

    async def _refresh(
        self, full: str, loader: Callable[[], Awaitable[Any]], spec: Spec, stale: Entry
    ) -> None:
        try:
            await self._load(full, loader, spec, stale)
        except Exception as error:  # noqa: BLE001 - a background refresh must never escape
            if not dependency_down(error):
                _log.warning("refreshing %s failed: %s: %s", full, type(error).__name__, error)

    def cached(
        self,
        *,
        ttl: float | object | None = ...,
        key: str | Callable[..., str] | None = None,
        stale_ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
        """Cache an async function's results; ``key`` and ``tags`` may be argument templates."""
        tag_templates = tuple(tags)

        def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
            build = KeyBuilder(function, key)

            @functools.wraps(function)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                return await self.get_or_load(
                    build(args, kwargs),
                    functools.partial(function, *args, **kwargs),
                    ttl=ttl,
                    stale_ttl=stale_ttl,
                    tags=format_tags(tag_templates, build, args, kwargs),
                )

            return wrapper

        return decorate

    async def aclose(self) -> None:
        """Wait for background refreshes to finish."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
