"""The offline-first client: a local replica that syncs with a y-websocket server when it can.

Every edit lands in a SQLite replica at once, so nothing typed while offline
is lost, not even across a restart. Whenever the server is reachable the
client exchanges state vectors with it, so each side sends only what the
other lacks. A session is one :class:`SyncClient`; each gets a fresh Yjs
client id, as Yjs requires (two writers must never share one).

How a connection goes:

1. Open ``<url>/<name>?epoch=N``; send sync step 1 (our state vector).
2. Answer the server's step 1 with step 2: what the server lacks.
3. Once the server has answered our step 1, and if our step 2 carried edits,
   send step 1 again. A server answers a step 1 only once what came before it
   on the connection is stored (djed's does), so that answer means "the server
   has your edits": the client is then ``synced``. :meth:`SyncClient.wait_synced`
   asks the same way for edits made later.
4. While connected, local edits go out as sync updates (edits queued together
   travel merged, as one); what the server sends is applied under an origin of
   its own, so it is saved locally and never sent back.

Close codes 4400-4499 are final (the client stops, status ``closed``) except
4409: the document was reset to a new epoch, so a replica holding content of
an older epoch drops it and starts over. Any other loss of the connection
brings a reconnection after an exponential backoff with full jitter.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import json
import logging
import os
import random
import re
import sqlite3
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pycrdt import Doc
from pycrdt import merge_updates as merge_together
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from . import _protocol as wire
from ._server import CLOSE_BAD_MESSAGE, CLOSE_RESET, merge_updates
from ._shape import Shape
from ._storage import SQLiteStorage, check_name

__all__ = ["ClientStatus", "SyncClient", "SyncClosedError", "Traffic"]

_log = logging.getLogger("djed.crdt")

ClientStatus = Literal["offline", "connecting", "syncing", "synced", "closed"]
"""``offline`` (waiting to retry), ``connecting``, ``syncing`` (connected, exchanging
state), ``synced`` (both sides hold the same edits), ``closed`` (for good)."""

PRESENCE_RENEW_SECONDS = 15.0  # Yjs peers forget a presence not renewed within 30 s
COMPACT_AFTER = 500  # replica log entries past which the log is merged into the snapshot
#: Edits saved together beyond this many are saved as the whole replica, in one row.
_ROWS_PER_SAVE = 64
_REMOTE = "djed-crdt-client:remote"  # the origin of every update the server sent
_REMOTE_HASH = hash(_REMOTE)  # what pycrdt's transaction.origin() gives back for it
_ROUTINE_CLOSES = {1000, 1001, CLOSE_RESET}  # other codes say something went wrong
_EMPTY_DIFF = b"\x00\x00"  # an update that holds nothing
_RESET_EPOCH = re.compile(r"epoch (\d+)")


class SyncClosedError(RuntimeError):
    """The client stopped for good: the app closed it, or the server refused it.

    ``code`` and ``reason`` are the server's close code (4400-4499, e.g. 4403 when
    the token gives no access) and its reason; both are None when the app closed it.
    """

    code: int | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Traffic:
    """What a client sent and received so far, in protocol messages before compression."""

    connections: int
    """Connections that opened."""
    messages_sent: int
    """Every message sent: sync steps, updates, presence."""
    bytes_sent: int
    """Their bytes, as the protocol encodes them (compression may shrink them on the wire)."""
    updates_sent: int
    """Sync updates sent: local edits made while connected, those queued together merged
    into one (edits made offline travel in a sync step 2 instead)."""
    messages_received: int
    """Every message received."""
    bytes_received: int
    """Their bytes, as the protocol encodes them."""
    updates_received: int
    """Sync updates received: other clients' edits, shared as they happen."""


