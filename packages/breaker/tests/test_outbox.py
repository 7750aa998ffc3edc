from __future__ import annotations

import asyncio
import json
import pathlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from djed.breaker._outbox import DrainResult, Outbox, OutboxError, OutboxItem

WORKER = pathlib.Path(__file__).with_name("_outbox_worker.py")


class FakeClock:
    """Wall-clock seconds that move only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll until condition() is true; the timeout only guards against hangs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def fail_on(*keys: str, error: Exception | None = None) -> Callable[[OutboxItem], None]:
    """A handler that raises for the given keys and accepts everything else."""

    def handler(item: OutboxItem) -> None:
        if item.key in keys:
            raise error or ConnectionError("dependency down")

    return handler


def raw_row(path: pathlib.Path, key: str) -> sqlite3.Row:
    """The stored row of ``key``, read without the Outbox."""
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM outbox_items WHERE key = ?", (key,)
        ).fetchone()
    assert row is not None
    return row


def read_lines(path: pathlib.Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "outbox.db"


class TestOpen:
    def test_wal_and_full_sync(self, db: pathlib.Path) -> None:
        """The file is in WAL mode and the connection fsyncs every commit."""
        with Outbox(db) as outbox:
            assert outbox._conn is not None
            assert outbox._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_missing_folder(self, tmp_path: pathlib.Path) -> None:
        """A path in a folder that does not exist is refused, naming the path."""
        path = tmp_path / "nowhere" / "outbox.db"
        with pytest.raises(OutboxError, match="nowhere"):
            Outbox(path)

    def test_not_a_database(self, tmp_path: pathlib.Path) -> None:
        """A file that is not SQLite is refused instead of being overwritten."""
        path = tmp_path / "notes.txt"
        path.write_bytes(b"this is not a database, just some text" * 100)
        with pytest.raises(OutboxError, match=r"notes\.txt"):
            Outbox(path)

    @pytest.mark.parametrize("path", ["", ":memory:"])
    def test_memory_refused(self, path: str) -> None:
        """An outbox must live in a file: in-memory databases are refused."""
        with pytest.raises(OutboxError, match="needs a file path"):
            Outbox(path)

    @pytest.mark.parametrize(
        ("option", "value"), [("max_attempts", 0), ("busy_timeout", -1), ("lease_seconds", -1)]
    )
    def test_bad_options(self, db: pathlib.Path, option: str, value: float) -> None:
        """Impossible settings are refused with the option's name."""
        options: dict[str, Any] = {option: value}
        with pytest.raises(OutboxError, match=option):
            Outbox(db, **options)

    def test_closed_outbox_refuses_work(self, db: pathlib.Path) -> None:
        """After close (twice is fine) every call raises OutboxError."""
        with Outbox(db) as outbox:
            outbox.enqueue("t", 1)
        outbox.close()
        with pytest.raises(OutboxError, match="closed"):
            outbox.pending()
        with pytest.raises(OutboxError, match="closed"):
            outbox.enqueue("t", 2)

    def test_survives_reopening(self, db: pathlib.Path, clock: FakeClock) -> None:
        """Pending and dead items, with attempts and errors, outlive the instance."""
        with Outbox(db, max_attempts=1, clock=clock) as outbox:
            outbox.enqueue("a", {"n": 1}, key="dies")
            outbox.enqueue("a", {"n": 2}, key="waits")
            outbox.drain(fail_on("dies"), limit=1)
        with Outbox(db, clock=clock) as reopened:
            assert [item.key for item in reopened.peek()] == ["waits"]
            (dead,) = reopened.dead()
            assert (dead.key, dead.attempts, dead.payload) == ("dies", 1, {"n": 1})
            assert dead.last_error == "ConnectionError: dependency down"


