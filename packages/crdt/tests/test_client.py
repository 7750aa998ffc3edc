"""SyncClient against a real SyncServer under uvicorn on loopback, with SQLite replicas."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from djed.crdt import AuthRequest, SQLiteStorage, SyncServer
from djed.crdt._client import ClientStatus, SyncClient, SyncClosedError, _backoff_delay
from pycrdt import Array, Doc, Map, Text

from ._support import WAIT, free_port, serve
from .test_interop import NodeScripts

NAME = "notes/1"


class Server:
    """A SyncServer over one SQLite file on a fixed port, stopped and started at will."""

    def __init__(self, path: Path, **options: Any) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.options = options
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sync: SyncServer | None = None
        self._stack: contextlib.ExitStack | None = None

    async def start(self) -> None:
        self.sync = SyncServer(SQLiteStorage(self.path), on_load=self._loaded, **self.options)
        self._stack = contextlib.ExitStack()
        await asyncio.to_thread(self._stack.enter_context, serve(self.sync, self.port))

    def _loaded(self, name: str, doc: Doc[Any]) -> None:
        self.loop = asyncio.get_running_loop()  # the server's own loop, in its thread

    async def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await asyncio.to_thread(stack.close)

    async def reset(self, name: str) -> int:
        """``SyncServer.reset`` on the server's loop, with clients connected."""
        assert self.sync is not None
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(self.sync.reset(name), self.loop)
        return await asyncio.wrap_future(future)

    async def stored(self, name: str = NAME) -> Doc[Any]:
        """What the server's SQLite file holds for ``name``, read back into a Doc."""
        return await load_doc(self.path, name)


async def reset_stored(path: Path, name: str = NAME) -> int:
    """Reset ``name`` in the SQLite file at ``path`` while no server runs; the new epoch."""
    storage = SQLiteStorage(path)
    try:
        return await storage.reset(name)
    finally:
        await storage.close()


async def load_doc(path: Path, name: str = NAME) -> Doc[Any]:
    """A Doc holding what the SQLite file at ``path`` stores for ``name``."""
    storage = SQLiteStorage(path)
    try:
        stored = await storage.load(name)
    finally:
        await storage.close()
    doc: Doc[Any] = Doc()
    for update in stored.updates:
        doc.apply_update(update)
    return doc


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """A server ready to start (not started), stopped at the end."""
    served = Server(tmp_path / "server.db")
    try:
        yield served
    finally:
        await served.stop()


def new_client(url: str, **options: Any) -> SyncClient:
    """A client of document NAME that retries within 10-50 ms, not seconds."""
    return SyncClient(url, NAME, reconnect_base=0.01, reconnect_cap=0.05, **options)


@contextlib.asynccontextmanager
async def synced_pair(url: str) -> AsyncIterator[tuple[SyncClient, SyncClient]]:
    """Two in-memory clients of document NAME, both synced."""
    async with new_client(url) as a, new_client(url) as b:
        await a.wait_synced(timeout=WAIT)
        await b.wait_synced(timeout=WAIT)
        yield a, b


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Where a test's (first) client keeps its replica."""
    return tmp_path / "replica.db"


def notes(target: SyncClient | Doc[Any]) -> Text:
    doc = target.doc if isinstance(target, SyncClient) else target
    text: Text = doc.get("notes", type=Text)
    return text


async def eventually(check: Callable[[], bool]) -> None:
    """Wait until ``check()`` holds (it is re-checked every 10 ms), at most WAIT seconds."""
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 - the states polled have no event to wait on
            await asyncio.sleep(0.01)


def unreachable() -> str:
    """A URL where nothing listens: the client stays offline."""
    return f"ws://127.0.0.1:{free_port()}"


