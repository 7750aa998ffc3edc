"""opentelemetry-api instruments over every breaker, retry policy and outbox in the process."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._breaker import CircuitBreaker
    from ._outbox import Outbox
    from ._retry import Retry

__all__ = ["track"]

_breakers: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()
_retries: weakref.WeakSet[Retry] = weakref.WeakSet()
_outboxes: weakref.WeakSet[Outbox] = weakref.WeakSet()
_registered = False
_lock = threading.Lock()

_STATES = ("closed", "open", "half_open", "forced_open", "disabled")


def track(item: CircuitBreaker | Retry | Outbox) -> None:
    """Include ``item`` in the exported metrics (instruments are created on first use)."""
    from ._breaker import CircuitBreaker  # noqa: PLC0415 - avoids an import cycle
    from ._retry import Retry  # noqa: PLC0415

    if isinstance(item, CircuitBreaker):
        _breakers.add(item)
    elif isinstance(item, Retry):
        _retries.add(item)
    else:
        _outboxes.add(item)
    _register()


def _register() -> None:
    global _registered  # noqa: PLW0603 - instruments are process-wide in OpenTelemetry too
    with _lock:
        if _registered:
            return
        _registered = True
    from opentelemetry import metrics  # noqa: PLC0415 - only once something is tracked

    observation = metrics.Observation

    def calls(_options: Any) -> Iterable[Any]:
        for b in list(_breakers):
            yield observation(b.calls - b.failures, {"breaker": b.name, "outcome": "success"})
            yield observation(b.failures, {"breaker": b.name, "outcome": "failure"})
            yield observation(b.ignored, {"breaker": b.name, "outcome": "ignored"})
            yield observation(b.rejections, {"breaker": b.name, "outcome": "rejected"})

    def slow(_options: Any) -> Iterable[Any]:
        return [observation(b.slow_calls, {"breaker": b.name}) for b in list(_breakers)]

    def states(_options: Any) -> Iterable[Any]:
        for b in list(_breakers):
            current = b.state.value
            for state in _STATES:
                yield observation(int(state == current), {"breaker": b.name, "state": state})

    def retries(_options: Any) -> Iterable[Any]:
        total = sum(r.retries for r in list(_retries))
        return [observation(total)]

    def depth(_options: Any) -> Iterable[Any]:
        result = []
        for outbox in list(_outboxes):
            try:
                result.append(observation(outbox.pending(), {"outbox": str(outbox.path)}))
            except Exception:  # noqa: BLE001, S112 - a closed outbox has no depth to report
                continue
        return result

    meter = metrics.get_meter("djed.breaker")
    meter.create_observable_counter(
        "djed.breaker.calls", [calls], unit="{call}", description="Calls by outcome."
    )
    meter.create_observable_counter("djed.breaker.slow_calls", [slow], unit="{call}")
    meter.create_observable_gauge(
        "djed.breaker.state", [states], description="1 for the current state of each breaker."
    )
    meter.create_observable_counter(
        "djed.breaker.retry.attempts", [retries], unit="{attempt}", description="Retries made."
    )
    meter.create_observable_gauge(
        "djed.breaker.outbox.depth", [depth], unit="{call}", description="Calls waiting."
    )
