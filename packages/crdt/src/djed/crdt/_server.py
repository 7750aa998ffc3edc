"""The sync server: y-websocket rooms that load before answering and persist before sharing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from opentelemetry import trace
from pycrdt import Doc
from pycrdt import merge_updates as pycrdt_merge
from starlette.applications import Starlette
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ._metrics import instruments
from ._protocol import (
    AWARENESS,
    QUERY_AWARENESS,
    SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    AwarenessEntry,
    ProtocolError,
    awareness_message,
    parse,
    parse_awareness,
    sync_step1,
    sync_step2,
    update_message,
)
from ._shape import Shape, snapshot
from ._storage import SQLiteStorage, Storage, check_name

__all__ = [
    "CLOSE_BAD_MESSAGE",
    "CLOSE_FORBIDDEN",
    "CLOSE_RATE",
    "CLOSE_RESET",
    "CLOSE_SHAPE",
    "CLOSE_TOO_BIG",
    "CLOSE_UNAUTHORIZED",
    "RESET_REASON",
    "Access",
    "AuthRequest",
    "Limits",
    "Room",
    "SyncServer",
]

_log = logging.getLogger("djed.crdt")
_tracer = trace.get_tracer("djed.crdt")

#: Close codes. Codes 4400-4499 tell a y-websocket client not to reconnect.
CLOSE_BAD_MESSAGE = 1007
CLOSE_RATE = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013
CLOSE_GOING_AWAY = 1001
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_RESET = 4409
CLOSE_SHAPE = 4422
#: The reason sent with :data:`CLOSE_RESET`; clients read the new epoch from it.
RESET_REASON = "document reset: epoch {epoch}"

Access = Literal["read-write", "read-only"] | None
"""What an auth hook answers: read-write, read-only, or None to refuse."""

# An awareness message with no entries: harmless to any client, and an application
# message, which the y-websocket client needs at least every 30 s or it reconnects.
_KEEPALIVE = awareness_message(())
_EMPTY_UPDATE = b"\x00\x00"


@dataclasses.dataclass(frozen=True, slots=True)
class AuthRequest:
    """What an auth hook sees of a connection: the document, the token and where it is from."""

    document: str
    token: str | None
    """The ``token`` query parameter (browsers cannot set headers on a WebSocket), else
    the bearer token of the ``Authorization`` header."""
    headers: Mapping[str, str]
    address: str | None


Authorize = Callable[[AuthRequest], Access | Awaitable[Access]]
ChangeHook = Callable[[str, Doc[Any]], Any]
"""``on_change(name, doc)``: sync or async; called once edits to a document settle."""


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """What one connection, one address and one document may do.

    Past a limit the connection is closed with a clear code and reason, and
    one log line; the document and every other client carry on.
    """

    max_message_bytes: int = 16 * 1_048_576
    """A larger message closes the connection with 1009. A client's step 2 carries all its
    offline edits (or a whole document uploaded) in one message."""
    max_document_bytes: int = 32 * 1_048_576
    """Stored bytes (snapshot plus log) past which updates are refused with 1009."""
    messages_per_second: float = 200.0
    """Sustained messages per connection; past the burst, the connection is closed (1008)."""
    message_burst: int = 1000
    connections_per_minute: int = 300
    """New connections per address and minute; more are closed with 1013."""
    max_connections_per_address: int = 500
    idle_unload_seconds: float = 60.0
    """A document without connections is unloaded from memory after this long."""
    keepalive_seconds: float = 15.0
    """Send an empty awareness message to a connection quiet for this long."""
    compact_after: int = 500
    """Log entries after which a document's log is merged into its snapshot."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"Limits.{field.name} must be a positive number, not {value!r}")


class _Bucket:
    """A token bucket: ``rate`` a second, up to ``burst``."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _Closing(Exception):  # noqa: N818 - a control-flow signal, not an error
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Connection:
    """One client's WebSocket in a room."""

    __slots__ = (
        "address",
        "awareness_ids",
        "closed",
        "last_sent",
        "queue",
        "read_only",
        "websocket",
    )

    def __init__(self, websocket: WebSocket, *, read_only: bool, address: str | None) -> None:
        self.websocket = websocket
        self.read_only = read_only
        self.address = address
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.awareness_ids: set[int] = set()
        self.last_sent = time.monotonic()
        self.closed = False

    def send(self, message: bytes) -> None:
        if not self.closed:
            self.queue.put_nowait(message)

    async def pump(self) -> None:
        """Send queued messages in order until told to stop or the peer is gone."""
        while (message := await self.queue.get()) is not None:
            try:
                await self.websocket.send_bytes(message)
            except Exception:  # noqa: BLE001 - the peer went away; the receive side logs it
                self.closed = True
                return
            self.last_sent = time.monotonic()