class TestSync:
    @pytest.mark.asyncio
    async def test_edits_travel_both_ways(self, server: Server) -> None:
        """Edits made before and after connecting reach the other client, in both directions."""
        await server.start()
        async with new_client(server.url) as a:
            notes(a).insert(0, "before connecting")
            await a.wait_synced(timeout=WAIT)
            async with new_client(server.url) as b:  # an in-memory replica
                await b.wait_synced(timeout=WAIT)
                assert str(notes(b)) == "before connecting"
                notes(b).insert(0, "B: ")
                b.doc.get("meta", type=Map)["count"] = 3
                await eventually(lambda: str(notes(a)) == "B: before connecting")
                assert a.doc.get("meta", type=Map)["count"] == 3.0  # numbers come back as floats

    @pytest.mark.asyncio
    async def test_wait_synced_means_the_server_stored_it(self, server: Server) -> None:
        """After wait_synced the server's SQLite file holds every edit made before it."""
        await server.start()
        async with new_client(server.url) as a:
            await a.wait_synced(timeout=WAIT)
            for word in ("one ", "two ", "three"):
                notes(a).insert(len(notes(a)), word)
            await a.wait_synced(timeout=WAIT)
            assert str(notes(await server.stored())) == "one two three"
            notes(a).insert(0, "zero ")
            waiters = [a.wait_synced(timeout=WAIT) for _ in range(3)]  # share one round trip
            await asyncio.gather(*waiters)
            assert str(notes(await server.stored())) == "zero one two three"

    @pytest.mark.asyncio
    async def test_status_sequence(self, server: Server) -> None:
        """offline, connecting, syncing, synced; offline again when the server goes away."""
        await server.start()
        client = new_client(server.url)
        seen: list[ClientStatus] = [client.status]
        client.on_status(seen.append)
        async with client:
            await client.wait_synced(timeout=WAIT)
            assert seen == ["offline", "connecting", "syncing", "synced"]
            await server.stop()
            await eventually(lambda: "offline" in seen[4:])
            assert seen[4] == "offline"
        assert seen[-1] == "closed"

    @pytest.mark.asyncio
    async def test_no_echo(self, server: Server) -> None:
        """A client never gets its own edit back, nor sends back what it received."""
        await server.start()
        async with synced_pair(server.url) as (a, b):
            a_before, b_before = a.traffic, b.traffic
            for count, word in enumerate("xyz", 1):
                notes(a).insert(0, word)
                await eventually(lambda: len(notes(b)) == count)  # noqa: B023 - used at once
            assert str(notes(b)) == "zyx"
            await a.wait_synced(timeout=WAIT)
            await b.wait_synced(timeout=WAIT)
            a_after, b_after = a.traffic, b.traffic
        assert a_after.updates_sent - a_before.updates_sent == 3
        assert a_after.updates_received == a_before.updates_received
        assert b_after.updates_received - b_before.updates_received == 3
        assert b_after.updates_sent == b_before.updates_sent == 0

    @pytest.mark.asyncio
    async def test_edits_queued_together_travel_as_one(self, server: Server) -> None:
        """A burst of edits goes out merged, well within the server's message rate limit."""
        await server.start()
        async with synced_pair(server.url) as (a, b):
            for _ in range(2000):  # 2000 transactions: twice the server's burst of messages
                notes(a).insert(len(notes(a)), "a")
            await a.wait_synced(timeout=WAIT)
            await eventually(lambda: len(notes(b)) == 2000)
            assert a.traffic.updates_sent == 1
            assert a.traffic.connections == 1

    @pytest.mark.asyncio
    async def test_presence(self, server: Server) -> None:
        """Presence reaches the other clients (not oneself) and leaves with its client."""
        await server.start()
        async with new_client(server.url) as a:
            a.set_presence({"user": "ana", "cursor": 3})
            async with new_client(server.url) as b:
                await eventually(lambda: a.doc.client_id in b.peers)
                assert b.peers[a.doc.client_id] == {"user": "ana", "cursor": 3}
                b.set_presence({"user": "bo"})
                await eventually(
                    lambda: bool(b.peers) and a.peers == {b.doc.client_id: {"user": "bo"}}
                )
                a.set_presence(None)
                await eventually(lambda: not b.peers)
            await eventually(lambda: not a.peers)  # b said goodbye
            with pytest.raises(TypeError):
                a.set_presence({"not json": object()})

    @pytest.mark.asyncio
    @pytest.mark.parametrize("compression", [True, False])
    async def test_compression_is_an_option(self, server: Server, compression: bool) -> None:
        """permessage-deflate is offered by default and not at all when turned off."""
        await server.start()
        async with new_client(server.url, compression=compression) as client:
            await client.wait_synced(timeout=WAIT)
            link = client._link
            assert link is not None
            assert link.websocket.response is not None
            extensions = link.websocket.response.headers.get("Sec-WebSocket-Extensions", "")
            assert ("permessage-deflate" in extensions) is compression