class TestEnqueue:
    def test_peek_and_pending(self, db: pathlib.Path, clock: FakeClock) -> None:
        """Items come back in enqueue order with their payload; counts are per topic."""
        with Outbox(db, clock=clock) as outbox:
            outbox.enqueue("mail", {"to": "a"}, key="m1")
            outbox.enqueue("sms", ["x", 1, None, True, 2.5], key="s1")
            outbox.enqueue("mail", "plain", key="m2")
            assert (outbox.pending(), outbox.pending("mail"), outbox.pending("fax")) == (3, 2, 0)
            items = outbox.peek()
            assert [item.key for item in items] == ["m1", "s1", "m2"]
            assert items[1] == OutboxItem(
                key="s1",
                topic="sms",
                payload=["x", 1, None, True, 2.5],
                attempts=0,
                created_at=clock.now,
                last_error=None,
                sequence=items[1].sequence,
            )
            assert items[0].sequence < items[1].sequence < items[2].sequence
            assert [item.key for item in outbox.peek("mail", limit=1)] == ["m1"]
            assert outbox.dead() == []

    def test_default_key(self, db: pathlib.Path) -> None:
        """Without a key, each item gets a fresh random hex key."""
        with Outbox(db) as outbox:
            first, second = outbox.enqueue("t", 1), outbox.enqueue("t", 1)
            assert first != second
            assert len(first) == 32
            int(first, 16)
            assert outbox.pending() == 2

    def test_same_key_is_a_no_op(self, db: pathlib.Path) -> None:
        """Enqueueing a key already in the outbox returns it and keeps the first payload."""
        with Outbox(db) as outbox:
            assert outbox.enqueue("t", {"v": 1}, key="order-7") == "order-7"
            assert outbox.enqueue("t", {"v": 2}, key="order-7") == "order-7"
            assert [item.payload for item in outbox.peek()] == [{"v": 1}]

    def test_delivered_key_is_accepted_again(self, db: pathlib.Path) -> None:
        """Idempotency covers items still in the outbox, not those already delivered."""
        with Outbox(db) as outbox:
            outbox.enqueue("t", 1, key="k")
            outbox.drain(lambda item: None)
            outbox.enqueue("t", 2, key="k")
            assert [item.payload for item in outbox.peek()] == [2]

    @pytest.mark.parametrize(
        ("payload", "named"),
        [({1, 2}, "set"), (object(), "object"), (b"raw", "bytes"), (float("nan"), "float")],
    )
    def test_refuses_non_json(self, db: pathlib.Path, payload: object, named: str) -> None:
        """A payload JSON cannot carry is refused with its type named, and nothing is stored."""
        with Outbox(db) as outbox:
            with pytest.raises(OutboxError, match=rf"not JSON \({named} given\)"):
                outbox.enqueue("t", payload)
            assert outbox.pending() == 0

    def test_refuses_circular_payload(self, db: pathlib.Path) -> None:
        """A payload that contains itself is refused, not recursed into forever."""
        loop: list[object] = []
        loop.append(loop)
        with Outbox(db) as outbox, pytest.raises(OutboxError, match="Circular"):
            outbox.enqueue("t", loop)

    @pytest.mark.parametrize(("topic", "key"), [("", None), ("t", ""), (7, None), ("t", 7)])
    def test_refuses_bad_topic_or_key(self, db: pathlib.Path, topic: object, key: object) -> None:
        """Topics and keys must be non-empty strings."""
        with Outbox(db) as outbox, pytest.raises(OutboxError, match="non-empty string"):
            outbox.enqueue(topic, None, key=key)  # type: ignore[arg-type]


