from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest
from djed.breaker import (
    CircuitBreaker,
    Guard,
    Outbox,
    OutboxError,
    Queued,
    QueueForRetry,
    Replayer,
    State,
)
from djed.breaker.testing import FakeClock, Flaky


@pytest.fixture
def outbox(tmp_path: pathlib.Path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite3")


class TestQueueForRetry:
    def test_failed_call_is_queued_durably(self, outbox: Outbox, tmp_path: pathlib.Path) -> None:
        """When the call cannot be made, its arguments land in the outbox and Queued comes back."""
        breaker = CircuitBreaker("mail", clock=FakeClock(), consecutive_failures=1)
        guard = Guard(breaker, fallback=QueueForRetry(outbox, "emails", key=lambda m: m["id"]))
        result = guard.call(Flaky(["fail"]), {"id": "m-1", "to": "ada@example.com"})
        assert result == Queued("m-1", "emails")
        again = guard.call(Flaky(["ok"]), {"id": "m-1", "to": "ada@example.com"})  # open now
        assert again == Queued("m-1", "emails")
        reopened = Outbox(tmp_path / "outbox.sqlite3")
        (item,) = reopened.peek("emails")
        assert item.payload == {"args": [{"id": "m-1", "to": "ada@example.com"}], "kwargs": {}}
        reopened.close()

    def test_arguments_must_be_json(self, outbox: Outbox) -> None:
        """Arguments that are not JSON data cannot be queued: the error says so."""
        guard = Guard(fallback=QueueForRetry(outbox, "emails"))
        with pytest.raises(OutboxError, match="set"):
            guard.call(Flaky(["fail"]), {1, 2})

    @pytest.mark.asyncio
    async def test_async_guard_queues(self, outbox: Outbox) -> None:
        """The async path queues too, off the event loop."""
        guard = Guard(fallback=QueueForRetry(outbox, "emails"))
        result = await guard.call_async(Flaky(["fail"]).acall, "hello")
        assert isinstance(result, Queued)
        assert outbox.pending("emails") == 1


class TestReplayer:
    def test_replays_in_order_once_the_breaker_closes(self, outbox: Outbox) -> None:
        """Queued calls wait while the breaker is open and replay in order when it closes."""
        clock = FakeClock()
        breaker = CircuitBreaker(
            "mail", clock=clock, consecutive_failures=1, half_open_max_calls=1, open_duration=30
        )
        guard = Guard(breaker, fallback=QueueForRetry(outbox, "emails"))
        for n in range(3):
            guard.call(Flaky(["fail"]), f"message {n}")
        sent: list[str] = []
        replayer = Replayer(outbox, "emails", sent.append, breaker=breaker)
        result = replayer.drain_once()
        assert (result.delivered, result.remaining, sent) == (0, 3, [])
        clock.advance(30)
        result = replayer.drain_once()
        assert result.delivered == 3
        assert sent == ["message 0", "message 1", "message 2"]
        assert breaker.state is State.CLOSED
        assert outbox.pending() == 0

    def test_background_replayer_drains_when_the_breaker_closes(self, outbox: Outbox) -> None:
        """A started replayer wakes on the close transition and drains."""
        breaker = CircuitBreaker("mail", consecutive_failures=1)
        Guard(breaker, fallback=QueueForRetry(outbox, "emails")).call(Flaky(["fail"]), "hi")
        sent: list[str] = []
        replayer = Replayer(outbox, "emails", sent.append, breaker=breaker, interval=60)
        replayer.start()
        try:
            breaker.reset()
            for _ in range(500):
                if sent:
                    break
                asyncio.run(asyncio.sleep(0.01))
        finally:
            replayer.stop()
        assert sent == ["hi"]

    def test_failing_replay_keeps_the_call(self, outbox: Outbox) -> None:
        """A replay that fails leaves the call queued with its error recorded."""
        outbox.enqueue("emails", {"args": ["x"], "kwargs": {}})
        replayer = Replayer(outbox, "emails", Flaky(["fail"]))
        result = replayer.drain_once()
        assert (result.delivered, result.failed, result.remaining) == (0, 1, 1)
        (item,) = outbox.peek("emails")
        assert item.attempts == 1
        assert item.last_error is not None
        assert item.last_error.startswith("FlakyError")

    def test_pass_key(self, outbox: Outbox) -> None:
        """pass_key hands the idempotency key to the function."""
        outbox.enqueue("emails", {"args": [], "kwargs": {"to": "ada"}}, key="k-9")
        seen: list[dict[str, Any]] = []
        Replayer(outbox, "emails", lambda **kw: seen.append(kw), pass_key=True).drain_once()
        assert seen == [{"to": "ada", "djed_outbox_key": "k-9"}]
