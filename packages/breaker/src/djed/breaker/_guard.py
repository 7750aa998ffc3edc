"""Guard: a breaker, retries, a timeout and a fallback composed around one call."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace

from ._breaker import CircuitBreaker
from ._bulkhead import Bulkhead
from ._errors import BreakerConfigError, CallTimeoutError
from ._replay import QueueForRetry
from ._retry import Retry

__all__ = ["SKIP", "Guard", "Stale"]

P = ParamSpec("P")
R = TypeVar("R")
_tracer = trace.get_tracer("djed.breaker")


class _Skip:
    """The ``SKIP`` fallback: a non-critical call that fails returns ``None``."""

    def __repr__(self) -> str:
        return "SKIP"


SKIP: Any = _Skip()
_NO_FALLBACK: Any = object()


class Stale:
    """Fallback to the last good result of the same call (by key), if there is one.

    ``key`` maps the call's arguments to a hashable key (default: the positional
    and keyword arguments themselves). Without a stored result the error propagates.
    At most ``max_entries`` results are kept, the oldest dropped first.
    """

    def __init__(
        self, *, key: Callable[..., Hashable] | None = None, max_entries: int = 1024
    ) -> None:
        self._key = key
        self._max = max_entries
        self._values: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def key_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        """The cache key of one call."""
        if self._key is not None:
            return self._key(*args, **kwargs)
        return (args, tuple(sorted(kwargs.items())))

    def remember(self, key: Hashable, value: Any) -> None:
        """Keep a good result."""
        with self._lock:
            self._values.pop(key, None)
            self._values[key] = value
            if len(self._values) > self._max:
                del self._values[next(iter(self._values))]

    def recall(self, key: Hashable) -> tuple[bool, Any]:
        """(found, value) for a key."""
        with self._lock:
            if key in self._values:
                return True, self._values[key]
        return False, None


class Guard:
    """Protect calls with any of: a circuit breaker, retries, a timeout, a fallback.

    >>> guard = Guard(payments, retry=Retry(attempts=3), timeout=2.0, fallback=SKIP)
    >>> guard.call(send_receipt, order)  # doctest: +SKIP

    Order, from the outside in: fallback, retries, bulkhead, breaker, timeout.
    Each retry attempt goes through the breaker (counted, and refused once it
    opens); a timeout counts as a failure of that attempt; a full bulkhead refuses
    the attempt without counting against the dependency. The fallback is used when the
    call finally fails with an exception matched by ``fallback_on`` (default:
    every ``Exception``, including :class:`CircuitOpenError`). A fallback is a
    value, a callable taking ``(error, *args, **kwargs)``, :data:`SKIP` (return
    ``None``), a :class:`Stale` store, or :class:`QueueForRetry` (the arguments go
    to a durable outbox and the call returns :class:`Queued`).

    Timeouts: async calls are cancelled at the deadline. A sync call cannot be
    interrupted in Python, so with ``timeout`` it runs in a worker thread; at the
    deadline the caller gets :class:`CallTimeoutError` at once and the worker
    finishes (and is discarded) in the background. ``max_workers`` bounds those
    threads.
    """

    def __init__(
        self,
        breaker: CircuitBreaker | None = None,
        *,
        retry: Retry | None = None,
        timeout: float | None = None,
        bulkhead: Bulkhead | None = None,
        fallback: Any = _NO_FALLBACK,
        fallback_on: tuple[type[BaseException], ...] = (Exception,),
        max_workers: int = 16,
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise BreakerConfigError("timeout must be positive")
        self.breaker = breaker
        self.retry = retry
        self.timeout = timeout
        self.bulkhead = bulkhead
        self.fallback = fallback
        self.fallback_on = fallback_on
        self._max_workers = max_workers
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.name = breaker.name if breaker is not None else "guard"

    # -- sync ---------------------------------------------------------------------

    def _with_timeout(self, function: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        timeout = self.timeout
        if timeout is None:
            return function(*args, **kwargs)
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    self._max_workers, thread_name_prefix=f"djed-breaker-{self.name}"
                )
        # The worker runs in the caller's context: its trace, its log context, its contextvars.
        context = contextvars.copy_context()
        future = self._executor.submit(context.run, function, *args, **kwargs)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise CallTimeoutError(self.name, timeout) from None

    def _attempt(self, function: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        timed: Callable[[], R] = functools.partial(self._with_timeout, function, *args, **kwargs)
        guarded = timed if self.breaker is None else functools.partial(self.breaker.call, timed)
        if self.bulkhead is None:
            return guarded()
        return self.bulkhead.call(guarded)

    def call(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``function`` under every protection of this guard (span ``djed.breaker.guard``)."""
        with _tracer.start_as_current_span(
            "djed.breaker.guard", attributes={"breaker.guard": self.name}
        ):
            return self._call(function, *args, **kwargs)

    def _call(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        stale = self.fallback if isinstance(self.fallback, Stale) else None
        try:
            if self.retry is None:
                result = self._attempt(function, *args, **kwargs)
            else:
                result = self.retry.call(
                    functools.partial(self._attempt, function, *args, **kwargs)
                )
        except self.fallback_on as error:
            if self.fallback is _NO_FALLBACK:
                raise
            return self._fallback(error, stale, args, kwargs)  # type: ignore[no-any-return]
        if stale is not None:
            stale.remember(stale.key_of(args, kwargs), result)
        return result

    def _fallback(
        self, error: BaseException, stale: Stale | None, args: tuple[Any, ...], kwargs: Any
    ) -> Any:
        fallback = self.fallback
        if fallback is SKIP:
            return None
        if stale is not None:
            found, value = stale.recall(stale.key_of(args, kwargs))
            if not found:
                raise error
            return value
        if isinstance(fallback, QueueForRetry):
            return fallback.enqueue(args, kwargs)
        if callable(fallback):
            return fallback(error, *args, **kwargs)
        return fallback

    # -- async ---------------------------------------------------------------------

    async def _attempt_async(
        self, function: Callable[..., Awaitable[R]], *args: Any, **kw: Any
    ) -> R:
        async def timed() -> R:
            if self.timeout is None:
                return await function(*args, **kw)
            try:
                async with asyncio.timeout(self.timeout):
                    return await function(*args, **kw)
            except TimeoutError:
                raise CallTimeoutError(self.name, self.timeout) from None

        async def guarded() -> R:
            if self.breaker is None:
                return await timed()
            return await self.breaker.call_async(timed)

        if self.bulkhead is None:
            return await guarded()
        return await self.bulkhead.call_async(guarded)

    async def call_async(
        self, function: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``function`` under every protection of this guard (one span, as ``call``)."""
        with _tracer.start_as_current_span(
            "djed.breaker.guard", attributes={"breaker.guard": self.name}
        ):
            return await self._call_async(function, *args, **kwargs)

    async def _call_async(
        self, function: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        stale = self.fallback if isinstance(self.fallback, Stale) else None
        try:
            if self.retry is None:
                result = await self._attempt_async(function, *args, **kwargs)
            else:
                attempt = functools.partial(self._attempt_async, function, *args, **kwargs)
                result = await self.retry.call_async(attempt)
        except self.fallback_on as error:
            if self.fallback is _NO_FALLBACK:
                raise
            if isinstance(self.fallback, QueueForRetry):
                # A durable write (fsync): keep it off the event loop.
                queued: Any = await asyncio.to_thread(self.fallback.enqueue, args, kwargs)
                return queued  # type: ignore[no-any-return]
            value = self._fallback(error, stale, args, kwargs)
            if inspect.isawaitable(value):
                value = await value
            return value  # type: ignore[no-any-return]
        if stale is not None:
            stale.remember(stale.key_of(args, kwargs), result)
        return result

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        """Use the guard as a decorator, on plain or ``async`` functions."""
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.call_async(function, *args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            return self.call(function, *args, **kwargs)

        return wrapper

    def close(self) -> None:
        """Stop the worker threads used for sync timeouts (running calls finish)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
