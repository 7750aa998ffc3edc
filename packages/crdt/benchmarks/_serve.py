"""Serve one fan-out benchmark server: ``python _serve.py KIND READY [--store DIR] [--cpu N]``.

KIND is one of:

* ``djed-memory``: ``SyncServer(MemoryStorage())``;
* ``djed-sqlite``: ``SyncServer(SQLiteStorage(DIR / "documents.db"))``, default
  durability (``"full"``: the write-ahead log is synced on every commit);
* ``pycrdt-websocket``: ``WebsocketServer`` behind ``ASGIServer``, with
  ``auto_clean_rooms=False`` and ``exception_handler=exception_logger`` (without them a
  room is dropped when its last client leaves, and a failed send crashes the room).

Every kind runs under the same uvicorn configuration on 127.0.0.1, on a port the
system picks, which is written to the file READY once the server listens (uvicorn's
defaults otherwise: ``ws="auto"``, permessage-deflate offered; access log off,
warnings only). Djed's
per-address connection limits are raised, since the whole benchmark connects from
127.0.0.1 (a few hundred connections a minute); everything else keeps its default.
With ``--cpu N`` the process runs on that core alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from djed.crdt import Limits, MemoryStorage, SQLiteStorage, Storage, SyncServer
from pycrdt.websocket import ASGIServer, WebsocketServer, exception_logger

KINDS = ("djed-memory", "djed-sqlite", "pycrdt-websocket")
# Every connection of the benchmark comes from 127.0.0.1: let it connect freely.
LIMITS = Limits(connections_per_minute=100_000, max_connections_per_address=10_000)


def djed_app(storage: Storage) -> Any:
    """Djed's Starlette app (its lifespan starts and stops the server)."""
    return SyncServer(storage, limits=LIMITS).app


@contextlib.asynccontextmanager
async def nothing_to_run() -> AsyncIterator[None]:
    yield


class AnnouncingServer(uvicorn.Server):
    """A uvicorn server that writes the port it listens on to a file, once it listens."""

    def __init__(self, config: uvicorn.Config, ready: Path) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:  # it could not listen
            return
        port = self.servers[0].sockets[0].getsockname()[1]
        partial = self.ready.with_name(self.ready.name + ".partial")
        partial.write_text(str(port))
        partial.replace(self.ready)  # whoever waits for the file never reads half a number


async def serve(kind: str, ready: Path, store: Path | None) -> None:
    running: contextlib.AbstractAsyncContextManager[Any] = nothing_to_run()
    if kind == "djed-memory":
        app = djed_app(MemoryStorage())
    elif kind == "djed-sqlite":
        if store is None:
            raise SystemExit("djed-sqlite needs --store DIR")
        app = djed_app(SQLiteStorage(store / "documents.db"))
    elif kind == "pycrdt-websocket":
        websocket_server = WebsocketServer(
            auto_clean_rooms=False, exception_handler=exception_logger
        )
        # ASGIServer answers the lifespan itself but does not start the WebsocketServer,
        # which must run before the first connection is served.
        app = ASGIServer(websocket_server)
        running = websocket_server
    else:
        raise SystemExit(f"unknown server {kind!r}: use one of {', '.join(KINDS)}")
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    async with running:
        await AnnouncingServer(config, ready).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("ready", type=Path, help="where to write the port, once listening")
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--cpu", type=int, default=None)
    arguments = parser.parse_args()
    if arguments.cpu is not None:
        os.sched_setaffinity(0, {arguments.cpu})
    asyncio.run(serve(arguments.kind, arguments.ready, arguments.store))


if __name__ == "__main__":
    main()
