"""Test helpers: serve a SyncServer on loopback, and a raw protocol client with a pycrdt Doc."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import uvicorn
from djed.crdt import SyncServer
from djed.crdt._protocol import (
    AWARENESS,
    SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    parse,
    sync_step1,
    sync_step2,
    update_message,
)
from pycrdt import Doc
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

WAIT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _uvicorn(app: Any, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", ws="websockets-sansio"
    )
    return uvicorn.Server(config)


@contextlib.contextmanager
def serve(server: SyncServer, port: int | None = None) -> Iterator[str]:
    """``server.app`` under uvicorn on 127.0.0.1 in a thread; yields ``ws://127.0.0.1:PORT``."""
    port = port or free_port()
    runner = _uvicorn(server.app, port)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not runner.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sync server did not start")
        time.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        runner.should_exit = True
        thread.join(WAIT)


@contextlib.asynccontextmanager
async def serving(server: SyncServer | Any) -> AsyncIterator[str]:
    """Like :func:`serve`, on the running event loop (to share it with in-process clients).

    ``server`` is a SyncServer, or any ASGI app (one that mounts a server's routes).
    """
    port = free_port()
    runner = _uvicorn(server.app if isinstance(server, SyncServer) else server, port)
    task = asyncio.create_task(runner.serve())
    deadline = time.monotonic() + WAIT
    while not runner.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the sync server did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        runner.should_exit = True
        await asyncio.wait_for(task, WAIT)


class BoundedEvent(asyncio.Event):
    """An event whose ``wait()`` gives up after :data:`WAIT` seconds: a test never hangs."""

    async def wait(self) -> Literal[True]:
        async with asyncio.timeout(WAIT):
            return await super().wait()


class RawClient:
    """A minimal y-websocket client: a pycrdt Doc kept in sync over one connection.

    It records every message it received, so tests can check what the server sent.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.doc: Doc[Any] = Doc()
        self.received: list[bytes] = []
        self.synced = BoundedEvent()
        self.closed = BoundedEvent()
        self.close_code: int | None = None
        self.close_reason = ""
        self.websocket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._updates: list[bytes] = []
        self._subscription = self.doc.observe(self._on_change)

    def _on_change(self, event: Any) -> None:
        if event.transaction.origin() != hash("remote"):
            self._updates.append(event.update)

    async def __aenter__(self) -> RawClient:
        self.websocket = await connect(self.url, open_timeout=WAIT, max_size=None)
        await self.send(sync_step1(self.doc.get_state()))
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        self.doc.unobserve(self._subscription)  # pycrdt holds observers out of the GC's reach
        if self.websocket is not None:
            await self.websocket.close()
        if self._reader is not None:
            await asyncio.wait_for(asyncio.gather(self._reader, return_exceptions=True), WAIT)

    async def _read(self) -> None:
        assert self.websocket is not None
        try:
            async for data in self.websocket:
                assert isinstance(data, bytes)
                self.received.append(data)
                message = parse(data)
                if message.kind != SYNC:
                    continue
                if message.substep == SYNC_STEP1:
                    await self.websocket.send(sync_step2(self.doc.get_update(message.payload)))
                    continue
                with self.doc.transaction(origin="remote"):
                    self.doc.apply_update(message.payload)
                if message.substep == SYNC_STEP2:
                    self.synced.set()
        except Exception:  # noqa: BLE001 - the close code tells the test what happened
            pass
        finally:
            if self.websocket.close_code is not None:
                self.close_code = self.websocket.close_code
                self.close_reason = self.websocket.close_reason or ""
            self.closed.set()

    async def send(self, data: bytes) -> None:
        """Send ``data``; a connection the server closed already is noted, not raised."""
        assert self.websocket is not None
        with contextlib.suppress(ConnectionClosed):
            await self.websocket.send(data)

    async def push(self) -> int:
        """Send the local edits made since the last push; returns how many updates."""
        updates, self._updates = self._updates, []
        for update in updates:
            await self.send(update_message(update))
        return len(updates)

    async def wait_for(self, predicate: Any, within: float = WAIT) -> None:
        """Wait until ``predicate()`` is true (checked as messages arrive)."""
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            await asyncio.sleep(0.01)

    def count(self, kind: int, substep: int | None = None) -> int:
        """How many received messages are of ``kind`` (and ``substep``)."""
        found = [parse(m) for m in self.received]
        return sum(1 for m in found if m.kind == kind and (substep is None or m.substep == substep))


__all__ = ["AWARENESS", "WAIT", "RawClient", "free_port", "serve", "serving"]
