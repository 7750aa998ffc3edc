"""create_server, build_app and run: a stock MCPServer with Djed's stages and probes."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from djed.logger import configure_logging, current_state
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from ._adapter import Proceed, Request, Stage, to_sdk_middleware
from ._stages import errors_stage, logging_stage, validation_stage

__all__ = ["ReadinessCheck", "build_app", "compose", "create_server", "run"]

ReadinessCheck = Callable[[], bool | Awaitable[bool]]
"""A readiness check: returns (or awaits) True when the dependency is usable."""


def compose(stages: Sequence[Stage]) -> Stage:
    """One stage running ``stages`` outermost first."""

    async def run_chain(request: Request, proceed: Proceed) -> Any:
        async def step(index: int) -> Any:
            if index == len(stages):
                return await proceed()
            return await stages[index](request, lambda: step(index + 1))

        return await step(0)

    return run_chain


def create_server(
    name: str,
    *,
    version: str = "0.0.0",
    instructions: str | None = None,
    timeout: float | None = 30.0,
    tool_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    stages: Sequence[Stage] | None = None,
    extra_stages: Sequence[Stage] = (),
    **server_options: Any,
) -> MCPServer:
    """A plain ``MCPServer`` with Djed's stages installed as its middleware.

    >>> server = create_server("invoices", version="1.0.0")
    >>> @server.tool()
    ... def get_invoice(number: str) -> dict: ...

    Logging is configured through djed-logger first (unless the application
    already did), so the SDK's own ``logging.basicConfig`` finds handlers in
    place and installs none: every record comes out once, in one format.

    The default stages, outermost first: request logging, then timeouts and
    clean errors (``timeout`` seconds per request), then argument validation
    for the tools in ``tool_schemas`` (raw JSON Schemas by tool name), then
    ``extra_stages``. ``stages=`` replaces the whole list.
    """
    if current_state() is None:
        configure_logging()
    chain = (
        list(stages)
        if stages is not None
        else [
            logging_stage(),
            errors_stage(timeout),
            *([validation_stage(tool_schemas)] if tool_schemas else []),
            *extra_stages,
        ]
    )
    middleware = [to_sdk_middleware(compose(chain))]
    return MCPServer(
        name, version=version, instructions=instructions, middleware=middleware, **server_options
    )


async def _check(check: ReadinessCheck) -> bool:
    try:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await asyncio.wait_for(outcome, timeout=2.0)
        return bool(outcome)
    except Exception:  # noqa: BLE001 - a failing check means "not ready", never a crash
        return False


def build_app(
    server: MCPServer,
    *,
    allowed_hosts: Sequence[str],
    allowed_origins: Sequence[str] = (),
    allow_any_host: bool = False,
    stateless: bool = False,
    json_response: bool = True,
    max_request_body_size: int = 1_048_576,
    max_sessions: int | None = 1000,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    path: str = "/mcp",
) -> Starlette:
    """The streamable-HTTP ASGI app of ``server``, with ``/healthz`` and ``/readyz``.

    ``allowed_hosts`` lists the Host header values to accept (``"api.example.com"``,
    ``"api.example.com:443"``; ``"*"`` only with ``allow_any_host=True``). The
    probes sit outside authentication: ``/healthz`` answers 200 while the process
    runs; ``/readyz`` runs every ``readiness`` check (a database ping, an open
    breaker...) and answers 200 or 503 with a JSON body listing each.
    """
    hosts = list(allowed_hosts)
    if not hosts:
        raise ValueError("allowed_hosts is required: list the Host names clients use")
    if "*" in hosts and not allow_any_host:
        raise ValueError("allowed_hosts contains '*': pass allow_any_host=True to accept any host")
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection="*" not in hosts,
        allowed_hosts=hosts,
        allowed_origins=list(allowed_origins),
    )
    app = server.streamable_http_app(
        streamable_http_path=path,
        json_response=json_response,
        stateless_http=stateless,
        max_request_body_size=max_request_body_size,
        max_sessions=max_sessions,
        transport_security=security,
    )
    checks = dict(readiness or {})

    async def healthz(_request: HttpRequest) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: HttpRequest) -> JSONResponse:
        results = {name: await _check(check) for name, check in checks.items()}
        ready = all(results.values())
        body = {"status": "ready" if ready else "not ready", "checks": results}
        return JSONResponse(body, status_code=200 if ready else 503)

    app.router.routes.insert(0, Route("/healthz", healthz, methods=["GET"]))
    app.router.routes.insert(1, Route("/readyz", readyz, methods=["GET"]))
    return app


def run(server: MCPServer, **app_options: Any) -> None:
    """Serve over stdio or streamable HTTP, as ``DJED_MCP_*`` variables say.

    ``DJED_MCP_TRANSPORT`` (``stdio``, the default, or ``http``),
    ``DJED_MCP_HOST`` (127.0.0.1), ``DJED_MCP_PORT`` (8000) and
    ``DJED_MCP_ALLOWED_HOSTS`` (comma-separated; default the host and
    ``localhost``) are read here, when ``run`` is called.
    """
    transport = os.environ.get("DJED_MCP_TRANSPORT", "stdio").strip().lower()
    if transport == "stdio":
        server.run("stdio")
        return
    if transport != "http":
        raise ValueError(f"DJED_MCP_TRANSPORT={transport!r}: use stdio or http")
    import uvicorn  # noqa: PLC0415 - only for HTTP

    host = os.environ.get("DJED_MCP_HOST", "127.0.0.1")
    port = int(os.environ.get("DJED_MCP_PORT", "8000"))
    hosts_variable = os.environ.get("DJED_MCP_ALLOWED_HOSTS")
    hosts = (
        [h.strip() for h in hosts_variable.split(",") if h.strip()]
        if hosts_variable
        else [host, f"{host}:{port}", "localhost", f"localhost:{port}"]
    )
    app = build_app(server, allowed_hosts=app_options.pop("allowed_hosts", hosts), **app_options)
    # log_config=None: uvicorn keeps its hands off logging; djed-logger renders its records.
    uvicorn.run(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=30)
