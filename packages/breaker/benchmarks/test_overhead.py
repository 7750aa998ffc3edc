"""What a closed breaker, or a retry whose first try succeeds, adds to every call.

The guarded function returns a constant at once, so a case's time per call minus
the ``bare`` case's of its group (the same loop calling the function directly) is
the cost of the wrapper alone. Each round makes ``CALLS`` calls (``RETRY_CALLS``
in the retry group, where tenacity is slow). Async rounds await the calls inside
one coroutine, run on one event loop kept for the whole test.

Every breaker has its library's default settings. Before measuring, each case must
return the right value and its breaker must be closed (the retry cases: no retry
taken); after measuring it must still be so, and Djed's breaker must have recorded
every call made through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

import aiobreaker  # type: ignore[import-untyped]  # no type information installed
import circuitbreaker  # type: ignore[import-untyped]  # no type information installed
import purgatory
import pybreaker
import pytest
import tenacity
from djed.breaker import CircuitBreaker, Retry, State
from pytest_benchmark.fixture import BenchmarkFixture

CALLS = 10_000
RETRY_CALLS = 1_000
ANSWER = 42


def answer() -> int:
    return ANSWER


async def answer_async() -> int:
    return ANSWER


def _always() -> bool:
    return True


def _djed_healthy(breaker: CircuitBreaker) -> Callable[[], bool]:
    return lambda: breaker.state is State.CLOSED and breaker.failures == 0


# -- sync cases ----------------------------------------------------------------------------------


class SyncCase(NamedTuple):
    """One way of calling ``answer``: once, in a batch, and how to tell it is healthy."""

    call: Callable[[], int]
    batch: Callable[[int], None]
    healthy: Callable[[], bool]  # breaker closed, no failure recorded, no retry taken
    recorded: Callable[[], int] | None = None  # calls the breaker has counted


def _repeat(function: Callable[[], int]) -> Callable[[int], None]:
    def batch(calls: int) -> None:
        for _ in range(calls):
            function()

    return batch


def _repeat_through(
    through: Callable[[Callable[[], int]], int], function: Callable[[], int]
) -> Callable[[int], None]:
    def batch(calls: int) -> None:
        for _ in range(calls):
            through(function)

    return batch


def _sync_bare() -> SyncCase:
    return SyncCase(answer, _repeat(answer), _always)


def _sync_djed_decorated() -> SyncCase:
    breaker = CircuitBreaker("bench-sync")
    wrapped = breaker(answer)
    return SyncCase(wrapped, _repeat(wrapped), _djed_healthy(breaker), lambda: breaker.calls)


def _sync_djed_call() -> SyncCase:
    breaker = CircuitBreaker("bench-sync")
    return SyncCase(
        lambda: breaker.call(answer),
        _repeat_through(breaker.call, answer),
        _djed_healthy(breaker),
        lambda: breaker.calls,
    )


def _sync_pybreaker() -> SyncCase:
    breaker = pybreaker.CircuitBreaker(name="bench-sync")
    wrapped: Callable[[], int] = breaker(answer)

    def healthy() -> bool:
        return breaker.current_state == pybreaker.STATE_CLOSED and breaker.fail_counter == 0

    return SyncCase(wrapped, _repeat(wrapped), healthy)


def _sync_circuitbreaker() -> SyncCase:
    breaker = circuitbreaker.CircuitBreaker(name="bench-sync")
    wrapped: Callable[[], int] = breaker(answer)

    def healthy() -> bool:
        return bool(breaker.closed and breaker.failure_count == 0)

    return SyncCase(wrapped, _repeat(wrapped), healthy)


def _sync_purgatory() -> SyncCase:
    factory = purgatory.SyncCircuitBreakerFactory()
    wrapped: Callable[[], int] = factory("bench-sync")(answer)

    def healthy() -> bool:
        context = factory.get_breaker("bench-sync").context
        return context.state == "closed" and context.failure_count == 0

    return SyncCase(wrapped, _repeat(wrapped), healthy)


SYNC_CASES: dict[str, Callable[[], SyncCase]] = {
    "bare": _sync_bare,
    "djed_decorated": _sync_djed_decorated,
    "djed_call": _sync_djed_call,
    "pybreaker": _sync_pybreaker,
    "circuitbreaker": _sync_circuitbreaker,
    "purgatory_sync": _sync_purgatory,
}


def _retry_djed() -> SyncCase:
    retry = Retry(attempts=3)
    return SyncCase(lambda: retry.call(answer), _repeat_through(retry.call, answer), _always)


def _retry_tenacity() -> SyncCase:
    wrapped = tenacity.retry(stop=tenacity.stop_after_attempt(3))(answer)

    def healthy() -> bool:  # the last call succeeded at its first attempt
        return bool(wrapped.statistics.get("attempt_number") == 1)

    return SyncCase(wrapped, _repeat(wrapped), healthy)


RETRY_CASES: dict[str, Callable[[], SyncCase]] = {
    "bare": _sync_bare,
    "djed_retry": _retry_djed,
    "tenacity_decorator": _retry_tenacity,
}


def _measure_sync(benchmark: BenchmarkFixture, name: str, case: SyncCase, calls: int) -> None:
    assert case.call() == ANSWER, f"{name} returned the wrong value"
    assert case.healthy(), f"{name} is not closed (or retried) before measuring"
    before = case.recorded() if case.recorded is not None else 0
    batches = 0
    batch = case.batch

    def one_round() -> None:
        nonlocal batches
        batches += 1
        batch(calls)

    benchmark.extra_info.update(case=name, calls=calls)
    benchmark(one_round)
    assert case.call() == ANSWER
    assert case.healthy(), f"{name} left its closed state (or retried) while measured"
    if case.recorded is not None:
        assert case.recorded() - before == batches * calls + 1, f"{name} missed calls"


@pytest.mark.benchmark(group="breaker-sync")
@pytest.mark.parametrize("case", list(SYNC_CASES))
def test_sync_overhead(benchmark: BenchmarkFixture, case: str) -> None:
    """Each round calls a plain function ``CALLS`` times, bare or through a closed breaker."""
    _measure_sync(benchmark, case, SYNC_CASES[case](), CALLS)


@pytest.mark.benchmark(group="retry-first-try")
@pytest.mark.parametrize("case", list(RETRY_CASES))
def test_retry_first_try(benchmark: BenchmarkFixture, case: str) -> None:
    """Each round makes ``RETRY_CALLS`` calls that succeed at once, bare or with a retry policy."""
    _measure_sync(benchmark, case, RETRY_CASES[case](), RETRY_CALLS)


# -- async cases ---------------------------------------------------------------------------------


class AsyncCase(NamedTuple):
    """One way of awaiting ``answer_async``: once, in a batch, and how to tell it is healthy."""

    call: Callable[[], Coroutine[Any, Any, int]]
    batch: Callable[[int], Coroutine[Any, Any, None]]
    healthy: Callable[[], Coroutine[Any, Any, bool]]
    recorded: Callable[[], int] | None = None


AsyncFunction = Callable[[], Coroutine[Any, Any, int]]


def _repeat_async(function: AsyncFunction) -> Callable[[int], Coroutine[Any, Any, None]]:
    async def batch(calls: int) -> None:
        for _ in range(calls):
            await function()

    return batch


def _repeat_through_async(
    through: Callable[[AsyncFunction], Coroutine[Any, Any, int]], function: AsyncFunction
) -> Callable[[int], Coroutine[Any, Any, None]]:
    async def batch(calls: int) -> None:
        for _ in range(calls):
            await through(function)

    return batch


def _checked(check: Callable[[], bool]) -> Callable[[], Coroutine[Any, Any, bool]]:
    async def healthy() -> bool:
        return check()

    return healthy


def _async_bare() -> AsyncCase:
    return AsyncCase(answer_async, _repeat_async(answer_async), _checked(_always))


def _async_djed_decorated() -> AsyncCase:
    breaker = CircuitBreaker("bench-async")
    wrapped = breaker(answer_async)
    return AsyncCase(
        wrapped, _repeat_async(wrapped), _checked(_djed_healthy(breaker)), lambda: breaker.calls
    )


def _async_djed_call() -> AsyncCase:
    breaker = CircuitBreaker("bench-async")
    return AsyncCase(
        lambda: breaker.call_async(answer_async),
        _repeat_through_async(breaker.call_async, answer_async),
        _checked(_djed_healthy(breaker)),
        lambda: breaker.calls,
    )


def _async_aiobreaker() -> AsyncCase:
    breaker = aiobreaker.CircuitBreaker(name="bench-async")
    wrapped: AsyncFunction = breaker(answer_async)

    def healthy() -> bool:
        closed = aiobreaker.CircuitBreakerState.CLOSED
        return bool(breaker.current_state is closed and breaker.fail_counter == 0)

    return AsyncCase(wrapped, _repeat_async(wrapped), _checked(healthy))


def _async_purgatory() -> AsyncCase:
    factory = purgatory.AsyncCircuitBreakerFactory()
    wrapped: AsyncFunction = factory("bench-async")(answer_async)

    async def healthy() -> bool:
        context = (await factory.get_breaker("bench-async")).context
        return context.state == "closed" and context.failure_count == 0

    return AsyncCase(wrapped, _repeat_async(wrapped), healthy)


def _async_circuitbreaker() -> AsyncCase:
    breaker = circuitbreaker.CircuitBreaker(name="bench-async")
    wrapped: AsyncFunction = breaker(answer_async)

    def healthy() -> bool:
        return bool(breaker.closed and breaker.failure_count == 0)

    return AsyncCase(wrapped, _repeat_async(wrapped), _checked(healthy))


ASYNC_CASES: dict[str, Callable[[], AsyncCase]] = {
    "bare": _async_bare,
    "djed_decorated": _async_djed_decorated,
    "djed_call_async": _async_djed_call,
    "aiobreaker": _async_aiobreaker,
    "purgatory": _async_purgatory,
    "circuitbreaker": _async_circuitbreaker,
}


@pytest.mark.benchmark(group="breaker-async")
@pytest.mark.parametrize("case", list(ASYNC_CASES))
def test_async_overhead(benchmark: BenchmarkFixture, case: str) -> None:
    """Each round awaits a coroutine function ``CALLS`` times, bare or through a closed breaker."""
    subject = ASYNC_CASES[case]()
    with asyncio.Runner() as runner:
        assert runner.run(subject.call()) == ANSWER, f"{case} returned the wrong value"
        assert runner.run(subject.healthy()), f"{case} is not closed before measuring"
        before = subject.recorded() if subject.recorded is not None else 0
        batches = 0
        batch = subject.batch

        def one_round() -> None:
            nonlocal batches
            batches += 1
            runner.run(batch(CALLS))

        benchmark.extra_info.update(case=case, calls=CALLS)
        benchmark(one_round)
        assert runner.run(subject.call()) == ANSWER
        assert runner.run(subject.healthy()), f"{case} left its closed state while measured"
    if subject.recorded is not None:
        assert subject.recorded() - before == batches * CALLS + 1, f"{case} missed calls"
