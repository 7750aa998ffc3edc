"""The sync server against real WebSocket clients on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from djed.crdt import (
    CLOSE_BAD_MESSAGE,
    CLOSE_FORBIDDEN,
    CLOSE_RATE,
    CLOSE_RESET,
    CLOSE_SHAPE,
    CLOSE_TOO_BIG,
    AuthRequest,
    Limits,
    MemoryStorage,
    SQLiteStorage,
    SyncServer,
)
from djed.crdt._protocol import (
    AWARENESS,
    SYNC,
    SYNC_UPDATE,
    AwarenessEntry,
    awareness_message,
    parse,
    parse_awareness,
    update_message,
)
from djed.crdt._server import Connection, Room
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from ._support import RawClient, serve

pytestmark = pytest.mark.asyncio


def texts(client: RawClient, name: str = "notes") -> str:
    return str(client.doc.get(name, type=Text))


async def edit_notes(client: RawClient, text: str) -> None:
    notes = client.doc.get("notes", type=Text)
    notes.insert(len(notes), text)
    await client.push()


class TestSync:
    async def test_two_clients_share_edits_without_echo(self) -> None:
        """An edit reaches the other client; its author gets nothing back."""
        storage = MemoryStorage()
        with serve(SyncServer(storage)) as url:
            async with RawClient(f"{url}/inv-1") as a, RawClient(f"{url}/inv-1") as b:
                await a.synced.wait()
                await b.synced.wait()
                with a.doc.transaction():
                    a.doc.get("notes", type=Text).insert(0, "Paid in full")
                    a.doc.get("invoice", type=Map)["status"] = "paid"
                    a.doc.get("lines", type=Array).append({"sku": "A1", "cents": 1250})
                await a.push()
                await b.wait_for(lambda: texts(b) == "Paid in full")
                assert b.doc.get("invoice", type=Map)["status"] == "paid"
                assert b.doc.get("lines", type=Array).to_py() == [{"sku": "A1", "cents": 1250.0}]
                await asyncio.sleep(0.1)
                assert a.count(SYNC, SYNC_UPDATE) == 0  # no echo
        stored = await storage.load("inv-1")
        assert len(stored.updates) == 1

    async def test_stored_before_shared_and_reloaded_after_restart(self, tmp_path: Path) -> None:
        """What a client received is in the store; a new server process sees every edit."""
        database = tmp_path / "docs.db"
        with serve(SyncServer(SQLiteStorage(database))) as url:
            async with RawClient(f"{url}/inv-2") as a, RawClient(f"{url}/inv-2") as b:
                await a.synced.wait()
                for word in ("one ", "two ", "three"):
                    await edit_notes(a, word)
                await b.wait_for(lambda: texts(b) == "one two three")
                check = SQLiteStorage(database)
                stored = await check.load("inv-2")
                await check.close()
                replica: Doc[Any] = Doc()
                for update in stored.updates:
                    replica.apply_update(update)
                assert str(replica.get("notes", type=Text)) == "one two three"
        with serve(SyncServer(SQLiteStorage(database))) as url:
            async with RawClient(f"{url}/inv-2") as c:
                await c.synced.wait()
                assert texts(c) == "one two three"

    async def test_offline_edits_arrive_through_step_two(self) -> None:
        """Edits made before connecting reach the server when it asks (its step 1)."""
        with serve(SyncServer(MemoryStorage())) as url:
            client = RawClient(f"{url}/inv-3")
            client.doc.get("notes", type=Text).insert(0, "written offline")
            async with client, RawClient(f"{url}/inv-3") as other:
                await other.wait_for(lambda: texts(other) == "written offline")

    async def test_a_client_joining_a_busy_document_is_answered(self) -> None:
        """Steady writing does not hold back a newcomer's sync (it waits for its own content)."""
        joined = asyncio.Event()

        async def write(writer: RawClient) -> int:
            count = 0
            while not joined.is_set() and count < 50_000:
                await edit_notes(writer, "x")
                count += 1
                await asyncio.sleep(0.005)
            return count

        class SlowDisk(MemoryStorage):
            async def append(self, name: str, updates: Any) -> None:
                await asyncio.sleep(0.05)  # every commit takes 50 ms: the queue never empties
                await super().append(name, updates)

        with serve(SyncServer(SlowDisk())) as url:
            writers = [RawClient(f"{url}/busy") for _ in range(3)]
            async with contextlib.AsyncExitStack() as stack:
                for writer in writers:
                    await stack.enter_async_context(writer)
                    await writer.synced.wait()
                writing = [asyncio.create_task(write(writer)) for writer in writers]
                await asyncio.sleep(0.5)
                async with RawClient(f"{url}/busy") as newcomer:
                    await asyncio.wait_for(newcomer.synced.wait(), 10)
                    still_writing = not any(task.done() for task in writing)
                    joined.set()
                await asyncio.gather(*writing)
        assert still_writing


