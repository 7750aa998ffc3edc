"""A B1-style workload: 10,000 one-character edits, encoded, then applied to a fresh document.

Every case makes the same edits (appending one character to a ``Text``, each edit
its own transaction), encodes the resulting document (``get_update()``) and
applies it to a fresh ``Doc``. Djed has two places on that path: its
offline-first client, whose document is the one an application edits, and its
server, which every edit goes through on its way to the others.

The client, against pycrdt alone:

- ``pycrdt``: the literal B1: edits, encode, apply; no update leaves the document.
- ``pycrdt_observed``: the same with a ``Doc`` observer keeping each edit's update:
  what any client that sends or saves its edits needs (pycrdt encodes an update
  per transaction only for an observer).
- ``djed_client``: the edits made on ``SyncClient.doc``, offline (its server is a
  port nobody listens on), with its replica in memory (``store=None``); the round
  ends once ``await client.saved()`` says every edit is in the replica, which
  includes the replica's compaction (it merges its log past 500 entries).
- ``djed_client_sqlite``: the same with the replica in a SQLite file, as an
  application keeps it.

The server, against a plain pycrdt replica; here each edit's update goes, as soon
as it is made, to a server-side replica whose document is then encoded (what a
joining client gets in its sync step 2):

- ``pycrdt_relay``: each update applied to a plain ``Doc``: the least any relay
  does (pycrdt-websocket's room does this and no more).
- ``djed_memory``: each update handed to a room of ``SyncServer(MemoryStorage())``
  as its WebSocket endpoint does (``check_update``, then ``submit``), then
  ``await room.durable()``. The updates come in one burst, so they are stored as
  one batch; automatic compaction is set beyond 10,000 log entries.
- ``djed_sqlite``: the same with ``SQLiteStorage`` (default durability: the
  write-ahead log synced on commit), a new file each round.
- ``djed_memory_compact``: ``djed_memory``, then the room's log merged into a
  snapshot (``Room.compact``), timed too: what the server does in the background
  each time a document's log reaches ``Limits.compact_after`` (500) entries.

A round is one whole workload. After measuring, the test checks that the fresh
document holds the 10,000 characters; for the server, that the store holds every
update (or, compacted, one snapshot); for the client on SQLite, that a new client
on the same replica file finds the text, offline.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from djed.crdt import Limits, MemoryStorage, Room, SQLiteStorage, Storage, SyncClient, SyncServer
from pycrdt import Doc, Text, TransactionEvent
from pytest_benchmark.fixture import BenchmarkFixture

EDITS = 10_000
EXPECTED = "a" * EDITS
ROUNDS = 15
NAME = "b1"
# The server compacts on its own only past this many log entries: never in a round
# (``djed_memory_compact`` asks for it, so that it is timed inside the round).
NO_COMPACTION = Limits(compact_after=EDITS * 2)

Workload = Callable[[], Doc[Any]]


def text_of(doc: Doc[Any]) -> str:
    return str(doc.get("text", type=Text))


def fresh_copy(encoded: bytes) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.apply_update(encoded)
    return doc


def make_edits(doc: Doc[Any], deliver: Callable[[bytes], Any] | None = None) -> Doc[Any]:
    """The 10,000 edits on ``doc``; with ``deliver``, each edit's update goes to it at once."""
    text = doc.get("text", type=Text)
    if deliver is not None:

        def send(event: TransactionEvent) -> None:
            deliver(event.update)

        doc.observe(send)
    for index in range(EDITS):
        text.insert(index, "a")
    return doc


def pycrdt_b1() -> Doc[Any]:
    return fresh_copy(make_edits(Doc()).get_update())


def pycrdt_observed() -> Doc[Any]:
    kept: list[bytes] = []
    return fresh_copy(make_edits(Doc(), kept.append).get_update())


def pycrdt_relay() -> Doc[Any]:
    replica: Doc[Any] = Doc()
    make_edits(Doc(), replica.apply_update)
    return fresh_copy(replica.get_update())


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop:
        yield loop


def _measure(benchmark: BenchmarkFixture, case: str, workload: Workload, **setup: Any) -> None:
    benchmark.extra_info.update(case=case, calls=1, edits=EDITS)
    result: Doc[Any] = benchmark.pedantic(  # type: ignore[no-untyped-call]  # unannotated upstream
        workload, rounds=ROUNDS, warmup_rounds=1, **setup
    )
    assert text_of(result) == EXPECTED, f"{case}: the fresh document lost edits"


@pytest.mark.benchmark(group="crdt-b1")
@pytest.mark.parametrize("case", ["pycrdt", "pycrdt_observed", "pycrdt_relay"])
def test_pycrdt(benchmark: BenchmarkFixture, case: str) -> None:
    """pycrdt alone: bare, observed, and relayed through a replica ``Doc``."""
    workloads = {"pycrdt": pycrdt_b1, "pycrdt_observed": pycrdt_observed}
    _measure(benchmark, case, workloads.get(case, pycrdt_relay))


