"""Event and drop counts exported as opentelemetry-api observable counters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation

    from ._config import LoggingState

__all__ = ["register_metrics"]

_registered = False
_lock = threading.Lock()


def register_metrics(state: Callable[[], LoggingState | None]) -> None:
    """Create the instruments once per process; they read whatever ``state()`` returns.

    With no OpenTelemetry SDK configured the API's no-op meter makes this free.
    Instruments: ``djed.logger.events`` (attribute ``level``) and ``djed.logger.dropped``.
    """
    global _registered  # noqa: PLW0603 - instruments are process-wide in OpenTelemetry too
    with _lock:
        if _registered:
            return
        _registered = True
    from opentelemetry import metrics  # noqa: PLC0415 - keeps `import djed.logger` light

    def observe_events(_options: CallbackOptions) -> Iterable[Observation]:
        current = state()
        if current is None:
            return []
        return [
            metrics.Observation(count, {"level": level})
            for level, count in current.renderer.counts.items()
        ]

    def observe_dropped(_options: CallbackOptions) -> Iterable[Observation]:
        current = state()
        return [] if current is None else [metrics.Observation(current.dropped())]

    meter = metrics.get_meter("djed.logger")
    meter.create_observable_counter(
        "djed.logger.events",
        callbacks=[observe_events],
        unit="{event}",
        description="Log events rendered, by level.",
    )
    meter.create_observable_counter(
        "djed.logger.dropped",
        callbacks=[observe_dropped],
        unit="{line}",
        description="Log lines dropped because the output could not take them.",
    )
