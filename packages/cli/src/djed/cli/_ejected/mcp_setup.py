"""The MCP server set up on the official SDK alone, written by `djed eject mcp-base`.

It keeps the names your code used from djed-mcp-base (``create_server``,
``build_app``, ``run``, ``ServerSettings``) and the same ``DJED_MCP_*``
variables, so deployments keep working. Three of Djed's stages are written
out as plain SDK middleware: request logging, per-request timeouts and clean
internal errors, and JSON Schema validation of tool arguments. Left out:
authorization policies, rate limits, metrics. Yours to edit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import fastjsonschema
import uvicorn
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["ServerSettings", "build_app", "create_server", "run"]

REQUEST_TIMEOUT = -32001
INTERNAL_ERROR = -32603
INVALID_PARAMS = -32602
log = logging.getLogger("mcp_server")


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={raw!r}: use true or false")


def _seconds(name: str, raw: str) -> float | None:
    value = raw.strip().lower()
    if value in {"", "none", "0"}:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a number of seconds") from None


def _whole(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a whole number") from None


def _names(_name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


_READERS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "transport": ("DJED_MCP_TRANSPORT", lambda _n, raw: raw.strip().lower()),
    "host": ("DJED_MCP_HOST", lambda _n, raw: raw.strip()),
    "port": ("DJED_MCP_PORT", _whole),
    "allowed_hosts": ("DJED_MCP_ALLOWED_HOSTS", _names),
    "allowed_origins": ("DJED_MCP_ALLOWED_ORIGINS", _names),
    "stateless": ("DJED_MCP_STATELESS", _flag),
    "json_response": ("DJED_MCP_JSON_RESPONSE", _flag),
    "max_request_body_size": ("DJED_MCP_MAX_BODY_BYTES", _whole),
    "max_sessions": (
        "DJED_MCP_MAX_SESSIONS",
        lambda n, raw: None if raw == "none" else _whole(n, raw),
    ),
    "timeout": ("DJED_MCP_TIMEOUT", _seconds),
    "drain_timeout": ("DJED_MCP_DRAIN_TIMEOUT", lambda n, raw: _seconds(n, raw) or 30.0),
    "path": ("DJED_MCP_PATH", lambda _n, raw: raw.strip()),
}


@dataclass(frozen=True)
class ServerSettings:
    """How the server is served; :meth:`from_env` reads each from its ``DJED_MCP_*`` variable."""

    transport: str = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    stateless: bool = False
    json_response: bool = True
    max_request_body_size: int = 1_048_576
    max_sessions: int | None = 1000
    timeout: float | None = 30.0
    drain_timeout: float = 30.0
    path: str = "/mcp"

    def __post_init__(self) -> None:
        if self.transport not in {"stdio", "http"}:
            raise ValueError(f"DJED_MCP_TRANSPORT={self.transport!r}: use stdio or http")
        if not 0 < self.port < 65536:
            raise ValueError(f"DJED_MCP_PORT={self.port!r}: use a TCP port, 1 to 65535")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """The settings the environment names, defaults for the rest."""
        env = os.environ if environ is None else environ
        found = {
            field: read(variable, env[variable])
            for field, (variable, read) in _READERS.items()
            if variable in env
        }
        return cls(**found)

    def hosts(self) -> list[str]:
        """The Host header values to accept: ``allowed_hosts``, or the host and localhost."""
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        return [self.host, f"{self.host}:{self.port}", "localhost", f"localhost:{self.port}"]


def configure_logging() -> None:
    """Log records to stderr (over stdio, stdout carries the protocol) unless already set up."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def _target(ctx: ServerRequestContext[Any, Any]) -> str:
    params = ctx.params or {}
    return str(params.get("name") or params.get("uri") or "")


async def logging_middleware(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """One log line per request: method, target, outcome and duration."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        return await call_next(ctx)
    except MCPError as error:
        outcome = f"error {error.error.code}"
        raise
    finally:
        log.info(
            "%s %s %s in %.1f ms",
            ctx.method,
            _target(ctx),
            outcome,
            (time.perf_counter() - started) * 1000,
            extra={"request_id": ctx.request_id},
        )


def errors_middleware(timeout: float | None) -> ServerMiddleware[Any]:
    """Requests over ``timeout`` seconds fail with -32001; crashes become -32603 with an id."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        try:
            async with asyncio.timeout(timeout):
                return await call_next(ctx)
        except TimeoutError:
            message = f"{ctx.method} {_target(ctx)} took longer than {timeout} s"
            raise MCPError(REQUEST_TIMEOUT, message) from None
        except MCPError:
            raise
        except Exception as error:
            if type(error).__name__ == "ValidationError":  # malformed params: the SDK answers
                raise
            correlation = uuid.uuid4().hex[:12]
            log.exception("unexpected error in %s (correlation id %s)", ctx.method, correlation)
            message = f"internal error (correlation id {correlation})"
            raise MCPError(INTERNAL_ERROR, message) from error

    return middleware


def validation_middleware(schemas: Mapping[str, Mapping[str, Any]]) -> ServerMiddleware[Any]:
    """Tool arguments checked against a JSON Schema per tool name before the tool runs."""
    checks = {name: fastjsonschema.compile(dict(schema)) for name, schema in schemas.items()}

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.params:
            check = checks.get(str(ctx.params.get("name")))
            if check is not None:
                try:
                    check(ctx.params.get("arguments") or {})
                except fastjsonschema.JsonSchemaValueException as error:
                    raise MCPError(INVALID_PARAMS, f"invalid arguments: {error.message}") from None
        return await call_next(ctx)

    return middleware


def create_server(
    name: str,
    *,
    version: str = "0.0.0",
    instructions: str | None = None,
    timeout: float | None = None,
    tool_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    **server_options: Any,
) -> MCPServer:
    """An ``MCPServer`` with the logging, errors and validation middleware.

    ``timeout`` defaults to ``DJED_MCP_TIMEOUT`` (30 s). Logging is configured
    first (:func:`configure_logging`), as djed-mcp-base did.
    """
    configure_logging()  # before the SDK's own logging.basicConfig
    if timeout is None:
        timeout = ServerSettings.from_env().timeout
    middleware = [logging_middleware, errors_middleware(timeout)]
    if tool_schemas:
        middleware.append(validation_middleware(tool_schemas))
    return MCPServer(
        name, version=version, instructions=instructions, middleware=middleware, **server_options
    )


def build_app(server: MCPServer, *, settings: ServerSettings | None = None) -> Starlette:
    """The streamable-HTTP app of ``server`` with ``/healthz`` and ``/readyz``."""
    settings = settings or ServerSettings.from_env()
    app = server.streamable_http_app(
        streamable_http_path=settings.path,
        json_response=settings.json_response,
        stateless_http=settings.stateless,
        max_request_body_size=settings.max_request_body_size,
        max_sessions=settings.max_sessions,
        transport_security=TransportSecuritySettings(
            allowed_hosts=settings.hosts(), allowed_origins=list(settings.allowed_origins)
        ),
    )
    app.state.draining = False

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        if app.state.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ready"})

    app.router.routes[0:0] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    return app


def run(server: MCPServer, settings: ServerSettings | None = None) -> None:
    """Serve over stdio or HTTP as ``settings`` say; on SIGTERM, drain then stop."""
    settings = settings or ServerSettings.from_env()
    if settings.transport == "stdio":
        server.run("stdio")
        return
    app = build_app(server, settings=settings)

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            app.state.draining = True
            log.info("%s: draining in-flight requests", signal.Signals(sig).name)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=max(1, round(settings.drain_timeout)),
    )
    DrainingServer(config).run()
