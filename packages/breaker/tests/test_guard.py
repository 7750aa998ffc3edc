from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

import pytest
from djed.breaker import (
    SKIP,
    BreakerConfigError,
    CallTimeoutError,
    CircuitBreaker,
    CircuitOpenError,
    Guard,
    Retry,
    Stale,
    State,
)
from djed.breaker.testing import FakeClock, Flaky, FlakyError


def no_sleep(_: float) -> None:
    """Retries in tests never wait."""


async def no_sleep_async(_: float) -> None:
    """Async retries in tests never wait."""


def quick_retry(attempts: int = 3, **options: Any) -> Retry:
    return Retry(attempts=attempts, sleep=no_sleep, sleep_async=no_sleep_async, **options)


class TestRetry:
    def test_first_success_calls_once(self) -> None:
        """A call that succeeds at once is made once."""
        target = Flaky(["ok"])
        assert quick_retry().call(target) == "ok"
        assert target.calls == 1

    def test_retries_until_success(self) -> None:
        """Failures are retried up to the attempt limit."""
        target = Flaky(["fail", "fail", "ok"])
        assert quick_retry(3).call(target) == "ok"
        assert target.calls == 3

    def test_gives_up_with_the_last_error(self) -> None:
        """After the last attempt the last error propagates (not a tenacity wrapper)."""
        target = Flaky(["fail"])
        with pytest.raises(FlakyError):
            quick_retry(4).call(target)
        assert target.calls == 4

    def test_retry_on(self) -> None:
        """Errors outside retry_on are raised at once."""
        target = Flaky([ValueError("bad request")])
        with pytest.raises(ValueError, match="bad request"):
            quick_retry(5, retry_on=(ConnectionError,)).call(target)
        assert target.calls == 1

    def test_backoff_is_full_jitter_and_capped(self) -> None:
        """Each wait lies between 0 and initial * 2**n, never above maximum."""
        waits: list[float] = []
        retry = Retry(attempts=6, initial=0.5, maximum=2.0, sleep=waits.append)
        with pytest.raises(FlakyError):
            retry.call(Flaky(["fail"]))
        assert len(waits) == 5
        for n, wait in enumerate(waits):
            assert 0 <= wait <= min(2.0, 0.5 * 2 ** (n + 1))

    @pytest.mark.asyncio
    async def test_async(self) -> None:
        """call_async retries coroutines the same way."""
        target = Flaky(["fail", "ok"])
        assert await quick_retry().call_async(target.acall) == "ok"
        assert target.calls == 2

    def test_bad_settings(self) -> None:
        """attempts below 1 is refused."""
        with pytest.raises(BreakerConfigError, match="attempts"):
            Retry(attempts=0)


class TestGuardWithBreaker:
    def test_each_attempt_is_counted_and_rechecked(self) -> None:
        """Retries go through the breaker: it opens mid-retry and the retrying stops."""
        clock = FakeClock()
        breaker = CircuitBreaker("dep", clock=clock, consecutive_failures=2)
        target = Flaky(["fail"])
        guard = Guard(breaker, retry=quick_retry(5))
        with pytest.raises(CircuitOpenError):
            guard.call(target)
        assert target.calls == 2
        assert breaker.state is State.OPEN

    def test_fallback_value_when_open(self) -> None:
        """An open breaker's refusal turns into the fallback value."""
        breaker = CircuitBreaker("dep", clock=FakeClock(), consecutive_failures=1)
        guard = Guard(breaker, fallback="cached rates")
        assert guard.call(Flaky(["fail"])) == "cached rates"
        assert guard.call(Flaky(["ok"])) == "cached rates"  # open: not even called

    def test_fallback_callable_gets_the_error_and_arguments(self) -> None:
        """A callable fallback receives the error and the call's arguments."""
        seen: list[Any] = []

        def fallback(error: BaseException, *args: Any) -> str:
            seen.append((type(error), args))
            return "fb"

        guard = Guard(fallback=fallback)
        assert guard.call(Flaky(["fail"]), "order-7") == "fb"
        assert seen == [(FlakyError, ("order-7",))]

    def test_skip(self) -> None:
        """SKIP makes a failing non-critical call return None."""
        assert Guard(fallback=SKIP).call(Flaky(["fail"])) is None

    def test_stale_serves_the_last_good_result(self) -> None:
        """Stale returns the last good result for the same arguments, else re-raises."""
        guard = Guard(fallback=Stale())
        rates = Flaky(["ok", "fail"], result={"EUR": 1.08})
        assert guard.call(rates, "EUR") == {"EUR": 1.08}
        assert guard.call(rates, "EUR") == {"EUR": 1.08}
        with pytest.raises(FlakyError):
            guard.call(rates, "GBP")

    def test_no_fallback_reraises(self) -> None:
        """Without a fallback the error propagates."""
        with pytest.raises(FlakyError):
            Guard().call(Flaky(["fail"]))


class TestTimeouts:
    def test_sync_timeout_returns_at_the_deadline(self) -> None:
        """A hung sync call gives CallTimeoutError at its deadline; the worker ends later."""
        release = threading.Event()
        guard = Guard(timeout=0.05)
        try:
            with pytest.raises(CallTimeoutError) as info:
                guard.call(release.wait, 10)
            assert info.value.timeout == 0.05
            assert isinstance(info.value, TimeoutError)
        finally:
            release.set()
            guard.close()

    def test_timeout_counts_as_a_breaker_failure(self) -> None:
        """Timeouts are failures of the breaker's window."""
        breaker = CircuitBreaker("slow", consecutive_failures=2)
        release = threading.Event()
        guard = Guard(breaker, timeout=0.02)
        try:
            for _ in range(2):
                with pytest.raises(CallTimeoutError):
                    guard.call(release.wait, 10)
            assert breaker.state is State.OPEN
        finally:
            release.set()
            guard.close()

    @pytest.mark.asyncio
    async def test_async_timeout_cancels(self) -> None:
        """An async call past its deadline is cancelled and raises CallTimeoutError."""
        cancelled = asyncio.Event()

        async def hang() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        guard = Guard(timeout=0.02)
        started = time.monotonic()
        with pytest.raises(CallTimeoutError):
            await guard.call_async(hang)
        assert cancelled.is_set()
        assert time.monotonic() - started < 5  # a hang guard, not a performance check

    @pytest.mark.asyncio
    async def test_async_guard_with_fallback_and_retry(self) -> None:
        """The async path composes breaker, retry and fallback like the sync one."""
        breaker = CircuitBreaker("dep", clock=FakeClock(), consecutive_failures=3)
        target = Flaky(["fail"])
        guard = Guard(breaker, retry=quick_retry(5), fallback="offline")

        @guard
        async def fetch() -> str:
            return str(await target.acall())

        assert await fetch() == "offline"
        assert target.calls == 3


_REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


def test_a_timed_call_runs_in_the_callers_context() -> None:
    """The worker thread of a timeout sees the caller's contextvars (trace, log context)."""
    guard = Guard(CircuitBreaker("ctx"), timeout=5.0)
    token = _REQUEST.set("req-42")
    try:
        seen = guard.call(lambda: (_REQUEST.get(), threading.current_thread().name))
    finally:
        _REQUEST.reset(token)
    assert seen[0] == "req-42"
    assert seen[1].startswith("djed-breaker-ctx"), "it did run in the worker thread"