class _ReplicaStore(SQLiteStorage):
    """SQLiteStorage plus, per document, the server epoch the replica follows.

    A replica is *bound* to that epoch once it has synced with it: it then holds
    server content of that generation, which a reset makes stale.
    """

    def _db(self) -> sqlite3.Connection:
        fresh = self._connection is None
        db = super()._db()
        if fresh:
            db.execute(
                "CREATE TABLE IF NOT EXISTS djed_replicas (name TEXT PRIMARY KEY,"
                " epoch INTEGER NOT NULL, bound INTEGER NOT NULL)"
            )
        return db

    def _read_binding(self, name: str) -> tuple[int, bool]:
        row = (
            self._db()
            .execute("SELECT epoch, bound FROM djed_replicas WHERE name = ?", (name,))
            .fetchone()
        )
        return (1, False) if row is None else (int(row[0]), bool(row[1]))

    async def binding(self, name: str) -> tuple[int, bool]:
        """The epoch the replica of ``name`` follows and whether it is bound to it."""
        return await self._run(self._read_binding, name)

    def _write_binding(self, name: str, epoch: int, bound: bool) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO djed_replicas (name, epoch, bound) VALUES (?, ?, ?) ON CONFLICT"
                " (name) DO UPDATE SET epoch = excluded.epoch, bound = excluded.bound",
                (name, epoch, int(bound)),
            )

    async def bind(self, name: str, epoch: int, *, bound: bool) -> None:
        """Record the epoch the replica of ``name`` follows, durably."""
        await self._run(self._write_binding, name, epoch, bound)


class _Link:
    """One open connection: its outbox and where the handshake stands.

    The outbox holds messages, lists of updates (local edits queued one after
    the other, sent merged as one message) and None (close the connection).
    """

    __slots__ = (
        "answered",
        "dirty",
        "outbox",
        "step1_sent",
        "step2_received",
        "waiting",
        "websocket",
    )

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.outbox: collections.deque[bytes | list[bytes] | None] = collections.deque()
        self.waiting = asyncio.Event()  # set when the outbox gets something
        self.step1_sent = 0
        self.step2_received = 0
        self.answered = False  # the server's step 1 got our step 2
        self.dirty = False  # edits sent since our last step 1, not yet confirmed

    @property
    def idle(self) -> bool:
        """Whether the server answered its step 1 and every step 1 we sent."""
        return self.answered and self.step2_received >= self.step1_sent

    @property
    def confirmed(self) -> bool:
        """Whether both sides hold the same edits (as far as this side knows)."""
        return self.idle and not self.dirty


