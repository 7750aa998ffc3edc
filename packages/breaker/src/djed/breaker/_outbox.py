"""The durable queue-for-retry: calls that could not be made, kept in SQLite until replayed.

Durability: the file runs in WAL mode with ``synchronous=FULL``, so every commit
fsyncs the write-ahead log before returning. ``NORMAL`` would survive a killed
process but could lose the last commits on power loss; an outbox exists to hold
what must not be lost, so it pays one fsync per enqueue and per delivery.
SQLite's atomic commit means a process killed mid-write leaves either the whole
row or none of it.

Delivery is at least once, never exactly once: a row is deleted only after its
handler returned, so a process killed between the two delivers that item again.
Handlers should be idempotent, deduplicating on ``item.key``.

Concurrency: each :class:`Outbox` holds one connection behind a lock (opened with
``check_same_thread=False``), so threads share it safely and :meth:`Outbox.close`
closes everything; other processes (or other instances) coordinate through
SQLite's file locks, waiting up to ``busy_timeout`` seconds for a write lock.
Before calling a handler a drainer leases the item (``leased_until``) in a short
``BEGIN IMMEDIATE`` transaction. Only the oldest pending item of a topic can be
leased, so two drainers never deliver one item at once, nor two items of one
topic out of order. A killed drainer's lease runs out after ``lease_seconds``;
then the item is delivered again. Leases compare wall-clock times (``clock``),
so drainers on one file need roughly synchronised clocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Self

from . import _metrics
from ._errors import BreakerError

__all__ = ["DrainResult", "Outbox", "OutboxError", "OutboxItem"]

_log = logging.getLogger("djed.breaker")

_BACKOFF_BASE = 1.0
_BACKOFF_CAP = 300.0
_MAX_ERROR_CHARS = 2000
_COLUMNS = "key, topic, payload, attempts, created_at, last_error, sequence"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_items (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    last_error TEXT,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    leased_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_items_by_topic ON outbox_items (state, topic, sequence);
"""
# The oldest pending item of each topic; only those may be delivered.
_HEADS = (
    f"SELECT {_COLUMNS} FROM outbox_items"  # noqa: S608 - constant
    " WHERE sequence IN (SELECT MIN(sequence) FROM outbox_items"
    " WHERE state = 'pending' AND (:topic IS NULL OR topic = :topic) GROUP BY topic)"
    " AND leased_until <= :now AND next_attempt_at <= :now ORDER BY sequence"
)


class OutboxError(BreakerError):
    """The outbox was misused: a bad path or option, a payload that is not JSON, a closed outbox."""


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxItem:
    """One queued call, as handed to a drain handler."""

    key: str
    """Idempotency key: enqueueing it again is a no-op; handlers deduplicate on it."""
    topic: str
    payload: Any
    """The JSON data given to :meth:`Outbox.enqueue` (tuples come back as lists)."""
    attempts: int
    """Failed deliveries so far (0 on the first try)."""
    created_at: float
    last_error: str | None
    """``"ExceptionType: message"`` of the last failed delivery."""
    sequence: int
    """Position in the outbox; items are delivered in increasing order."""


@dataclasses.dataclass(frozen=True, slots=True)
class DrainResult:
    """What one :meth:`Outbox.drain` round did."""

    delivered: int
    failed: int
    """Handler calls that raised this round (including those that led to dead-lettering)."""
    dead_lettered: int
    remaining: int
    """Pending items (of the drained topic, if one was given) after the round."""


@dataclasses.dataclass(slots=True)
class _Round:
    topic: str | None
    limit: int | None
    blocked: set[str] = dataclasses.field(default_factory=set)
    calls: int = 0
    delivered: int = 0
    failed: int = 0
    dead_lettered: int = 0


def _row_item(row: tuple[Any, ...]) -> OutboxItem:
    key, topic, payload, attempts, created_at, last_error, sequence = row
    return OutboxItem(key, topic, json.loads(payload), attempts, created_at, last_error, sequence)


