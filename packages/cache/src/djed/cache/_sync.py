"""SyncCache: get/set, stale-while-revalidate, single flight and ``@cached`` for sync code."""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace

from ._backend import Entry, SyncBackend
from ._common import CacheSettings, Spec, dependency_down, format_tags
from ._keys import KeyBuilder
from ._memory import MemoryBackend

__all__ = ["SyncCache"]

P = ParamSpec("P")
R = TypeVar("R")
_log = logging.getLogger("djed.cache")
_tracer = trace.get_tracer("djed.cache")


class _Flight:
    """One load in progress; callers of the same key wait for its outcome."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class SyncCache(CacheSettings):
    """A cache for sync code; :class:`Cache` is its async twin, with the same methods.

    >>> cache = SyncCache(ttl=60, stale_ttl=300)
    >>> @cache.cached(key="rates:{currency}", tags=("rates",))
    ... def rates(currency: str) -> dict: ...

    ``ttl`` is how long a value is fresh; for ``stale_ttl`` seconds after that it
    is still served, at once, while one background refresh runs. ``negative_ttl``
    (off by default) caches ``None`` results for that long. Loads of one key are
    single-flight: concurrent misses wait for the one load in progress.
    """

    def __init__(
        self,
        backend: SyncBackend | None = None,
        *,
        ttl: float | None = 300.0,
        stale_ttl: float = 0.0,
        negative_ttl: float | None = None,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
        max_background: int = 4,
    ) -> None:
        super().__init__(
            ttl=ttl,
            stale_ttl=stale_ttl,
            negative_ttl=negative_ttl,
            namespace=namespace,
            clock=clock,
        )
        self.backend: SyncBackend = backend if backend is not None else MemoryBackend(clock=clock)
        self._flights: dict[str, _Flight] = {}
        self._flights_lock = threading.Lock()
        self._max_background = max_background
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    # -- plain operations ------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The cached value (fresh or stale), or ``default``."""
        entry = self.backend.get(self.namespace + key)
        if entry is None:
            self.stats.misses += 1
            return default
        self.stats.hits += 1
        return entry.value

    def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: float | object | None = ...,
        stale_ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> None:
        """Store a value; ``ttl=None`` keeps it until evicted or deleted."""
        self.backend.set(self.namespace + key, self.entry(value, ttl, stale_ttl, tags))

    def delete(self, key: str) -> bool:
        """Remove a key."""
        return self.backend.delete(self.namespace + key)

    def get_many(self, keys: Iterable[str], default: Any = None) -> list[Any]:
        """Values in the order of ``keys`` (``default`` for misses)."""
        keys = list(keys)
        entries = self.backend.get_many([self.namespace + k for k in keys])
        values = []
        for entry in entries:
            if entry is None:
                self.stats.misses += 1
                values.append(default)
            else:
                self.stats.hits += 1
                values.append(entry.value)
        return values

    def set_many(self, values: Mapping[str, Any], *, ttl: float | object | None = ...) -> None:
        """Store several values with one TTL."""
        self.backend.set_many(
            {self.namespace + k: self.entry(v, ttl, None, ()) for k, v in values.items()}
        )

    def clear(self) -> None:
        """Remove every entry of the backend."""
        self.backend.clear()

    def invalidate_tags(self, *tags: str) -> int:
        """Remove every entry stored with one of ``tags``; how many were removed."""
        return self.backend.invalidate_tags(tags)

    # -- loading -----------------------------------------------------------------------

    def get_or_load(
        self,
        key: str,
        loader: Callable[[], R],
        *,
        ttl: float | object | None = ...,
        stale_ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> R:
        """The cached value, or ``loader()``'s, stored; stale values refresh in the background."""
        full = self.namespace + key
        entry = self.backend.get(full)
        if entry is not None:
            if entry.is_fresh(self.clock()):
                self.stats.hits += 1
                return entry.value  # type: ignore[no-any-return]
            self.stats.stale_hits += 1
            self._refresh_later(full, loader, (ttl, stale_ttl, tuple(tags)))
            return entry.value  # type: ignore[no-any-return]
        self.stats.misses += 1
        return self._load(full, loader, (ttl, stale_ttl, tuple(tags)), None)

    def _load(self, full: str, loader: Callable[[], R], spec: Spec, stale: Entry | None) -> R:
        with self._flights_lock:
            flight = self._flights.get(full)
            leader = flight is None
            if flight is None:
                flight = self._flights[full] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value  # type: ignore[no-any-return]
        try:
            started = time.perf_counter()
            try:
                with _tracer.start_as_current_span(
                    "djed.cache.load", attributes={"cache.key": full}
                ):
                    value = loader()
            finally:
                self.stats.loads += 1
                self.stats.load_seconds += time.perf_counter() - started
            if value is not None or self.negative_ttl is not None:
                self.backend.set(full, self.entry_for_load(value, spec))
            flight.value = value
            return value
        except BaseException as error:
            self.stats.load_errors += 1
            if stale is not None and isinstance(error, Exception):
                self.stats.stale_on_error += 1
                _log.warning(
                    "loading %s failed (%s: %s); keeping the stale value",
                    full,
                    type(error).__name__,
                    error,
                )
                flight.value = stale.value
                return stale.value  # type: ignore[no-any-return]
            flight.error = error
            raise
        finally:
            with self._flights_lock:
                self._flights.pop(full, None)
            flight.done.set()

    def _refresh_later(self, full: str, loader: Callable[[], Any], spec: Spec) -> None:
        if full in self._flights:
            return  # a load or refresh of this key is already running
        with self._flights_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self._max_background, thread_name_prefix="djed-cache-refresh"
                )
        stale = self.backend.get(full)
        self.stats.refreshes += 1
        self._pool.submit(self._refresh, full, loader, spec, stale)

    def _refresh(
        self, full: str, loader: Callable[[], Any], spec: Spec, stale: Entry | None
    ) -> None:
        try:
            self._load(full, loader, spec, stale)
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
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Cache a function's results; ``key`` and ``tags`` may be templates of its arguments."""
        tag_templates = tuple(tags)

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            build = KeyBuilder(function, key)

            @functools.wraps(function)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                call_key = build(args, kwargs)
                return self.get_or_load(
                    call_key,
                    functools.partial(function, *args, **kwargs),
                    ttl=ttl,
                    stale_ttl=stale_ttl,
                    tags=format_tags(tag_templates, build, args, kwargs),
                )

            return wrapper

        return decorate

    def close(self) -> None:
        """Stop the background refresh threads (running refreshes finish)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
