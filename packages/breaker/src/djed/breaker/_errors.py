"""The exception tree of djed.breaker."""

from __future__ import annotations

__all__ = [
    "BreakerConfigError",
    "BreakerError",
    "BulkheadFullError",
    "CallTimeoutError",
    "CircuitOpenError",
]


class BreakerError(RuntimeError):
    """Base of the errors djed.breaker raises instead of calling the protected function."""


class BreakerConfigError(BreakerError, ValueError):
    """A breaker, retry or bulkhead setting has a value that cannot be used."""


class CircuitOpenError(BreakerError):
    """The breaker is open (or forced open): the call was not made.

    ``retry_after`` is the number of seconds until the breaker lets a probe
    through, or ``None`` when it is held open by hand.
    """

    def __init__(self, name: str, retry_after: float | None) -> None:
        self.name = name
        self.retry_after = retry_after
        when = "until it is reset" if retry_after is None else f"for {retry_after:.3g} s more"
        super().__init__(f"circuit breaker {name!r} is open {when}; the call was not made")


class CallTimeoutError(BreakerError, TimeoutError):
    """The call took longer than its timeout."""

    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        super().__init__(f"call through {name!r} took longer than its {timeout:g} s timeout")


class BulkheadFullError(BreakerError):
    """Too many calls are running (and the waiting queue is full or timed out)."""

    def __init__(self, name: str, max_concurrent: int) -> None:
        self.name = name
        self.max_concurrent = max_concurrent
        super().__init__(
            f"bulkhead {name!r} is full ({max_concurrent} calls running); the call was not made"
        )