class TestOffline:
    @pytest.mark.asyncio
    async def test_concurrent_offline_edits_converge(self, server: Server, tmp_path: Path) -> None:
        """Two clients edit while the server is down; each edit is on disk; both converge."""
        await server.start()
        a_store, b_store = tmp_path / "a.db", tmp_path / "b.db"
        async with (
            new_client(server.url, store=a_store) as a,
            new_client(server.url, store=b_store) as b,
        ):
            notes(a).insert(0, "shared")
            await a.wait_synced(timeout=WAIT)
            await eventually(lambda: str(notes(b)) == "shared")
            await server.stop()
            await eventually(lambda: {a.status, b.status} <= {"offline", "connecting"})

            notes(a).insert(0, "A wrote this. ")
            notes(b).insert(len(notes(b)), " B wrote that.")
            a.doc.get("meta", type=Map)["a"] = "yes"
            await a.saved()
            await b.saved()
            for store, expected in (
                (a_store, "A wrote this. shared"),
                (b_store, "shared B wrote that."),
            ):
                async with SyncClient(unreachable(), NAME, store=store) as reopened:
                    assert str(notes(reopened)) == expected

            await server.start()
            await a.wait_synced(timeout=WAIT)
            await b.wait_synced(timeout=WAIT)
            both = "A wrote this. shared B wrote that."
            await eventually(lambda: str(notes(a)) == str(notes(b)) == both)
            assert b.doc.get("meta", type=Map).to_py() == {"a": "yes"}
        assert str(notes(await server.stored())) == both

    @pytest.mark.asyncio
    async def test_restart_while_offline_keeps_edits(self, server: Server, store: Path) -> None:
        """A new session on the same store, still offline, has the edits; each has its own id."""
        offline = unreachable()
        async with new_client(offline, store=store) as first:
            notes(first).insert(0, "first session")
            first_id = first.doc.client_id
            assert first.status in {"offline", "connecting"}
        async with new_client(offline, store=store) as second:
            assert str(notes(second)) == "first session"
            assert second.doc.client_id != first_id
            notes(second).insert(len(notes(second)), ", second session")
        await server.start()
        async with new_client(server.url, store=store) as third:
            await third.wait_synced(timeout=WAIT)
        expected = "first session, second session"
        assert str(notes(await server.stored())) == expected

    @pytest.mark.asyncio
    async def test_reconnect_sends_only_the_diff(self, server: Server, store: Path) -> None:
        """On reconnecting, each direction carries about its diff, not the document."""
        await server.start()
        words = random.Random(7).choices(["invoice", "total", "paid", "due", "net"], k=25_000)
        async with (
            new_client(server.url, store=store) as a,
            new_client(server.url) as b,
        ):
            notes(a).insert(0, " ".join(words))
            await a.wait_synced(timeout=WAIT)
            await eventually(lambda: len(notes(b)) == len(notes(a)))
        # a goes on offline (a session on the same store, pointed nowhere) while b writes
        async with new_client(unreachable(), store=store) as a:
            notes(a).insert(0, "Offline note: customer asked for a copy of the last invoice. ")
        async with new_client(server.url) as b:
            await b.wait_synced(timeout=WAIT)
            notes(b).insert(len(notes(b)), " Online note: payment arrived on Monday, thanks.")
            await b.wait_synced(timeout=WAIT)

        on_server, in_replica = await server.stored(), await load_doc(store)
        document = len(on_server.get_update())
        upstream = len(in_replica.get_update(on_server.get_state()))
        downstream = len(on_server.get_update(in_replica.get_state()))
        async with new_client(server.url, store=store) as a:
            await a.wait_synced(timeout=WAIT)
            traffic = a.traffic
            assert str(notes(a)).startswith("Offline note")
            assert str(notes(a)).endswith("thanks.")
        print(  # the figures, for the record (pytest -s)
            f"document {document} B, diff up {upstream} B / sent {traffic.bytes_sent} B,"
            f" diff down {downstream} B / received {traffic.bytes_received} B"
        )
        assert document > 100_000
        assert traffic.bytes_sent <= 3 * upstream
        assert traffic.bytes_received <= 3 * downstream
        assert traffic.bytes_sent + traffic.bytes_received < document / 100

    def test_backoff_has_full_jitter_and_a_cap(self) -> None:
        """Retry n waits a uniform random time in [0, min(cap, base * 2**n)]."""
        rng = random.Random(1)
        for attempt in range(40):
            ceiling = min(5.0, 0.1 * 2**attempt)
            delays = [_backoff_delay(attempt, 0.1, 5.0, rng) for _ in range(200)]
            assert all(0 <= d <= ceiling for d in delays)
            assert max(delays) > ceiling * 0.8
            assert min(delays) < ceiling * 0.2


class TestWithTheNpmClient:
    @pytest.mark.asyncio
    async def test_edits_travel_between_this_client_and_y_websocket(
        self, server: Server, store: Path
    ) -> None:
        """Offline edits reach an npm y-websocket client; its edits and replies come back."""
        await server.start()
        async with new_client(unreachable(), store=store) as offline:
            notes(offline).insert(0, "Python offline ✓.")
        plan = {
            "before": {"text": ["Python offline ✓."]},
            "edits": [{"insert": " Node é.", "after": "✓."}, {"set": "from", "value": "node"}],
            "after": {"text": ["Python replies."]},
        }
        async with NodeScripts() as scripts, new_client(server.url, store=store) as client:
            peer = await scripts.start("peer.mjs", server.url, NAME, json.dumps(plan))
            await eventually(lambda: "Node é." in str(notes(client)))
            notes(client).insert(len(notes(client)), " Python replies.")
            state = await peer.state()
            assert await peer.finish() == 0, peer.describe()
            assert client.doc.get("meta", type=Map).to_py() == {"from": "node"}
        assert state["text"] == "Python offline ✓. Node é. Python replies."


