"""Scale-out through Redis: real redis-servers, and server processes sharing one SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from djed.crdt import MemoryStorage, SQLiteStorage, Storage, StoredDocument, SyncServer
from djed.crdt import _protocol as wire
from djed.crdt._redis import RedisFanOut
from djed.crdt._storage import Merge
from pycrdt import Doc, Text

from ._support import WAIT, RawClient, free_port, serve

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# One sync server process: the SyncServer app, plus a few HTTP routes the tests steer it with.
SERVER = """
import asyncio, json, logging, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from djed.crdt import SQLiteStorage, SyncServer
from djed.crdt._redis import RedisFanOut

port, database, url, options = int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
gate = asyncio.Event()
gate.set()


class GatedStorage(SQLiteStorage):
    compactions = 0

    async def compact(self, name, merge):
        GatedStorage.compactions += 1
        await gate.wait()  # held open by the test, so the lock is held while others ask
        return await super().compact(name, merge)


fan_out = RedisFanOut(url, **options)
server = SyncServer(GatedStorage(database), fan_out=fan_out)


async def compact(request):
    room = await server.room(request.path_params["name"])
    merged = await room.compact()
    return JSONResponse({"merged": merged, "compactions": GatedStorage.compactions})


async def hold(request):
    gate.clear()
    return JSONResponse({})


async def release(request):
    gate.set()
    return JSONResponse({})


async def state(request):
    counts = {"dropped": fan_out.dropped, "reconnects": fan_out.reconnects}
    return JSONResponse({"connected": fan_out.connected, **counts})


routes = [
    Route("/_compact/{name:path}", compact, methods=["POST"]),
    Route("/_hold", hold, methods=["POST"]),
    Route("/_release", release, methods=["POST"]),
    Route("/_state", state),
]
app = Starlette(routes=routes + server.routes(), lifespan=server.lifespan)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")
"""


def unique_prefix() -> str:
    """Channel and lock names of one test's own, on a Redis other tests share."""
    return f"djed-test:{os.getpid()}:{time.monotonic_ns()}:"


def need(problem: str | None) -> None:
    """Skip the test when a service is missing, or fail under CI=true (CI provides it)."""
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


def redis_problem(url: str) -> str | None:
    """Why no redis-server answers at ``url``, or None when one does."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        return f"needs a redis-server at REDIS_URL={url} ({error}); .ci/run starts one"
    finally:
        client.close()
    return None


def until(condition: Any, what: str) -> None:
    """Poll ``condition`` from synchronous code; WAIT only guards against a hang."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT} s waiting for {what}")
        time.sleep(0.02)


async def eventually(condition: Any, what: str) -> None:
    """Poll ``condition``; WAIT only guards against a hang."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT} s waiting for {what}")
        await asyncio.sleep(0.02)


def notes(client: RawClient) -> str:
    return str(client.doc.get("notes", type=Text))


async def write(client: RawClient, text: str) -> None:
    """Append ``text`` to the client's notes and send the edit."""
    field = client.doc.get("notes", type=Text)
    field.insert(len(field), text)
    await client.push()


def presence(client: RawClient) -> dict[int, str]:
    """The last awareness state the client received for each client id."""
    states = {}
    for data in client.received:
        message = wire.parse(data)
        if message.kind == wire.AWARENESS:
            states.update(
                {e.client_id: e.state_json for e in wire.parse_awareness(message.payload)}
            )
    return states