class TestDrain:
    def test_delivers_in_order_and_deletes(self, db: pathlib.Path) -> None:
        """Every topic's items reach the handler in enqueue order; delivered rows are gone."""
        seen: list[str] = []
        with Outbox(db) as outbox:
            for n in range(6):
                outbox.enqueue("ab"[n % 2], n, key=f"k{n}")
            result = outbox.drain(lambda item: seen.append(item.key))
            assert result == DrainResult(delivered=6, failed=0, dead_lettered=0, remaining=0)
            assert seen == [f"k{n}" for n in range(6)]
            assert outbox.pending() == 0

    def test_failing_head_holds_back_its_topic(self, db: pathlib.Path, clock: FakeClock) -> None:
        """When the oldest item fails, later items of its topic wait behind it."""
        seen: list[str] = []

        def handler(item: OutboxItem) -> None:
            seen.append(item.key)
            if item.key == "a1":
                raise TimeoutError("no answer in 2 s")

        with Outbox(db, clock=clock) as outbox:
            for key in ("a1", "a2", "a3"):
                outbox.enqueue("a", key, key=key)
            assert outbox.drain(handler) == DrainResult(0, 1, 0, 3)
            assert seen == ["a1"]
            head = outbox.peek()[0]
            assert (head.key, head.attempts) == ("a1", 1)
            assert head.last_error == "TimeoutError: no answer in 2 s"

    def test_other_topics_go_on(self, db: pathlib.Path, clock: FakeClock) -> None:
        """A failing topic does not hold back the others."""
        seen: list[str] = []

        def handler(item: OutboxItem) -> None:
            seen.append(item.key)
            if item.topic == "a":
                raise ConnectionError("down")

        with Outbox(db, clock=clock) as outbox:
            for key in ("a1", "b1", "a2", "b2"):
                outbox.enqueue(key[0], key, key=key)
            assert outbox.drain(handler) == DrainResult(2, 1, 0, 2)
            assert seen == ["a1", "b1", "b2"]

    def test_backoff_waits_then_retries(self, db: pathlib.Path, clock: FakeClock) -> None:
        """A failed item is skipped until its retry time, which at most doubles up to 5 min."""
        with Outbox(db, max_attempts=20, clock=clock) as outbox:
            outbox.enqueue("t", None, key="k")
            for attempt in range(1, 12):
                assert outbox.drain(fail_on("k")).failed == 1
                retry_at = raw_row(db, "k")["next_attempt_at"]
                assert 0 <= retry_at - clock.now <= min(300.0, 2.0 ** (attempt - 1))
                if retry_at > clock.now:
                    assert outbox.drain(fail_on("k")).failed == 0  # not due yet
                clock.now = retry_at
            assert outbox.drain(lambda item: None).delivered == 1

    def test_handler_sees_attempts_and_last_error(self, db: pathlib.Path, clock: FakeClock) -> None:
        """On a retry the item carries the failures so far and the last error."""
        seen: list[OutboxItem] = []
        with Outbox(db, clock=clock) as outbox:
            outbox.enqueue("t", None, key="k")
            outbox.drain(fail_on("k", error=ValueError("bad gateway")))
            clock.advance(3600)
            outbox.drain(seen.append)
        assert (seen[0].attempts, seen[0].last_error) == (1, "ValueError: bad gateway")

    def test_dead_letter_after_max_attempts(self, db: pathlib.Path, clock: FakeClock) -> None:
        """After max_attempts failures the item is dead and its topic moves on."""
        seen: list[str] = []

        def handler(item: OutboxItem) -> None:
            seen.append(item.key)
            if item.key == "poison":
                raise KeyError("customer")

        with Outbox(db, max_attempts=3, clock=clock) as outbox:
            outbox.enqueue("t", 1, key="poison")
            outbox.enqueue("t", 2, key="fine")
            assert outbox.drain(handler) == DrainResult(0, 1, 0, 2)
            clock.advance(3600)
            assert outbox.drain(handler) == DrainResult(0, 1, 0, 2)
            clock.advance(3600)
            assert outbox.drain(handler) == DrainResult(1, 1, 1, 0)
            assert seen == ["poison", "poison", "poison", "fine"]
            (dead,) = outbox.dead()
            assert (dead.key, dead.attempts, dead.last_error) == (
                "poison",
                3,
                "KeyError: 'customer'",
            )
            assert outbox.dead("other") == []

    def test_retry_dead(self, db: pathlib.Path, clock: FakeClock) -> None:
        """retry_dead makes dead items pending with attempts reset, ahead of later items."""
        with Outbox(db, max_attempts=1, clock=clock) as outbox:
            for key in ("x", "y", "z"):
                outbox.enqueue("t", key, key=key)
            outbox.drain(fail_on("x", "y"))
            assert [item.key for item in outbox.dead()] == ["x", "y"]
            assert outbox.retry_dead("nope") == 0
            assert outbox.retry_dead("y") == 1
            outbox.enqueue("t", "w", key="w")
            assert [(item.key, item.attempts) for item in outbox.peek()] == [("y", 0), ("w", 0)]
            assert outbox.retry_dead() == 1
            seen: list[str] = []
            assert outbox.drain(lambda item: seen.append(item.key)).delivered == 3
            assert seen == ["x", "y", "w"]

    def test_purge_dead(self, db: pathlib.Path) -> None:
        """purge_dead deletes dead items by key, by topic or all, and never pending ones."""
        with Outbox(db, max_attempts=1) as outbox:
            for key in ("a1", "a2", "b1", "b2"):
                outbox.enqueue(key[0], key, key=key)
            outbox.drain(fail_on("a1", "a2", "b1"))
            assert outbox.purge_dead("a1") == 1
            assert outbox.purge_dead(topic="b") == 1
            assert outbox.purge_dead("b2") == 0  # delivered, not dead
            assert outbox.purge_dead() == 1
            assert outbox.dead() == []

    def test_topic_and_limit(self, db: pathlib.Path) -> None:
        """topic drains only that topic; limit caps the handler calls of a round."""
        seen: list[str] = []
        with Outbox(db) as outbox:
            for key in ("a1", "b1", "a2", "b2", "a3"):
                outbox.enqueue(key[0], key, key=key)
            assert outbox.drain(lambda item: seen.append(item.key), topic="b") == DrainResult(
                2, 0, 0, 0
            )
            assert outbox.drain(lambda item: seen.append(item.key), limit=2).remaining == 1
            assert outbox.drain(lambda item: seen.append(item.key), limit=0).delivered == 0
            assert seen == ["b1", "b2", "a1", "a2"]

    def test_keyboard_interrupt_propagates_and_releases(self, db: pathlib.Path) -> None:
        """An interrupt is not a delivery failure: it propagates and the item is free again."""

        def interrupted(item: OutboxItem) -> None:
            raise KeyboardInterrupt

        with Outbox(db) as outbox:
            outbox.enqueue("t", 1, key="k")
            with pytest.raises(KeyboardInterrupt):
                outbox.drain(interrupted)
            (item,) = outbox.peek()
            assert (item.attempts, item.last_error) == (0, None)
            assert outbox.drain(lambda item: None).delivered == 1


