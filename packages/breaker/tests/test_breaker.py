from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from djed.breaker import (
    BreakerConfigError,
    BreakerError,
    CircuitBreaker,
    CircuitOpenError,
    State,
)
from djed.breaker.testing import FakeClock, Flaky, FlakyError


def breaker(clock: FakeClock, **options: Any) -> CircuitBreaker:
    options.setdefault("minimum_calls", 4)
    options.setdefault("window_size", 10)
    options.setdefault("open_duration", 30)
    options.setdefault("half_open_max_calls", 2)
    return CircuitBreaker("dep", clock=clock, **options)


def state_of(cb: CircuitBreaker) -> State:
    """Read the state through a call, so type checkers do not narrow it between asserts."""
    return cb.state


def fail(cb: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(FlakyError):
            cb.call(Flaky(["fail"]))


def succeed(cb: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert cb.call(lambda: "ok") == "ok"


class TestTransitions:
    def test_closed_until_minimum_calls(self) -> None:
        """Failures below minimum_calls never open the breaker."""
        cb = breaker(FakeClock())
        fail(cb, 3)
        assert state_of(cb) is State.CLOSED

    def test_opens_at_failure_rate(self) -> None:
        """At minimum_calls with the failure rate at the threshold, it opens."""
        cb = breaker(FakeClock(), failure_rate_threshold=50)
        succeed(cb, 2)
        fail(cb, 2)
        assert state_of(cb) is State.OPEN

    def test_stays_closed_below_rate(self) -> None:
        """A failure rate below the threshold keeps it closed."""
        cb = breaker(FakeClock(), failure_rate_threshold=50)
        succeed(cb, 3)
        fail(cb, 1)
        succeed(cb, 3)
        fail(cb, 1)
        assert state_of(cb) is State.CLOSED

    def test_open_rejects_without_calling(self) -> None:
        """An open breaker raises CircuitOpenError with retry_after and never calls."""
        clock = FakeClock()
        cb = breaker(clock)
        fail(cb, 4)
        clock.advance(10)
        target = Flaky(["ok"])
        with pytest.raises(CircuitOpenError) as info:
            cb.call(target)
        assert target.calls == 0
        assert info.value.name == "dep"
        assert info.value.retry_after == pytest.approx(20)
        assert isinstance(info.value, BreakerError)

    def test_half_open_after_open_duration_then_closes(self) -> None:
        """After open_duration probes go through; all succeeding closes the breaker."""
        clock = FakeClock()
        cb = breaker(clock)
        fail(cb, 4)
        clock.advance(30)
        succeed(cb)
        assert state_of(cb) is State.HALF_OPEN
        succeed(cb)
        assert state_of(cb) is State.CLOSED

    def test_half_open_failure_reopens(self) -> None:
        """Failing probes (at the failure threshold) open it again."""
        clock = FakeClock()
        cb = breaker(clock)
        fail(cb, 4)
        clock.advance(30)
        fail(cb, 2)
        assert state_of(cb) is State.OPEN

    def test_half_open_admits_only_the_permitted_probes(self) -> None:
        """Beyond half_open_max_calls running probes, calls fail fast."""
        clock = FakeClock()
        cb = breaker(clock, half_open_max_calls=1)
        fail(cb, 4)
        clock.advance(30)
        entered = threading.Event()
        release = threading.Event()

        def slow() -> str:
            entered.set()
            release.wait(5)
            return "ok"

        worker = threading.Thread(target=cb.call, args=(slow,))
        worker.start()
        assert entered.wait(5)
        with pytest.raises(CircuitOpenError):
            cb.call(lambda: "second")
        release.set()
        worker.join()
        assert state_of(cb) is State.CLOSED

    def test_open_duration_grows_on_repeated_trips(self) -> None:
        """With a multiplier, each trip in a row doubles the open period, up to the maximum."""
        clock = FakeClock()
        cb = breaker(
            clock, open_duration_multiplier=2, max_open_duration=100, half_open_max_calls=1
        )
        fail(cb, 4)
        assert cb.retry_after == pytest.approx(30)
        clock.advance(30)
        fail(cb, 1)  # probe fails: reopen
        fail_fast = cb.retry_after
        assert fail_fast == pytest.approx(60)
        clock.advance(60)
        fail(cb, 1)
        assert cb.retry_after == pytest.approx(100)
        clock.advance(100)
        succeed(cb, 1)
        assert state_of(cb) is State.CLOSED
        fail(cb, 4)
        assert cb.retry_after == pytest.approx(30)

    def test_forced_open_disabled_and_reset(self) -> None:
        """force_open rejects everything, disable passes everything, reset closes."""
        cb = breaker(FakeClock())
        cb.force_open()
        with pytest.raises(CircuitOpenError) as info:
            cb.call(lambda: 1)
        assert info.value.retry_after is None
        cb.disable()
        fail(cb, 20)
        assert state_of(cb) is State.DISABLED
        cb.reset()
        assert state_of(cb) is State.CLOSED
        assert cb.stats()["window_calls"] == 0


class TestWindows:
    def test_count_window_slides(self) -> None:
        """Only the last window_size calls count."""
        cb = breaker(FakeClock(), window_size=4, minimum_calls=4, failure_rate_threshold=75)
        fail(cb, 2)
        succeed(cb, 4)  # the failures slide out
        fail(cb, 2)
        assert state_of(cb) is State.CLOSED
        fail(cb, 1)
        assert state_of(cb) is State.OPEN

    def test_time_window_forgets_old_seconds(self) -> None:
        """A time window counts only the calls of the last window_size seconds."""
        clock = FakeClock()
        cb = breaker(clock, window="time", window_size=10, minimum_calls=3)
        fail(cb, 2)
        clock.advance(11)
        succeed(cb, 2)
        fail(cb, 1)
        assert state_of(cb) is State.CLOSED
        fail(cb, 1)
        assert state_of(cb) is State.OPEN

    def test_slow_calls(self) -> None:
        """Calls slower than slow_call_duration count towards the slow-call rate."""
        clock = FakeClock()
        cb = breaker(clock, slow_call_duration=2, slow_call_rate_threshold=50)
        slow = Flaky(["ok"], clock=clock, duration=3)
        for _ in range(2):
            cb.call(lambda: "fast")
        for _ in range(2):
            cb.call(slow)
        assert state_of(cb) is State.OPEN
        assert cb.stats()["slow_calls"] == 2

    def test_consecutive_mode(self) -> None:
        """consecutive_failures=N opens after N failures in a row; a success resets the count."""
        clock = FakeClock()
        cb = breaker(clock, consecutive_failures=3)
        fail(cb, 2)
        succeed(cb)
        fail(cb, 2)
        assert state_of(cb) is State.CLOSED
        fail(cb)
        assert state_of(cb) is State.OPEN
        clock.advance(30)
        fail(cb)
        assert state_of(cb) is State.OPEN


class TestClassification:
    def test_ignored_exceptions_do_not_count(self) -> None:
        """ignore= exceptions propagate but are neither successes nor failures."""
        cb = breaker(FakeClock(), ignore=(KeyError,))
        for _ in range(10):
            with pytest.raises(KeyError):
                cb.call(Flaky([KeyError("x")]))
        assert state_of(cb) is State.CLOSED
        assert cb.stats()["window_calls"] == 0
        assert cb.stats()["ignored"] == 10

    def test_record_predicate(self) -> None:
        """record= decides which exceptions are failures; others count as successes."""
        cb = breaker(FakeClock(), record=lambda exc: isinstance(exc, ConnectionError))
        for _ in range(6):
            with pytest.raises(ValueError, match="bad input"):
                cb.call(Flaky([ValueError("bad input")]))
        assert state_of(cb) is State.CLOSED
        fail(cb, 5)  # the window of 10 now holds 5 successes and 5 failures
        assert state_of(cb) is State.OPEN

    def test_record_result(self) -> None:
        """record_result marks some return values as failures."""
        cb = breaker(FakeClock(), record_result=lambda r: r >= 500)
        for _ in range(4):
            assert cb.call(lambda: 503) == 503
        assert state_of(cb) is State.OPEN

    def test_keyboard_interrupt_is_not_a_failure(self) -> None:
        """BaseExceptions outside record (cancellation, interrupts) are not failures."""
        cb = breaker(FakeClock())
        for _ in range(6):
            with pytest.raises(KeyboardInterrupt):
                cb.call(Flaky([KeyboardInterrupt()]))
        assert state_of(cb) is State.CLOSED


class TestForms:
    def test_decorator_keeps_metadata(self) -> None:
        """@breaker wraps a function and keeps its name and docstring."""
        cb = breaker(FakeClock())

        @cb
        def charge(amount: int) -> int:
            """Charge a card."""
            return amount

        assert charge(5) == 5
        assert charge.__name__ == "charge"
        assert charge.__doc__ == "Charge a card."

    def test_context_manager(self) -> None:
        """`with breaker:` records the block's outcome and rejects when open."""
        cb = breaker(FakeClock())
        for _ in range(4):
            with pytest.raises(FlakyError), cb:
                raise FlakyError("down")
        assert state_of(cb) is State.OPEN
        with pytest.raises(CircuitOpenError), cb:
            pytest.fail("the block must not run")

    @pytest.mark.asyncio
    async def test_async_call_and_decorator(self) -> None:
        """call_async and an async decorated function behave like the sync ones."""
        clock = FakeClock()
        cb = breaker(clock)
        flaky = Flaky(["fail"])

        @cb
        async def fetch() -> str:
            return str(await flaky.acall())

        for _ in range(4):
            with pytest.raises(FlakyError):
                await fetch()
        with pytest.raises(CircuitOpenError):
            await cb.call_async(flaky.acall)
        clock.advance(30)
        assert await cb.call_async(Flaky(["ok"], result="back").acall) == "back"

    @pytest.mark.asyncio
    async def test_async_context_manager(self) -> None:
        """`async with breaker:` works like the sync form."""
        cb = breaker(FakeClock())
        async with cb:
            await asyncio.sleep(0)
        assert cb.stats()["window_calls"] == 1

    @pytest.mark.asyncio
    async def test_half_open_probes_under_asyncio(self) -> None:
        """Under many concurrent tasks exactly half_open_max_calls probes run."""
        clock = FakeClock()
        cb = breaker(clock, half_open_max_calls=3)
        fail(cb, 4)
        clock.advance(30)
        started = 0
        gate = asyncio.Event()

        async def probe() -> str:
            nonlocal started
            started += 1
            await gate.wait()
            return "ok"

        async def attempt() -> str:
            try:
                return await cb.call_async(probe)
            except CircuitOpenError:
                return "rejected"

        tasks = [asyncio.create_task(attempt()) for _ in range(20)]
        await asyncio.sleep(0.01)
        gate.set()
        results = await asyncio.gather(*tasks)
        assert started == 3
        assert results.count("ok") == 3
        assert results.count("rejected") == 17
        assert state_of(cb) is State.CLOSED

    def test_half_open_probes_under_threads(self) -> None:
        """Under 16 threads at once exactly half_open_max_calls probes run."""
        clock = FakeClock()
        cb = breaker(clock, half_open_max_calls=2)
        fail(cb, 4)
        clock.advance(30)
        barrier = threading.Barrier(16)
        gate = threading.Event()
        started: list[int] = []
        results: list[str] = []

        def probe() -> str:
            started.append(1)
            gate.wait(5)
            return "ok"

        def attempt() -> None:
            barrier.wait()
            try:
                results.append(cb.call(probe))
            except CircuitOpenError:
                results.append("rejected")

        threads = [threading.Thread(target=attempt) for _ in range(16)]
        for thread in threads:
            thread.start()
        while len(results) < 14:
            threading.Event().wait(0.01)
        gate.set()
        for thread in threads:
            thread.join()
        assert len(started) == 2
        assert results.count("ok") == 2


class TestObservability:
    def test_listeners_and_log_lines(self, caplog: pytest.LogCaptureFixture) -> None:
        """Every transition calls the listeners and logs one line under djed.breaker."""
        clock = FakeClock()
        seen: list[tuple[str, str]] = []
        cb = breaker(clock, listeners=[lambda b, old, new: seen.append((old.value, new.value))])
        with caplog.at_level(logging.INFO, logger="djed.breaker"):
            fail(cb, 4)
            clock.advance(30)
            succeed(cb, 2)
        assert seen == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
        lines = [r.getMessage() for r in caplog.records if r.name == "djed.breaker"]
        assert len(lines) == 3
        assert lines[0].startswith("circuit breaker dep: closed -> open (failure rate 100%")

    def test_failing_listener_does_not_break_calls(self, caplog: pytest.LogCaptureFixture) -> None:
        """A listener that raises is logged; the caller is unaffected."""

        def broken(*_: object) -> None:
            raise RuntimeError("listener bug")

        cb = breaker(FakeClock(), listeners=[broken])
        with caplog.at_level(logging.ERROR, logger="djed.breaker"):
            fail(cb, 4)
        assert state_of(cb) is State.OPEN
        assert "a state listener failed" in caplog.text


class TestConfiguration:
    @pytest.mark.parametrize(
        ("options", "match"),
        [
            ({"failure_rate_threshold": 0}, "percentages"),
            ({"window": "sliding"}, "window must be"),
            ({"minimum_calls": 0}, "at least 1"),
            ({"open_duration": 0}, "open_duration must be positive"),
            ({"record": "ValueError"}, "record must be"),
            ({"consecutive_failures": 0}, "consecutive_failures"),
        ],
    )
    def test_bad_settings(self, options: dict[str, Any], match: str) -> None:
        """A bad setting is a BreakerConfigError (a ValueError) naming it."""
        with pytest.raises(BreakerConfigError, match=match):
            CircuitBreaker("x", **options)
        assert issubclass(BreakerConfigError, ValueError)


class TestSpanEvents:
    def test_transition_adds_a_span_event(self) -> None:
        """Inside a recording OpenTelemetry span, each transition adds a span event."""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        cb = breaker(FakeClock())
        with provider.get_tracer("test").start_as_current_span("checkout"):
            fail(cb, 4)
        (span,) = exporter.get_finished_spans()
        (event,) = span.events
        assert event.name == "circuit_breaker.state_change"
        assert event.attributes is not None
        assert dict(event.attributes)["to"] == "open"
