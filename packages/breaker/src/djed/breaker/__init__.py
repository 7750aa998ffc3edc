"""Circuit breakers, retries, timeouts, bulkheads and durable fallbacks, on tenacity.

>>> from djed.breaker import CircuitBreaker, CircuitOpenError
>>> payments = CircuitBreaker("payments", failure_rate_threshold=50, minimum_calls=10)
>>> @payments
... def charge(order_id: int) -> str:
...     return "charged"
>>> charge(7)
'charged'
"""

from __future__ import annotations

from ._breaker import CircuitBreaker, State, StateListener
from ._bulkhead import Bulkhead
from ._errors import (
    BreakerConfigError,
    BreakerError,
    BulkheadFullError,
    CallTimeoutError,
    CircuitOpenError,
)
from ._guard import SKIP, Guard, Stale
from ._outbox import DrainResult, Outbox, OutboxError, OutboxItem
from ._registry import BreakerRegistry, breakers
from ._replay import Queued, QueueForRetry, Replayer
from ._retry import Retry
from ._shared import RedisSharedState

__all__ = [
    "SKIP",
    "BreakerConfigError",
    "BreakerError",
    "BreakerRegistry",
    "Bulkhead",
    "BulkheadFullError",
    "CallTimeoutError",
    "CircuitBreaker",
    "CircuitOpenError",
    "DrainResult",
    "Guard",
    "Outbox",
    "OutboxError",
    "OutboxItem",
    "QueueForRetry",
    "Queued",
    "RedisSharedState",
    "Replayer",
    "Retry",
    "Stale",
    "State",
    "StateListener",
    "breakers",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - only when asked

        return version("djed-breaker")
    msg = f"module 'djed.breaker' has no attribute {name!r}"
    raise AttributeError(msg)