class TestDrainAsync:
    @pytest.mark.asyncio
    async def test_same_semantics_as_drain(self, db: pathlib.Path, clock: FakeClock) -> None:
        """Order, per-topic blocking and dead-lettering work the same with an async handler."""
        seen: list[str] = []

        async def handler(item: OutboxItem) -> None:
            await asyncio.sleep(0)
            seen.append(item.key)
            if item.key == "a1":
                raise ConnectionError("down")

        with Outbox(db, max_attempts=2, clock=clock) as outbox:
            for key in ("a1", "b1", "a2", "b2"):
                outbox.enqueue(key[0], key, key=key)
            assert await outbox.drain_async(handler) == DrainResult(2, 1, 0, 2)
            clock.advance(3600)
            assert await outbox.drain_async(handler, topic="a") == DrainResult(1, 1, 1, 0)
            assert seen == ["a1", "b1", "b2", "a1", "a2"]
            assert [item.key for item in outbox.dead()] == ["a1"]

    @pytest.mark.asyncio
    async def test_cancellation_releases_the_item(self, db: pathlib.Path) -> None:
        """A cancelled drain leaves the item pending, unleased and without a counted attempt."""
        started = asyncio.Event()

        async def hangs(item: OutboxItem) -> None:
            started.set()
            await asyncio.Event().wait()

        with Outbox(db) as outbox:
            outbox.enqueue("t", 1, key="k")
            task = asyncio.create_task(outbox.drain_async(hangs))
            await asyncio.wait_for(started.wait(), timeout=30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert raw_row(db, "k")["leased_until"] == 0
            assert (await outbox.drain_async(_accept_async)).delivered == 1


async def _accept_async(item: OutboxItem) -> None:
    """An async handler that accepts everything."""


class TestConcurrency:
    @pytest.mark.parametrize("shared", [True, False], ids=["one-instance", "two-instances"])
    def test_two_drainers_deliver_each_item_once(self, db: pathlib.Path, shared: bool) -> None:
        """Two threads draining together deliver every item exactly once, each topic in order."""
        keys = [f"{topic}-{n:03}" for n in range(60) for topic in "abcd"]
        with Outbox(db) as outbox:
            for key in keys:
                outbox.enqueue(key[0], None, key=key)
        delivered: list[str] = []
        busy_topics: set[str] = set()
        overlaps: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(2)

        def deliver(item: OutboxItem) -> None:
            with lock:
                if item.topic in busy_topics:
                    overlaps.append(item.key)
                busy_topics.add(item.topic)
            time.sleep(0.0005)
            with lock:
                busy_topics.discard(item.topic)
                delivered.append(item.key)

        common = Outbox(db)

        def drainer() -> None:
            own = common if shared else Outbox(db)
            start.wait(timeout=30)
            own.drain(deliver)
            if not shared:
                own.close()

        threads = [threading.Thread(target=drainer) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
            assert not thread.is_alive()
        assert sorted(delivered) == sorted(keys)
        assert overlaps == []
        for topic in "abcd":
            assert [k for k in delivered if k[0] == topic] == sorted(
                k for k in keys if k[0] == topic
            )
        assert common.pending() == 0
        common.close()

    def test_lease_holds_off_a_second_drainer_until_it_expires(
        self, db: pathlib.Path, clock: FakeClock
    ) -> None:
        """An item being delivered is invisible to other drainers until its lease runs out."""
        other = Outbox(db, clock=clock)
        during: list[DrainResult] = []
        again: list[str] = []

        def slow(item: OutboxItem) -> None:
            during.append(other.drain(lambda item: again.append(item.key)))
            clock.advance(31)  # the lease (30 s) runs out while we are still busy
            during.append(other.drain(lambda item: again.append(item.key)))

        with Outbox(db, lease_seconds=30, clock=clock) as outbox:
            outbox.enqueue("t", 1, key="k1")
            outbox.enqueue("t", 2, key="k2")
            outbox.drain(slow, limit=1)
        other.close()
        assert during[0] == DrainResult(0, 0, 0, 2)
        assert again == ["k1", "k2"]  # at least once: k1 went out twice


def spawn_worker(mode: str, database: pathlib.Path, log: pathlib.Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, str(database), str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    """SIGKILL ``process`` once ``ready()`` holds; fail with its stderr if it died first."""

    def ready_or_exited() -> bool:
        return ready() or process.poll() is not None

    try:
        wait_for(ready_or_exited)
        assert process.poll() is None or ready(), process.communicate()[1].decode()
    finally:
        process.kill()
        process.communicate(timeout=30)


@pytest.mark.slow
class TestKill:
    def test_sigkill_mid_drain_loses_nothing(self, tmp_path: pathlib.Path) -> None:
        """A later drain delivers what a killed drainer left; only the in-flight item goes twice."""
        db, log = tmp_path / "outbox.db", tmp_path / "delivered.log"
        keys = [f"job-{n:03}" for n in range(200)]
        with Outbox(db) as outbox:
            for key in keys:
                outbox.enqueue("jobs", {"key": key}, key=key)
        worker = spawn_worker("drain", db, log)
        kill_when(worker, lambda: len(read_lines(log)) >= 20)
        assert worker.returncode == -signal.SIGKILL  # mid-drain: 200 items take 2 s or more

        def deliver(item: OutboxItem) -> None:
            with log.open("a") as file:
                file.write(f"{item.key}\n")

        # The killed drainer's lease (60 s) has run out for this clock.
        with Outbox(db, clock=lambda: time.time() + 61) as outbox:
            result = outbox.drain(deliver)
            assert (result.failed, result.remaining, outbox.dead()) == (0, 0, [])
        lines = read_lines(log)
        assert set(lines) == set(keys)
        assert len(lines) - len(keys) <= 1
        assert all(line in keys for line in lines)  # no torn lines

    def test_sigkill_mid_enqueue_leaves_whole_rows(self, tmp_path: pathlib.Path) -> None:
        """A writer killed mid-enqueue leaves a sound file, every acknowledged row, whole."""
        db, acks = tmp_path / "outbox.db", tmp_path / "acks.log"
        Outbox(db).close()
        worker = spawn_worker("enqueue", db, acks)
        kill_when(worker, lambda: len(read_lines(acks)) >= 100)
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            payloads = [
                json.loads(text) for (text,) in conn.execute("SELECT payload FROM outbox_items")
            ]
        with Outbox(db) as outbox:
            items = outbox.peek(limit=-1)
        assert len(items) == len(payloads)
        acknowledged = read_lines(acks)
        stored = [item.key for item in items]
        assert stored[: len(acknowledged)] == acknowledged
        assert len(stored) - len(acknowledged) <= 1  # committed, killed before the ack
        for n, item in enumerate(items):
            assert item.key == f"item-{n}"
            assert item.payload == {"n": n, "blob": "x" * (1000 + 997 * n % 9000)}
