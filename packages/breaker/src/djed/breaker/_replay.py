"""Queue-for-retry: calls that cannot be made now wait in the outbox and are replayed later."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ._breaker import CircuitBreaker, State
from ._outbox import DrainResult, Outbox, OutboxItem

__all__ = ["QueueForRetry", "Queued", "Replayer"]

_log = logging.getLogger("djed.breaker")


@dataclasses.dataclass(frozen=True, slots=True)
class Queued:
    """What a call returns when its arguments went to the outbox instead."""

    key: str
    topic: str


class QueueForRetry:
    """A fallback that writes the call's arguments to an :class:`Outbox` for later.

    >>> outbox = Outbox("outbox.sqlite3")
    >>> guard = Guard(mailer, fallback=QueueForRetry(outbox, "emails", key=lambda msg: msg["id"]))
    >>> guard.call(send_email, {"id": "m-1", "to": "ada@example.com"})  # doctest: +SKIP
    Queued(key='m-1', topic='emails')

    The arguments must be JSON data. ``key`` derives the idempotency key from
    them (the same key queued twice is stored once); without it every call gets
    a fresh key. A :class:`Replayer` makes the calls once the dependency is back.
    """

    def __init__(
        self, outbox: Outbox, topic: str, *, key: Callable[..., str] | None = None
    ) -> None:
        self.outbox = outbox
        self.topic = topic
        self._key = key

    def enqueue(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Queued:
        """Store one call durably and say so."""
        key = self._key(*args, **kwargs) if self._key is not None else None
        stored = self.outbox.enqueue(
            self.topic, {"args": list(args), "kwargs": dict(kwargs)}, key=key
        )
        return Queued(stored, self.topic)


class Replayer:
    """Make the calls queued under one topic, in order, when the dependency is back.

    Each queued call goes through ``breaker`` (when given): while it is open the
    replay waits; when it closes (a listener notices) the replayer drains at
    once, and otherwise every ``interval`` seconds. Delivery is at least once:
    ``function`` should be idempotent on the call's key, which it can read from
    the ``djed_outbox_key`` keyword when ``pass_key=True``.
    """

    def __init__(
        self,
        outbox: Outbox,
        topic: str,
        function: Callable[..., object],
        *,
        breaker: CircuitBreaker | None = None,
        interval: float = 5.0,
        pass_key: bool = False,
    ) -> None:
        self.outbox = outbox
        self.topic = topic
        self.function = function
        self.breaker = breaker
        self.interval = interval
        self.pass_key = pass_key
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if breaker is not None:
            breaker.add_listener(self._on_transition)

    def _on_transition(self, _breaker: CircuitBreaker, _old: State, new: State) -> None:
        if new is State.CLOSED:
            self._wake.set()

    def _deliver(self, item: OutboxItem) -> object:
        payload = item.payload
        kwargs = dict(payload.get("kwargs", {}))
        if self.pass_key:
            kwargs["djed_outbox_key"] = item.key
        if self.breaker is None:
            return self.function(*payload.get("args", []), **kwargs)
        return self.breaker.call(self.function, *payload.get("args", []), **kwargs)

    def drain_once(self, *, limit: int | None = None) -> DrainResult:
        """Deliver what can be delivered now; never raises for a failing call."""
        if self.breaker is not None:
            wait = self.breaker.retry_after  # None: forced open; > 0: still open
            if wait is None or wait > 0:
                return DrainResult(0, 0, 0, self.outbox.pending(self.topic))
        return self.outbox.drain(self._deliver, topic=self.topic, limit=limit)

    def start(self) -> None:
        """Drain in a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"djed-breaker-replay-{self.topic}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain_once()
            except Exception:  # noqa: BLE001 - the replayer keeps going; the outbox keeps the calls
                _log.exception("replaying the %s outbox failed", self.topic)
            self._wake.wait(self.interval)
            self._wake.clear()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread (a drain in progress finishes its current call)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
