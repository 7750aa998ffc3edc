"""What the chaos tests share: the long/short switch, service checks, a redis-server of
their own, a TCP relay that can partition one process from Redis, and writers whose
acknowledged edits are counted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from djed.crdt import SyncClient
from pycrdt import Array

#: ``DJED_CHAOS_LONG=1`` runs the long variants (minutes of outage instead of seconds).
LONG = os.environ.get("DJED_CHAOS_LONG", "").strip() not in {"", "0"}
IN_CI = os.environ.get("CI") == "true"
WAIT = 20.0  # hang guard of every wait; never an expected duration


def lasting(short: float, long: float) -> float:
    """How long a fault lasts: ``short`` by default, ``long`` with ``DJED_CHAOS_LONG=1``."""
    return long if LONG else short


def need(problem: str | None) -> None:
    """Skip when the fault cannot be caused here; under ``CI=true`` fail instead."""
    if problem is None:
        return
    if IN_CI:
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], object], what: str, within: float = WAIT) -> None:
    """Poll ``condition`` from synchronous code until it holds; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {within:g} s waiting for {what}", pytrace=False)
        time.sleep(0.02)


async def eventually(condition: Callable[[], object], what: str, within: float = WAIT) -> float:
    """Poll ``condition`` on the event loop until it holds; returns the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            pytest.fail(f"gave up after {within:g} s waiting for {what}", pytrace=False)
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def redis_answers(url: str) -> bool:
    """Whether a redis-server answers PING at ``url``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


class RedisProcess:
    """A redis-server of the test's own: killed with SIGKILL and started again on its port.

    No persistence: a restarted server is empty, as after a crash without AOF.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None, "already running"
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        command += ["--dir", str(self.folder)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(lambda: redis_answers(self.url), f"redis-server on port {self.port}")

    def kill(self) -> None:
        """``kill -9``: no shutdown, no goodbye to the clients."""
        process, self.process = self.process, None
        assert process is not None, "not running"
        process.send_signal(signal.SIGKILL)
        process.wait(WAIT)


@contextlib.contextmanager
def redis_process(folder: Path) -> Iterator[RedisProcess]:
    """A started :class:`RedisProcess`, killed at the end whatever happened."""
    need(None if shutil.which("redis-server") else "needs redis-server on PATH")
    server = RedisProcess(folder)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.kill()


class Relay:
    """A TCP relay to one address, on a thread of its own, that the test can partition.

    ``partition()`` makes it a black hole: every byte in either direction is held
    back, new connections are accepted and then hear nothing, as when packets are
    dropped between two hosts (no reset, no error: only silence). ``heal()`` ends
    that; connections opened before or during the partition are closed then, as
    their peers gave up on them long ago, and new ones relay again.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.partitioned = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._open: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._server: asyncio.Server = self._call(self._listen())
        self.port: int = self._server.sockets[0].getsockname()[1]

    def _call(self, work: Awaitable[Any]) -> Any:
        async def run() -> Any:
            return await work

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(WAIT)

    async def _listen(self) -> asyncio.Server:
        self._flowing.set()
        return await asyncio.start_server(self._relay, "127.0.0.1", 0)

    def partition(self) -> None:
        self.partitioned = True
        self.loop.call_soon_threadsafe(self._flowing.clear)

    def heal(self) -> None:
        self._call(self._heal())

    async def _heal(self) -> None:
        for writer in list(self._open):
            writer.close()
        self._open.clear()
        self.partitioned = False
        self._flowing.set()

    def close(self) -> None:
        self._call(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()

    async def _close(self) -> None:
        await self._heal()
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            await self._flowing.wait()  # a connection opened in a partition hears nothing
            if writer.is_closing():
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._open.add(upstream_writer)
        await asyncio.gather(
            self._pump(reader, upstream_writer),
            self._pump(upstream_reader, writer),
            return_exceptions=True,
        )

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._flowing.wait()  # held back while partitioned
                if sink.is_closing():
                    return
                sink.write(data)
                await sink.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            sink.close()
            self._open.discard(sink)


class Writer:
    """One user appending numbered items to a document through an offline-first client.

    Every ``confirm_every`` items it waits (briefly) for the server to confirm
    that it stored everything so far; what was confirmed is :attr:`acknowledged`.
    While the server is unreachable it goes on writing into its replica.
    """

    def __init__(
        self, client: SyncClient, name: str, *, interval: float = 0.025, confirm_every: int = 5
    ) -> None:
        self.client = client
        self.name = name
        self.interval = interval
        self.confirm_every = confirm_every
        self.written: list[str] = []
        self.acknowledged: set[str] = set()
        self.confirmations = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def items(self) -> Array[Any]:
        items: Array[Any] = self.client.doc.get("items", type=Array)
        return items

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"writer-{self.name}")

    async def stop(self) -> None:
        self._stop.set()
        assert self._task is not None
        await asyncio.wait_for(self._task, WAIT)

    async def confirm(self, within: float = WAIT) -> None:
        """Wait until the server holds every item written so far; they count as acknowledged."""
        written = list(self.written)
        await self.client.wait_synced(timeout=within)
        self.acknowledged.update(written)

    async def _run(self) -> None:
        while not self._stop.is_set():
            item = f"{self.name}-{len(self.written):05d}"
            self.items.append(item)
            self.written.append(item)
            if len(self.written) % self.confirm_every == 0:
                with contextlib.suppress(TimeoutError):
                    await self.confirm(within=0.5)
                    self.confirmations += 1
            await asyncio.sleep(self.interval)


def document_items(client: SyncClient) -> list[str]:
    """The items of the client's replica, in document order."""
    return [str(item) for item in client.doc.get("items", type=Array).to_py()]
