"""Whether a breaker lets threads wait on a slow dependency at the same time.

Each round starts ``THREADS`` threads that each make ``CALLS_PER_THREAD`` calls of
a function that sleeps ``SLEEP`` seconds (as a blocking network call would), bare
or through a closed breaker, and waits for all of them. The threads are created
before the round's clock starts; starting and joining them is timed. The report
divides each case's median round by the bare case's: a breaker that lets the
calls overlap stays near 1, one that runs them one at a time approaches
``THREADS``.

The function also counts how many calls were inside it at once; the highest count
is reported as ``peak_in_flight`` (scheduling decides it, so nothing asserts it).
Without ``--benchmark-enable`` each case runs one round.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import circuitbreaker  # type: ignore[import-untyped]  # no type information installed
import pybreaker
import pytest
from djed.breaker import CircuitBreaker, State
from pytest_benchmark.fixture import BenchmarkFixture

SLEEP = 0.05
THREADS = 8
CALLS_PER_THREAD = 1
ROUNDS = 7
WARMUP_ROUNDS = 1
ANSWER = 42


class SlowDependency:
    """A call that blocks for ``SLEEP`` seconds and counts how many run at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self.peak = 0

    def call(self) -> int:
        with self._lock:
            self._inside += 1
            self.peak = max(self.peak, self._inside)
        try:
            time.sleep(SLEEP)
        finally:
            with self._lock:
                self._inside -= 1
        return ANSWER


Wrapped = tuple[Callable[[], int], Callable[[], bool]]  # the guarded call, and "still closed?"


def _bare(function: Callable[[], int]) -> Wrapped:
    return function, lambda: True


def _djed(function: Callable[[], int]) -> Wrapped:
    breaker = CircuitBreaker("bench-threads")
    return breaker(function), lambda: breaker.state is State.CLOSED and breaker.failures == 0


def _pybreaker(function: Callable[[], int]) -> Wrapped:
    breaker = pybreaker.CircuitBreaker(name="bench-threads")
    wrapped: Callable[[], int] = breaker(function)
    return wrapped, lambda: breaker.current_state == pybreaker.STATE_CLOSED


def _circuitbreaker(function: Callable[[], int]) -> Wrapped:
    breaker = circuitbreaker.CircuitBreaker(name="bench-threads")
    wrapped: Callable[[], int] = breaker(function)
    return wrapped, lambda: bool(breaker.closed and breaker.failure_count == 0)


CASES: dict[str, Callable[[Callable[[], int]], Wrapped]] = {
    "bare": _bare,
    "djed": _djed,
    "pybreaker": _pybreaker,
    "circuitbreaker": _circuitbreaker,
}


def _start_and_join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.benchmark(group="breaker-threads")
@pytest.mark.parametrize("case", list(CASES))
def test_threads_share_a_slow_call(benchmark: BenchmarkFixture, case: str) -> None:
    """Each round: ``THREADS`` threads make ``CALLS_PER_THREAD`` calls of ``SLEEP`` seconds."""
    dependency = SlowDependency()
    call, closed = CASES[case](dependency.call)
    assert closed(), f"{case} is not closed before measuring"
    results: list[int] = []
    rounds = 0

    def worker() -> None:
        results.extend(call() for _ in range(CALLS_PER_THREAD))

    def new_threads() -> tuple[tuple[list[threading.Thread]], dict[str, Any]]:
        nonlocal rounds
        rounds += 1
        threads = [
            threading.Thread(target=worker, name=f"bench-{case}-{n}") for n in range(THREADS)
        ]
        return (threads,), {}

    benchmark.extra_info.update(case=case, calls=1)
    benchmark.pedantic(  # type: ignore[no-untyped-call]  # unannotated upstream
        _start_and_join, setup=new_threads, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS
    )
    benchmark.extra_info["peak_in_flight"] = dependency.peak
    assert results == [ANSWER] * (rounds * THREADS * CALLS_PER_THREAD), f"{case} lost calls"
    assert closed(), f"{case} left its closed state while measured"