class TestAccess:
    @staticmethod
    def authorize(request: AuthRequest) -> Any:
        return {"writer": "read-write", "viewer": "read-only"}.get(request.token or "")

    async def test_read_only_updates_are_dropped_and_counted(self) -> None:
        server = SyncServer(MemoryStorage(), authorize=self.authorize)
        with serve(server) as url:
            async with (
                RawClient(f"{url}/inv?token=writer") as writer,
                RawClient(f"{url}/inv?token=viewer") as viewer,
            ):
                await viewer.synced.wait()
                await edit_notes(viewer, "sneaky")
                await edit_notes(writer, "real")
                await viewer.wait_for(lambda: "real" in texts(viewer))
                await writer.wait_for(lambda: server.dropped_read_only == 1)
                assert texts(writer) == "real"

    async def test_refused_and_bad_names_are_closed(self) -> None:
        with serve(SyncServer(MemoryStorage(), authorize=self.authorize)) as url:
            async with RawClient(f"{url}/inv?token=stranger") as stranger:
                await asyncio.wait_for(stranger.closed.wait(), 10)
            assert stranger.close_code == CLOSE_FORBIDDEN
            assert "no access to document 'inv'" in stranger.close_reason
            async with RawClient(f"{url}/../etc?token=writer") as lost:
                await asyncio.wait_for(lost.closed.wait(), 10)
            assert lost.close_code == 4404


