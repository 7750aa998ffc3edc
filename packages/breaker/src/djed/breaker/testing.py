"""Helpers for testing code protected by djed.breaker, without sleeping.

>>> from djed.breaker.testing import FakeClock, Flaky
>>> clock = FakeClock()
>>> breaker = CircuitBreaker("mail", clock=clock, consecutive_failures=2)  # doctest: +SKIP
>>> send = Flaky(["fail", "fail", "ok"], result="sent")  # doctest: +SKIP
>>> clock.advance(30)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["FakeClock", "Flaky", "FlakyError"]


class FakeClock:
    """A clock that only moves when told to; pass it as ``clock=`` to a breaker."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current fake time in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += seconds


class FlakyError(ConnectionError):
    """The failure a :class:`Flaky` function raises by default."""


class Flaky:
    """A function that fails or succeeds following a script.

    ``Flaky(["fail", "ok", "fail"])``: each call takes the next step; after the
    script ends the last step repeats. A step is ``"ok"``, ``"fail"`` or an
    exception instance to raise. Works as a sync callable and, through
    :meth:`acall`, as an async one. ``calls`` counts the calls made.
    """

    def __init__(
        self,
        script: Iterable[str | BaseException],
        *,
        result: Any = "ok",
        error: BaseException | None = None,
        clock: FakeClock | None = None,
        duration: float = 0.0,
    ) -> None:
        self.script = list(script)
        if not self.script:
            raise ValueError("the script needs at least one step")
        self.result = result
        self.error = error if error is not None else FlakyError("scripted failure")
        self.clock = clock
        self.duration = duration
        self.calls = 0
        self._lock = threading.Lock()

    def _step(self) -> str | BaseException:
        with self._lock:
            step = self.script[min(self.calls, len(self.script) - 1)]
            self.calls += 1
        if self.clock is not None and self.duration:
            self.clock.advance(self.duration)
        return step

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        """Take the next step: return ``result`` or raise."""
        step = self._step()
        if isinstance(step, BaseException):
            raise step
        if step == "fail":
            raise self.error
        return self.result

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """The async form of a call."""
        return self(*args, **kwargs)
