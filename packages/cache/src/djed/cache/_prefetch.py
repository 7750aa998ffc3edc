"""Prefetcher: load what a session will probably ask for next, when the system can afford it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from ._async import Cache
from ._memory import MemoryBackend
from ._model import NavigationModel

__all__ = ["PrefetchMiddleware", "Prefetcher"]

_log = logging.getLogger("djed.cache")


class Prefetcher:
    """Warm the cache with the keys a :class:`NavigationModel` expects next.

    >>> prefetcher = Prefetcher(cache, load_page, NavigationModel(), threshold=0.15)
    >>> await prefetcher.after_request(session_id, "/invoices/42")  # doctest: +SKIP

    After each request, :meth:`after_request` records the navigation and plans
    the next keys: those predicted with probability at least ``threshold``, at
    most ``max_prefetch``, not already fresh in the cache. It loads them in
    background tasks only when the system is idle enough (the bandwidth-aware
    rule): fewer than ``max_concurrency`` prefetches running, fewer than
    ``max_queue`` waiting, and recent loader latency (an exponential average)
    below ``max_latency`` seconds. It never evicts to make room: with a memory
    backend that is full, nothing is prefetched.
    """

    def __init__(
        self,
        cache: Cache,
        loader: Callable[[str], Awaitable[Any]],
        model: NavigationModel,
        *,
        threshold: float = 0.1,
        max_prefetch: int = 2,
        max_concurrency: int = 2,
        max_queue: int = 16,
        max_latency: float = 0.5,
        ttl: float | object | None = ...,
    ) -> None:
        if not 0 < threshold <= 1 or max_prefetch < 1 or max_concurrency < 1:
            raise ValueError("threshold must be in (0, 1]; max_prefetch and max_concurrency >= 1")
        self.cache = cache
        self.loader = loader
        self.model = model
        self.threshold = threshold
        self.max_prefetch = max_prefetch
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.max_latency = max_latency
        self.ttl = ttl
        self.latency = 0.0
        self._running = 0
        self._waiting = 0
        self._prefetched: dict[str, None] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def plan(self, session: Hashable) -> list[str]:
        """The keys worth prefetching for ``session`` now, most likely first."""
        memory = self.cache._memory  # noqa: SLF001 - the cache's own memory store, if any
        now = self.cache.clock()
        planned: list[str] = []
        for key, probability in self.model.predict(session, limit=self.max_prefetch * 3):
            if probability < self.threshold or len(planned) >= self.max_prefetch:
                break
            entry = memory.peek(self.cache.namespace + key) if memory is not None else None
            if entry is not None and entry.is_fresh(now):
                continue
            planned.append(key)
        return planned

    def _can_afford(self) -> bool:
        memory = self.cache._memory  # noqa: SLF001
        if isinstance(memory, MemoryBackend) and len(memory) >= memory.max_entries:
            return False  # full: prefetching would evict something that was asked for
        return (
            self._running < self.max_concurrency
            and self._waiting < self.max_queue
            and self.latency <= self.max_latency
        )

    async def after_request(self, session: Hashable, key: str) -> list[str]:
        """Record a navigation and start background loads; returns the keys scheduled."""
        if key in self._prefetched:
            del self._prefetched[key]
            self.cache.stats.prefetch_hits += 1
        self.model.record(session, key)
        scheduled: list[str] = []
        for planned in self.plan(session):
            if not self._can_afford():
                self.cache.stats.prefetch_skipped += 1
                continue
            self._waiting += 1
            task = asyncio.create_task(self._prefetch(planned))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            scheduled.append(planned)
        return scheduled

    async def _prefetch(self, key: str) -> None:
        self._waiting -= 1
        self._running += 1
        started = time.perf_counter()
        try:

            async def load() -> Any:
                return await self.loader(key)

            await self.cache.get_or_load(key, load, ttl=self.ttl)
            self.cache.stats.prefetches += 1
            self._prefetched[key] = None
            if len(self._prefetched) > 10_000:
                del self._prefetched[next(iter(self._prefetched))]
        except Exception as error:  # noqa: BLE001 - a prefetch must never hurt a request
            _log.debug("prefetching %s failed: %s: %s", key, type(error).__name__, error)
        finally:
            self._running -= 1
            elapsed = time.perf_counter() - started
            self.latency = elapsed if self.latency == 0 else 0.8 * self.latency + 0.2 * elapsed

    async def wait(self) -> None:
        """Wait for the prefetches in progress (for tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class PrefetchMiddleware:
    """ASGI middleware that feeds every HTTP request to a :class:`Prefetcher`.

    >>> app = PrefetchMiddleware(app, prefetcher)  # doctest: +SKIP

    The session comes from the ``session_header`` header or the
    ``session_cookie`` cookie (requests with neither are not recorded); the key
    is the request path unless ``key`` maps the ASGI scope to one. Routes benefit
    when they read through the same cache (``cache.get_or_load(path, ...)``).
    """

    def __init__(
        self,
        app: App,
        prefetcher: Prefetcher,
        *,
        session_header: str = "x-session-id",
        session_cookie: str = "session",
        key: Callable[[Scope], str | None] | None = None,
    ) -> None:
        self.app = app
        self.prefetcher = prefetcher
        self._header = session_header.lower().encode()
        self._cookie = session_cookie
        self._key = key

    def _session(self, scope: Scope) -> str | None:
        cookie_header = None
        for name, value in scope.get("headers", []):
            if name == self._header:
                return bytes(value).decode("latin-1")
            if name == b"cookie":
                cookie_header = bytes(value).decode("latin-1")
        if cookie_header:
            for part in cookie_header.split(";"):
                name, _, value = part.strip().partition("=")
                if name == self._cookie and value:
                    return value
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then record it and schedule prefetches."""
        await self.app(scope, receive, send)
        if scope.get("type") != "http" or scope.get("method", "GET") != "GET":
            return
        session = self._session(scope)
        if session is None:
            return
        key = self._key(scope) if self._key is not None else str(scope.get("path", ""))
        if key:
            await self.prefetcher.after_request(session, key)
