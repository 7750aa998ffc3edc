"""Retries on tenacity, entered only after a first failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import tenacity

from . import _metrics
from ._errors import BreakerConfigError, BreakerError

__all__ = ["Retry"]

P = ParamSpec("P")
R = TypeVar("R")


class _Replay:
    """The first failure, handed to tenacity as its first attempt so no call is repeated."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error: BaseException | None = error


class Retry:
    """Try a failed call again, with exponential backoff and full jitter.

    >>> retry = Retry(attempts=3, initial=0.1, maximum=2.0)
    >>> retry.call(fetch_rates, "EUR")  # doctest: +SKIP

    The first try is a plain call: a call that succeeds at once pays nothing for
    retrying. Only after it fails does tenacity take over, with the first failure
    as its first attempt. Waits are random between 0 and ``initial * 2**n``, capped
    at ``maximum`` ("full jitter"), so many clients do not retry in step.
    ``retry_on`` (exception types or a predicate) says what is worth retrying;
    the breaker's own refusals (:class:`BreakerError`) never are.
    """

    __slots__ = (
        "__weakref__",
        "_retry_on",
        "_sleep",
        "_sleep_async",
        "attempts",
        "initial",
        "maximum",
        "retries",
    )

    def __init__(
        self,
        *,
        attempts: int = 3,
        initial: float = 0.1,
        maximum: float = 10.0,
        retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = (Exception,),
        sleep: Callable[[float], None] = time.sleep,
        sleep_async: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if attempts < 1:
            raise BreakerConfigError("attempts must be at least 1 (1 means no retry)")
        if initial < 0 or maximum < initial:
            raise BreakerConfigError("initial must be >= 0 and maximum >= initial")
        if isinstance(retry_on, tuple):
            types = retry_on
            self._retry_on: Callable[[BaseException], bool] = lambda exc: isinstance(exc, types)
        elif callable(retry_on):
            self._retry_on = retry_on
        else:
            raise BreakerConfigError("retry_on must be a tuple of exception types or a callable")
        self.attempts = attempts
        self.initial = initial
        self.maximum = maximum
        self._sleep = sleep
        self._sleep_async = sleep_async
        self.retries = 0  # attempts after a first failure, for metrics
        _metrics.track(self)

    def should_retry(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another attempt."""
        return not isinstance(error, BreakerError) and self._retry_on(error)

    def _options(self) -> dict[str, Any]:
        return {
            "stop": tenacity.stop_after_attempt(self.attempts),
            "wait": tenacity.wait_random_exponential(multiplier=self.initial, max=self.maximum),
            "retry": tenacity.retry_if_exception(self.should_retry),
            "reraise": True,
        }

    def call(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``function``, retrying it after failures worth retrying."""
        try:
            return function(*args, **kwargs)
        except Exception as error:
            if self.attempts == 1 or not self.should_retry(error):
                raise
            replay = _Replay(error)

        def attempt() -> R:
            if replay.error is not None:
                error, replay.error = replay.error, None
                raise error
            self.retries += 1
            return function(*args, **kwargs)

        retrying = tenacity.Retrying(sleep=self._sleep, **self._options())
        return retrying(attempt)

    async def call_async(
        self, function: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``function``, retrying it after failures worth retrying."""
        try:
            return await function(*args, **kwargs)
        except Exception as error:
            if self.attempts == 1 or not self.should_retry(error):
                raise
            replay = _Replay(error)

        async def attempt() -> R:
            if replay.error is not None:
                error, replay.error = replay.error, None
                raise error
            self.retries += 1
            return await function(*args, **kwargs)

        retrying = tenacity.AsyncRetrying(sleep=self._sleep_async, **self._options())
        return await retrying(attempt)

    def __repr__(self) -> str:
        return f"Retry(attempts={self.attempts}, initial={self.initial}, maximum={self.maximum})"
