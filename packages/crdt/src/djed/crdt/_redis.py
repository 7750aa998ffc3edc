"""Scale-out: server processes share updates and presence through Redis pub/sub.

>>> server = SyncServer(SQLiteStorage("shared.db"), fan_out=RedisFanOut("redis://redis:6379/0"))

Every process stores what its own clients send, then publishes it on the
document's channel (``<prefix><name>``); the others apply it and pass it on to
their clients without storing it again, since all of them share one store.
Each message carries the random id of the process that sent it, so a process
ignores its own.

Redis is a helper, never a single point of failure: while it is unreachable
each process keeps serving its own clients, messages that cannot be shared are
counted (``dropped``) and the outage is logged once. A background task
reconnects with backoff, resubscribes every loaded document and re-reads each
from the store to apply what it missed, then asks the other processes to do
the same, which brings back every edit made during the outage (updates are
idempotent). Compaction takes a Redis lock with an expiry, so one process
compacts a document at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pycrdt import get_update, merge_updates

from ._metrics import instruments
from ._server import CLOSE_RESET, Room, SyncServer

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = ["RedisFanOut"]

_log = logging.getLogger("djed.crdt")

# What follows the kind byte and the 16-byte process id of every published message.
_MESSAGE = 0  # a y-websocket message (a stored update, or awareness) to apply here
_CATCH_UP = 1  # "I missed messages, and so may you: re-read this document from the store"
_RESET = 2  # "this document was reset": the body is its new epoch, in ASCII
_ID_BYTES = 16
_EMPTY_DIFF = b"\x00\x00"
_BATCH = 256

# Only compare-and-act scripts: a process touches a lock only while it still owns it.
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
_EXTEND = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then"
    " return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


class RedisFanOut:
    """Share a :class:`SyncServer`'s updates and presence with other processes through Redis.

    >>> fan_out = RedisFanOut("redis://127.0.0.1:6379/0")
    >>> server = SyncServer(SQLiteStorage("shared.db"), fan_out=fan_out)

    Every process must use the same store (one SQLite file on a shared disk, for
    example) and the same ``channel_prefix``.

    Args:
        url: The Redis URL; by default ``DJED_CRDT_REDIS_URL`` from the environment.
        channel_prefix: Prefix of channel and lock names, to share one Redis safely.
        lock_seconds: Expiry of the compaction lock; the holder renews it while it works.
        reconnect_delay: First wait before reconnecting; doubled on each failure.
        max_reconnect_delay: Longest wait between reconnection attempts.
        health_seconds: How long Redis may take to answer a command or confirm a
            subscription; a quiet connection is checked with a PING this often, and
            one silent twice as long is dropped and reopened.
    """

    max_queue = 10_000
    """Messages waiting to be published, past which new ones are dropped (and counted)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        channel_prefix: str = "djed:crdt:",
        lock_seconds: float = 30.0,
        reconnect_delay: float = 0.2,
        max_reconnect_delay: float = 5.0,
        health_seconds: float = 5.0,
    ) -> None:
        url = url or os.environ.get("DJED_CRDT_REDIS_URL")
        if not url:
            raise ValueError("RedisFanOut needs a Redis URL: pass url= or set DJED_CRDT_REDIS_URL")
        for name, value in (
            ("lock_seconds", lock_seconds),
            ("reconnect_delay", reconnect_delay),
            ("max_reconnect_delay", max_reconnect_delay),
            ("health_seconds", health_seconds),
        ):
            if value <= 0:
                raise ValueError(f"RedisFanOut {name} must be positive, not {value!r}")
        self.url = url
        self.channel_prefix = channel_prefix
        self.lock_seconds = lock_seconds
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max(max_reconnect_delay, reconnect_delay)
        self.health_seconds = health_seconds
        self.process_id = secrets.token_bytes(_ID_BYTES)
        self.dropped = 0
        """Messages that could not be shared (Redis unreachable, or the queue full)."""
        self.reconnects = 0
        """Connections to Redis made again after an outage."""
        self._prefix = channel_prefix.encode()
        self._server: SyncServer | None = None
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._connected = False
        self._failure: BaseException | None = None
        self._outage_since: float | None = None
        self._outage_dropped = 0
        self._names: set[str] = set()
        self._confirming: dict[bytes, list[asyncio.Future[None]]] = {}
        self._command_lock = asyncio.Lock()
        self._queue: deque[tuple[bytes, bytes]] = deque()
        self._full = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._waiting: dict[str, list[tuple[int, bytes]]] = {}
        self._catching_up: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._errors: tuple[type[BaseException], ...] = (OSError,)

    @property
    def connected(self) -> bool:
        """Whether messages are being shared right now."""
        return self._connected

    # -- the interface SyncServer calls -------------------------------------------------

    async def start(self, server: SyncServer) -> None:
        """Connect (or, when Redis is down, keep trying in the background)."""
        try:
            from redis.asyncio import Redis  # noqa: PLC0415 - the optional extra
            from redis.asyncio.retry import Retry  # noqa: PLC0415
            from redis.backoff import NoBackoff  # noqa: PLC0415
            from redis.exceptions import RedisError  # noqa: PLC0415
        except ImportError as error:
            raise ImportError(
                "RedisFanOut needs the redis client: pip install 'djed-crdt[redis]'"
            ) from error
        self._server = server
        self._errors = (RedisError, OSError, TimeoutError)
        self._client = Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),  # reconnecting is this class's job
            socket_connect_timeout=self.health_seconds,
            socket_timeout=self.health_seconds,
        )
        self._idle.set()
        listener: asyncio.Task[None] | None = None
        try:
            listener = await self._open()
        except Exception as error:  # noqa: BLE001 - serve locally; keep trying in the background
            self._outage(error)
        self._spawn(self._supervise(listener), "supervise")
        self._spawn(self._publish_loop(), "publish")

    async def stop(self) -> None:
        """Publish what is queued (briefly), then disconnect."""
        if self._connected and self._queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.health_seconds)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._close_session()
        if self._client is not None:
            with contextlib.suppress(*self._errors):
                await self._client.aclose()
        self._client = None

    async def subscribe(self, name: str) -> None:
        """Receive what other processes share about ``name`` (before it loads)."""
        self._names.add(name)
        pubsub = self._pubsub
        if pubsub is None or not self._connected:
            return  # the next connection subscribes it, then catches up from the store
        try:
            await self._subscribe(pubsub, [name])
        except self._errors as error:
            self._fail(error)

    async def unsubscribe(self, name: str) -> None:
        """Stop receiving ``name``'s messages (it was unloaded here)."""
        if self._loaded(name):
            return  # loaded again in the meantime
        self._names.discard(name)
        self._waiting.pop(name, None)
        pubsub = self._pubsub
        if pubsub is None or not self._connected:
            return
        async with self._command_lock:
            if self._loaded(name):
                return
            try:
                await pubsub.unsubscribe(self._channel(name))
            except self._errors as error:
                self._fail(error)

    def publish(self, name: str, message: bytes) -> None:
        """Queue ``message`` for the other processes; never blocks, never raises."""
        self._send(name, _MESSAGE, message)

    def announce_reset(self, name: str, epoch: int) -> None:
        """Tell the other processes ``name`` was reset to ``epoch``, so they drop their copy."""
        self._send(name, _RESET, str(epoch).encode())

    @contextlib.asynccontextmanager
    async def compaction_lock(self, name: str) -> AsyncIterator[bool]:
        """Yield True if this process may compact ``name`` now (one process at a time).

        Without Redis nobody compacts: the log keeps every update until it is back.
        """
        client = self._client
        key = self._prefix + b"lock:" + name.encode()
        token = secrets.token_hex(16)
        granted = False
        if client is not None and self._connected:
            try:
                granted = bool(
                    await client.set(key, token, nx=True, px=int(self.lock_seconds * 1000))
                )
            except self._errors as error:
                _log.warning("could not take the compaction lock of %r: %s", name, error)
        if not granted:
            yield False
            return
        assert client is not None
        renewer = asyncio.create_task(self._renew(client, key, token, name))
        try:
            yield True
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            with contextlib.suppress(*self._errors):
                await client.eval(_RELEASE, 1, key, token)

    async def _renew(self, client: Redis, key: bytes, token: str, name: str) -> None:
        """Extend a held lock every third of its expiry, while its holder works."""
        milliseconds = int(self.lock_seconds * 1000)
        while True:
            await asyncio.sleep(self.lock_seconds / 3)
            try:
                kept = await client.eval(_EXTEND, 1, key, token, milliseconds)
            except self._errors as error:
                _log.warning("could not renew the compaction lock of %r: %s", name, error)
                continue
            if not kept:
                _log.warning("lost the compaction lock of %r (it expired)", name)
                return

    async def catch_up(self, name: str | None = None) -> None:
        """Apply what the store holds of ``name`` (default: every loaded one) and memory lacks.

        Run after reconnecting to Redis: it brings back what was missed meanwhile.
        """
        server = self._server
        if server is None:
            return
        for each in [name] if name is not None else list(server.rooms):
            room = server.rooms.get(each)
            if room is None:
                continue
            await room.ready.wait()  # a load that read the store before we subscribed
            if room.load_error is not None:
                continue
            stored = await server.storage.load(each)
            if server.rooms.get(each) is not room:
                continue
            if stored.epoch != room.epoch:
                self._drop_stale(room, stored.epoch)
                continue
            if not stored.updates:
                continue
            merged = (
                stored.updates[0] if len(stored.updates) == 1 else merge_updates(*stored.updates)
            )
            diff = get_update(merged, room.doc.get_state())
            if diff != _EMPTY_DIFF:
                room.apply_remote(diff)  # idempotent: known parts change nothing

    # -- connection ---------------------------------------------------------------------

    async def _open(self) -> asyncio.Task[None]:
        """Connect, subscribe every loaded document, then catch up; returns the listener."""
        client = self._client
        assert client is not None
        await client.ping()
        pubsub = client.pubsub()
        self._pubsub = pubsub
        self._failure = None
        subscribed: set[str] = set()
        listener: asyncio.Task[None] | None = None
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
            listener = asyncio.create_task(self._listen(pubsub), name="djed-crdt-redis-listen")
            while missing := self._names - subscribed:  # rooms may load meanwhile
                await self._subscribe(pubsub, sorted(missing))
                subscribed |= missing
        except BaseException:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
            await self._close_session()
            raise
        self._connected = True
        if self._outage_since is not None:
            self.reconnects += 1
            _log.info(
                "Redis at %s is back after %.1f s (%d message(s) not shared); catching up",
                self._where(),
                time.monotonic() - self._outage_since,
                self._outage_dropped,
            )
            self._outage_since = None
        if subscribed:
            self._spawn(self._catch_up_all(sorted(subscribed)), "catch-up")
        return listener

    async def _catch_up_all(self, names: list[str]) -> None:
        try:
            await self.catch_up()
        except Exception:  # noqa: BLE001 - the store failed: logged; live updates still flow
            _log.exception("could not re-read documents from the store after reconnecting")
        for name in names:
            self._send(name, _CATCH_UP, b"")

    async def _subscribe(self, pubsub: PubSub, names: list[str]) -> None:
        """Subscribe ``names`` and wait until Redis confirmed each one."""
        loop = asyncio.get_running_loop()
        waits = []
        for name in names:
            future: asyncio.Future[None] = loop.create_future()
            self._confirming.setdefault(self._channel(name), []).append(future)
            waits.append(future)
        try:
            async with self._command_lock:
                await pubsub.subscribe(*(self._channel(n) for n in names))
            await asyncio.wait_for(asyncio.gather(*waits), self.health_seconds)
        finally:
            for name, future in zip(names, waits, strict=True):
                pending = self._confirming.get(self._channel(name), [])
                if future in pending:
                    pending.remove(future)
                if not pending:
                    self._confirming.pop(self._channel(name), None)

    async def _listen(self, pubsub: PubSub) -> None:
        """Read from Redis until the connection fails or goes silent."""
        loop = asyncio.get_running_loop()
        heard = pinged = loop.time()
        poll = min(0.5, self.health_seconds / 4)
        try:
            while True:
                message = await pubsub.get_message(timeout=poll)
                now = loop.time()
                if message is not None:
                    heard = now
                    self._on_message(message)
                if self._failure is not None:
                    raise ConnectionError(f"a command to Redis failed: {self._failure}")
                if now - heard > 2 * self.health_seconds:
                    raise ConnectionError(f"Redis did not answer for {now - heard:.1f} s")
                if now - pinged >= self.health_seconds:
                    pinged = now
                    await pubsub.ping()
        except BaseException as error:
            for futures in self._confirming.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(ConnectionError(f"Redis connection lost: {error}"))
            raise

    async def _supervise(self, listener: asyncio.Task[None] | None) -> None:
        """Keep one connection open: wait for it to fail, then reopen it with backoff."""
        delay = self.reconnect_delay
        while True:
            if listener is not None:
                try:
                    await listener
                except Exception as error:  # noqa: BLE001 - any failure: reconnect
                    self._outage(error)
                await self._close_session()
                delay = self.reconnect_delay
            jitter = 0.8 + 0.4 * random.random()  # noqa: S311 - spreads reconnections, not security
            await asyncio.sleep(delay * jitter)
            try:
                listener = await self._open()
            except Exception as error:  # noqa: BLE001 - any failure: try again later
                self._outage(error)
                listener = None
                delay = min(delay * 2, self.max_reconnect_delay)

    async def _close_session(self) -> None:
        self._connected = False
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*self._errors, RuntimeError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._client is not None:
            # Pooled connections may point at a Redis that restarted: open new ones next time.
            with contextlib.suppress(*self._errors, RuntimeError):
                await self._client.connection_pool.disconnect()

    def _fail(self, error: BaseException) -> None:
        """A command failed: stop sharing now; the listener reopens the connection."""
        self._connected = False
        self._outage(error)
        if self._failure is None:
            self._failure = error

    def _outage(self, error: BaseException) -> None:
        self._connected = False
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self._outage_dropped = 0
            _log.warning(
                "Redis at %s is unreachable (%s: %s); each process serves its own clients"
                " until it is back",
                self._where(),
                type(error).__name__,
                error,
            )

    # -- publishing ---------------------------------------------------------------------

    def _send(self, name: str, kind: int, body: bytes) -> None:
        if not self._connected:
            self._drop(1)
            return
        if len(self._queue) >= self.max_queue:
            if not self._full:
                self._full = True
                _log.warning(
                    "%d messages wait for Redis; dropping new ones until it catches up",
                    self.max_queue,
                )
            self._drop(1)
            return
        self._queue.append((self._channel(name), bytes([kind]) + self.process_id + body))
        self._idle.clear()
        self._wake.set()

    async def _publish_loop(self) -> None:
        client = self._client
        assert client is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue and self._connected:
                count = min(len(self._queue), _BATCH)
                batch = [self._queue.popleft() for _ in range(count)]
                try:
                    async with client.pipeline(transaction=False) as pipe:
                        for channel, data in batch:
                            pipe.publish(channel, data)
                        await pipe.execute()
                except self._errors as error:
                    self._fail(error)
                    self._drop(len(batch))
            if self._queue and not self._connected:
                self._drop(len(self._queue))
                self._queue.clear()
            self._full = False
            self._idle.set()

    def _drop(self, count: int) -> None:
        self.dropped += count
        self._outage_dropped += count
        instruments().dropped.add(count, {"reason": "fan-out"})

    # -- receiving ----------------------------------------------------------------------

    def _on_message(self, message: dict[str, Any]) -> None:
        channel, data = message.get("channel"), message.get("data")
        if not isinstance(channel, bytes):
            return
        if message.get("type") == "subscribe":
            for future in self._confirming.pop(channel, []):
                if not future.done():
                    future.set_result(None)
        elif message.get("type") == "message" and isinstance(data, bytes):
            name = channel[len(self._prefix) :].decode(errors="replace")
            sender, body = data[1 : 1 + _ID_BYTES], data[1 + _ID_BYTES :]
            # Ignore our own messages, back from Redis, and rooms unloaded meanwhile.
            if len(sender) == _ID_BYTES and sender != self.process_id and name in self._names:
                self._route(name, data[0], body)

    def _route(self, name: str, kind: int, body: bytes) -> None:
        pending = self._waiting.get(name)
        if pending is not None:
            pending.append((kind, body))
            return
        room = self._server.rooms.get(name) if self._server is not None else None
        if room is not None and not room.ready.is_set():
            # Loading: the room gets what the store held when it was read; what came
            # later is here, and is applied once the room is ready.
            self._waiting[name] = [(kind, body)]
            self._spawn(self._when_ready(room), f"wait:{name}")
            return
        self._deliver(name, kind, body)

    async def _when_ready(self, room: Room) -> None:
        await room.ready.wait()
        for kind, body in self._waiting.pop(room.name, []):
            self._deliver(room.name, kind, body)

    def _deliver(self, name: str, kind: int, body: bytes) -> None:
        server = self._server
        if server is None:
            return
        if kind == _MESSAGE:
            server.receive_fanned_out(name, body)
        elif kind == _CATCH_UP:
            if name not in self._catching_up:
                self._catching_up.add(name)
                self._spawn(self._catch_up_one(name), f"catch-up:{name}")
        elif kind == _RESET:
            room = server.rooms.get(name)
            if room is not None and body.isdigit() and int(body) > room.epoch:
                self._drop_stale(room, int(body))

    async def _catch_up_one(self, name: str) -> None:
        try:
            await self.catch_up(name)
        except Exception:  # noqa: BLE001 - the store failed: logged, live updates still flow
            _log.exception("could not re-read %r from the store", name)
        finally:
            self._catching_up.discard(name)

    def _drop_stale(self, room: Room, epoch: int) -> None:
        """Another process reset the document: send this process's clients to start over."""
        server = room.server
        for connection in list(room.connections):
            server.close_later(connection, CLOSE_RESET, f"document reset: epoch {epoch}")
        server.forget(room)

    # -- helpers ------------------------------------------------------------------------

    def _channel(self, name: str) -> bytes:
        return self._prefix + name.encode()

    def _loaded(self, name: str) -> bool:
        return self._server is not None and name in self._server.rooms

    def _spawn(self, work: Any, what: str) -> None:
        task = asyncio.create_task(work, name=f"djed-crdt-redis-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _where(self) -> str:
        """The URL without its password, for logs."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def __repr__(self) -> str:
        state = "connected" if self._connected else "disconnected"
        return f"RedisFanOut({self._where()!r}, {state}, dropped={self.dropped})"