# -- the client ----------------------------------------------------------------------------


@pytest.fixture
def nowhere() -> Iterator[str]:
    """A ``ws://`` URL on a port that is bound but not listening: connections are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"ws://127.0.0.1:{held.getsockname()[1]}"


class OfflineClient:
    """A new ``SyncClient`` per round, never connected, on one event loop kept for the test."""

    def __init__(self, runner: asyncio.Runner, url: str, replica: Path | None) -> None:
        self.runner, self.url, self.replica = runner, url, replica
        self.client: SyncClient | None = None

    def setup(self) -> None:
        """Close the previous round's client; start one on an empty replica (not timed)."""
        self.close()
        if self.replica is not None:
            for leftover in self.replica.parent.glob(self.replica.name + "*"):
                leftover.unlink()
        self.client = SyncClient(self.url, NAME, store=self.replica)
        self.runner.run(self.client.start())

    def close(self) -> None:
        if self.client is not None:
            self.runner.run(self.client.close())
            self.client = None

    async def edit_and_save(self) -> bytes:
        assert self.client is not None
        doc = make_edits(self.client.doc)
        await self.client.saved()
        return doc.get_update()

    def workload(self) -> Doc[Any]:
        return fresh_copy(self.runner.run(self.edit_and_save()))

    async def reopened_text(self) -> str:
        """What a new client finds in the replica file, before any connection."""
        async with SyncClient(self.url, NAME, store=self.replica) as again:
            return text_of(again.doc)


@pytest.mark.benchmark(group="crdt-b1")
@pytest.mark.parametrize("case", ["djed_client", "djed_client_sqlite"])
def test_djed_client(
    benchmark: BenchmarkFixture, runner: asyncio.Runner, nowhere: str, tmp_path: Path, case: str
) -> None:
    """The edits made on an offline ``SyncClient``'s document, until saved in its replica."""
    replica = tmp_path / "replica.db" if case == "djed_client_sqlite" else None
    client = OfflineClient(runner, nowhere, replica)
    try:
        _measure(benchmark, case, client.workload, setup=client.setup)
        assert client.client is not None
        assert client.client.status != "synced", f"{case}: the client was meant to be offline"
    finally:
        client.close()
    if replica is not None:
        assert runner.run(client.reopened_text()) == EXPECTED, f"{case}: replica lost edits"


# -- the server ----------------------------------------------------------------------------


class ServerRoom:
    """A room of a real ``SyncServer`` per round, on one event loop kept for the test."""

    def __init__(self, runner: asyncio.Runner, make_storage: Callable[[], Storage]) -> None:
        self.runner = runner
        self.make_storage = make_storage
        self.server: SyncServer | None = None
        self.room: Room | None = None

    def setup(self) -> None:
        """A new server, store and empty room (not timed)."""
        self.close()
        self.server = SyncServer(self.make_storage(), limits=NO_COMPACTION)
        self.room = self.runner.run(self.server.room(NAME))

    def close(self) -> None:
        if self.server is not None:
            self.runner.run(self.server.storage.close())
            self.server = self.room = None

    def deliver(self, update: bytes) -> None:
        assert self.room is not None
        self.room.check_update(update)
        self.room.submit(None, update)

    async def relay(self, *, compact: bool) -> bytes:
        """The edits, delivered to the room (which needs the loop running), then encoded."""
        assert self.room is not None
        make_edits(Doc(), self.deliver)
        await self.room.durable()
        if compact:
            assert await self.room.compact() == EDITS
        return self.room.doc.get_update()

    def workload(self, *, compact: bool) -> Doc[Any]:
        return fresh_copy(self.runner.run(self.relay(compact=compact)))

    def stored(self) -> tuple[int, int]:
        """How many updates the store holds for the room, and how many are log entries."""
        assert self.server is not None
        document = self.runner.run(self.server.storage.load(NAME))
        return len(document.updates), document.log_length


@pytest.mark.benchmark(group="crdt-b1")
@pytest.mark.parametrize("case", ["djed_memory", "djed_sqlite", "djed_memory_compact"])
def test_djed_server(
    benchmark: BenchmarkFixture, runner: asyncio.Runner, tmp_path: Path, case: str
) -> None:
    """The same edits relayed through a room of Djed's server, on each store."""
    files = (tmp_path / f"round-{n}.db" for n in itertools.count())
    storage: Callable[[], Storage] = (
        (lambda: SQLiteStorage(next(files))) if case == "djed_sqlite" else MemoryStorage
    )
    room = ServerRoom(runner, storage)
    compact = case == "djed_memory_compact"
    try:
        _measure(benchmark, case, lambda: room.workload(compact=compact), setup=room.setup)
        assert room.stored() == ((1, 0) if compact else (EDITS, EDITS)), f"{case}: store"
    finally:
        room.close()