class TestBadInput:
    @pytest.mark.parametrize(
        ("frame", "reason"),
        [
            (b"\x00\x02\x05ab", "sync update: length 5 runs past the end"),
            (b"\x07", "unknown type 7"),
            (b"\x00\x09\x00", "unknown sync substep 9"),
            (b"\x00\x02\x03\x01\x02\x03", "the update does not decode"),
            (b"\x01\x05\x01\x01\x01\x01x", "awareness: state of client 1 is not JSON"),
            (b"\x00\x00\x02\xff\xff", "state vector does not decode"),
        ],
    )
    async def test_malformed_message_closes_that_connection_only(
        self, frame: bytes, reason: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """1007 with a reason and one log line; the document and other clients carry on."""
        with serve(SyncServer(MemoryStorage())) as url:
            async with RawClient(f"{url}/doc") as good, RawClient(f"{url}/doc") as bad:
                await bad.synced.wait()
                with caplog.at_level(logging.WARNING, logger="djed.crdt"):
                    await bad.send(frame)
                    await asyncio.wait_for(bad.closed.wait(), 10)
                assert bad.close_code == CLOSE_BAD_MESSAGE
                assert reason in bad.close_reason
                lines = [r for r in caplog.records if r.name == "djed.crdt"]
                assert len(lines) == 1
                assert reason in lines[0].getMessage()
                async with RawClient(f"{url}/doc") as late:
                    await edit_notes(good, "still fine")
                    await late.wait_for(lambda: texts(late) == "still fine")

    async def test_text_frame_too_big_and_flood(self) -> None:
        limits = Limits(max_message_bytes=1000, messages_per_second=5, message_burst=5)
        with serve(SyncServer(MemoryStorage(), limits=limits)) as url:
            async with RawClient(f"{url}/doc") as client:
                assert client.websocket is not None
                await client.websocket.send("hello")
                await asyncio.wait_for(client.closed.wait(), 10)
            assert client.close_code == CLOSE_BAD_MESSAGE
            async with RawClient(f"{url}/doc") as client:
                await client.send(update_message(b"\x00" * 2000))
                await asyncio.wait_for(client.closed.wait(), 10)
            assert (client.close_code, client.close_reason) == (
                CLOSE_TOO_BIG,
                "message of 2004 bytes (at most 1000)",
            )
            async with RawClient(f"{url}/doc") as client:
                for _ in range(20):
                    await client.send(awareness_message(()))
                await asyncio.wait_for(client.closed.wait(), 10)
            assert client.close_code == CLOSE_RATE

    async def test_connections_are_throttled_per_address(self) -> None:
        with serve(SyncServer(MemoryStorage(), limits=Limits(connections_per_minute=3))) as url:
            codes = []
            for _ in range(4):
                async with RawClient(f"{url}/doc") as client:
                    await asyncio.wait([asyncio.ensure_future(client.synced.wait())], timeout=0.5)
                codes.append(client.close_code if client.closed.is_set() else None)
            assert codes[3] == 1013

    async def test_shape_and_document_size(self) -> None:
        shape = {"invoice": "map", "lines": "array", "notes": "text"}
        limits = Limits(max_document_bytes=200)
        with serve(SyncServer(MemoryStorage(), shape=shape, limits=limits)) as url:
            async with RawClient(f"{url}/doc") as client:
                await client.synced.wait()
                client.doc.get("lines", type=Map)["oops"] = 1
                await client.push()
                await asyncio.wait_for(client.closed.wait(), 10)
            assert client.close_code == CLOSE_SHAPE
            assert (
                "collection 'lines' is a array but the update writes a map" in client.close_reason
            )
            async with RawClient(f"{url}/doc") as client:
                await client.synced.wait()
                await edit_notes(client, "x" * 150)
                await edit_notes(client, "y" * 150)
                await asyncio.wait_for(client.closed.wait(), 10)
            assert client.close_code == CLOSE_TOO_BIG
            assert "is full" in client.close_reason

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(frame=st.binary(min_size=1, max_size=64))
    async def test_fuzz(self, frame: bytes, fuzz_url: str) -> None:
        """Any bytes: either a valid message or a clean 1007; never a broken server."""
        async with RawClient(f"{fuzz_url}/fuzz") as client:
            await client.synced.wait()
            await client.send(frame)
            await asyncio.sleep(0.01)
            if client.closed.is_set():
                assert client.close_code in {CLOSE_BAD_MESSAGE, CLOSE_TOO_BIG}
        async with RawClient(f"{fuzz_url}/fuzz") as probe:
            await asyncio.wait_for(probe.synced.wait(), 10)


@pytest.fixture(scope="module")
def fuzz_url() -> Any:
    with serve(SyncServer(MemoryStorage())) as url:
        yield url


class TestLifecycle:
    async def test_idle_document_is_stored_compacted_and_unloaded(self, tmp_path: Path) -> None:
        storage = SQLiteStorage(tmp_path / "docs.db")
        limits = Limits(idle_unload_seconds=0.3, keepalive_seconds=0.3)
        server = SyncServer(storage, limits=limits)
        with serve(server) as url:
            async with RawClient(f"{url}/idle") as client:
                await client.synced.wait()
                await edit_notes(client, "keep me")
                await client.wait_for(
                    lambda: "idle" in server.rooms and server.rooms["idle"].log_length == 1
                )
            await client.wait_for(lambda: "idle" not in server.rooms)
            stored = await storage.load("idle")
            assert stored.log_length == 0
            assert len(stored.updates) == 1  # the snapshot
            async with RawClient(f"{url}/idle") as again:
                await again.synced.wait()
                assert texts(again) == "keep me"

    async def test_keepalive_reaches_a_quiet_client(self) -> None:
        with serve(SyncServer(MemoryStorage(), limits=Limits(keepalive_seconds=0.2))) as url:
            async with RawClient(f"{url}/quiet") as client:
                await client.wait_for(lambda: client.count(AWARENESS) >= 2)
                assert parse_awareness(parse(client.received[-1]).payload) == []

    async def test_awareness_is_shared_and_removed_on_leave(self) -> None:
        with serve(SyncServer(MemoryStorage())) as url:
            async with RawClient(f"{url}/doc") as watcher:
                async with RawClient(f"{url}/doc") as editor:
                    entry = AwarenessEntry(77, 1, '{"user":{"name":"Ana"},"field":"total"}')
                    await editor.send(awareness_message([entry]))
                    await watcher.wait_for(lambda: _presence(watcher).get(77) == entry.state_json)
                await watcher.wait_for(lambda: _presence(watcher).get(77) == "null")

    async def test_reset_starts_a_new_epoch(self) -> None:
        server = SyncServer(MemoryStorage())
        with serve(server) as url:
            async with RawClient(f"{url}/doc") as client:
                await edit_notes(client, "old generation")
                await client.wait_for(
                    lambda: "doc" in server.rooms and server.rooms["doc"].log_length
                )
                epoch = await asyncio.wrap_future(
                    asyncio.run_coroutine_threadsafe(server.reset("doc"), _loop_of(server))
                )
                await asyncio.wait_for(client.closed.wait(), 10)
            assert epoch == 2
            assert (client.close_code, client.close_reason) == (
                CLOSE_RESET,
                "document reset: epoch 2",
            )
            async with RawClient(f"{url}/doc?epoch=1") as stale:
                await asyncio.wait_for(stale.closed.wait(), 10)
            assert stale.close_code == CLOSE_RESET
            async with RawClient(f"{url}/doc?epoch=2") as fresh:
                await fresh.synced.wait()
                assert texts(fresh) == ""

    async def test_hooks(self) -> None:
        calls: list[tuple[str, str, str]] = []

        def hook(which: str) -> Any:
            return lambda name, doc: calls.append((which, name, str(doc.get("notes", type=Text))))

        server = SyncServer(
            MemoryStorage(),
            on_load=hook("load"),
            on_change=hook("change"),
            change_debounce=0.2,
        )
        with serve(server) as url:
            async with RawClient(f"{url}/doc") as client:
                for word in "abcde":
                    await edit_notes(client, word)
                await client.wait_for(lambda: ("change", "doc", "abcde") in calls)
                await asyncio.sleep(0.3)
        assert calls[0] == ("load", "doc", "")
        assert [c for c in calls if c[0] == "change"] == [("change", "doc", "abcde")]

    async def test_store_failure_shares_nothing(self, caplog: pytest.LogCaptureFixture) -> None:
        class Broken(MemoryStorage):
            async def append(self, name: str, updates: Any) -> None:
                raise OSError("disk full")

        with serve(SyncServer(Broken())) as url:
            async with RawClient(f"{url}/doc") as writer, RawClient(f"{url}/doc") as reader:
                await reader.synced.wait()
                with caplog.at_level(logging.ERROR, logger="djed.crdt"):
                    await edit_notes(writer, "lost?")
                    await asyncio.wait_for(writer.closed.wait(), 10)
                assert writer.close_code == 1013
                assert texts(reader) == ""
                assert "could not store updates of 'doc'" in caplog.text

    async def test_compaction_after_many_updates(self) -> None:
        storage = MemoryStorage()
        server = SyncServer(storage, limits=Limits(compact_after=5))
        with serve(server) as url:
            async with RawClient(f"{url}/doc") as client:
                for number in range(7):
                    await edit_notes(client, str(number))
                await client.wait_for(lambda: storage._snapshots.get("doc") is not None)
        stored = await storage.load("doc")
        replica: Doc[Any] = Doc()
        for update in stored.updates:
            replica.apply_update(update)
        assert str(replica.get("notes", type=Text)) == "0123456"
        assert stored.log_length < 7


@pytest.mark.asyncio
class TestLongRun:
    async def test_memory_stays_flat_as_clients_come_and_go(self) -> None:
        """Hundreds of joins and leaves over many documents leave nothing behind."""
        limits = Limits(idle_unload_seconds=0.2, keepalive_seconds=0.2)
        server = SyncServer(MemoryStorage(), limits=limits)

        async def visit(url: str, number: int) -> None:
            async with RawClient(f"{url}/doc-{number % 10}") as client:
                await client.synced.wait()
                await edit_notes(client, "x")

        with serve(server) as url:
            for round_ in range(3):
                await asyncio.gather(*(visit(url, n) for n in range(round_ * 50, round_ * 50 + 50)))
                gc.collect()
                if round_ == 0:
                    tracemalloc.start()
                    baseline = tracemalloc.get_traced_memory()[0]
            await RawClient(url).wait_for(lambda: not server.rooms, within=10)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - baseline
            tracemalloc.stop()
            assert not server._per_address
            assert not [o for o in gc.get_objects() if isinstance(o, Room) and o.server is server]
            assert not [
                o
                for o in gc.get_objects()
                if isinstance(o, Connection) and o.websocket.url.path.startswith("/doc-")
            ]
        assert grown < 2_000_000, f"{grown} bytes still held after 100 more visits"

    async def test_a_vanished_client_is_cleaned_up(self) -> None:
        """A peer that drops its TCP connection without a close frame is removed."""
        server = SyncServer(MemoryStorage())
        with serve(server) as url:
            async with RawClient(f"{url}/doc") as watcher:
                await watcher.synced.wait()
                vanishing = RawClient(f"{url}/doc")
                await vanishing.__aenter__()
                await vanishing.synced.wait()
                await vanishing.send(awareness_message([AwarenessEntry(5, 1, '{"u":1}')]))
                await watcher.wait_for(lambda: len(server.rooms["doc"].connections) == 2)
                assert vanishing.websocket is not None
                vanishing.websocket.transport.abort()  # gone: no close frame, no FIN handshake
                await watcher.wait_for(lambda: len(server.rooms["doc"].connections) == 1)
                await watcher.wait_for(lambda: _presence(watcher).get(5) == "null")


def _presence(client: RawClient) -> dict[int, str]:
    seen: dict[int, str] = {}
    for data in client.received:
        message = parse(data)
        if message.kind == AWARENESS:
            for entry in parse_awareness(message.payload):
                seen[entry.client_id] = entry.state_json
    return seen


def _log_length(server: SyncServer, name: str) -> int:
    room = server.rooms.get(name)
    return -1 if room is None else room.log_length


def _loop_of(server: SyncServer) -> asyncio.AbstractEventLoop:
    """The event loop serving ``server`` (uvicorn's, in its thread)."""
    janitor = server._janitor
    assert janitor is not None
    return janitor.get_loop()
