"""Bulkhead: a cap on calls running at once, with an optional short queue."""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from ._errors import BreakerConfigError, BulkheadFullError

__all__ = ["Bulkhead"]

P = ParamSpec("P")
R = TypeVar("R")


class _Waiter:
    """One caller waiting for a slot: a thread (event) or a task (future on its loop)."""

    __slots__ = ("event", "future", "granted", "loop")

    def __init__(
        self, loop: asyncio.AbstractEventLoop | None, future: asyncio.Future[None] | None
    ) -> None:
        self.event = threading.Event() if loop is None else None
        self.loop = loop
        self.future = future
        self.granted = False


class Bulkhead:
    """Let at most ``max_concurrent`` calls run at once; others wait briefly or fail fast.

    >>> pdf_renderer = Bulkhead("pdf", max_concurrent=4, max_queue=8, queue_timeout=2.0)
    >>> pdf_renderer.call(render, invoice)  # doctest: +SKIP

    A call beyond the cap waits in a queue of at most ``max_queue`` callers for up
    to ``queue_timeout`` seconds, first come first served; with no room in the
    queue, or when the wait times out, it fails with :class:`BulkheadFullError`
    without running. One bulkhead serves threads and asyncio tasks together: a
    freed slot is handed straight to the next waiter, whichever kind it is.
    """

    def __init__(
        self, name: str, max_concurrent: int, *, max_queue: int = 0, queue_timeout: float = 1.0
    ) -> None:
        if max_concurrent < 1 or max_queue < 0 or queue_timeout < 0:
            raise BreakerConfigError(
                "max_concurrent must be at least 1, max_queue and queue_timeout at least 0"
            )
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.running = 0
        self.rejections = 0
        self._lock = threading.Lock()
        self._waiters: collections.deque[_Waiter] = collections.deque()

    def _try_enter(self, waiter: _Waiter | None) -> str:
        """Take a slot now ("run"), queue ``waiter`` ("wait"), or refuse ("full")."""
        with self._lock:
            if self.running < self.max_concurrent and not self._waiters:
                self.running += 1
                return "run"
            if waiter is None or len(self._waiters) >= self.max_queue:
                self.rejections += 1
                return "full"
            self._waiters.append(waiter)
            return "wait"

    def _leave(self) -> None:
        """Free a slot, handing it to the first waiter still waiting."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True  # the slot moves over: running stays the same
                if waiter.event is not None:
                    waiter.event.set()
                    return
                assert waiter.loop is not None
                assert waiter.future is not None
                future = waiter.future
                waiter.loop.call_soon_threadsafe(_grant, future)
                return
            self.running -= 1

    def _give_up(self, waiter: _Waiter) -> bool:
        """A waiter timed out; True if it really left the queue (no slot was handed over)."""
        with self._lock:
            if waiter.granted:
                return False
            self._waiters.remove(waiter)
            self.rejections += 1
            return True

    def call(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``function`` in a slot, waiting in the queue if allowed."""
        waiter = _Waiter(None, None) if self.max_queue else None
        entry = self._try_enter(waiter)
        if entry == "full":
            raise BulkheadFullError(self.name, self.max_concurrent)
        if entry == "wait":
            assert waiter is not None
            assert waiter.event is not None
            if not waiter.event.wait(self.queue_timeout) and self._give_up(waiter):
                raise BulkheadFullError(self.name, self.max_concurrent)
        try:
            return function(*args, **kwargs)
        finally:
            self._leave()

    async def call_async(
        self, function: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``function`` in a slot, waiting in the queue if allowed."""
        waiter = None
        if self.max_queue:
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop, loop.create_future())
        entry = self._try_enter(waiter)
        if entry == "full":
            raise BulkheadFullError(self.name, self.max_concurrent)
        if entry == "wait":
            assert waiter is not None
            assert waiter.future is not None
            try:
                await asyncio.wait_for(asyncio.shield(waiter.future), self.queue_timeout)
            except TimeoutError:
                if self._give_up(waiter):
                    raise BulkheadFullError(self.name, self.max_concurrent) from None
        try:
            return await function(*args, **kwargs)
        finally:
            self._leave()


def _grant(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