def _backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before retry ``attempt`` (from 0): full jitter, 0 to base * 2**attempt."""
    return rng.uniform(0.0, min(cap, base * 2 ** min(attempt, 32)))


class SyncClient:
    """A document kept in a local replica, edited offline or online, synced when possible.

    >>> async with SyncClient("ws://localhost:8000", "notes/42", store="replica.db") as client:
    ...     text = client.doc.get("body", type=Text)
    ...     text += "written offline or online"  # saved locally at once, sent when connected
    ...     await client.wait_synced(timeout=10)  # the server has stored it

    Args:
        url: The server's base URL (``ws://``, ``wss://``; ``http(s)://`` is taken to mean
            the same); the document lives at ``<url>/<name>``.
        name: The document's name.
        store: The SQLite file holding the replica (one file can hold many documents of
            one server); None keeps it in memory, gone with the process.
        token: Sent as ``Authorization: Bearer <token>``.
        shape: Collections to give their kinds in every ``doc`` (see :class:`Shape`).
        compression: Offer permessage-deflate (the server decides). A document's first
            sync shrinks several-fold; small edits do not. Turn it off to save CPU, or
            when secrets share a document with text an attacker can choose.
        headers: More HTTP headers for the WebSocket handshake.
        reconnect_base: Seconds; retry n waits a random time up to ``base * 2**n``.
        reconnect_cap: Seconds; no retry waits longer.
        open_timeout: Seconds to wait for a connection to open.
        max_message_bytes: Larger messages from the server close the connection.
    """

    def __init__(
        self,
        url: str,
        name: str,
        *,
        store: str | os.PathLike[str] | None = None,
        token: str | None = None,
        shape: Shape | Mapping[str, str] | None = None,
        compression: bool = True,
        headers: Mapping[str, str] | None = None,
        reconnect_base: float = 0.1,
        reconnect_cap: float = 5.0,
        open_timeout: float = 10.0,
        max_message_bytes: int = 64 * 1_048_576,
    ) -> None:
        if not 0 < reconnect_base <= reconnect_cap:
            raise ValueError(
                f"need 0 < reconnect_base <= reconnect_cap, not {reconnect_base}, {reconnect_cap}"
            )
        self.name = check_name(name)
        self.url = _document_url(url, name)
        self.shape = Shape(shape) if isinstance(shape, Mapping) else shape
        self._store = _ReplicaStore(":memory:" if store is None else store)
        self._connect_options: dict[str, Any] = {
            "compression": "deflate" if compression else None,
            "additional_headers": {
                **(headers or {}),
                **({"Authorization": f"Bearer {token}"} if token is not None else {}),
            },
            "open_timeout": open_timeout,
            "max_size": max_message_bytes,
            "close_timeout": 2.0,
        }
        self._base, self._cap = reconnect_base, reconnect_cap
        self._attempt = 0
        self._random = random.Random()  # noqa: S311 - jitter, not secrets
        self._status: ClientStatus = "offline"
        self._changed = asyncio.Event()
        self._status_callbacks: list[Callable[[ClientStatus], Any]] = []
        self._reset_callbacks: list[Callable[[Doc[Any]], Any]] = []
        self._doc: Doc[Any] | None = None
        self._subscription: Any = None
        self._epoch, self._bound = 1, False
        self._link: _Link | None = None
        self._runner: asyncio.Task[None] | None = None
        self._unsaved: list[bytes] = []
        self._log_length = 0  # entries in the replica's log, not yet compacted
        self._saving: asyncio.Task[None] | None = None
        self._chores: set[asyncio.Task[Any]] = set()
        self._presence: dict[str, Any] | None = None
        self._presence_clock = 0
        self._peers: dict[int, Any] = {}
        self._peer_clocks: dict[int, int] = {}
        self._traffic = dict.fromkeys((f.name for f in dataclasses.fields(Traffic)), 0)
        self._closed = False
        self.close_code: int | None = None
        """The server's close code when it refused the client for good (4400-4499)."""
        self.close_reason: str | None = None

    def __repr__(self) -> str:
        return f"<SyncClient {self.url} {self._status}>"

    # -- public surface -----------------------------------------------------------------

    @property
    def doc(self) -> Doc[Any]:
        """The replica: edit it like any pycrdt Doc (from the event loop's thread).

        When the server resets the document and the replica held content of the
        old epoch, this becomes a new, empty Doc (see :meth:`on_reset`): keep the
        client, not the Doc.
        """
        if self._doc is None:
            raise RuntimeError("the client is not started: use 'async with SyncClient(...)'")
        return self._doc

    @property
    def status(self) -> ClientStatus:
        """Where the connection stands (see :data:`ClientStatus`)."""
        return self._status

    @property
    def epoch(self) -> int:
        """The generation of the server's document the replica follows."""
        return self._epoch

    @property
    def traffic(self) -> Traffic:
        """A snapshot of the messages and bytes exchanged so far."""
        return Traffic(**self._traffic)

    @property
    def peers(self) -> dict[int, Any]:
        """The presence other clients share, by their client id."""
        return dict(self._peers)

    def on_status(self, callback: Callable[[ClientStatus], Any]) -> Callable[[], None]:
        """Call ``callback(status)`` on every change of status; returns a function to stop."""
        self._status_callbacks.append(callback)
        return lambda: _discard(self._status_callbacks, callback)

    def on_reset(self, callback: Callable[[Doc[Any]], Any]) -> Callable[[], None]:
        """Call ``callback(new_doc)`` when a server reset replaces :attr:`doc`; returns a stop."""
        self._reset_callbacks.append(callback)
        return lambda: _discard(self._reset_callbacks, callback)

    async def __aenter__(self) -> SyncClient:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Load the replica and start connecting in the background."""
        if self._runner is not None or self._closed:
            raise RuntimeError("a SyncClient starts once; make a new one")
        stored = await self._store.load(self.name)
        self._log_length = stored.log_length
        self._epoch, self._bound = await self._store.binding(self.name)
        try:
            self._attach(stored.updates)
        except ValueError:
            raise ValueError(
                f"the replica of {self.name!r} in {self._store.path} does not decode;"
                " move the file away to start from the server's copy"
            ) from None
        self._runner = asyncio.create_task(self._run(), name=f"djed-crdt-client:{self.name}")

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - a bounded wait is the usual call
        """Wait until the server has stored every edit made so far and we have all of its.

        Raises:
            TimeoutError: Not synced within ``timeout`` seconds.
            SyncClosedError: The client was closed, or refused by the server for good.
        """
        if self._runner is None:
            raise RuntimeError("the client is not started: use 'async with SyncClient(...)'")
        async with asyncio.timeout(timeout):
            while True:
                if self._status == "closed":
                    raise self._closed_error()
                link = self._link
                if self._status == "synced" and link is not None:
                    if link.confirmed:
                        return
                    self._progress(link)
                changed = self._changed
                await changed.wait()

    async def saved(self) -> None:
        """Wait until every edit so far is durable in the local replica.

        Raises:
            OSError: The replica could not be written (the edits stay in memory and
                are tried again with the next edit).
        """
        if self._unsaved and (self._saving is None or self._saving.done()):
            self._saving = asyncio.create_task(self._save())
        if self._saving is not None:
            await asyncio.shield(self._saving)
        if self._unsaved:
            raise OSError(f"could not save edits of {self.name!r} to {self._store.path}")

    def set_presence(self, state: Mapping[str, Any] | None) -> None:
        """Share ``state`` (JSON: a cursor, a user name) with everyone on the document.

        It is sent now if connected, and on every connection; None withdraws it.
        """
        body = None if state is None else dict(state)
        json.dumps(body)  # refuse what cannot be sent, here rather than later
        self._presence = body
        self._presence_clock += 1
        self._send_presence()

    async def close(self) -> None:
        """Say goodbye to the server, save and compact the replica, and stop."""
        if self._closed:
            return
        self._closed = True
        link = self._link
        if link is not None:
            if self._presence is not None:
                self.set_presence(None)
            self._send(None)  # the rest of the outbox goes first
        if self._runner is not None:
            if link is not None:  # let the connection end cleanly, briefly
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._runner), 3.0)
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        self._set_status("closed")
        self._detach()
        await asyncio.gather(*self._chores, return_exceptions=True)
        try:
            await self.saved()
            await self._store.compact(self.name, merge_updates)
        except Exception:  # noqa: BLE001 - logged; closing must release the store anyway
            _log.exception("could not save the replica of %r", self.name)
        await self._store.close()

    # -- the document -------------------------------------------------------------------

    def _attach(self, updates: Iterable[bytes]) -> None:
        doc: Doc[Any] = Doc()  # a fresh random client id: no session reuses one
        if self.shape is not None:
            self.shape.bind(doc)
        with doc.transaction(origin=_REMOTE):
            for update in updates:
                doc.apply_update(update)
        self._doc = doc
        self._subscription = doc.observe(self._on_transaction)

    def _detach(self) -> None:
        if self._doc is not None and self._subscription is not None:
            self._doc.unobserve(self._subscription)
            self._subscription = None

    def _on_transaction(self, event: Any) -> None:  # pycrdt's stub lacks .transaction
        update = event.update
        self._unsaved.append(update)
        if self._saving is None or self._saving.done():
            self._saving = asyncio.get_running_loop().create_task(self._save())
        link = self._link
        if link is not None and event.transaction.origin() != _REMOTE_HASH:
            tail = link.outbox[-1] if link.outbox else None
            if isinstance(tail, list):
                tail.append(update)  # travels with the edits queued before it
            else:
                self._send([update])
            link.dirty = True

    async def _save(self) -> None:
        while self._unsaved:
            batch = list(self._unsaved)
            # A burst of edits is saved as the whole replica in one row (it holds them
            # all, and a repeat is harmless) rather than as one row per edit.
            rows = batch if len(batch) <= _ROWS_PER_SAVE else [self.doc.get_update()]
            try:
                await self._store.append(self.name, rows)
            except Exception:  # noqa: BLE001 - kept in memory; retried with the next edit
                _log.exception("could not save %d edit(s) of %r", len(batch), self.name)
                return
            del self._unsaved[: len(batch)]
            self._log_length += len(rows)
            if self._log_length >= COMPACT_AFTER:
                # The replica already holds every saved edit (and maybe newer ones, which
                # are saved again later: a repeat is harmless), so it is the snapshot.
                snapshot = self.doc.get_update()
                try:
                    merged = await self._store.compact(
                        self.name, functools.partial(_whole, snapshot)
                    )
                    self._log_length -= merged
                except Exception:  # noqa: BLE001 - the log stays whole; compaction can wait
                    _log.exception("could not compact the replica of %r", self.name)

    async def _start_over(self, epoch: int) -> None:
        """The server's document is now at ``epoch``: drop content of an older one."""
        if self._bound:
            _log.warning("document %r was reset (epoch %d): dropping the replica", self.name, epoch)
            self._detach()
            self._unsaved.clear()
            if self._saving is not None:
                await asyncio.gather(self._saving, return_exceptions=True)
            await self._store.reset(self.name)
            self._log_length = 0
            self._attach(())
            self._peers.clear()
            for callback in list(self._reset_callbacks):
                _call(callback, self.doc)
        self._epoch, self._bound = epoch, False
        await self._store.bind(self.name, epoch, bound=False)

    # -- connections --------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping():
            self._set_status("connecting")
            try:
                code, reason = await self._connect_once()
                if code == CLOSE_RESET and not self._stopping():
                    epoch = _reset_epoch(reason)
                    if epoch is not None:
                        await self._start_over(epoch)
                        code = None
            except Exception:  # noqa: BLE001 - logged; the client keeps trying
                _log.exception("sync of %r failed; retrying", self.name)
                code, reason = None, ""
            if self._stopping():
                return
            if code is not None and 4400 <= code < 4500:
                self.close_code, self.close_reason = code, reason
                _log.warning("server refused %r for good: %d %s", self.url, code, reason)
                self._set_status("closed")
                return
            self._set_status("offline")
            delay = _backoff_delay(self._attempt, self._base, self._cap, self._random)
            self._attempt += 1
            await asyncio.sleep(delay)

    async def _connect_once(self) -> tuple[int | None, str]:
        """One connection, start to end: the server's close code and reason, if any."""
        url = f"{self.url}{'&' if '?' in self.url else '?'}epoch={self._epoch}"
        try:
            async with connect(url, **self._connect_options) as websocket:
                self._traffic["connections"] += 1
                try:
                    await self._converse(websocket)
                except ConnectionClosed:
                    pass
                except wire.ProtocolError as error:
                    _log.warning("bad message from %s: %s", self.url, error)
                    await websocket.close(CLOSE_BAD_MESSAGE, str(error)[:120])
        except (OSError, TimeoutError, WebSocketException) as error:
            _log.debug("could not connect to %s: %r", self.url, error)
            return None, ""
        received = websocket.close_exc.rcvd if websocket.close_code is not None else None
        if received is None:
            return None, ""
        level = logging.INFO if received.code in _ROUTINE_CLOSES else logging.WARNING
        _log.log(level, "connection to %s closed: %d %s", self.url, received.code, received.reason)
        return received.code, received.reason

    async def _converse(self, websocket: ClientConnection) -> None:
        link = self._link = _Link(websocket)
        self._set_status("syncing")
        pump = asyncio.create_task(self._pump(link))
        try:
            self._ask(link)
            if self._presence is not None:
                self._send_presence()
            async for data in websocket:
                if isinstance(data, str):
                    raise wire.ProtocolError("message: text frames are not part of the protocol")
                self._traffic["messages_received"] += 1
                self._traffic["bytes_received"] += len(data)
                self._receive(link, data)
        finally:
            self._link = None
            self._peers.clear()
            self._peer_clocks.clear()
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    async def _pump(self, link: _Link) -> None:
        """Send the outbox in order; renew our presence so peers do not forget it."""
        loop = asyncio.get_running_loop()
        renew_at = loop.time() + PRESENCE_RENEW_SECONDS
        while True:
            if not link.outbox:
                link.waiting.clear()
                try:
                    async with asyncio.timeout_at(renew_at):
                        await link.waiting.wait()
                except TimeoutError:
                    renew_at = loop.time() + PRESENCE_RENEW_SECONDS
                    if self._presence is not None:
                        self._presence_clock += 1
                        self._send_presence()
                continue
            item = link.outbox.popleft()
            if item is None:
                await link.websocket.close()
                return
            if isinstance(item, list):
                message = wire.update_message(item[0] if len(item) == 1 else merge_together(*item))
            else:
                message = item
            try:
                await link.websocket.send(message)
            except ConnectionClosed:
                return
            self._traffic["messages_sent"] += 1
            self._traffic["bytes_sent"] += len(message)
            if message[:2] == b"\x00\x02":
                self._traffic["updates_sent"] += 1

    def _send(self, item: bytes | list[bytes] | None) -> None:
        if self._link is not None:
            self._link.outbox.append(item)
            self._link.waiting.set()

    def _ask(self, link: _Link) -> None:
        """Send step 1: "this is what I have"; the server answers with what we lack."""
        link.step1_sent += 1
        link.dirty = False
        self._send(wire.sync_step1(self.doc.get_state()))

    def _receive(self, link: _Link, data: bytes) -> None:
        if data[:1] == bytes([wire.AUTH]):
            _log.warning("server %s denied a permission on %r", self.url, self.name)
            return
        message = wire.parse(data)
        if message.kind == wire.SYNC and message.substep == wire.SYNC_STEP1:
            try:
                diff = self.doc.get_update(message.payload)
            except ValueError:
                raise wire.ProtocolError("sync step 1: the state vector does not decode") from None
            self._send(wire.sync_step2(diff))
            link.answered = True
            link.dirty = link.dirty or diff != _EMPTY_DIFF
            self._progress(link)
        elif message.kind == wire.SYNC:
            try:
                with self.doc.transaction(origin=_REMOTE):
                    self.doc.apply_update(message.payload)
            except ValueError:
                raise wire.ProtocolError(f"{message.name}: the update does not decode") from None
            if message.substep == wire.SYNC_STEP2:
                link.step2_received += 1
                if self._status == "syncing":
                    self._progress(link)
                self._notify()
            else:
                self._traffic["updates_received"] += 1
        elif message.kind == wire.AWARENESS:
            self._receive_presence(wire.parse_awareness(message.payload))
        elif message.kind == wire.QUERY_AWARENESS:
            self._send_presence()

    def _progress(self, link: _Link) -> None:
        """Once every step 1 is answered: confirm the edits sent since, or call it synced."""
        if not link.idle:
            return
        if link.dirty:
            # The server answers a step 1 once what came before it is stored.
            self._ask(link)
        elif self._status == "syncing":
            self._attempt = 0
            if not self._bound:
                self._bound = True
                self._chore(self._store.bind(self.name, self._epoch, bound=True))
            self._set_status("synced")

    # -- presence -----------------------------------------------------------------------

    def _send_presence(self) -> None:
        if self._link is None or self._doc is None or not self._presence_clock:
            return
        state = json.dumps(self._presence, separators=(",", ":"))
        self._send(
            wire.awareness_message(
                [wire.AwarenessEntry(self._doc.client_id, self._presence_clock, state)]
            )
        )

    def _receive_presence(self, entries: list[wire.AwarenessEntry]) -> None:
        own = self.doc.client_id
        for entry in entries:
            if entry.client_id == own or entry.clock < self._peer_clocks.get(entry.client_id, 0):
                continue
            self._peer_clocks[entry.client_id] = entry.clock
            if entry.removed:
                self._peers.pop(entry.client_id, None)
            else:
                self._peers[entry.client_id] = json.loads(entry.state_json)

    # -- plumbing -----------------------------------------------------------------------

    def _set_status(self, status: ClientStatus) -> None:
        if status == self._status:
            return
        self._status = status
        for callback in list(self._status_callbacks):
            _call(callback, status)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _chore(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    def _stopping(self) -> bool:
        """Whether the app closed the client (a method: the flag changes across awaits)."""
        return self._closed

    def _closed_error(self) -> SyncClosedError:
        if self.close_code is None:
            return SyncClosedError(f"the client of {self.name!r} is closed")
        error = SyncClosedError(
            f"the server refused {self.name!r} for good: {self.close_code} {self.close_reason}"
        )
        error.code, error.reason = self.close_code, self.close_reason
        return error


def _document_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in {"ws", "wss"} or not parts.netloc:
        raise ValueError(f"server URL {url!r} must look like ws://host:port or wss://host/path")
    return urlunsplit((scheme, parts.netloc, f"{parts.path.rstrip('/')}/{name}", parts.query, ""))


def _reset_epoch(reason: str) -> int | None:
    """The epoch a close reason like ``document reset: epoch 3`` names."""
    found = _RESET_EPOCH.search(reason)
    return int(found.group(1)) if found else None


def _call(callback: Callable[[Any], Any], value: Any) -> None:
    try:
        callback(value)
    except Exception:  # noqa: BLE001 - user code: logged, never breaks the client
        _log.exception("callback %r failed", callback)


def _discard(callbacks: list[Any], callback: Any) -> None:
    with contextlib.suppress(ValueError):
        callbacks.remove(callback)


def _whole(snapshot: bytes, _parts: Sequence[bytes]) -> bytes:
    """A merge that ignores the parts: ``snapshot`` already holds them."""
    return snapshot
