from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from djed.mcp_base import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    REQUEST_TIMEOUT,
    Proceed,
    Request,
    build_app,
    create_server,
    default_pipeline,
)
from djed.mcp_base.testing import MODES, connect, free_port, serve
from mcp import Client
from mcp.shared.exceptions import MCPError

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

SCHEMA = {
    "type": "object",
    "required": ["number"],
    "properties": {"number": {"type": "string", "pattern": "^INV-[0-9]{4}$"}},
}


def make_server(**options: Any) -> Any:
    if "pipeline" not in options:
        options["timeout"] = 0.5
    server = create_server("invoices", version="1.0.0", **options)

    @server.tool()
    def echo(text: str) -> str:
        """Say it back."""
        return text

    @server.tool()
    async def hang() -> str:
        """Never finishes."""
        await asyncio.sleep(3600)
        return "never"

    @server.tool()
    def get_invoice(number: str) -> dict[str, str]:
        """An invoice by number."""
        return {"number": number}

    return server


class TestStages:
    @pytest.mark.asyncio
    @pytest.mark.parametrize("mode", MODES)
    async def test_tool_call_works_and_is_logged(
        self, mode: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A tool call goes through the stages and is logged once with its outcome."""
        server = make_server()
        with caplog.at_level(logging.INFO):
            async with connect(server, mode) as client:
                result = await client.call_tool("echo", {"text": "hi"})
        assert result.content[0].text == "hi"
        assert not result.is_error

    @pytest.mark.asyncio
    @pytest.mark.parametrize("mode", MODES)
    async def test_timeout_is_a_clear_error(self, mode: str) -> None:
        """A hung tool is cut at the timeout with REQUEST_TIMEOUT naming the tool."""
        server = make_server()
        async with connect(server, mode) as client:
            with pytest.raises(MCPError) as info:
                await client.call_tool("hang", {})
            assert info.value.error.code == REQUEST_TIMEOUT
            assert "hang did not finish within 0.5 s" in info.value.error.message
            # The server keeps serving others.
            assert (await client.call_tool("echo", {"text": "still here"})).content[0].text

    @pytest.mark.asyncio
    @pytest.mark.parametrize("mode", MODES)
    async def test_schema_validation_with_paths(self, mode: str) -> None:
        """Arguments of a tool with a raw JSON Schema are checked; errors carry paths."""
        server = make_server(tool_schemas={"get_invoice": SCHEMA})
        async with connect(server, mode) as client:
            ok = await client.call_tool("get_invoice", {"number": "INV-0042"})
            assert not ok.is_error
            with pytest.raises(MCPError) as info:
                await client.call_tool("get_invoice", {"number": "42"})
        assert info.value.error.code == INVALID_PARAMS
        assert "/number: must match pattern" in info.value.error.message

    @pytest.mark.asyncio
    @pytest.mark.parametrize("mode", MODES)
    async def test_unexpected_stage_error_gets_a_correlation_id(
        self, mode: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failure inside the pipeline reaches the client as a clean error with an id only."""

        async def broken(request: Request, proceed: Proceed) -> Any:
            if request.method == "tools/call":
                raise RuntimeError("database password is hunter2")
            return await proceed()

        pipeline = default_pipeline(timeout=0.5).stage("broken", broken, depends_on="errors")
        server = make_server(pipeline=pipeline)
        with caplog.at_level(logging.ERROR, logger="djed.mcp_base"):
            async with connect(server, mode) as client:
                with pytest.raises(MCPError) as info:
                    await client.call_tool("echo", {"text": "x"})
        assert info.value.error.code == INTERNAL_ERROR
        assert "hunter2" not in info.value.error.message
        assert "correlation id" in info.value.error.message
        correlation = info.value.error.message.split()[-1].rstrip(")")
        assert correlation in caplog.text

    @pytest.mark.asyncio
    async def test_server_is_a_stock_mcpserver(self) -> None:
        """create_server returns the SDK's own MCPServer: ejecting is deleting one import."""
        from mcp.server.mcpserver import MCPServer

        assert isinstance(make_server(), MCPServer)

    def test_logging_is_not_taken_over_by_the_sdk(self) -> None:
        """After create_server the root logger has exactly djed-logger's one handler."""
        make_server()
        names = [type(h).__name__ for h in logging.getLogger().handlers]
        assert names.count("StdlibBridge") == 1
        assert "RichHandler" not in names
        assert "StreamHandler" not in names  # pytest's own capture handlers aside


@pytest.fixture
def http_server() -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1, for the SDK's real HTTP client."""
    port = free_port()
    app = build_app(
        make_server(),
        allowed_hosts=[f"127.0.0.1:{port}", "127.0.0.1"],
        readiness={"database": lambda: True},
    )
    with serve(app, port=port) as url:
        yield url


class TestHttp:
    def test_probes(self, http_server: str) -> None:
        """/healthz answers 200; /readyz lists its checks."""
        health = httpx.get(f"{http_server}/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = httpx.get(f"{http_server}/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": True}

    @pytest.mark.asyncio
    async def test_real_client_over_http(self, http_server: str) -> None:
        """The SDK's client calls a tool over streamable HTTP on loopback."""
        async with Client(f"{http_server}/mcp") as client:
            result = await client.call_tool("echo", {"text": "over http"})
        assert getattr(result.content[0], "text", None) == "over http"

    def test_unknown_host_is_refused(self, http_server: str) -> None:
        """A Host header not in allowed_hosts is refused (DNS rebinding protection)."""
        response = httpx.post(
            f"{http_server}/mcp",
            headers={"Host": "evil.example.com", "Content-Type": "application/json"},
            content=b"{}",
        )
        assert response.status_code in {400, 403, 421}

    def test_malformed_json_rpc(self, http_server: str) -> None:
        """A body that is not JSON gets a JSON-RPC parse error, and the server keeps serving."""
        response = httpx.post(
            f"{http_server}/mcp",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
            content=b"{not json",
        )
        assert response.status_code in {400, 406}
        assert httpx.get(f"{http_server}/healthz").status_code == 200

    def test_oversized_body(self, http_server: str) -> None:
        """A body over the size limit is refused without harming the server."""
        response = httpx.post(
            f"{http_server}/mcp",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
            content=b"[" + b"1," * 1_000_000 + b"1]",
        )
        assert response.status_code in {400, 413}
        assert httpx.get(f"{http_server}/healthz").status_code == 200


class TestBuildApp:
    def test_wildcard_host_needs_opt_in(self) -> None:
        """allowed_hosts=["*"] is refused unless allow_any_host=True."""
        with pytest.raises(ValueError, match="allow_any_host"):
            build_app(make_server(), allowed_hosts=["*"])
        build_app(make_server(), allowed_hosts=["*"], allow_any_host=True)

    def test_hosts_are_required(self) -> None:
        """An empty allowed_hosts is refused with a message saying what to do."""
        with pytest.raises(ValueError, match="allowed_hosts is required"):
            build_app(make_server(), allowed_hosts=[])
