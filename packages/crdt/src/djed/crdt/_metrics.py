"""OpenTelemetry instruments of the sync server (no-ops until an SDK is configured)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, UpDownCounter

__all__ = ["Instruments", "instruments"]


class Instruments:
    """The server's instruments, created once per process."""

    def __init__(self) -> None:
        from opentelemetry import metrics  # noqa: PLC0415 - created on first use

        meter = metrics.get_meter("djed.crdt")
        self.connections: UpDownCounter = meter.create_up_down_counter(
            "djed.crdt.connections", unit="{connection}", description="Connected clients."
        )
        self.documents: UpDownCounter = meter.create_up_down_counter(
            "djed.crdt.documents", unit="{document}", description="Documents loaded in memory."
        )
        self.updates: Counter = meter.create_counter(
            "djed.crdt.updates", unit="{update}", description="Updates stored and shared."
        )
        self.update_bytes: Counter = meter.create_counter(
            "djed.crdt.update.bytes", unit="By", description="Bytes of updates stored and shared."
        )
        self.dropped: Counter = meter.create_counter(
            "djed.crdt.updates.dropped",
            unit="{update}",
            description="Updates dropped, by reason (read-only connections).",
        )
        self.closed: Counter = meter.create_counter(
            "djed.crdt.connections.closed",
            unit="{connection}",
            description="Connections ended, by reason.",
        )
        self.persist_seconds: Histogram = meter.create_histogram(
            "djed.crdt.persistence.duration",
            unit="s",
            description="Time of store operations (load, append, compact).",
        )


_instruments: Instruments | None = None
_lock = threading.Lock()


def instruments() -> Instruments:
    """The process-wide instruments."""
    global _instruments  # noqa: PLW0603 - instruments are process-wide in OpenTelemetry too
    with _lock:
        if _instruments is None:
            _instruments = Instruments()
        return _instruments
