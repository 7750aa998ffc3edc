"""A memory level in front of Redis, kept coherent across processes by pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Self

import orjson

from ._backend import AsyncBackend, Entry, SyncBackend
from ._redis import RedisBackend, SyncRedisBackend, connection_errors

__all__ = ["SyncTwoLevelBackend", "TwoLevelBackend"]

_log = logging.getLogger("djed.cache")

_BACKOFF_FIRST = 0.1  # first wait before the listener reconnects, doubled on each failure ...
_BACKOFF_CAP = 2.0  # ... up to this
_POLL = 0.1  # seconds the sync listener waits for a message before checking for close()
_PING_INTERVAL = 5.0  # seconds of silence after which the listener asks Redis for a pong
_JOIN_TIMEOUT = 5.0


class _Stopped(Exception):  # noqa: N818 - a signal, not an error
    """close() was called: the listener thread ends."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Coherence:
    """Options, messages and the state of the listener, shared by both twins."""

    def __init__(
        self,
        remote: RedisBackend | SyncRedisBackend,
        channel: str | None,
        outage_ttl: float,
        local_ttl: float | None,
    ) -> None:
        if not outage_ttl > 0 or (local_ttl is not None and not local_ttl > 0):
            raise ValueError("outage_ttl and local_ttl must be positive (local_ttl may be None)")
        self.channel = channel or f"{remote.prefix}:invalidate"
        self.writer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """Who this instance is in the messages (``host:pid:random``); it ignores its own."""
        self.outage_ttl = outage_ttl
        self.local_ttl = local_ttl
        self._client: Any = remote.client
        self._errors = connection_errors()
        self._health = remote._health  # noqa: SLF001 - one warning per outage for both
        self._health.consequence = (
            f"serving the local level alone, each entry for at most {outage_ttl:g} s"
        )
        kwargs = getattr(self._client.connection_pool, "connection_kwargs", {})
        self._timeout = float(kwargs.get("socket_timeout") or 2.5) * 2
        self._generation = 0  # grows with each invalidation applied; only the listener writes it
        self._listening = False  # subscribed, and no message can have been missed
        self._lost = False  # messages may have been missed: drop the local level on reconnect
        self._closed = False

    @property
    def listening(self) -> bool:
        """True while invalidations from other instances arrive."""
        return self._listening

    def _capped(self, entry: Entry) -> Entry:
        """The entry as the local level keeps it: at most ``outage_ttl`` when not listening."""
        cap = self.local_ttl if self._listening else self.outage_ttl
        if cap is None:
            return entry
        limit = time.time() + cap
        fresh = min(math.inf if entry.fresh_until is None else entry.fresh_until, limit)
        stale = None if entry.stale_until is None else min(entry.stale_until, limit)
        return dataclasses.replace(entry, fresh_until=fresh, stale_until=stale)

    def _message(self, **fields: Any) -> bytes:
        return orjson.dumps({"w": self.writer, **fields})

    def _actions(self, data: Any) -> list[tuple[str, tuple[Any, ...]]]:
        """What a peer's message asks of the local level: (method, arguments) pairs."""
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or message.get("w") == self.writer:
            return []  # malformed, or our own
        self._generation += 1  # before the local level changes: in-flight fills are dropped
        actions: list[tuple[str, tuple[Any, ...]]] = [("clear", ())] if message.get("all") else []
        if message.get("t"):
            actions.append(("invalidate_tags", ([str(t) for t in message["t"]],)))
        actions.extend(("delete", (str(key),)) for key in message.get("k") or ())
        return actions

    def _failed_to_apply(self) -> None:
        _log.exception("two-level cache %r: applying an invalidation failed", self.channel)

    def _up(self, *, lost: bool = False) -> bool:
        """Subscribed: whether the local level must be dropped, messages having been missed."""
        drop, self._lost, self._listening = self._lost or lost, False, True
        if drop:
            self._generation += 1
        self._health.succeeded()
        return drop

    def _down(self, exc: BaseException) -> None:
        if not isinstance(exc, self._errors):
            _log.error("two-level cache %r: the listener failed", self.channel, exc_info=exc)
        self._listening, self._lost = False, True
        self._health.failed(exc)

    @staticmethod
    def _missing(keys: list[str], found: list[Entry | None]) -> list[str]:
        return list(dict.fromkeys(k for k, e in zip(keys, found, strict=True) if e is None))

    @staticmethod
    def _merge(
        keys: list[str], found: list[Entry | None], got: dict[str, Entry]
    ) -> list[Entry | None]:
        return [got.get(k) if e is None else e for k, e in zip(keys, found, strict=True)]


