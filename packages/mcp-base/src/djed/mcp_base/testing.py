"""Helpers for testing servers built with djed.mcp_base, in process.

>>> import pytest
>>> from djed.mcp_base.testing import MODES, connect
>>> @pytest.mark.parametrize("mode", MODES)
... async def test_echo(mode):
...     async with connect(server, mode) as client:
...         result = await client.call_tool("echo", {"text": "hi"})
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mcp import Client
from mcp.server.mcpserver import MCPServer

__all__ = ["MODES", "connect"]

#: The SDK's two in-process client modes: "auto" skips JSON-RPC framing, "legacy"
#: exercises it. Parametrise tests over both.
MODES = ("auto", "legacy")


@contextlib.asynccontextmanager
async def connect(server: MCPServer, mode: str = "auto") -> AsyncIterator[Any]:
    """An in-process client session of the SDK's own ``Client`` against ``server``."""
    async with Client(server, mode=mode) as client:
        yield client