class Room:
    """One loaded document: its replica, its connections and their presence."""

    def __init__(self, server: SyncServer, name: str) -> None:
        self.server = server
        self.name = name
        self.doc: Doc[Any] = Doc()
        if server.shape is not None:
            server.shape.bind(self.doc)
        self.connections: set[Connection] = set()
        self.awareness: dict[int, AwarenessEntry] = {}
        self.epoch = 1
        self.stored_bytes = 0
        self.log_length = 0
        self.ready = asyncio.Event()
        self.load_error: BaseException | None = None
        self.idle_since: float | None = time.monotonic()
        self._pending: list[tuple[Connection | None, bytes]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.queued = 0
        """Updates ever queued to be stored."""
        self._stored = 0
        self._progress = asyncio.Condition()
        self._change_timer: asyncio.TimerHandle | None = None
        self._compacting: asyncio.Task[int] | None = None

    async def load(self) -> None:
        """Read the document from the store; nobody is answered before this finished."""
        started = time.perf_counter()
        try:
            stored = await self.server.storage.load(self.name)
            with self.doc.transaction(origin="djed-load"):
                for update in stored.updates:
                    self.doc.apply_update(update)
            self.epoch = stored.epoch
            self.stored_bytes = sum(len(u) for u in stored.updates)
            self.log_length = stored.log_length
        except BaseException as error:
            self.load_error = error
            raise
        finally:
            instruments().persist_seconds.record(
                time.perf_counter() - started, {"operation": "load"}
            )
            self.ready.set()
        await self.server.run_hook("on_load", self.name, self.doc)

    # -- updates ------------------------------------------------------------------------

    def check_update(self, update: bytes) -> None:
        """Refuse an update that breaks the shape or overfills the document.

        One that does not decode is refused when it is applied (:meth:`submit`).
        """
        shape = self.server.shape
        if shape is not None:
            try:
                problems = shape.violations(update)
            except ValueError:
                raise ProtocolError("sync update: the update does not decode") from None
            if problems:
                raise _Closing(
                    CLOSE_SHAPE, "update breaks the document shape: " + "; ".join(problems)
                )
        limit = self.server.limits.max_document_bytes
        if self.stored_bytes + len(update) > limit:
            raise _Closing(CLOSE_TOO_BIG, f"document {self.name!r} is full ({limit} bytes)")

    def release(self) -> None:
        """Forget the replica's content (the room is being dropped)."""
        self._pending.clear()

    @contextlib.contextmanager
    def _capturing(self) -> Iterator[list[bytes]]:
        """Collect the updates of the transactions run inside, as pycrdt reports them.

        The observer lives only this long: pycrdt holds observers in Rust, out of
        the garbage collector's reach, and one kept on the replica costs every update.
        """
        captured: list[bytes] = []
        subscription = self.doc.observe(lambda event: captured.append(event.update))
        try:
            yield captured
        finally:
            self.doc.unobserve(subscription)

    def submit(self, origin: Connection | None, update: bytes, *, merge: bool = False) -> None:
        """Apply ``update``; store it, then share it (never before it is stored).

        With ``merge`` (a client's sync step 2, which repeats its whole delete set
        and may resend what the server has), only what the update changed is
        stored and shared; nothing at all when it changed nothing. A plain
        update is stored as received: a repeat is harmless and merges away at
        compaction. Nothing reads the replica for a client before
        :meth:`stored_through`, so content not yet stored is never sent; if
        storing fails, the room is dropped and reloaded from the store.
        """
        try:
            if not merge:
                self.doc.apply_update(update)
                self._queue(origin, update)
                return
            effective = self._merge_in(update)
        except ValueError:
            raise ProtocolError("sync update: the update does not decode") from None
        if effective is not None:
            self._queue(origin, effective)

    def _merge_in(self, update: bytes) -> bytes | None:
        """Apply ``update``; what it changed, as one update (None when nothing was new)."""
        with self._capturing() as captured:
            self.doc.apply_update(update)
        return _one(captured) if captured else None

    def _queue(self, origin: Connection | None, effective: bytes) -> None:
        self.stored_bytes += len(effective)
        self._pending.append((origin, effective))
        self.queued += 1
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=f"djed-crdt-flush:{self.name}")

    async def edit(self, change: Callable[[Doc[Any]], Any]) -> bool:
        """Run ``change(doc)`` as one transaction, then store and share what it changed.

        Returns once the change is stored (False when it changed nothing). The
        change must not await; it sees the document as stored so far.
        """
        with self._capturing() as captured:
            try:
                with self.doc.transaction(origin="djed-edit"):
                    change(self.doc)
            finally:
                # A CRDT transaction does not roll back: what ran before an error is
                # in the replica, so it is stored and shared like the rest.
                if captured:
                    self._queue(
                        None, captured[0] if len(captured) == 1 else pycrdt_merge(*captured)
                    )
        await self.stored_through(self.queued)
        return bool(captured)

    async def _flush(self) -> None:
        metrics = instruments()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                started = time.perf_counter()
                await self.server.storage.append(self.name, [update for _, update in batch])
                metrics.persist_seconds.record(
                    time.perf_counter() - started, {"operation": "append"}
                )
                self.log_length += len(batch)
                for origin, update in batch:
                    self._share_update(origin, update)
                    self.server.fan_out_update(self.name, update)
                metrics.updates.add(len(batch))
                metrics.update_bytes.add(sum(len(u) for _, u in batch))
                await self._advance(len(batch))
                self._schedule_change()
                if self.server.hooks["on_store"]:
                    self.server.background(self.server.run_hook("on_store", self.name, self.doc))
                if self.log_length >= self.server.limits.compact_after:
                    self.compact_soon()
        except Exception:  # noqa: BLE001 - any store failure: refuse rather than lose edits
            _log.exception("could not store updates of %r; closing its connections", self.name)
            for connection in list(self.connections):
                self.server.close_later(connection, CLOSE_TRY_LATER, "the server could not store")
            self._pending.clear()
            self.server.forget(self)
            await self._advance(self.queued - self._stored)

    async def _advance(self, stored: int) -> None:
        self._stored += stored
        async with self._progress:
            self._progress.notify_all()

    async def stored_through(self, mark: int) -> None:
        """Wait until the first ``mark`` queued updates are stored (later ones may still wait).

        The replica holds stored content plus what is queued, so content read from
        it at a moment when :attr:`queued` was ``mark`` is safe to send once this
        returns, however busy the document stays.
        """
        async with self._progress:
            await self._progress.wait_for(lambda: self._stored >= mark)

    def _share_update(self, origin: Connection | None, update: bytes) -> None:
        message = update_message(update)
        for connection in self.connections:
            if connection is not origin:
                connection.send(message)

    def apply_remote(self, update: bytes) -> None:
        """An update another server process stored: apply and share, without storing."""
        effective = self._merge_in(update)
        if effective is not None:
            # Stored by another process in the shared store: it counts here too.
            self.stored_bytes += len(effective)
            self.log_length += 1
            self._share_update(None, effective)
            self._schedule_change()

    async def durable(self) -> None:
        """Wait until every update received so far is stored and applied."""
        await self.stored_through(self.queued)

    def _schedule_change(self) -> None:
        if not self.server.has_change_hooks:
            return
        if self._change_timer is not None:
            self._change_timer.cancel()
        loop = asyncio.get_running_loop()
        self._change_timer = loop.call_later(
            self.server.change_debounce,
            lambda: self.server.background(self.server.run_hook("on_change", self.name, self.doc)),
        )

    # -- compaction ---------------------------------------------------------------------

    def compact_soon(self) -> None:
        if self._compacting is None or self._compacting.done():
            self._compacting = asyncio.create_task(
                self.compact(), name=f"djed-crdt-compact:{self.name}"
            )

    async def compact(self) -> int:
        """Merge the stored log into the snapshot (one process at a time with a fan-out)."""
        async with self.server.compaction_lock(self.name) as granted:
            if not granted:
                return 0
            started = time.perf_counter()
            merged = await self.server.storage.compact(self.name, merge_updates)
            instruments().persist_seconds.record(
                time.perf_counter() - started, {"operation": "compact"}
            )
            self.log_length = max(0, self.log_length - merged)
            if merged:
                stored = await self.server.storage.load(self.name)
                self.stored_bytes = sum(len(u) for u in stored.updates)
            return merged

    # -- presence -----------------------------------------------------------------------

    def apply_awareness(
        self, origin: Connection | None, entries: Sequence[AwarenessEntry]
    ) -> bytes:
        """Keep the newest state of each client; returns the message to share."""
        for entry in entries:
            known = self.awareness.get(entry.client_id)
            if known is not None and known.clock > entry.clock:
                continue
            if entry.removed:
                self.awareness.pop(entry.client_id, None)
                if origin is not None:
                    origin.awareness_ids.discard(entry.client_id)
            else:
                self.awareness[entry.client_id] = entry
                if origin is not None:
                    origin.awareness_ids.add(entry.client_id)
        return awareness_message(entries)

    def share(self, message: bytes) -> None:
        for connection in self.connections:
            connection.send(message)

    def join(self, connection: Connection) -> None:
        self.connections.add(connection)
        self.idle_since = None
        connection.send(sync_step1(self.doc.get_state()))
        if self.awareness:
            connection.send(awareness_message(self.awareness.values()))

    def leave(self, connection: Connection) -> None:
        self.connections.discard(connection)
        gone = [
            AwarenessEntry(i, self.awareness[i].clock + 1, "null")
            for i in connection.awareness_ids
            if i in self.awareness
        ]
        if gone:
            message = self.apply_awareness(None, gone)
            self.share(message)
            self.server.fan_out_awareness(self.name, message)
        if not self.connections:
            self.idle_since = time.monotonic()