class TwoLevelBackend(_Coherence):
    """A memory level in front of a :class:`RedisBackend`, coherent across processes.

    >>> backend = TwoLevelBackend(MemoryBackend().as_async(), RedisBackend(url))  # doctest: +SKIP

    Reads try the local level, then Redis (filling the local level with what
    it found). Writes, deletes and invalidations go to both levels and are
    published on ``channel`` (default ``{prefix}:invalidate``) with this
    instance's :attr:`writer`; every other instance drops those keys, tags, or
    everything (on ``clear``) from its local level. The listener is a task
    started on first use, which waits (once, at most two socket timeouts) for
    the subscription, so no message is missed from then on. A read racing with
    an invalidation does not fill the local level with what it read.

    Pub/sub delivers at most once: if the listener loses its connection, the
    local level is cleared when it is back, since messages may have been
    missed. Meanwhile (and whenever Redis is down) the local level keeps
    serving, but what it stores then lives at most ``outage_ttl`` seconds,
    since invalidations cannot arrive; entries stored earlier keep their own
    times. One warning (shared with ``remote``) says Redis is unavailable.

    The levels belong to the caller: :meth:`aclose` stops the listener only.
    Use it from one event loop.

    Args:
        local: the memory level, any async backend (e.g. ``MemoryBackend().as_async()``).
        remote: the Redis level.
        channel: the pub/sub channel of invalidations.
        outage_ttl: longest life in the local level of what is stored while
            invalidations cannot arrive.
        local_ttl: longest life in the local level at any time (None: the entry's own).
    """

    def __init__(
        self,
        local: AsyncBackend,
        remote: RedisBackend,
        *,
        channel: str | None = None,
        outage_ttl: float = 5.0,
        local_ttl: float | None = None,
    ) -> None:
        super().__init__(remote, channel, outage_ttl, local_ttl)
        self.local = local
        self.remote = remote
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def get(self, key: str) -> Entry | None:
        """The local entry, else the remote one (then kept locally)."""
        await self._start()
        entry = await self.local.get(key)
        if entry is not None:
            return entry
        generation = self._generation
        entry = await self.remote.get(key)
        if entry is not None:
            await self._fill({key: entry}, generation)
        return entry

    async def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        """Entries in the order of ``keys``; local misses are read from Redis in one MGET."""
        await self._start()
        keys = list(keys)
        found = await self.local.get_many(keys)
        missing = self._missing(keys, found)
        if not missing:
            return found
        generation = self._generation
        remote = await self.remote.get_many(missing)
        got = {k: e for k, e in zip(missing, remote, strict=True) if e is not None}
        if got:
            await self._fill(got, generation)
        return self._merge(keys, found, got)

    async def set(self, key: str, entry: Entry) -> None:
        """Store in both levels; other instances drop their copy."""
        await self.set_many({key: entry})

    async def set_many(self, entries: Mapping[str, Entry]) -> None:
        """Store several entries in both levels; other instances drop their copies."""
        await self._start()
        await self.remote.set_many(entries)
        await self.local.set_many({k: self._capped(e) for k, e in entries.items()})
        await self._publish(self._message(k=list(entries)), always=False)

    async def delete(self, key: str) -> bool:
        """Remove a key from both levels and other instances; whether it was there."""
        await self._start()
        removed = await self.remote.delete(key)
        removed = await self.local.delete(key) or removed
        await self._publish(self._message(k=[key]))
        return removed

    async def clear(self) -> None:
        """Remove every entry of both levels, and of the other instances' local levels."""
        await self._start()
        await self.remote.clear()
        await self.local.clear()
        await self._publish(self._message(all=True))

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove the entries carrying ``tags`` everywhere; the larger count of the two levels."""
        await self._start()
        tags = list(dict.fromkeys(tags))
        removed = await self.remote.invalidate_tags(tags)
        removed = max(removed, await self.local.invalidate_tags(tags))
        await self._publish(self._message(t=tags))
        return removed

    async def aclose(self) -> None:
        """Stop the listener (the levels stay open)."""
        self._closed = True
        self._listening = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        await self.aclose()

    # -- coherence -------------------------------------------------------------------

    async def _fill(self, entries: dict[str, Entry], generation: int) -> None:
        """Keep remote entries locally, unless an invalidation came in since they were read."""
        if generation != self._generation:
            return
        await self.local.set_many({k: self._capped(e) for k, e in entries.items()})
        if generation != self._generation:  # one arrived while storing: undo
            for key in entries:
                await self.local.delete(key)

    async def _publish(self, message: bytes, *, always: bool = True) -> None:
        """Tell the other instances (a set skips it while Redis cools down, as it skipped Redis)."""
        if not always and self._health.cooling():
            return
        try:
            await self._client.publish(self.channel, message)
        except self._errors as exc:
            self._health.failed(exc)

    async def _start(self) -> None:
        """Start the listener on first use and wait (once, briefly) until it subscribed."""
        if self._ready.is_set() or self._closed:
            return
        if self._task is None:
            name = f"djed-cache-invalidations-{self.channel}"
            self._task = asyncio.get_running_loop().create_task(self._run(), name=name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), self._timeout)

    async def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while (await self._next(pubsub, self._timeout)).get("type") != "subscribe":
                    pass
                await self._connected()
                self._ready.set()
                backoff = _BACKOFF_FIRST
                await self._listen(pubsub)
            except Exception as exc:  # noqa: BLE001 - the listener must outlive any surprise
                self._down(exc)
            finally:
                self._ready.set()
                with contextlib.suppress(*self._errors):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_CAP)

    async def _next(self, pubsub: Any, within: float) -> dict[str, Any]:
        """The next message, with its type as text; TimeoutError if none comes ``within``."""
        message = await pubsub.get_message(timeout=within)
        if message is None:
            raise TimeoutError("Redis did not answer on the subscription")
        return {**message, "type": _text(message.get("type"))}

    async def _listen(self, pubsub: Any) -> None:
        """Apply peers' messages until the connection fails; ping when silent."""
        while True:
            try:
                message = await self._next(pubsub, _PING_INTERVAL)
            except TimeoutError:
                await pubsub.ping()
                message = await self._next(pubsub, self._timeout)
            if message["type"] == "subscribe":  # redis-py reconnected on its own
                await self._connected(lost=True)
            elif message["type"] == "message":
                await self._apply(message.get("data"))

    async def _connected(self, *, lost: bool = False) -> None:
        if self._up(lost=lost):
            await self.local.clear()

    async def _apply(self, data: Any) -> None:
        try:
            for name, args in self._actions(data):
                await getattr(self.local, name)(*args)
        except Exception:  # noqa: BLE001 - a broken local level must not stop the listener
            self._failed_to_apply()


