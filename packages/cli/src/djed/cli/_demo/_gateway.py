"""The simulated payment and e-mail gateway, and how invoices reach it.

The gateway is part of the demo: ``ok`` answers at once, ``failing`` refuses
every call, ``slow`` takes longer than the caller waits. Sending goes through a
djed-breaker ``Guard``: a circuit breaker, a timeout, and as fallback the
durable SQLite queue-for-retry. A ``Replayer`` drains the queue once the
breaker lets calls through again, and reports each delivery back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from djed.breaker import CircuitBreaker, Guard, Outbox, Queued, QueueForRetry, Replayer
from opentelemetry import trace

__all__ = ["MODES", "Delivery", "Gateway", "GatewayError", "Sender"]

MODES = ("ok", "failing", "slow")
Mode = Literal["ok", "failing", "slow"]
TOPIC = "deliveries"
_log = logging.getLogger("djed.demo.gateway")
_tracer = trace.get_tracer("djed.demo")


class GatewayError(RuntimeError):
    """The gateway refused the call."""


class Gateway:
    """The remote service, simulated: switch its ``mode`` to see the breaker and the queue work."""

    def __init__(self, mode: Mode = "ok", slow_seconds: float = 5.0) -> None:
        self.mode: Mode = mode
        self.slow_seconds = slow_seconds
        self.delivered: list[str] = []
        self._receipts: dict[str, str] = {}
        self._lock = threading.Lock()

    def deliver(self, payload: dict[str, Any]) -> str:
        """Charge and e-mail one invoice; a receipt id.

        Idempotent, as payment gateways are: a payload whose ``key`` was charged
        already gets the first receipt back and is not charged again. A call cut
        off by the sender's timeout may still complete, and its queued copy then
        arrives as a repeat.
        """
        with _tracer.start_as_current_span("gateway.deliver") as span:
            span.set_attribute("invoice.id", payload["invoice_id"])
            span.set_attribute("gateway.mode", self.mode)
            if self.mode == "failing":
                _log.warning("gateway refused invoice %s", payload["invoice_id"])
                raise GatewayError("the gateway is down (demo mode 'failing')")
            if self.mode == "slow":
                time.sleep(self.slow_seconds)
            key = str(payload.get("key") or payload["invoice_id"])
            with self._lock:
                repeat = key in self._receipts
                if not repeat:
                    self.delivered.append(payload["invoice_id"])
                    self._receipts[key] = f"rcpt-{payload['invoice_id']}-{len(self.delivered)}"
                receipt = self._receipts[key]
            if repeat:
                _log.info(
                    "gateway: invoice %s already charged (%s)", payload["invoice_id"], receipt
                )
            else:
                _log.info("gateway delivered invoice %s (%s)", payload["invoice_id"], receipt)
            return receipt


Delivery = Literal["sent", "queued"]


class Sender:
    """Sends invoices through breaker, timeout and queue; ``on_delivered`` hears of late ones."""

    def __init__(
        self,
        gateway: Gateway,
        outbox_path: Path,
        on_delivered: Callable[[str, str], None],
        *,
        timeout: float = 2.0,
        retry_interval: float = 1.0,
    ) -> None:
        self.gateway = gateway
        self.on_delivered = on_delivered
        self.breaker = CircuitBreaker("gateway", consecutive_failures=2, open_duration=3.0)
        self.outbox = Outbox(str(outbox_path), max_attempts=50)
        fallback = QueueForRetry(self.outbox, TOPIC, key=lambda payload: payload["key"])
        self.guard = Guard(self.breaker, timeout=timeout, fallback=fallback)
        self.replayer = Replayer(
            self.outbox, TOPIC, self._replay, breaker=self.breaker, interval=retry_interval
        )

    def _replay(self, payload: dict[str, Any]) -> str:
        receipt = self.gateway.deliver(payload)
        self.on_delivered(payload["invoice_id"], receipt)
        return receipt

    def send(self, invoice_id: str, number: str, total: str) -> tuple[Delivery, str]:
        """Deliver now, or queue for later: what happened and the receipt or reason."""
        # The idempotency key: one charge per invoice and amount, however often it is sent.
        key = f"{invoice_id}:{total}"
        payload = {"invoice_id": invoice_id, "number": number, "total": total, "key": key}
        result: object = self.guard.call(self.gateway.deliver, payload)  # or Queued
        if isinstance(result, Queued):
            return "queued", "the gateway is not answering: queued, it goes out once it is back"
        return "sent", str(result)

    def queued(self) -> int:
        """Calls waiting in the queue."""
        return self.outbox.pending(TOPIC)

    def start(self) -> None:
        """Start draining the queue in the background."""
        self.replayer.start()

    def stop(self) -> None:
        """Stop draining; queued calls stay on disk for the next start."""
        self.replayer.stop()