class Outbox:
    """A SQLite-backed queue of calls to replay once their dependency is back.

    Example::

        with Outbox("outbox.db") as outbox:
            outbox.enqueue("email", {"to": "a@example.com"}, key="order-7")
            outbox.drain(lambda item: send_email(**item.payload))

    Args:
        path: The database file, created if missing (its folder must exist).
        max_attempts: Failed deliveries after which an item is dead-lettered.
        busy_timeout: Seconds to wait for another process's write lock.
        lease_seconds: How long a drainer owns an item it is delivering; a
            killed drainer's item is delivered again once the lease runs out.
            Keep it above your handler's longest run.
        clock: Wall-clock time in seconds; tests inject a fake one to skip backoff.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_attempts: int = 5,
        busy_timeout: float = 5.0,
        lease_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise OutboxError(f"max_attempts must be at least 1, not {max_attempts}")
        if busy_timeout < 0 or lease_seconds < 0:
            raise OutboxError("busy_timeout and lease_seconds must not be negative")
        self.path = os.fspath(path)
        _metrics.track(self)
        if self.path in ("", ":memory:"):
            raise OutboxError(f"an outbox needs a file path, not {self.path!r}")
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._random = random.Random()  # noqa: S311 - jitter, not cryptography
        self._lock = threading.Lock()
        self._pid = os.getpid()
        try:
            conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {self.path!r}: {exc}") from None
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
        except sqlite3.Error as exc:
            conn.close()
            raise OutboxError(f"cannot open outbox {self.path!r}: {exc}") from None
        if mode != "wal":
            conn.close()
            raise OutboxError(f"outbox {self.path!r} cannot use WAL mode (got {mode!r})")
        self._conn: sqlite3.Connection | None = conn

    # -- connection ------------------------------------------------------------

    @contextlib.contextmanager
    def _use(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection under the lock; with ``write``, inside one IMMEDIATE transaction."""
        if os.getpid() != self._pid:
            raise OutboxError("this Outbox was opened before a fork: open a new one in the child")
        with self._lock:
            conn = self._conn
            if conn is None:
                raise OutboxError(f"outbox {self.path!r} is closed")
            if not write:
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    def close(self) -> None:
        """Close the connection; later calls raise :class:`OutboxError`. Idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- queueing --------------------------------------------------------------

    def enqueue(self, topic: str, payload: Any, *, key: str | None = None) -> str:
        """Store a call for later delivery; committed to disk before returning.

        Args:
            topic: What the call is for; items of one topic are delivered in order.
            payload: JSON data (dicts, lists, strings, numbers, booleans, None).
            key: Idempotency key, random if omitted. While an item with this key
                is in the outbox (pending or dead), enqueueing it again does
                nothing and returns the key; once delivered, it is accepted anew.

        Raises:
            OutboxError: ``payload`` is not JSON, or ``topic`` or ``key`` is not
                a non-empty string.
        """
        if not isinstance(topic, str) or not topic:
            raise OutboxError(f"topic must be a non-empty string, not {topic!r}")
        if key is None:
            key = uuid.uuid4().hex
        elif not isinstance(key, str) or not key:
            raise OutboxError(f"key must be a non-empty string, not {key!r}")
        try:
            text = json.dumps(payload, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError) as exc:
            raise OutboxError(
                f"payload for topic {topic!r} is not JSON ({type(payload).__name__} given): {exc}"
            ) from None
        with self._use(write=True) as conn:
            conn.execute(
                "INSERT INTO outbox_items (key, topic, payload, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, topic, text, self._clock()),
            )
        return key

    # -- inspection ------------------------------------------------------------

    def pending(self, topic: str | None = None) -> int:
        """How many items wait for delivery (of ``topic``, or of all topics)."""
        with self._use() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM outbox_items"
                " WHERE state = 'pending' AND (:topic IS NULL OR topic = :topic)",
                {"topic": topic},
            ).fetchone()
        return int(row[0])

    def peek(self, topic: str | None = None, limit: int = 100) -> list[OutboxItem]:
        """The first ``limit`` pending items (all if negative) in delivery order."""
        return self._items("pending", topic, limit)

    def dead(self, topic: str | None = None) -> list[OutboxItem]:
        """The dead-lettered items in order, with their attempts and last error."""
        return self._items("dead", topic, -1)

    def _items(self, state: str, topic: str | None, limit: int) -> list[OutboxItem]:
        with self._use() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM outbox_items"  # noqa: S608 - constant columns
                " WHERE state = :state AND (:topic IS NULL OR topic = :topic)"
                " ORDER BY sequence LIMIT :limit",
                {"state": state, "topic": topic, "limit": limit},
            ).fetchall()
        return [_row_item(row) for row in rows]

    def retry_dead(self, key: str | None = None, *, topic: str | None = None) -> int:
        """Make dead items (one ``key``, a ``topic``, or all) pending again with attempts reset.

        They keep their place, so each goes before later items of its topic.
        ``last_error`` is kept until the next attempt. Returns how many moved.
        """
        with self._use(write=True) as conn:
            cursor = conn.execute(
                "UPDATE outbox_items SET state = 'pending', attempts = 0, next_attempt_at = 0,"
                " leased_until = 0 WHERE state = 'dead'"
                " AND (:key IS NULL OR key = :key) AND (:topic IS NULL OR topic = :topic)",
                {"key": key, "topic": topic},
            )
        return cursor.rowcount

    def purge_dead(self, key: str | None = None, *, topic: str | None = None) -> int:
        """Delete dead items (one ``key``, a ``topic``, or all); returns how many."""
        with self._use(write=True) as conn:
            cursor = conn.execute(
                "DELETE FROM outbox_items WHERE state = 'dead'"
                " AND (:key IS NULL OR key = :key) AND (:topic IS NULL OR topic = :topic)",
                {"key": key, "topic": topic},
            )
        return cursor.rowcount

    # -- delivery --------------------------------------------------------------

    def drain(
        self,
        handler: Callable[[OutboxItem], object],
        *,
        topic: str | None = None,
        limit: int | None = None,
    ) -> DrainResult:
        """Deliver pending items in order, each by calling ``handler(item)``.

        An item is deleted once its handler returns. When the handler raises,
        the item's attempts and ``last_error`` are updated and its topic waits
        (with exponential backoff and full jitter, from 1 s up to 5 min) so that
        later items never overtake it; other topics go on. After
        ``max_attempts`` failures the item is dead-lettered and its topic moves
        on. A handler's exception never escapes; ``KeyboardInterrupt`` and the
        like release the item's lease and propagate.

        Args:
            handler: Delivers one item; should be idempotent on ``item.key``.
            topic: Drain only this topic (default: all, in enqueue order).
            limit: At most this many handler calls this round.
        """
        state = _Round(topic, limit)
        while (item := self._claim(state)) is not None:
            try:
                handler(item)
            except Exception as exc:  # noqa: BLE001 - every handler failure is recorded
                self._settle(state, item, exc)
            except BaseException:
                self._release(item)
                raise
            else:
                self._settle(state, item, None)
        return self._result(state)

    async def drain_async(
        self,
        handler: Callable[[OutboxItem], Awaitable[object]],
        *,
        topic: str | None = None,
        limit: int | None = None,
    ) -> DrainResult:
        """:meth:`drain` with an async handler.

        The SQLite work runs in a worker thread (``asyncio.to_thread``): it is
        short, but may wait on another process's lock or an fsync, and the event
        loop must not block. Cancellation releases the item being delivered.
        """
        state = _Round(topic, limit)
        while (item := await asyncio.to_thread(self._claim, state)) is not None:
            try:
                await handler(item)
            except Exception as exc:  # noqa: BLE001 - every handler failure is recorded
                await asyncio.to_thread(self._settle, state, item, exc)
            except BaseException:
                await asyncio.shield(asyncio.to_thread(self._release, item))
                raise
            else:
                await asyncio.to_thread(self._settle, state, item, None)
        return await asyncio.to_thread(self._result, state)

    def _claim(self, state: _Round) -> OutboxItem | None:
        """Lease the oldest deliverable item, or None when this round is over."""
        if state.limit is not None and state.calls >= state.limit:
            return None
        with self._use(write=True) as conn:
            now = self._clock()
            for row in conn.execute(_HEADS, {"topic": state.topic, "now": now}).fetchall():
                item = _row_item(row)
                if item.topic not in state.blocked:
                    conn.execute(
                        "UPDATE outbox_items SET leased_until = ? WHERE sequence = ?",
                        (now + self.lease_seconds, item.sequence),
                    )
                    state.calls += 1
                    return item
        return None

    def _settle(self, state: _Round, item: OutboxItem, error: Exception | None) -> None:
        """Record the outcome of one handler call."""
        if error is None:
            with self._use(write=True) as conn:
                conn.execute("DELETE FROM outbox_items WHERE sequence = ?", (item.sequence,))
            state.delivered += 1
            return
        attempts = item.attempts + 1
        text = f"{type(error).__name__}: {error}"[:_MAX_ERROR_CHARS]
        dead = attempts >= self.max_attempts
        ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** min(attempts - 1, 30))
        retry_at = self._clock() + self._random.uniform(0, ceiling)
        with self._use(write=True) as conn:
            conn.execute(
                "UPDATE outbox_items SET attempts = ?, last_error = ?, state = ?,"
                " next_attempt_at = ?, leased_until = 0 WHERE sequence = ?",
                (attempts, text, "dead" if dead else "pending", retry_at, item.sequence),
            )
        state.failed += 1
        if dead:
            state.dead_lettered += 1
            _log.warning("outbox item %s (topic %r) dead-lettered: %s", item.key, item.topic, text)
        else:
            state.blocked.add(item.topic)

    def _release(self, item: OutboxItem) -> None:
        """Give up an item's lease without counting an attempt."""
        with self._use(write=True) as conn:
            conn.execute(
                "UPDATE outbox_items SET leased_until = 0 WHERE sequence = ?", (item.sequence,)
            )

    def _result(self, state: _Round) -> DrainResult:
        return DrainResult(
            delivered=state.delivered,
            failed=state.failed,
            dead_lettered=state.dead_lettered,
            remaining=self.pending(state.topic),
        )
