"""Node ``yjs`` + ``y-websocket`` clients and Python clients on one document, across a restart.

The server is a separate process (``SyncServer(SQLiteStorage(file))`` under
uvicorn) so that it can be restarted and killed; the Node clients are the npm
packages pinned in ``node/package.json`` (``npm ci`` there installs them;
``.ci/run`` does). ``test_durability.py`` uses the helpers defined here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from djed.crdt import utf8_offset
from djed.crdt._protocol import SYNC, SYNC_STEP1, SYNC_STEP2, parse, sync_step1, sync_step2
from djed.crdt._protocol import update_message as sync_update
from pycrdt import Array, Doc, Map, Text, TransactionEvent
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

NODE_DIR = Path(__file__).parent / "node"
WAIT = 15.0  # hang guard for every wait; never an expected duration

# The server process: argv is the SQLite file and the port.
_SERVE = """
import sys
import uvicorn
from djed.crdt import SQLiteStorage, SyncServer

app = SyncServer(SQLiteStorage(sys.argv[1])).app
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="info")
"""
_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+) ")


def require_node() -> str:
    """The ``node`` executable once ``npm ci`` ran in ``node/``; else skip, or fail under CI."""
    node = shutil.which("node")
    if node is None:
        reason = "needs Node.js 18 or later and npm: no `node` on PATH"
    elif not (NODE_DIR / "node_modules" / "y-websocket" / "package.json").is_file():
        reason = f"needs the pinned npm packages: run `npm ci` in {NODE_DIR} (.ci/run does)"
    else:
        return node
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


class ServerProcess:
    """``SyncServer(SQLiteStorage(db))`` under uvicorn in a child process on 127.0.0.1.

    The first start takes a port the system picks; every later one uses the
    same file and port, so clients that reconnect by themselves find the
    restarted server. Each start logs to its own file.
    """

    def __init__(self, folder: Path) -> None:
        self.db = folder / "docs.db"
        self.logs = folder
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        """The output of the latest start."""
        path = self.logs / f"server-{self.starts}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def start(self) -> None:
        """Start the process and wait until it listens."""
        assert self.process is None, "already running"
        self.starts += 1
        self.process = self._spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while (listening := _LISTENING.search(self.log())) is None:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log()}")
            if loop.time() > deadline:
                pytest.fail(f"the server did not listen within {WAIT} s:\n{self.log()}")
            await asyncio.sleep(0.05)
        self.port = int(listening[1])

    def _spawn(self) -> subprocess.Popen[bytes]:
        with (self.logs / f"server-{self.starts}.log").open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "-c", _SERVE, str(self.db), str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def stop(self) -> None:
        """SIGTERM: a graceful shutdown, which must run the app's shutdown to its end."""
        code = await self._end(signal.SIGTERM)
        # uvicorn shuts down, then raises the signal again: the status says "SIGTERM".
        assert code in {0, -signal.SIGTERM}, f"the server exited with {code}:\n{self.log()}"
        assert "Application shutdown complete" in self.log(), self.log()

    async def kill(self) -> None:
        """SIGKILL: the process dies at once, whatever it was doing."""
        await self._end(signal.SIGKILL)

    async def _end(self, how: signal.Signals) -> int:
        process, self.process = self.process, None
        assert process is not None, "not running"
        process.send_signal(how)
        try:
            return await asyncio.to_thread(process.wait, WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"the server ignored {how.name} for {WAIT} s:\n{self.log()}")

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class NodeScript:
    """A script of ``node/`` in a child process; its output is collected line by line."""

    def __init__(self, process: asyncio.subprocess.Process, what: str) -> None:
        self.process = process
        self.what = what
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._arrived = asyncio.Event()
        assert process.stdout is not None
        assert process.stderr is not None
        self._readers = [
            asyncio.create_task(self._collect(process.stdout, self.lines)),
            asyncio.create_task(self._collect(process.stderr, self.errors)),
        ]

    async def _collect(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        async for raw in stream:
            into.append(raw.decode(errors="replace").rstrip("\n"))
            self._arrived.set()
        self._arrived.set()

    def describe(self) -> str:
        tail = "\n".join(self.lines[-20:])
        return f"{self.what}: stdout (last lines):\n{tail}\nstderr:\n" + "\n".join(self.errors)

    async def line(self, prefix: str, after: int = 0) -> tuple[int, str]:
        """The first output line from index ``after`` on that starts with ``prefix``."""
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    for index in range(after, len(self.lines)):
                        if self.lines[index].startswith(prefix):
                            return index, self.lines[index][len(prefix) :].strip()
                    if all(reader.done() for reader in self._readers):
                        break
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            pytest.fail(f"no {prefix!r} line within {WAIT} s from {self.describe()}")
        pytest.fail(f"{self.what} ended without a {prefix!r} line: {self.describe()}")

    async def state(self) -> Any:
        """The JSON its ``STATE`` line carries (``peer.mjs``)."""
        _, state = await self.line("STATE ")
        return json.loads(state)

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()

    async def finish(self) -> int:
        """Close its stdin (which ends ``stream.mjs``) and wait for it to exit."""
        assert self.process.stdin is not None
        if not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            code = await asyncio.wait_for(self.process.wait(), WAIT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"still running after {WAIT} s: {self.describe()}")
        await asyncio.gather(*self._readers)
        return code

    async def kill(self) -> None:
        """End it now if it still runs (after a failure)."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        await asyncio.gather(*self._readers)


class NodeScripts:
    """Starts scripts of ``node/``; on leaving, kills whatever still runs."""

    def __init__(self) -> None:
        self.node = require_node()
        self.started: list[NodeScript] = []

    async def start(self, script: str, *arguments: str) -> NodeScript:
        process = await asyncio.create_subprocess_exec(
            self.node,
            str(NODE_DIR / script),
            *arguments,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        started = NodeScript(process, f"node {script} {' '.join(arguments)}")
        self.started.append(started)
        return started

    async def peer(self, url: str, document: str, plan: dict[str, Any]) -> Any:
        """Run ``peer.mjs`` with ``plan`` to its end; returns the document it ended with."""
        peer = await self.start("peer.mjs", url, document, json.dumps(plan))
        state = await peer.state()
        code = await peer.finish()
        assert code == 0, peer.describe()
        return state

    async def __aenter__(self) -> NodeScripts:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for script in self.started:
            await script.kill()


class Peer:
    """A Python client on the wire protocol: a pycrdt Doc kept in sync with the server.

    Local edits go out as they commit while connected. Edits made while not
    connected reach the server at the next connection, in the answer to the
    server's sync step 1, as they do from a y-websocket client.
    """

    def __init__(self) -> None:
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("notes", type=Text)
        self.meta = self.doc.get("meta", type=Map)
        self.items = self.doc.get("items", type=Array)
        self._applying = False
        self._changed = asyncio.Event()
        self._synced = asyncio.Event()
        self._outgoing: asyncio.Queue[bytes] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._websocket: ClientConnection | None = None
        self._subscription = self.doc.observe(self._committed)

    def _committed(self, event: TransactionEvent) -> None:
        if self._applying:
            self._changed.set()
        elif self._outgoing is not None:
            self._outgoing.put_nowait(sync_update(event.update))

    def state(self) -> dict[str, Any]:
        return {"text": str(self.text), "meta": self.meta.to_py(), "items": self.items.to_py()}

    async def connect(self, url: str) -> None:
        """Connect, exchange sync steps, and wait for the server's step 2."""
        assert not self._tasks, "already connected"
        self._websocket = websocket = await connect(url, open_timeout=WAIT)
        outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._outgoing = outgoing
        self._synced.clear()
        outgoing.put_nowait(sync_step1(self.doc.get_state()))
        self._tasks = [
            asyncio.create_task(self._receive(websocket, outgoing)),
            asyncio.create_task(self._send(websocket, outgoing)),
        ]
        await self.until(self._synced.is_set, "the server's sync step 2")

    async def _send(self, websocket: ClientConnection, outgoing: asyncio.Queue[bytes]) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await websocket.send(await outgoing.get())

    async def _receive(self, websocket: ClientConnection, outgoing: asyncio.Queue[bytes]) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in websocket:
                assert isinstance(data, bytes)
                message = parse(data)
                if message.kind != SYNC:
                    continue  # presence and keepalives
                if message.substep == SYNC_STEP1:
                    outgoing.put_nowait(sync_step2(self.doc.get_update(message.payload)))
                    continue
                self._applying = True
                try:
                    self.doc.apply_update(message.payload)
                finally:
                    self._applying = False
                if message.substep == SYNC_STEP2:
                    self._synced.set()
                    self._changed.set()
        self._outgoing = None
        self._changed.set()

    async def lost(self) -> None:
        """Wait until the connection is gone (closed by either side, or the server died)."""
        receiver, sender = self._tasks
        await asyncio.wait_for(receiver, WAIT)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        self._tasks = []
        self._websocket = None

    async def disconnect(self) -> None:
        """Close the connection; edits not sent yet go out at the next one."""
        assert self._websocket is not None, "not connected"
        await self._websocket.close()
        await self.lost()

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait until ``condition()`` holds, checking each time the server sends content."""
        try:
            async with asyncio.timeout(WAIT):
                while not condition():
                    if not self._tasks or self._tasks[0].done():
                        pytest.fail(f"disconnected while waiting for {what}", pytrace=False)
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            document = repr(self.state())
            if len(document) > 600:
                document = f"{document[:300]} ... {document[-300:]}"
            pytest.fail(f"gave up after {WAIT} s waiting for {what}; document: {document}")


DOCUMENT = "interop/notes"

# What Node writes, once it holds the Python client's first edits.
NODE_PLAN = {
    "before": {"text": ["café 🐍 draft"], "keys": ["py_nested"], "items": 2},
    "edits": [
        {"insert": "(node ✓) ", "after": "café "},
        {"delete": " draft"},
        {"set": "node_int", "value": 42},
        {"set": "node_float", "value": 0.1},
        {"set": "node_max", "value": 2**53 - 1},
        {"set": "node_obj", "value": {"k": [1, 2, {"deep": True}]}},
        {"set": "node_null", "value": None},
        {"push": ["node-1", 42, {"x": 1}]},
    ],
    "after": {"keys": ["py_done"]},
}

# The document once both sides are done, as Node reads it (as JSON).
FINAL = {
    "text": "Python and Node wrote: café (node ✓!) 🐍 | Python again ✓",
    "meta": {
        "py_int": 7,
        "py_float": 2.5,
        "py_str": "ünïcode ✓",
        "py_list": [1, "two", True, None],
        "py_nested": {"a": {"b": [1, 2]}},
        "node_int": 42,
        "node_float": 0.1,
        "node_max": 2**53 - 1,
        "node_obj": {"k": [1, 2, {"deep": True}]},
        "node_null": None,
        "py_done": True,
    },
    "items": ["py-1", 3, "node-1", 42, {"x": 1}, "py-2"],
}


def python_first_edits(peer: Peer) -> None:
    with peer.doc.transaction():
        peer.text += "Python wrote: café 🐍 draft"
        peer.meta["py_int"] = 7
        peer.meta["py_float"] = 2.5
        peer.meta["py_str"] = "ünïcode ✓"
        peer.meta["py_list"] = [1, "two", True, None]
    peer.items.append("py-1")
    peer.items.append(3)
    peer.meta["py_nested"] = {"a": {"b": [1, 2]}}


def python_second_edits(peer: Peer) -> None:
    """Edits in the middle of multi-byte text: pycrdt counts UTF-8 bytes, Yjs UTF-16 units."""
    text = str(peer.text)
    mark = text.index("✓)") + 1
    peer.text.insert(utf8_offset(text, mark), "!")
    peer.text += " | Python again ✓"
    text = str(peer.text)
    start = text.index("wrote")
    del peer.text[utf8_offset(text, start) : utf8_offset(text, start + len("wrote"))]
    peer.text.insert(utf8_offset(text, start), "and Node wrote")
    peer.items.append("py-2")
    peer.meta["py_done"] = True


def saw_node(peer: Peer) -> bool:
    return "node_null" in peer.meta and "(node ✓)" in str(peer.text) and len(peer.items) == 5


async def edit_both_ways(scripts: NodeScripts, server: ServerProcess) -> None:
    """A Python and a Node client edit the document live, each seeing the other's edits."""
    python = Peer()
    await python.connect(f"{server.url}/{DOCUMENT}")
    python_first_edits(python)
    node_editor = await scripts.start("peer.mjs", server.url, DOCUMENT, json.dumps(NODE_PLAN))

    # Node -> Python: JS numbers arrive as floats.
    await python.until(lambda: saw_node(python), "the Node client's edits")
    assert str(python.text) == "Python wrote: café (node ✓) 🐍"
    assert python.meta["node_int"] == 42
    assert isinstance(python.meta["node_int"], float)
    assert python.meta["node_float"] == 0.1
    assert python.meta["node_max"] == float(2**53 - 1)
    assert python.meta["node_obj"] == {"k": [1.0, 2.0, {"deep": True}]}
    assert python.meta["node_null"] is None
    assert python.items.to_py() == ["py-1", 3.0, "node-1", 42.0, {"x": 1.0}]

    # Python -> Node; both end with the same document.
    python_second_edits(python)
    assert await node_editor.state() == FINAL
    assert await node_editor.finish() == 0
    assert python.state() == FINAL
    await python.disconnect()


class TestNodeInterop:
    @pytest.mark.asyncio
    async def test_both_ways_then_after_disconnects_and_a_restart(self, tmp_path: Path) -> None:
        """Node and Python edit one document both ways; new clients see it all, restart or not."""
        async with NodeScripts() as scripts:
            with ServerProcess(tmp_path) as server:
                await server.start()
                await edit_both_ways(scripts, server)
                # Everyone has left: a new Node client gets all of it from the server.
                assert await scripts.peer(server.url, DOCUMENT, {}) == FINAL

                # After a restart the document comes back from the SQLite file.
                await server.stop()
                await server.start()
                assert await scripts.peer(server.url, DOCUMENT, {}) == FINAL
                reader = Peer()
                await reader.connect(f"{server.url}/{DOCUMENT}")
                assert reader.state() == FINAL
                assert isinstance(reader.meta["py_int"], float)
                await reader.disconnect()
                await server.stop()
