"""CircuitBreaker: closed, open, half-open; count or time windows; sync and async."""

from __future__ import annotations

import contextvars
import enum
import functools
import inspect
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, ParamSpec, TypeVar

from . import _metrics
from ._errors import BreakerConfigError, CircuitOpenError
from ._window import FAILURE, SLOW, CountWindow, TimeWindow

__all__ = ["CircuitBreaker", "State", "StateListener"]

P = ParamSpec("P")
R = TypeVar("R")

_log = logging.getLogger("djed.breaker")


class State(enum.StrEnum):
    """Where a breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


_CLOSED, _OPEN, _HALF_OPEN = State.CLOSED, State.OPEN, State.HALF_OPEN
_FORCED_OPEN, _DISABLED = State.FORCED_OPEN, State.DISABLED

StateListener = Callable[["CircuitBreaker", State, State], None]
"""Called as ``listener(breaker, old_state, new_state)`` after every transition."""

ExceptionFilter = tuple[type[BaseException], ...] | Callable[[BaseException], bool]


def _matcher(value: ExceptionFilter, what: str) -> Callable[[BaseException], bool]:
    if isinstance(value, tuple):
        if not all(isinstance(t, type) and issubclass(t, BaseException) for t in value):
            raise BreakerConfigError(f"{what} must be a tuple of exception types or a callable")
        types = value
        return lambda exc: isinstance(exc, types)
    if callable(value):
        return value
    raise BreakerConfigError(f"{what} must be a tuple of exception types or a callable")


class CircuitBreaker:
    """Stop calling a failing dependency, and find out by itself when it is back.

    >>> payments = CircuitBreaker("payments", failure_rate_threshold=50, minimum_calls=10)
    >>> @payments
    ... def charge(order): ...

    Closed, it lets calls through and records their outcomes in a sliding window
    (the last ``window_size`` calls, or the last ``window_size`` seconds with
    ``window="time"``). Once the window holds ``minimum_calls`` calls and the
    share of failures reaches ``failure_rate_threshold`` percent (or the share of
    calls slower than ``slow_call_duration`` reaches ``slow_call_rate_threshold``),
    it opens: calls fail at once with :class:`CircuitOpenError` for
    ``open_duration`` seconds, which grows by ``open_duration_multiplier`` on each
    trip in a row, up to ``max_open_duration``. Then it is half-open: exactly
    ``half_open_max_calls`` probe calls go through, across threads and tasks, and
    their outcomes decide whether it closes or opens again.

    With ``consecutive_failures=N`` the window is replaced by a simpler rule: open
    after N failures in a row; in half-open one failure reopens.

    ``record`` says which exceptions count as failures (default: ``Exception``),
    ``ignore`` which count as nothing, and ``record_result`` which return values
    count as failures (``lambda r: r.status_code >= 500``).
    """

    def __init__(
        self,
        name: str,
        *,
        failure_rate_threshold: float = 50.0,
        slow_call_rate_threshold: float = 100.0,
        slow_call_duration: float | None = None,
        window: Literal["count", "time"] = "count",
        window_size: int = 100,
        minimum_calls: int = 10,
        consecutive_failures: int | None = None,
        open_duration: float = 30.0,
        open_duration_multiplier: float = 1.0,
        max_open_duration: float = 600.0,
        half_open_max_calls: int = 5,
        record: ExceptionFilter = (Exception,),
        ignore: ExceptionFilter = (),
        record_result: Callable[[Any], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        listeners: Iterable[StateListener] = (),
    ) -> None:
        if not name:
            raise BreakerConfigError("a circuit breaker needs a name")
        if not 0 < failure_rate_threshold <= 100 or not 0 < slow_call_rate_threshold <= 100:
            raise BreakerConfigError("rate thresholds are percentages in (0, 100]")
        if slow_call_duration is not None and slow_call_duration <= 0:
            raise BreakerConfigError("slow_call_duration must be positive")
        if window not in {"count", "time"}:
            raise BreakerConfigError(f"window must be 'count' or 'time', not {window!r}")
        if window_size < 1 or minimum_calls < 1 or half_open_max_calls < 1:
            raise BreakerConfigError(
                "window_size, minimum_calls and half_open_max_calls must be at least 1"
            )
        if consecutive_failures is not None and consecutive_failures < 1:
            raise BreakerConfigError("consecutive_failures must be at least 1")
        if open_duration <= 0 or open_duration_multiplier < 1 or max_open_duration < open_duration:
            raise BreakerConfigError(
                "open_duration must be positive, open_duration_multiplier at least 1, "
                "and max_open_duration at least open_duration"
            )
        self.name = name
        self.failure_rate_threshold = failure_rate_threshold
        self.slow_call_rate_threshold = slow_call_rate_threshold
        self.slow_call_duration = slow_call_duration
        self.minimum_calls = minimum_calls
        self.consecutive_failures = consecutive_failures
        self.open_duration = open_duration
        self.open_duration_multiplier = open_duration_multiplier
        self.max_open_duration = max_open_duration
        self.half_open_max_calls = half_open_max_calls
        self._is_failure = _matcher(record, "record")
        self._is_ignored = _matcher(ignore, "ignore")
        self._record_result = record_result
        self._clock = clock
        self._listeners: list[StateListener] = list(listeners)
        self._window: CountWindow | TimeWindow = (
            CountWindow(window_size) if window == "count" else TimeWindow(window_size, clock)
        )
        # The closed-state fast path applies when a success needs nothing but one store
        # in a count window: no timing, no result check, no consecutive counter.
        self._plain = (
            slow_call_duration is None
            and record_result is None
            and consecutive_failures is None
            and window == "count"
        )
        self._lock = threading.Lock()
        self._adopting = threading.local()
        self._state = _CLOSED
        self._consecutive = 0
        self._trips = 0
        self._opened_at = 0.0
        self._open_for = open_duration
        self._probes_started = 0
        self._probe_outcomes: list[int] = []
        self._guards: contextvars.ContextVar[list[tuple[bool, float]]] = contextvars.ContextVar(
            f"djed.breaker.{name}.guards"
        )
        # Counters for statistics and metrics (plain ints: cheap, approximate under contention).
        self.calls = self.failures = self.slow_calls = self.rejections = self.ignored = 0
        _metrics.track(self)

    # -- state ---------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current state (an open breaker whose time is up still reads ``OPEN``)."""
        return self._state

    @property
    def retry_after(self) -> float | None:
        """Seconds until an open breaker admits a probe; 0 when not open; None if forced."""
        state = self._state
        if state is _FORCED_OPEN:
            return None
        if state is not _OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._open_for - self._clock())

    def add_listener(self, listener: StateListener) -> None:
        """Call ``listener(breaker, old, new)`` after every state change."""
        self._listeners.append(listener)

    def force_open(self) -> None:
        """Hold the breaker open, rejecting every call, until :meth:`reset`."""
        self._change(_FORCED_OPEN, reason="forced open")

    def disable(self) -> None:
        """Let every call through without recording anything, until :meth:`reset`."""
        self._change(_DISABLED, reason="disabled")

    def reset(self) -> None:
        """Close the breaker and forget its history."""
        self._change(_CLOSED, reason="reset")

    def adopt(self, state: State, *, open_for: float | None = None, reason: str = "remote") -> None:
        """Take a state decided elsewhere (another replica), without recording a call.

        ``open_for`` is how long an adopted ``OPEN`` lasts from now (default: this
        breaker's current open period). Listeners and the log see the transition,
        with ``reason``; a listener can tell adopted changes by :attr:`adopting`.
        """
        with self._lock:
            if self._state is state:
                return
            self._adopting.active = True
            try:
                old = self._transition(state)
                if state is _OPEN and open_for is not None:
                    self._open_for = max(0.0, open_for)
            finally:
                self._adopting.active = False
        self._adopting.active = True
        try:
            self._announce(old, state, reason)
        finally:
            self._adopting.active = False

    @property
    def adopting(self) -> bool:
        """True while listeners hear about a state taken with :meth:`adopt`."""
        return bool(getattr(self._adopting, "active", False))

    def stats(self) -> dict[str, Any]:
        """State, window totals and counters."""
        calls, failures, slow = self._window.totals()
        return {
            "state": self._state.value,
            "window_calls": calls,
            "window_failures": failures,
            "window_slow_calls": slow,
            "calls": self.calls,
            "failures": self.failures,
            "slow_calls": self.slow_calls,
            "rejections": self.rejections,
            "ignored": self.ignored,
            "trips": self._trips,
        }

    # -- transitions ---------------------------------------------------------------

    def _change(self, new: State, *, reason: str) -> None:
        with self._lock:
            old = self._transition(new)
        self._announce(old, new, reason)

    def _transition(self, new: State) -> State:
        """Switch state; the caller holds the lock and announces afterwards."""
        old = self._state
        if new is _OPEN:
            self._trips += 1
            self._open_for = min(
                self.max_open_duration,
                self.open_duration * self.open_duration_multiplier ** (self._trips - 1),
            )
            self._opened_at = self._clock()
        elif new is _CLOSED:
            self._trips = 0
        self._window.clear()
        self._consecutive = 0
        self._probes_started = 0
        self._probe_outcomes = []
        self._state = new
        return old

    def _announce(self, old: State, new: State, reason: str) -> None:
        if old is new:
            return
        level = logging.WARNING if new in {_OPEN, _FORCED_OPEN} else logging.INFO
        _log.log(
            level,
            "circuit breaker %s: %s -> %s (%s)",
            self.name,
            old.value,
            new.value,
            reason,
            extra={"breaker": self.name, "old_state": old.value, "new_state": new.value},
        )
        otel_trace = sys.modules.get("opentelemetry.trace")
        if otel_trace is not None:
            otel_trace.get_current_span().add_event(
                "circuit_breaker.state_change",
                {"breaker": self.name, "from": old.value, "to": new.value, "reason": reason},
            )
        for listener in list(self._listeners):
            try:
                listener(self, old, new)
            except Exception:  # noqa: BLE001 - a listener must not break the caller
                _log.exception("circuit breaker %s: a state listener failed", self.name)

    # -- admission and recording -----------------------------------------------------

    def _admit(self) -> bool | None:
        """Decide a call when not closed: True for a probe, False for closed, None to pass."""
        announce: tuple[State, State, str] | None = None
        with self._lock:
            state = self._state
            if state is _OPEN:
                remaining = self._opened_at + self._open_for - self._clock()
                if remaining > 0:
                    self.rejections += 1
                    raise CircuitOpenError(self.name, remaining)
                announce = (self._transition(_HALF_OPEN), _HALF_OPEN, "open period over")
                state = _HALF_OPEN
            if state is _HALF_OPEN:
                if self._probes_started >= self.half_open_max_calls:
                    self.rejections += 1
                    raise CircuitOpenError(self.name, 0.0)
                self._probes_started += 1
                admitted: bool | None = True
            elif state is _FORCED_OPEN:
                self.rejections += 1
                raise CircuitOpenError(self.name, None)
            else:
                admitted = False if state is _CLOSED else None
        if announce is not None:
            self._announce(*announce)
        return admitted

    def _on_outcome(self, outcome: int, probe: bool) -> None:
        """Record a finished call (0, FAILURE, SLOW or both) and trip or close if due."""
        self.calls += 1
        if outcome & FAILURE:
            self.failures += 1
        if outcome & SLOW:
            self.slow_calls += 1
        if probe:
            self._on_probe(outcome)
        elif self.consecutive_failures is not None:
            if outcome & FAILURE:
                self._consecutive += 1
                if self._consecutive >= self.consecutive_failures:
                    self._trip_if(_CLOSED, f"{self._consecutive} failures in a row")
            else:
                self._consecutive = 0
        else:
            self._window.record(outcome)
            if outcome:
                self._check_window()

    def _check_window(self) -> None:
        calls, failures, slow = self._window.totals()
        if calls < self.minimum_calls or self._state is not _CLOSED:
            return
        if failures * 100 >= self.failure_rate_threshold * calls:
            self._trip_if(_CLOSED, f"failure rate {failures * 100 / calls:.0f}% over {calls} calls")
        elif slow * 100 >= self.slow_call_rate_threshold * calls:
            self._trip_if(_CLOSED, f"slow-call rate {slow * 100 / calls:.0f}% over {calls} calls")

    def _trip_if(self, expected: State, reason: str) -> None:
        with self._lock:
            if self._state is not expected:
                return
            old = self._transition(_OPEN)
        self._announce(old, _OPEN, reason)

    def _on_probe(self, outcome: int) -> None:
        with self._lock:
            if self._state is not _HALF_OPEN:
                return
            self._probe_outcomes.append(outcome)
            outcomes = self._probe_outcomes
            failed = sum(1 for o in outcomes if o & FAILURE)
            slow = sum(1 for o in outcomes if o & SLOW)
            if self.consecutive_failures is not None and failed:
                decision: State | None = _OPEN
            elif len(outcomes) < self.half_open_max_calls:
                decision = None
            elif failed * 100 >= self.failure_rate_threshold * len(outcomes) or (
                slow * 100 >= self.slow_call_rate_threshold * len(outcomes)
            ):
                decision = _OPEN
            else:
                decision = _CLOSED
            if decision is None:
                return
            old = self._transition(decision)
        reason = "a probe failed" if decision is _OPEN else "probes succeeded"
        self._announce(old, decision, reason)

    def _release_probe(self) -> None:
        """An ignored outcome: give the probe permit back."""
        with self._lock:
            if self._state is _HALF_OPEN and self._probes_started > len(self._probe_outcomes):
                self._probes_started -= 1

    def _classify_error(self, exc: BaseException, elapsed: float) -> int | None:
        """FAILURE (and SLOW) for a recorded exception, 0/SLOW for others, None if ignored."""
        if self._is_ignored(exc):
            self.ignored += 1
            return None
        outcome = FAILURE if self._is_failure(exc) else 0
        if self.slow_call_duration is not None and elapsed >= self.slow_call_duration:
            outcome |= SLOW
        return outcome

    def _classify_result(self, result: Any, elapsed: float) -> int:
        outcome = 0
        if self._record_result is not None and self._record_result(result):
            outcome = FAILURE
        if self.slow_call_duration is not None and elapsed >= self.slow_call_duration:
            outcome |= SLOW
        return outcome

    def _finish_error(self, exc: BaseException, probe: bool, started: float) -> None:
        elapsed = self._clock() - started if self.slow_call_duration is not None else 0.0
        outcome = self._classify_error(exc, elapsed)
        if outcome is None:
            if probe:
                self._release_probe()
        else:
            self._on_outcome(outcome, probe)

    # -- calling ---------------------------------------------------------------

    def call(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``function`` through the breaker; raises CircuitOpenError if it may not."""
        if self._state is _CLOSED and self._plain:
            try:
                result = function(*args, **kwargs)
            except BaseException as exc:
                self._finish_error(exc, False, 0.0)  # noqa: FBT003 - hot path, positional
                raise
            self.calls += 1
            window = self._window
            window._ring[next(window._counter) % window.size] = 0  # type: ignore[union-attr]  # noqa: SLF001
            return result
        return self._call(function, *args, **kwargs)

    def _call(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        probe = False
        if self._state is not _CLOSED:
            admitted = self._admit()
            if admitted is None:
                return function(*args, **kwargs)
            probe = admitted
        timed = self.slow_call_duration is not None
        started = self._clock() if timed else 0.0
        try:
            result = function(*args, **kwargs)
        except BaseException as exc:
            self._finish_error(exc, probe, started)
            raise
        if timed or self._record_result is not None or probe:
            elapsed = self._clock() - started if timed else 0.0
            self._on_outcome(self._classify_result(result, elapsed), probe)
        elif self.consecutive_failures is None:
            self.calls += 1
            self._window.record(0)
        else:
            self.calls += 1
            self._consecutive = 0
        return result

    async def call_async(
        self, function: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Await ``function(*args)`` through the breaker; the async twin of :meth:`call`."""
        if self._state is _CLOSED and self._plain:
            try:
                result = await function(*args, **kwargs)
            except BaseException as exc:
                self._finish_error(exc, False, 0.0)  # noqa: FBT003 - hot path, positional
                raise
            self.calls += 1
            window = self._window
            window._ring[next(window._counter) % window.size] = 0  # type: ignore[union-attr]  # noqa: SLF001
            return result
        probe = False
        if self._state is not _CLOSED:
            admitted = self._admit()
            if admitted is None:
                return await function(*args, **kwargs)
            probe = admitted
        timed = self.slow_call_duration is not None
        started = self._clock() if timed else 0.0
        try:
            result = await function(*args, **kwargs)
        except BaseException as exc:
            self._finish_error(exc, probe, started)
            raise
        if timed or self._record_result is not None or probe:
            elapsed = self._clock() - started if timed else 0.0
            self._on_outcome(self._classify_result(result, elapsed), probe)
        elif self.consecutive_failures is None:
            self.calls += 1
            self._window.record(0)
        else:
            self.calls += 1
            self._consecutive = 0
        return result

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        """Use the breaker as a decorator, on plain or ``async`` functions."""
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                # The body of call_async() for the closed fast path, inlined: one coroutine
                # fewer per call.
                if self._state is _CLOSED and self._plain:
                    try:
                        result = await function(*args, **kwargs)
                    except BaseException as exc:
                        self._finish_error(exc, False, 0.0)  # noqa: FBT003 - hot path
                        raise
                    self.calls += 1
                    window = self._window
                    window._ring[next(window._counter) % window.size] = 0  # type: ignore[union-attr]  # noqa: SLF001
                    return result
                return await self.call_async(function, *args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            # The body of call() for the closed fast path, inlined: one frame fewer.
            if self._state is _CLOSED and self._plain:
                try:
                    result = function(*args, **kwargs)
                except BaseException as exc:
                    self._finish_error(exc, False, 0.0)  # noqa: FBT003 - hot path
                    raise
                self.calls += 1
                window = self._window
                window._ring[next(window._counter) % window.size] = 0  # type: ignore[union-attr]  # noqa: SLF001
                return result
            return self._call(function, *args, **kwargs)

        return wrapper

    # -- as a context manager ----------------------------------------------------

    def __enter__(self) -> CircuitBreaker:
        probe = False
        if self._state is not _CLOSED:
            admitted = self._admit()
            probe = bool(admitted)
            if admitted is None:
                probe = False
        guards = self._guards.get(None)
        if guards is None:
            guards = []
            self._guards.set(guards)
        disabled = self._state is _DISABLED
        guards.append((probe, -1.0 if disabled else self._clock()))
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        probe, started = self._guards.get().pop()
        if started < 0:
            return  # disabled: nothing recorded
        if exc is not None:
            self._finish_error(exc, probe, started)
        else:
            elapsed = self._clock() - started if self.slow_call_duration is not None else 0.0
            self._on_outcome(self._classify_result(None, elapsed) & SLOW, probe)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: object, exc: BaseException | None, traceback: object
    ) -> None:
        self.__exit__(exc_type, exc, traceback)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.value!r})"