class TestRefusalsAndResets:
    @pytest.mark.asyncio
    async def test_refused_for_good_stops_reconnecting(self, tmp_path: Path) -> None:
        """A 4403 closes the client for good: one attempt, status closed, code and reason kept."""
        attempts: list[AuthRequest] = []

        def refuse(request: AuthRequest) -> None:
            attempts.append(request)

        served = Server(tmp_path / "server.db", authorize=refuse)
        await served.start()
        try:
            async with new_client(served.url, token="wrong") as client:
                with pytest.raises(SyncClosedError) as refused:
                    await client.wait_synced(timeout=WAIT)
                assert refused.value.code == client.close_code == 4403
                assert client.close_reason is not None
                assert NAME in client.close_reason
                assert client.status == "closed"
                await asyncio.sleep(0.3)  # many retry periods of 10-50 ms
                assert len(attempts) == 1
                assert attempts[0].token == "wrong"
                notes(client).insert(0, "still editable, kept locally")
        finally:
            await served.stop()

    @pytest.mark.asyncio
    async def test_reset_drops_the_replica_and_resyncs(self, server: Server, store: Path) -> None:
        """A reset while connected: the client drops the old content, follows the new epoch."""
        await server.start()
        async with new_client(server.url, store=store) as a:
            new_docs: list[Doc[Any]] = []
            a.on_reset(new_docs.append)
            notes(a).insert(0, "old epoch")
            await a.wait_synced(timeout=WAIT)
            old_doc = a.doc
            assert await server.reset(NAME) == 2
            await eventually(lambda: a.epoch == 2 and a.status == "synced")
            assert new_docs == [a.doc]
            assert a.doc is not old_doc
            assert str(notes(a)) == ""
            notes(a).insert(0, "new epoch")
            await a.wait_synced(timeout=WAIT)
        assert str(notes(await server.stored())) == "new epoch"
        assert str(notes(await load_doc(store))) == "new epoch"

    @pytest.mark.asyncio
    async def test_reset_while_offline(self, server: Server, store: Path) -> None:
        """A replica of an older epoch is dropped on reconnecting, even with offline edits."""
        await server.start()
        async with new_client(server.url, store=store) as a:
            notes(a).insert(0, "old epoch")
            await a.wait_synced(timeout=WAIT)
        await server.stop()
        assert await reset_stored(server.path) == 2
        await server.start()
        async with new_client(unreachable(), store=store) as a:
            notes(a).insert(0, "stale: ")  # made on top of the old epoch
        async with new_client(server.url, store=store) as a:
            await a.wait_synced(timeout=WAIT)
            assert a.epoch == 2
            assert str(notes(a)) == ""
        assert str(notes(await server.stored())) == ""

    @pytest.mark.asyncio
    async def test_a_new_replica_keeps_its_edits_on_a_later_epoch(
        self, server: Server, store: Path
    ) -> None:
        """A replica that never synced has nothing stale: its edits join the current epoch."""
        assert await reset_stored(server.path) == 2
        await server.start()
        async with new_client(unreachable(), store=store) as a:
            notes(a).insert(0, "written before ever connecting")
        async with new_client(server.url, store=store) as a:
            await a.wait_synced(timeout=WAIT)
            assert a.epoch == 2
        assert str(notes(await server.stored())) == "written before ever connecting"


class TestConfiguration:
    @pytest.mark.asyncio
    async def test_shape_gives_roots_their_kinds(self) -> None:
        """With a shape, the declared roots exist with their kinds from the start."""
        shape = {"notes": "text", "lines": "array", "invoice": "map"}
        async with new_client(unreachable(), shape=shape) as client:
            assert isinstance(client.doc["notes"], Text)
            assert isinstance(client.doc["lines"], Array)
            assert isinstance(client.doc["invoice"], Map)

    def test_arguments_are_checked(self) -> None:
        """A URL that is not ws(s) or http(s), a bad name or a bad backoff is refused early."""
        with pytest.raises(ValueError, match="server URL"):
            SyncClient("ftp://host", NAME)
        with pytest.raises(ValueError, match="document name"):
            SyncClient("ws://host", "../etc")
        with pytest.raises(ValueError, match="reconnect_base"):
            SyncClient("ws://host", NAME, reconnect_base=2, reconnect_cap=1)
        assert SyncClient("https://host/sync/", NAME).url == "wss://host/sync/notes/1"
