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
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer

__all__ = ["MODES", "connect", "connect_http", "free_port", "serve"]

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
def serve(app: Any, *, port: int | None = None, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn on 127.0.0.1 in a background thread.

    Yields the base URL (``http://127.0.0.1:PORT``); on exit the server shuts
    down as on SIGTERM (in-flight requests finish first). Build ``app`` with
    ``allowed_hosts`` that include ``127.0.0.1:PORT`` (pass ``port=`` and use
    the same number), or ``"127.0.0.1:*"``.

    Raises:
        RuntimeError: The server did not start within ``startup_timeout`` seconds.
    """
    import uvicorn  # noqa: PLC0415 - only for HTTP tests

    port = free_port() if port is None else port
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
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