def _one(updates: list[bytes]) -> bytes:
    """One update from the updates of a transaction (usually there is only one)."""
    return updates[0] if len(updates) == 1 else pycrdt_merge(*updates)


def merge_updates(updates: Sequence[bytes]) -> bytes:
    """Merge updates into one, through a scratch document (garbage-collected, compact)."""
    doc: Doc[Any] = Doc()
    with doc.transaction():
        for update in updates:
            doc.apply_update(update)
    return doc.get_update()


class SyncServer:
    """A y-websocket server for pycrdt documents, as a Starlette app or routes to mount.

    >>> server = SyncServer(SQLiteStorage("documents.db"))
    >>> app = server.app  # ws://host:port/<document-name>

    Any y-websocket client connects unchanged:
    ``new WebsocketProvider("ws://host:port", "invoice-42", doc)``.

    Args:
        storage: Where documents live; by default ``SQLiteStorage("djed-crdt.db")``.
        authorize: ``authorize(AuthRequest) -> "read-write" | "read-only" | None``, sync
            or async, per connection; None refuses (close 4403). By default everyone
            may read and write.
        shape: Collections the documents may hold (see :class:`Shape`).
        limits: Sizes and rates (see :class:`Limits`).
        on_change: Called with ``(name, doc)`` once a document's edits have settled for
            ``change_debounce`` seconds.
        on_load: Called with ``(name, doc)`` after a document is loaded.
        on_store: Called with ``(name, doc)`` after each batch of updates is stored.
        fan_out: Share updates with other server processes (see ``RedisFanOut``).
    """

    def __init__(
        self,
        storage: Storage | None = None,
        *,
        authorize: Authorize | None = None,
        shape: Shape | Mapping[str, str] | None = None,
        limits: Limits | None = None,
        on_change: ChangeHook | Sequence[ChangeHook] = (),
        on_load: ChangeHook | Sequence[ChangeHook] = (),
        on_store: ChangeHook | Sequence[ChangeHook] = (),
        change_debounce: float = 1.0,
        fan_out: Any = None,
    ) -> None:
        self.storage = storage if storage is not None else SQLiteStorage("djed-crdt.db")
        self.authorize = authorize
        self.shape = Shape(shape) if isinstance(shape, Mapping) else shape
        self.limits = limits or Limits()
        self.change_debounce = change_debounce
        self.hooks: dict[str, list[ChangeHook]] = {
            "on_change": _hooks(on_change),
            "on_load": _hooks(on_load),
            "on_store": _hooks(on_store),
        }
        self.rooms: dict[str, Room] = {}
        self.fan_out = fan_out
        self.dropped_read_only = 0
        self._addresses: OrderedDict[str, _Bucket] = OrderedDict()
        self._per_address: dict[str, int] = {}
        self._janitor: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._closing = False

    def background(self, work: Awaitable[Any]) -> None:
        """Run ``work`` in the background, keeping a reference until it is done."""
        future = asyncio.ensure_future(work)
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    @property
    def has_change_hooks(self) -> bool:
        return bool(self.hooks["on_change"])

    # -- application --------------------------------------------------------------------

    def routes(self, prefix: str = "") -> list[BaseRoute]:
        """The WebSocket route, to mount in another Starlette app (``prefix`` like ``/sync``)."""
        return [WebSocketRoute(prefix.rstrip("/") + "/{name:path}", self.endpoint)]

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any = None) -> AsyncIterator[None]:
        """Start the background work (idle unloading, keepalives, fan-out); stop it cleanly."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    @property
    def app(self) -> Starlette:
        """A Starlette app serving every document at ``/<name>``."""
        return Starlette(routes=self.routes(), lifespan=self.lifespan)

    async def start(self) -> None:
        """Start the background work; idempotent, and done by the first connection if needed.

        So mounting :meth:`routes` in another app needs no lifespan wiring; the
        lifespan remains the way to shut down cleanly (:meth:`stop`).
        """
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        self._closing = False
        if self.fan_out is not None:
            await self.fan_out.start(self)
        if self._janitor is None or self._janitor.done():
            self._janitor = asyncio.create_task(self._janitor_loop(), name="djed-crdt-janitor")

    async def stop(self) -> None:
        """Close every connection (1001), store what is pending, unload every document."""
        self._closing = True
        self._starting = None
        if self._janitor is not None:
            self._janitor.cancel()
            await asyncio.gather(self._janitor, return_exceptions=True)
        for room in list(self.rooms.values()):
            for connection in list(room.connections):
                self.close_later(connection, CLOSE_GOING_AWAY, "server shutting down")
            await self.unload(room)  # stores what is pending first
        if self.fan_out is not None:
            await self.fan_out.stop()
        await self.storage.close()

    # -- rooms --------------------------------------------------------------------------

    async def room(self, name: str) -> Room:
        """The loaded room of ``name``, loading it first if needed."""
        if self._starting is None:
            await self.start()
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(self, name)
            instruments().documents.add(1)
            if self.fan_out is not None:
                await self.fan_out.subscribe(name)
            try:
                await room.load()
            except BaseException:
                self.forget(room)
                raise
        else:
            await room.ready.wait()
            if room.load_error is not None:
                return await self.room(name)
        return room

    def forget(self, room: Room) -> None:
        if self.rooms.get(room.name) is room:
            del self.rooms[room.name]
            room.release()
            instruments().documents.add(-1)
            if self.fan_out is not None:
                self.background(self.fan_out.unsubscribe(room.name))

    async def unload(self, room: Room) -> None:
        """Store what is pending, compact, and drop the document from memory."""
        await room.durable()
        if room.log_length:
            try:
                await room.compact()
            except Exception:  # noqa: BLE001 - the log stays; compaction can wait
                _log.exception("could not compact document %r before unloading", room.name)
        if not room.connections:
            self.forget(room)

    async def edit(self, name: str, change: Callable[[Doc[Any]], Any]) -> bool:
        """Change document ``name`` from the server side, live for every connected client.

        >>> await server.edit("invoice-42", lambda doc: doc.get("invoice", type=Map)
        ...     .update({"status": "sent"}))

        ``change(doc)`` runs as one transaction (it must not await); what it
        changed is stored, then sent to every client, then this returns. It
        merges with concurrent edits like any client's. Returns False when the
        change changed nothing.
        """
        with _tracer.start_as_current_span("djed.crdt.edit", attributes={"crdt.document": name}):
            room = await self.room(check_name(name))
            return await room.edit(change)

    async def read(self, name: str) -> dict[str, Any]:
        """Document ``name`` as plain JSON-able data: each collection by name.

        Collections are read as the shape declares; undeclared ones as their
        content shows (see :func:`snapshot`).
        """
        room = await self.room(check_name(name))
        data = snapshot(room.doc, self.shape)
        await room.stored_through(room.queued)
        return data

    async def reset(self, name: str) -> int:
        """Empty a document and start its next epoch; connected clients are told to start over."""
        check_name(name)
        room = self.rooms.get(name)
        if room is not None:
            await room.durable()
        epoch = await self.storage.reset(name)
        if self.fan_out is not None:
            self.fan_out.announce_reset(name, epoch)
        if room is not None:
            for connection in list(room.connections):
                self.close_later(connection, CLOSE_RESET, RESET_REASON.format(epoch=epoch))
            self.forget(room)
        return epoch

    async def _janitor_loop(self) -> None:
        limits = self.limits
        period = min(limits.keepalive_seconds, limits.idle_unload_seconds) / 3
        while True:
            await asyncio.sleep(period)
            await self._sweep()

    async def _sweep(self) -> None:
        """Send keepalives to quiet connections; unload documents idle long enough."""
        limits = self.limits
        now = time.monotonic()
        for room in list(self.rooms.values()):
            for connection in room.connections:
                if now - connection.last_sent >= limits.keepalive_seconds:
                    connection.send(_KEEPALIVE)
            idle = room.idle_since
            if idle is not None and now - idle >= limits.idle_unload_seconds:
                try:
                    await self.unload(room)
                except Exception:  # noqa: BLE001 - logged; the janitor must keep running
                    _log.exception("could not unload document %r", room.name)

    # -- fan-out ------------------------------------------------------------------------

    def fan_out_update(self, name: str, update: bytes) -> None:
        if self.fan_out is not None:
            self.fan_out.publish(name, update_message(update))

    def fan_out_awareness(self, name: str, message: bytes) -> None:
        if self.fan_out is not None:
            self.fan_out.publish(name, message)

    def receive_fanned_out(self, name: str, message: bytes) -> None:
        """A message another process shared: apply it to the room here, if loaded."""
        room = self.rooms.get(name)
        if room is None or not room.ready.is_set():
            return
        try:
            parsed = parse(message)
            if parsed.kind == SYNC:
                room.apply_remote(parsed.payload)
            elif parsed.kind == AWARENESS:
                room.share(room.apply_awareness(None, parse_awareness(parsed.payload)))
        except Exception:  # noqa: BLE001 - one bad message must not stop the fan-out
            _log.exception("bad message from another server process for %r", name)

    @contextlib.asynccontextmanager
    async def compaction_lock(self, name: str) -> AsyncIterator[bool]:
        if self.fan_out is None:
            yield True
            return
        async with self.fan_out.compaction_lock(name) as granted:
            yield granted

    # -- hooks --------------------------------------------------------------------------

    async def run_hook(self, which: str, name: str, doc: Doc[Any]) -> None:
        for hook in self.hooks[which]:
            try:
                outcome = hook(name, doc)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:  # noqa: BLE001 - user code: logged, never breaks a document
                _log.exception("%s hook %r failed for document %r", which, hook, name)

    # -- connections --------------------------------------------------------------------

    def close_later(self, connection: Connection, code: int, reason: str) -> None:
        if connection.closed:
            return
        connection.closed = True
        connection.queue.put_nowait(None)
        self.background(_close(connection.websocket, code, reason))

    def _admit(self, address: str | None) -> str | None:
        """Why a new connection from ``address`` is refused, or None."""
        if self._closing:
            return "server shutting down"
        key = address or "unknown"
        bucket = self._addresses.get(key)
        limits = self.limits
        if bucket is None:
            bucket = self._addresses[key] = _Bucket(
                limits.connections_per_minute / 60, limits.connections_per_minute
            )
            if len(self._addresses) > 100_000:
                self._addresses.popitem(last=False)
        self._addresses.move_to_end(key)
        if self._per_address.get(key, 0) >= limits.max_connections_per_address:
            return f"too many connections from {key}"
        if not bucket.take():
            return f"too many new connections from {key}; slow down"
        return None

    async def endpoint(self, websocket: WebSocket) -> None:
        """Serve one WebSocket connection (the Starlette endpoint)."""
        name = websocket.path_params.get("name", "")
        address = websocket.client.host if websocket.client else None
        await websocket.accept()
        try:
            check_name(name)
        except ValueError as error:
            await _close(websocket, CLOSE_NOT_FOUND, str(error))
            return
        refusal = self._admit(address)
        if refusal is not None:
            _log.warning("refused a connection to %r: %s", name, refusal)
            await _close(websocket, CLOSE_TRY_LATER, refusal)
            return
        access = await self._access(websocket, name, address)
        if access is None:
            _log.info("refused %s access to %r", address, name)
            await _close(websocket, CLOSE_FORBIDDEN, f"no access to document {name!r}")
            return
        key = address or "unknown"
        self._per_address[key] = self._per_address.get(key, 0) + 1
        try:
            await self._serve(websocket, name, access, address)
        finally:
            self._per_address[key] -= 1
            if not self._per_address[key]:
                del self._per_address[key]

    async def _access(self, websocket: WebSocket, name: str, address: str | None) -> Access:
        if self.authorize is None:
            return "read-write"
        token = websocket.query_params.get("token")
        if token is None:
            header = websocket.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else None
        try:
            access = self.authorize(AuthRequest(name, token, websocket.headers, address))
            if inspect.isawaitable(access):
                access = await access
        except Exception:  # noqa: BLE001 - user code: a failing hook refuses
            _log.exception("authorize hook failed for %r; refusing", name)
            return None
        if access not in {"read-write", "read-only", None}:
            _log.error(
                "authorize hook returned %r; refusing (use read-write, read-only or None)", access
            )
            return None
        return access

    async def _serve(
        self, websocket: WebSocket, name: str, access: Access, address: str | None
    ) -> None:
        metrics = instruments()
        try:
            room = await self.room(name)
        except Exception:  # noqa: BLE001 - logged; the client is told to come back
            _log.exception("could not load document %r", name)
            await _close(websocket, CLOSE_TRY_LATER, "the document could not be loaded")
            return
        wanted = websocket.query_params.get("epoch")
        if wanted is not None and wanted != str(room.epoch):
            await _close(websocket, CLOSE_RESET, RESET_REASON.format(epoch=room.epoch))
            return
        connection = Connection(websocket, read_only=access == "read-only", address=address)
        pump = asyncio.create_task(connection.pump(), name=f"djed-crdt-send:{name}")
        room.join(connection)
        metrics.connections.add(1)
        bucket = _Bucket(self.limits.messages_per_second, self.limits.message_burst)
        reason = "client closed"
        try:
            await self._receive(websocket, room, connection, bucket)
        except _Closing as closing:
            reason = closing.reason
            _log.warning("closing a connection to %r (%s): %s", name, address, closing.reason)
            self.close_later(connection, closing.code, closing.reason)
        except ProtocolError as error:
            reason = "bad message"
            _log.warning("closing a connection to %r (%s): %s", name, address, error)
            self.close_later(connection, CLOSE_BAD_MESSAGE, str(error))
        finally:
            room.leave(connection)
            metrics.connections.add(-1)
            metrics.closed.add(1, {"reason": reason})
            connection.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pump, timeout=2)
            pump.cancel()

    async def _receive(
        self, websocket: WebSocket, room: Room, connection: Connection, bucket: _Bucket
    ) -> None:
        limit = self.limits.max_message_bytes
        while not connection.closed:
            try:
                frame = await websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if frame["type"] == "websocket.disconnect":
                return
            data = frame.get("bytes")
            if data is None:
                raise ProtocolError(
                    "message: text frames are not part of the protocol; send binary"
                )
            if len(data) > limit:
                raise _Closing(CLOSE_TOO_BIG, f"message of {len(data)} bytes (at most {limit})")
            if not bucket.take():
                raise _Closing(CLOSE_RATE, "too many messages; slow down")
            await self._handle(room, connection, data)

    async def _handle(self, room: Room, connection: Connection, data: bytes) -> None:
        message = parse(data)
        if message.kind == SYNC:
            if message.substep == SYNC_STEP1:
                try:
                    diff = room.doc.get_update(message.payload)
                except ValueError:
                    raise ProtocolError("sync step 1: the state vector does not decode") from None
                await room.stored_through(room.queued)  # send stored content only
                connection.send(sync_step2(diff))
            elif connection.read_only:
                if message.payload != _EMPTY_UPDATE:  # an empty step 2 carries no edit
                    self.dropped_read_only += 1
                    instruments().dropped.add(1, {"reason": "read-only"})
            else:
                room.check_update(message.payload)
                room.submit(connection, message.payload, merge=message.substep == SYNC_STEP2)
        elif message.kind == AWARENESS:
            shared = room.apply_awareness(connection, parse_awareness(message.payload))
            room.share(shared)
            self.fan_out_awareness(room.name, shared)
        elif message.kind == QUERY_AWARENESS and room.awareness:
            connection.send(awareness_message(room.awareness.values()))


def _hooks(value: ChangeHook | Sequence[ChangeHook]) -> list[ChangeHook]:
    return [value] if callable(value) else list(value)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Close with ``code`` and ``reason`` (cut to the 123 bytes a close frame allows)."""
    if websocket.application_state == WebSocketState.DISCONNECTED:
        return
    encoded = reason.encode()[:123].decode(errors="ignore")
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=encoded)
