"""A circuit breaker and retries in plain code, written by `djed eject breaker`.

It keeps the names your code used from djed-breaker (``CircuitBreaker``,
``CircuitOpenError``, ``State``, ``Retry``) for the common options:
failure-rate windows over the last ``window_size`` calls, the consecutive
mode, an open period, half-open probes; retries with jittered exponential
backoff on tenacity. Left out: time windows, slow-call rates, growing open
periods, shared state across replicas, metrics. Yours to edit.
"""

from __future__ import annotations

import enum
import functools
import inspect
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import tenacity

__all__ = ["BreakerError", "CircuitBreaker", "CircuitOpenError", "Retry", "State"]

F = TypeVar("F", bound=Callable[..., Any])


class State(enum.StrEnum):
    """Where a breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerError(RuntimeError):
    """Root of this module's errors."""


class CircuitOpenError(BreakerError):
    """The breaker is open: the call was not made. Retry after ``retry_after`` seconds."""

    def __init__(self, name: str, retry_after: float | None) -> None:
        self.name = name
        self.retry_after = retry_after
        super().__init__(f"circuit {name!r} is open; retry in {retry_after or 0:.1f} s")


class CircuitBreaker:
    """Opens when failures reach ``failure_rate_threshold`` percent of the recent calls.

    With ``consecutive_failures=N`` it opens after N failures in a row instead.
    After ``open_duration`` seconds, ``half_open_max_calls`` probes decide
    whether it closes again. Use it as a decorator, or ``call``/``call_async``.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_rate_threshold: float = 50.0,
        window_size: int = 100,
        minimum_calls: int = 10,
        consecutive_failures: int | None = None,
        open_duration: float = 30.0,
        half_open_max_calls: int = 5,
        record: tuple[type[BaseException], ...] = (Exception,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = failure_rate_threshold
        self.minimum_calls = minimum_calls
        self.consecutive = consecutive_failures
        self.open_duration = open_duration
        self.probes = half_open_max_calls
        self.record = record
        self.clock = clock
        self._lock = threading.Lock()
        self._outcomes: deque[bool] = deque(maxlen=window_size)  # True for a failure
        self._state = State.CLOSED
        self._opened_at = 0.0
        self._probes_started = 0

    @property
    def state(self) -> State:
        """The current state (an open breaker turns half-open once its time is up)."""
        with self._lock:
            return self._current()

    def _current(self) -> State:
        if self._state is State.OPEN and self.clock() - self._opened_at >= self.open_duration:
            self._state, self._probes_started = State.HALF_OPEN, 0
            self._outcomes.clear()
        return self._state

    def _acquire(self) -> None:
        with self._lock:
            state = self._current()
            if state is State.OPEN:
                left = self.open_duration - (self.clock() - self._opened_at)
                raise CircuitOpenError(self.name, max(left, 0.0))
            if state is State.HALF_OPEN:
                if self._probes_started >= self.probes:
                    raise CircuitOpenError(self.name, 0.0)
                self._probes_started += 1

    def _trips(self) -> bool:
        failures = sum(self._outcomes)
        if self.consecutive is not None:
            recent = list(self._outcomes)[-self.consecutive :]
            return len(recent) == self.consecutive and all(recent)
        calls = len(self._outcomes)
        return calls >= self.minimum_calls and 100 * failures / calls >= self.threshold

    def _record(self, *, failed: bool) -> None:
        with self._lock:
            self._outcomes.append(failed)
            if self._state is State.HALF_OPEN:
                if failed and self.consecutive is not None:
                    self._open()
                elif len(self._outcomes) >= self.probes:
                    rate = 100 * sum(self._outcomes) / len(self._outcomes)
                    if rate >= self.threshold:
                        self._open()
                    else:
                        self._state = State.CLOSED
                        self._outcomes.clear()
            elif self._state is State.CLOSED and failed and self._trips():
                self._open()

    def _open(self) -> None:
        self._state, self._opened_at = State.OPEN, self.clock()
        self._outcomes.clear()

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)`` through the breaker."""
        self._acquire()
        try:
            result = function(*args, **kwargs)
        except self.record:
            self._record(failed=True)
            raise
        self._record(failed=False)
        return result

    async def call_async(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``await function(*args, **kwargs)`` through the breaker."""
        self._acquire()
        try:
            result = await function(*args, **kwargs)
        except self.record:
            self._record(failed=True)
            raise
        self._record(failed=False)
        return result

    def __call__(self, function: F) -> F:
        """Decorate a plain or ``async def`` function."""
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                return await self.call_async(function, *args, **kwargs)

            return guarded_async  # type: ignore[return-value]

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self.call(function, *args, **kwargs)

        return guarded  # type: ignore[return-value]


class Retry:
    """Up to ``attempts`` tries, waiting a random time up to ``initial * 2**n`` (capped)."""

    def __init__(
        self,
        attempts: int = 3,
        initial: float = 0.1,
        maximum: float = 10.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        self._options: dict[str, Any] = {
            "stop": tenacity.stop_after_attempt(attempts),
            "wait": tenacity.wait_random_exponential(multiplier=initial, max=maximum),
            "retry": tenacity.retry_if_exception_type(retry_on),
            "reraise": True,
        }

    def __call__(self, function: F) -> F:
        """Decorate a plain or ``async def`` function."""
        wrapped: F = tenacity.retry(**self._options)(function)
        return wrapped

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(*args, **kwargs)``, retried."""
        return tenacity.Retrying(**self._options)(function, *args, **kwargs)

    async def call_async(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``await function(*args, **kwargs)``, retried."""
        return await tenacity.AsyncRetrying(**self._options)(function, *args, **kwargs)
