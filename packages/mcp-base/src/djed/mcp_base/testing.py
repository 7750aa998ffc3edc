"""Helpers for testing servers built with djed.mcp_base: in process, and over real HTTP.

>>> import pytest
>>> from djed.mcp_base.testing import MODES, connect
>>> @pytest.mark.parametrize("mode", MODES)
... async def test_echo(mode):
...     async with connect(server, mode) as client:
...         result = await client.call_tool("echo", {"text": "hi"})

Over streamable HTTP on loopback, with the SDK's real client:

>>> with serve(build_app(server, allowed_hosts=["127.0.0.1"])) as url:
...     async with connect_http(url, headers={"Authorization": "Bearer t"}) as client:
...         ...
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer

__all__ = [
    "INITIALIZE",
    "INITIALIZED",
    "MODES",
    "connect",
    "connect_http",
    "free_port",
    "launch",
    "serve",
    "stdio_exchange",
    "tool_call",
    "wait_ready",
]

#: The SDK's two in-process client modes: "auto" skips JSON-RPC framing, "legacy"
#: exercises it. Parametrise tests over both.
MODES = ("auto", "legacy")


@contextlib.asynccontextmanager
async def connect(server: MCPServer, mode: str = "auto") -> AsyncIterator[Any]:
    """An in-process client session of the SDK's own ``Client`` against ``server``."""
    async with Client(server, mode=mode) as client:
        yield client


@contextlib.asynccontextmanager
async def connect_http(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    mode: str = "auto",
    path: str = "/mcp",
    http_timeout: float = 30.0,
) -> AsyncIterator[Any]:
    """A session of the SDK's ``Client`` over streamable HTTP, sending ``headers``.

    ``url`` is the server's base URL (as :func:`serve` yields it); ``path`` is
    where the MCP endpoint is mounted. ``mode="legacy"`` forces the
    session-based handshake (``initialize`` and an ``Mcp-Session-Id``).
    ``http_timeout`` bounds each HTTP request, in seconds.
    """
    import httpx2  # noqa: PLC0415 - the SDK's own HTTP client, only for HTTP tests
    from mcp.client.streamable_http import streamable_http_client  # noqa: PLC0415

    async with httpx2.AsyncClient(headers=dict(headers or {}), timeout=http_timeout) as http:
        transport = streamable_http_client(url.rstrip("/") + path, http_client=http)
        async with Client(transport, mode=mode) as client:
            yield client


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(
    app: Any, *, port: int | None = None, startup_timeout: float = 10.0, **uvicorn_options: Any
) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn on 127.0.0.1 in a background thread.

    Yields the base URL (``http://127.0.0.1:PORT``); on exit the server shuts
    down as on SIGTERM (in-flight requests finish first). Build ``app`` with
    ``allowed_hosts`` that include ``127.0.0.1:PORT`` (pass ``port=`` and use
    the same number), or ``"127.0.0.1:*"``. ``uvicorn_options`` go to
    ``uvicorn.Config`` (``ws="websockets-sansio"`` for an app with WebSockets).

    Raises:
        RuntimeError: The server did not start within ``startup_timeout`` seconds.
    """
    import uvicorn  # noqa: PLC0415 - only for HTTP tests

    port = free_port() if port is None else port
    options: dict[str, Any] = {"log_config": None, "lifespan": "on", **uvicorn_options}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"djed-serve-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(startup_timeout)
            raise RuntimeError(f"the app did not start on 127.0.0.1:{port}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(startup_timeout)


# -- a server script in a process of its own -----------------------------------------

#: The first message of the session handshake, for a server spoken to over stdio.
INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
#: The notification that ends the handshake.
INITIALIZED: dict[str, Any] = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def tool_call(name: str, arguments: dict[str, Any], request_id: int = 2) -> dict[str, Any]:
    """A JSON-RPC ``tools/call`` message."""
    params = {"name": name, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def launch(script: str | os.PathLike[str], **env: str) -> subprocess.Popen[str]:
    """``python script`` with ``env`` added to the environment, its streams piped as text."""
    return subprocess.Popen(  # noqa: S603 - the test's own script, run by this Python
        [sys.executable, os.fspath(script)],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stdio_exchange(
    process: subprocess.Popen[str], messages: list[dict[str, Any]], answers: int
) -> list[Any]:
    """Send ``messages`` to a stdio server, read ``answers`` replies, then stop it.

    >>> hello, result = stdio_exchange(
    ...     launch("server.py"), [INITIALIZE, INITIALIZED, tool_call("echo", {"text": "hi"})], 2
    ... )

    Replies come back sorted by id (the server answers requests concurrently).
    """
    if process.stdin is None or process.stdout is None:
        raise ValueError("start the process with stdin and stdout piped (see launch)")
    try:
        process.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        process.stdin.flush()
        received = [json.loads(process.stdout.readline()) for _ in range(answers)]
        return sorted(received, key=lambda answer: answer["id"])
    finally:
        process.kill()
        process.communicate()


def wait_ready(url: str, process: subprocess.Popen[str], *, within: float = 20.0) -> Any:
    """The JSON of the first 200 answer of ``url``'s ``/readyz``.

    Raises:
        RuntimeError: The process ended first (with the end of its stderr), or
            ``within`` seconds passed.
    """
    import httpx2  # noqa: PLC0415 - the SDK's own HTTP client, only for HTTP tests

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.communicate()[1] or ""
            raise RuntimeError(f"the server process ended: {stderr[-2000:]}")
        try:
            ready = httpx2.get(f"{url}/readyz", timeout=1)
            if ready.status_code == 200:
                return ready.json()
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready within {within:g} s")