class SyncTwoLevelBackend(_Coherence):
    """The sync twin of :class:`TwoLevelBackend`, with a listener thread.

    >>> backend = SyncTwoLevelBackend(MemoryBackend(), SyncRedisBackend(url))  # doctest: +SKIP

    ``local`` must be thread-safe: the listener thread removes entries from it.
    :meth:`close` stops the thread (the levels stay open).
    """

    def __init__(
        self,
        local: SyncBackend,
        remote: SyncRedisBackend,
        *,
        channel: str | None = None,
        outage_ttl: float = 5.0,
        local_ttl: float | None = None,
    ) -> None:
        super().__init__(remote, channel, outage_ttl, local_ttl)
        self.local = local
        self.remote = remote
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._start_lock = threading.Lock()

    def get(self, key: str) -> Entry | None:
        """The local entry, else the remote one (then kept locally)."""
        self._start()
        entry = self.local.get(key)
        if entry is not None:
            return entry
        generation = self._generation
        entry = self.remote.get(key)
        if entry is not None:
            self._fill({key: entry}, generation)
        return entry

    def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        """Entries in the order of ``keys``; local misses are read from Redis in one MGET."""
        self._start()
        keys = list(keys)
        found = self.local.get_many(keys)
        missing = self._missing(keys, found)
        if not missing:
            return found
        generation = self._generation
        remote = self.remote.get_many(missing)
        got = {k: e for k, e in zip(missing, remote, strict=True) if e is not None}
        if got:
            self._fill(got, generation)
        return self._merge(keys, found, got)

    def set(self, key: str, entry: Entry) -> None:
        """Store in both levels; other instances drop their copy."""
        self.set_many({key: entry})

    def set_many(self, entries: Mapping[str, Entry]) -> None:
        """Store several entries in both levels; other instances drop their copies."""
        self._start()
        self.remote.set_many(entries)
        self.local.set_many({k: self._capped(e) for k, e in entries.items()})
        self._publish(self._message(k=list(entries)), always=False)

    def delete(self, key: str) -> bool:
        """Remove a key from both levels and other instances; whether it was there."""
        self._start()
        removed = self.remote.delete(key)
        removed = self.local.delete(key) or removed
        self._publish(self._message(k=[key]))
        return removed

    def clear(self) -> None:
        """Remove every entry of both levels, and of the other instances' local levels."""
        self._start()
        self.remote.clear()
        self.local.clear()
        self._publish(self._message(all=True))

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove the entries carrying ``tags`` everywhere; the larger count of the two levels."""
        self._start()
        tags = list(dict.fromkeys(tags))
        removed = self.remote.invalidate_tags(tags)
        removed = max(removed, self.local.invalidate_tags(tags))
        self._publish(self._message(t=tags))
        return removed

    def close(self) -> None:
        """Stop the listener thread (the levels stay open)."""
        with self._start_lock:
            self._closed = True
            self._listening = False
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()

    # -- coherence -------------------------------------------------------------------

    def _fill(self, entries: dict[str, Entry], generation: int) -> None:
        """Keep remote entries locally, unless an invalidation came in since they were read."""
        if generation != self._generation:
            return
        self.local.set_many({k: self._capped(e) for k, e in entries.items()})
        if generation != self._generation:  # one arrived while storing: undo
            for key in entries:
                self.local.delete(key)

    def _publish(self, message: bytes, *, always: bool = True) -> None:
        """Tell the other instances (a set skips it while Redis cools down, as it skipped Redis)."""
        if not always and self._health.cooling():
            return
        try:
            self._client.publish(self.channel, message)
        except self._errors as exc:
            self._health.failed(exc)

    def _start(self) -> None:
        """Start the listener on first use and wait (once, briefly) until it subscribed."""
        if self._ready.is_set() or self._closed:
            return
        with self._start_lock:
            if self._thread is None and not self._closed:
                name = f"djed-cache-invalidations-{self.channel}"
                self._thread = threading.Thread(target=self._run, name=name, daemon=True)
                self._thread.start()
        self._ready.wait(self._timeout)

    def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while not self._stop.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(self.channel)
                while self._next(pubsub, self._timeout)["type"] != "subscribe":
                    pass
                self._connected()
                self._ready.set()
                backoff = _BACKOFF_FIRST
                self._listen(pubsub)
            except _Stopped:
                return
            except Exception as exc:  # noqa: BLE001 - the listener must outlive any surprise
                self._down(exc)
            finally:
                self._ready.set()
                with contextlib.suppress(*self._errors):
                    pubsub.close()
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, _BACKOFF_CAP)

    def _next(self, pubsub: Any, within: float) -> dict[str, Any]:
        """The next message, with its type as text; TimeoutError if none comes ``within``."""
        deadline = time.monotonic() + within
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=min(_POLL, within))
            if message is not None:
                return {**message, "type": _text(message.get("type"))}
            if time.monotonic() > deadline:
                raise TimeoutError("Redis did not answer on the subscription")
        raise _Stopped

    def _listen(self, pubsub: Any) -> None:
        """Apply peers' messages until close() or a failure; ping when silent."""
        while True:
            try:
                message = self._next(pubsub, _PING_INTERVAL)
            except TimeoutError:
                pubsub.ping()
                message = self._next(pubsub, self._timeout)
            if message["type"] == "subscribe":  # redis-py reconnected on its own
                self._connected(lost=True)
            elif message["type"] == "message":
                self._apply(message.get("data"))

    def _connected(self, *, lost: bool = False) -> None:
        if self._up(lost=lost):
            self.local.clear()

    def _apply(self, data: Any) -> None:
        try:
            for name, args in self._actions(data):
                getattr(self.local, name)(*args)
        except Exception:  # noqa: BLE001 - a broken local level must not stop the listener
            self._failed_to_apply()
