"""``kill -9`` the server while clients write: nothing any client received from it is lost.

The server stores each update before it shares it, so whatever a client
received had been committed to the SQLite file before it was sent. Python and
Node (npm ``y-websocket``) writers append numbered items without pause; every
client records the items the server sent it; the server is killed mid-stream;
the file it leaves must hold every item any client received. Items written but
not stored yet were in flight: the writers still hold them and send them again
when they reconnect, as offline edits. The test prints how many there were
(``-s`` shows it; it is also a JUnit property).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from djed.crdt import SQLiteStorage
from pycrdt import Array, Doc, merge_updates

from .test_interop import NodeScript, NodeScripts, Peer, ServerProcess

DOCUMENT = "durability/stream"
INTERVAL = 0.01  # seconds between two items of one writer
BEFORE_KILL = 150  # items of each writer the watcher must have seen before the kill
PYTHON_WRITERS = ("p1", "p2")
NODE_WRITERS = ("n1", "n2")


@dataclasses.dataclass
class Clients:
    """Everyone on the document: a Python and a Node watcher, Python and Node writers."""

    watcher: Peer
    node_watcher: NodeScript
    nodes: dict[str, NodeScript]
    pythons: dict[str, Peer]
    stop: asyncio.Event
    writing: dict[str, asyncio.Task[int]]

    @property
    def peers(self) -> tuple[Peer, ...]:
        return (self.watcher, *self.pythons.values())

    @property
    def scripts(self) -> tuple[NodeScript, ...]:
        return (self.node_watcher, *self.nodes.values())


async def start_clients(scripts: NodeScripts, server_url: str) -> Clients:
    """Connect everyone, then start the writers (only once all are in sync)."""
    url = f"{server_url}/{DOCUMENT}"
    every = str(int(INTERVAL * 1000))
    node_watcher = await scripts.start("stream.mjs", server_url, DOCUMENT, "w", "0")
    nodes = {
        w: await scripts.start("stream.mjs", server_url, DOCUMENT, w, every) for w in NODE_WRITERS
    }
    watcher = Peer()
    await watcher.connect(url)
    pythons = {writer: Peer() for writer in PYTHON_WRITERS}
    for peer in pythons.values():
        await peer.connect(url)
    for script in (node_watcher, *nodes.values()):
        await script.line("SYNCED")
    for script in nodes.values():
        await script.send("start")
    stop = asyncio.Event()
    writing = {w: asyncio.create_task(write(peer, w, stop)) for w, peer in pythons.items()}
    return Clients(watcher, node_watcher, nodes, pythons, stop, writing)


async def write(peer: Peer, writer: str, stop: asyncio.Event) -> int:
    """Append ``<writer>-000000``, ``<writer>-000001``... until ``stop``; returns the count.

    It goes on while the server is down: those items wait in the document.
    """
    count = 0
    while not stop.is_set():
        peer.items.append(f"{writer}-{count:06d}")
        count += 1
        await asyncio.sleep(INTERVAL)
    return count


def of_each(minimum: int, peer: Peer) -> Callable[[], bool]:
    """Whether ``peer`` holds at least ``minimum`` items of every writer."""

    def enough() -> bool:
        counts = dict.fromkeys((*PYTHON_WRITERS, *NODE_WRITERS), 0)
        for item in peer.items.to_py():
            counts[item.split("-")[0]] += 1
        return min(counts.values()) >= minimum

    return enough


async def stop_and_collect(clients: Clients) -> tuple[set[str], set[str]]:
    """Stop the writers once the server is dead: (every item written, every item received).

    A client received an item when the server sent it: for a Python client, any
    item in its document that it did not write; for a Node client, its ``SEEN``
    lines (``STOPPED`` comes after every one printed before it).
    """
    clients.stop.set()
    written = {writer: await task for writer, task in clients.writing.items()}
    received: set[str] = set()
    for peer in clients.peers:
        await peer.lost()
    received.update(clients.watcher.items.to_py())
    for writer, peer in clients.pythons.items():
        received.update(i for i in peer.items.to_py() if not i.startswith(f"{writer}-"))
    for writer, script in (("w", clients.node_watcher), *clients.nodes.items()):
        await script.send("stop")
        index, count = await script.line("STOPPED")
        received.update(
            line.removeprefix("SEEN ") for line in script.lines[:index] if line.startswith("SEEN ")
        )
        if writer != "w":
            written[writer] = int(count)
    everything = {f"{w}-{n:06d}" for w, count in written.items() for n in range(count)}
    return everything, received


async def stored_items(db: Path) -> tuple[list[Any], int]:
    """The items of the document in the SQLite file, and how many updates its log holds.

    Read while no server runs. Fewer log entries than items means that a
    compaction (the log merged into the snapshot) ran before the kill.
    """
    async with contextlib.AsyncExitStack() as cleanup:
        storage = SQLiteStorage(db)
        cleanup.push_async_callback(storage.close)
        stored = await storage.load(DOCUMENT)
    doc: Doc[Any] = Doc()
    doc.apply_update(merge_updates(*stored.updates))
    items: list[Any] = doc.get("items", type=Array).to_py()
    return items, stored.log_length


class TestKillNine:
    @pytest.mark.asyncio
    async def test_no_received_update_is_lost(
        self, tmp_path: Path, record_property: Callable[[str, object], None]
    ) -> None:
        """After SIGKILL mid-stream the file holds every item a client got; then all converge."""
        async with NodeScripts() as scripts:
            with ServerProcess(tmp_path) as server:
                await server.start()
                url = f"{server.url}/{DOCUMENT}"
                clients = await start_clients(scripts, server.url)

                # Kill the server in the middle of the stream, with every writer flowing.
                watcher = clients.watcher
                await watcher.until(of_each(BEFORE_KILL, watcher), f"{BEFORE_KILL} items of each")
                await server.kill()
                everything, received = await stop_and_collect(clients)
                assert received <= everything

                # The guarantee: the killed server's file holds all of it.
                stored, log_length = await stored_items(server.db)
                assert len(stored) == len(set(stored)), "an item stored twice"
                lost = sorted(received - set(stored))
                assert not lost, f"{len(lost)} received item(s) missing from the file: {lost}"

                # Written but never shared: stored but not sent yet, or still in flight
                # (in a socket, or written during the outage). Expected, and not lost:
                # the writers still hold them and send them when they reconnect.
                unshared = everything - received
                in_flight = unshared - set(stored)
                figures = {
                    "written": len(everything),
                    "received before the kill": len(received),
                    "stored at the kill": len(stored),
                    "updates in the log (the rest compacted)": log_length,
                    "written, never shared": len(unshared),
                    "of which stored": len(unshared) - len(in_flight),
                    "of which not stored, resent later": len(in_flight),
                }
                record_property("kill -9", figures)
                print("kill -9:", figures)

                # Same file, same port: Node writers reconnect by themselves, Python
                # ones here, and each one sends what the server lacks.
                await server.start()
                for peer in clients.peers:
                    await peer.connect(url)
                await watcher.until(lambda: set(watcher.items.to_py()) == everything, "all items")
                for script in clients.scripts:
                    await script.send("exit")
                    assert await script.finish() == 0, script.describe()
                for peer in clients.peers:
                    await peer.disconnect()
                plan = {"before": {"items": len(everything)}}
                final = await scripts.peer(server.url, DOCUMENT, plan)
                assert sorted(final["items"]) == sorted(everything)
                await server.stop()