class Process:
    """One sync server process under uvicorn, serving the shared SQLite file."""

    def __init__(self, script: Path, database: Path, url: str, **options: Any) -> None:
        self.port = free_port()
        self.database = database
        self.url = f"ws://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=WAIT)
        self.log = script.with_name(f"server-{self.port}.log")
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, script, str(self.port), database, url, json.dumps(options)],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def state(self) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = self.http.get("/_state").json()
        except httpx.HTTPError:
            if self.process.poll() is not None:
                pytest.fail(f"server process ended:\n{self.log.read_text()}")
            return {"connected": False}
        return answer

    def post(self, path: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.post(path).json()
        return answer

    def lines(self, words: str) -> int:
        return sum(words in line for line in self.log.read_text().splitlines())

    def stop(self) -> str:
        """Stop the process (SIGTERM, then SIGKILL past WAIT); returns its log."""
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(WAIT)
        return self.log.read_text()


async def _load(pair: tuple[Process, Process], name: str) -> StoredDocument:
    """What the shared SQLite file holds for ``name``."""
    storage = SQLiteStorage(pair[0].database)
    try:
        return await storage.load(name)
    finally:
        await storage.close()


@contextlib.contextmanager
def two_processes(folder: Path, url: str, **options: Any) -> Iterator[tuple[Process, Process]]:
    """Two server processes on their own ports, one SQLite file, one Redis."""
    script = folder / "server.py"
    script.write_text(SERVER)
    database = folder / "shared.db"
    options.setdefault("channel_prefix", unique_prefix())
    pair = (Process(script, database, url, **options), Process(script, database, url, **options))
    try:
        for process in pair:
            until(lambda p=process: p.state()["connected"], "a server process to connect")
        yield pair
    finally:
        logs = [process.stop() for process in pair]
    for log in logs:
        assert "Traceback" not in log, log


class RedisServer:
    """A redis-server of the test's own, on a free port, to stop and start at will."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        until(lambda: redis_problem(self.url) is None, "the test's redis-server to answer")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(WAIT)
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    need(None if shutil.which("redis-server") else "needs redis-server on PATH")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process]]:
    need(redis_problem(REDIS_URL))
    with two_processes(tmp_path_factory.mktemp("pair"), REDIS_URL) as processes:
        yield processes


@pytest.mark.asyncio
class TestTwoProcesses:
    async def test_edits_cross_both_ways(self, pair: tuple[Process, Process]) -> None:
        """An edit on either process reaches the clients of the other."""
        a, b = pair
        async with RawClient(f"{a.url}/both-ways") as on_a, RawClient(f"{b.url}/both-ways") as on_b:
            await on_a.synced.wait()
            await on_b.synced.wait()
            await write(on_a, "from A. ")
            await eventually(lambda: notes(on_b) == "from A. ", "A's edit on B")
            await write(on_b, "from B.")
            await eventually(lambda: notes(on_a) == "from A. from B.", "B's edit on A")
            updates = on_a.count(wire.SYNC, wire.SYNC_UPDATE)
            assert updates == 1  # B's edit: A's own did not come back
        assert a.state()["dropped"] == b.state()["dropped"] == 0

    async def test_awareness_crosses_and_leaves(self, pair: tuple[Process, Process]) -> None:
        """Presence set on A shows on B, and its removal when the client leaves."""
        a, b = pair
        async with RawClient(f"{b.url}/presence") as watcher:
            await watcher.synced.wait()
            async with RawClient(f"{a.url}/presence") as editor:
                await editor.synced.wait()
                entry = wire.AwarenessEntry(4242, 1, '{"user":{"name":"Ana"}}')
                await editor.send(wire.awareness_message([entry]))
                await eventually(
                    lambda: presence(watcher).get(4242) == entry.state_json, "A's presence on B"
                )
            await eventually(lambda: presence(watcher).get(4242) == "null", "the removal on B")

    async def test_one_process_compacts_at_a_time(self, pair: tuple[Process, Process]) -> None:
        """Asked at once, one process compacts; the other is refused the lock and skips."""
        a, b = pair
        async with (
            RawClient(f"{a.url}/compact-me") as writer,
            RawClient(f"{b.url}/compact-me") as reader,
        ):
            for word in ("one ", "two ", "three"):
                await write(writer, word)
            await eventually(lambda: notes(reader) == "one two three", "the edits, stored")
        for process in pair:
            process.post("/_hold")  # the process that gets the lock keeps it until released
        async with httpx.AsyncClient(timeout=WAIT) as http:
            asks = [http.post(f"http://127.0.0.1:{p.port}/_compact/compact-me") for p in pair]
            tasks = {asyncio.ensure_future(ask) for ask in asks}
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            refused = [task.result().json() for task in done]
            for process in pair:
                process.post("/_release")
            granted = [response.json() for response in await asyncio.gather(*pending)]
        assert refused == [{"merged": 0, "compactions": 0}]
        assert len(granted) == 1
        assert granted[0]["compactions"] == 1
        assert granted[0]["merged"] >= 1
        stored = await _load(pair, "compact-me")
        assert stored.log_length == 0
        assert len(stored.updates) == 1


@pytest.mark.asyncio
class TestRedisOutage:
    async def test_each_process_serves_alone_then_converges(
        self, own_redis: RedisServer, tmp_path: Path
    ) -> None:
        """Redis killed: each process serves its clients; restarted: every edit reaches all."""
        fast = {"reconnect_delay": 0.05, "max_reconnect_delay": 0.5, "health_seconds": 1.0}
        with two_processes(tmp_path, own_redis.url, **fast) as (a, b):
            async with (
                RawClient(f"{a.url}/outage") as a1,
                RawClient(f"{a.url}/outage") as a2,
                RawClient(f"{b.url}/outage") as b1,
            ):
                await write(a1, "before. ")
                await eventually(lambda: notes(b1) == "before. ", "the edit before the outage")

                own_redis.kill()
                await eventually(
                    lambda: not a.state()["connected"] and not b.state()["connected"],
                    "both processes to notice Redis is gone",
                )
                for number in range(5):
                    await write(a1, f"a{number} ")
                await write(b1, "b-during ")
                await eventually(lambda: "a4" in notes(a2), "A's edits on A's other client")
                assert "a0" not in notes(b1)  # nothing links the processes now
                await eventually(
                    lambda: a.state()["dropped"] >= 1 and b.state()["dropped"] >= 1,
                    "the unshared messages to be counted",
                )

                own_redis.start()
                everyone = (a1, a2, b1)
                await eventually(
                    lambda: len({notes(c) for c in everyone}) == 1 and "b-during" in notes(a2),
                    "the processes to converge after Redis returned",
                )
                assert all(f"a{n} " in notes(b1) for n in range(5))
                await write(b1, "after.")
                await eventually(lambda: notes(a1).endswith("after."), "live fan-out again")
                for process in (a, b):
                    assert process.state()["reconnects"] == 1
        for process in (a, b):
            assert process.lines("is unreachable") == 1  # once per outage, not per message
            assert process.lines("is back after") == 1


class Cable:
    """A TCP relay to Redis, on a thread of its own, that the test can unplug and plug back.

    The process behind it loses Redis alone, while the others keep it.
    """

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.plugged = True
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._writers: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Future[Any]] = set()
        self._server = self._call(asyncio.start_server(self._relay, "127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}{parts.path}"

    def _call(self, work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(WAIT)

    def unplug(self) -> None:
        self.plugged = False
        self._call(self._cut())

    def close(self) -> None:
        self.unplug()
        self._server.close()
        self._call(self._server.wait_closed())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()

    async def _cut(self) -> None:
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._relays, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.plugged:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self._writers.update((writer, upstream_writer))
        relay = asyncio.gather(
            self._pump(reader, upstream_writer),
            self._pump(upstream_reader, writer),
            return_exceptions=True,
        )
        self._relays.add(relay)
        await relay
        self._relays.discard(relay)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()
            self._writers.discard(sink)


@contextlib.asynccontextmanager
async def started(*stores: Storage, **options: Any) -> AsyncIterator[list[SyncServer]]:
    """A server per store in this process, all fanning out through one Redis channel prefix."""
    need(redis_problem(REDIS_URL))
    prefix = unique_prefix()
    servers = [
        SyncServer(store, fan_out=RedisFanOut(REDIS_URL, channel_prefix=prefix, **options))
        for store in stores
    ]
    for server in servers:
        await server.start()
    try:
        yield servers
    finally:
        for server in servers:
            await server.stop()


class GatedLoad(Storage):
    """Delegates to a shared store; its loads read, then wait for the test to let them finish."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.gate.set()
        self.reading = asyncio.Event()

    async def load(self, name: str) -> StoredDocument:
        stored = await self.inner.load(name)
        self.reading.set()
        await self.gate.wait()
        return stored

    async def append(self, name: str, updates: Any) -> None:
        await self.inner.append(name, updates)

    async def compact(self, name: str, merge: Merge) -> int:
        return await self.inner.compact(name, merge)

    async def reset(self, name: str) -> int:
        return await self.inner.reset(name)

    async def names(self) -> list[str]:
        return await self.inner.names()


def _recorder(into: list[bytes]) -> Any:
    """A stand-in for ``SyncServer.receive_fanned_out`` that records what it is handed."""

    def record(name: str, message: bytes) -> None:
        into.append(message)

    return record


def _update(text: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("notes", type=Text).insert(0, text)
    return doc.get_update()


@pytest.mark.asyncio
class TestInProcess:
    async def test_without_redis_drops_counts_and_logs_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Redis down: publishing drops and counts, one warning, no compaction, no error."""
        fan_out = RedisFanOut(f"redis://127.0.0.1:{free_port()}/0", reconnect_delay=0.01)
        server = SyncServer(MemoryStorage(), fan_out=fan_out)
        with caplog.at_level(logging.WARNING, logger="djed.crdt"):
            await server.start()
            try:
                for _ in range(50):
                    fan_out.publish("doc", wire.awareness_message(()))
                    await asyncio.sleep(0.005)  # reconnection attempts fail meanwhile
                async with fan_out.compaction_lock("doc") as granted:
                    assert granted is False
                room = await server.room("doc")  # documents still load and serve
                assert room.ready.is_set()
            finally:
                await server.stop()
        assert fan_out.dropped == 50
        assert not fan_out.connected
        warnings = [r for r in caplog.records if "is unreachable" in r.getMessage()]
        assert len(warnings) == 1
        assert "127.0.0.1" in warnings[0].getMessage()

    async def test_a_process_cut_off_alone_catches_the_others_up(self, tmp_path: Path) -> None:
        """One process loses Redis while the others keep it; back, it has them re-read the store."""
        need(redis_problem(REDIS_URL))
        prefix = unique_prefix()
        fast: dict[str, Any] = {"reconnect_delay": 0.05, "max_reconnect_delay": 0.2}
        cable = Cable(REDIS_URL)
        try:
            database = tmp_path / "shared.db"
            direct, behind = (
                SyncServer(
                    SQLiteStorage(database), fan_out=RedisFanOut(url, channel_prefix=prefix, **fast)
                )
                for url in (REDIS_URL, cable.url)
            )
            with serve(direct) as url_a, serve(behind) as url_b:
                async with RawClient(f"{url_a}/cut") as on_a, RawClient(f"{url_b}/cut") as on_b:
                    await write(on_a, "shared. ")
                    await eventually(lambda: notes(on_b) == "shared. ", "the edit before the cut")
                    cable.unplug()
                    await eventually(lambda: not behind.fan_out.connected, "the cut to be noticed")
                    await write(on_b, "alone.")
                    await eventually(lambda: behind.fan_out.dropped >= 1, "the edit, stored")
                    assert direct.fan_out.connected
                    assert notes(on_a) == "shared. "
                    cable.plugged = True
                    await eventually(lambda: notes(on_a) == "shared. alone.", "the catch-up")
        finally:
            cable.close()

    async def test_password_stays_out_of_logs(self) -> None:
        """The URL is shown without its credentials."""
        fan_out = RedisFanOut("redis://user:s3cret@redis.internal:6380/2")
        assert "s3cret" not in repr(fan_out)
        assert "redis.internal:6380/2" in repr(fan_out)

    @pytest.mark.parametrize(
        "options", [{"lock_seconds": 0}, {"reconnect_delay": -1}, {"health_seconds": 0.0}]
    )
    async def test_bad_settings_are_refused(self, options: dict[str, Any]) -> None:
        """A non-positive setting is refused with its name."""
        with pytest.raises(ValueError, match=next(iter(options))):
            RedisFanOut("redis://127.0.0.1:6379/0", **options)

    async def test_compaction_lock_has_one_holder(self) -> None:
        """While one process holds the lock the other is refused; a lost lock is not released."""
        storage = MemoryStorage()
        check = redis.asyncio.Redis.from_url(REDIS_URL)
        async with started(storage, storage, lock_seconds=0.3) as (first, second):
            async with first.compaction_lock("doc") as held:
                assert held is True
                await asyncio.sleep(0.6)  # twice the expiry: the holder renews it
                async with second.compaction_lock("doc") as other:
                    assert other is False
            async with second.compaction_lock("doc") as other:
                assert other is True  # released on exit
            key = second.fan_out.channel_prefix.encode() + b"lock:doc"
            first_lock = first.compaction_lock("doc")
            assert await first_lock.__aenter__() is True
            await check.delete(key)  # as if it expired while its holder was paused
            second_lock = second.compaction_lock("doc")
            assert await second_lock.__aenter__() is True
            token = await check.get(key)
            await first_lock.__aexit__(None, None, None)
            assert await check.get(key) == token  # not released by a process that lost it
            await second_lock.__aexit__(None, None, None)
            assert await check.get(key) is None
        await check.aclose()

    async def test_message_arriving_while_loading_is_applied(self) -> None:
        """An update shared between the store read and the end of loading is not lost."""
        shared = MemoryStorage()
        gated = GatedLoad(shared)
        async with started(gated, shared) as (loading, writing):
            gated.gate.clear()
            load = asyncio.ensure_future(loading.room("doc"))
            await gated.reading.wait()  # subscribed, and the store was read: still empty
            update = _update("late")
            await shared.append("doc", [update])  # as the writing process does: store, then share
            writing.fan_out_update("doc", update)
            fan_out = loading.fan_out
            await eventually(lambda: "doc" in fan_out._waiting, "the update to be held back")
            gated.gate.set()
            room = await load
            await eventually(
                lambda: str(room.doc.get("notes", type=Text)) == "late", "the held-back update"
            )

    async def test_own_messages_are_ignored(self) -> None:
        """A process hands on what the others publish, never what it published itself."""
        storage = MemoryStorage()
        mine, theirs = (wire.awareness_message([wire.AwarenessEntry(n, 1, "{}")]) for n in (1, 2))
        async with started(storage, storage) as servers:
            received: list[list[bytes]] = [[], []]
            for server, seen in zip(servers, received, strict=True):
                server.receive_fanned_out = _recorder(seen)  # type: ignore[method-assign]
                await server.room("doc")
            first, second = servers
            first.fan_out_awareness("doc", mine)
            await eventually(lambda: received[1] == [mine], "the message on the other process")
            second.fan_out_awareness("doc", theirs)  # Redis sends it after the first's own
            await eventually(lambda: received[0], "the answer")
            assert received[0] == [theirs]

    async def test_catch_up_applies_what_the_store_has(self) -> None:
        """catch_up() brings a loaded document up to the store, as after an outage."""
        storage = MemoryStorage()
        async with started(storage) as (server,):
            room = await server.room("doc")
            await storage.append("doc", [_update("missed")])  # stored by another process
            await server.fan_out.catch_up()
            assert str(room.doc.get("notes", type=Text)) == "missed"

    async def test_reset_elsewhere_drops_the_stale_copy(self) -> None:
        """A reset announced by another process unloads this process's old generation."""
        storage = MemoryStorage()
        async with started(storage, storage) as (first, second):
            await first.room("doc")
            await second.room("doc")
            epoch = await storage.reset("doc")
            first.fan_out.announce_reset("doc", epoch)
            await eventually(lambda: "doc" not in second.rooms, "the stale copy to be dropped")
