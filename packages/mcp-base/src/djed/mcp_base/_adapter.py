"""The one place that touches the SDK's provisional middleware signature.

The SDK (mcp 2.3) calls server middleware as ``await mw(ctx, call_next)`` with
a ``ServerRequestContext``. Djed's stages see a stable :class:`Request` instead
and call ``proceed()``; when the SDK changes its signature, or where its HTTP
request, verified token and session table live, only this module changes.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from pydantic import ValidationError as ParamsError
from starlette.requests import HTTPConnection

__all__ = [
    "CLIENT_ERRORS",
    "INTERNAL_ERROR",
    "Handler",
    "Proceed",
    "Request",
    "Stage",
    "end_of_pipeline",
    "install",
    "internal_error",
    "open_sessions",
    "to_sdk_middleware",
]


@dataclasses.dataclass(slots=True)
class Request:
    """One inbound MCP message, as Djed's stages see it."""

    method: str
    """The JSON-RPC method, e.g. ``tools/call``."""
    params: Mapping[str, Any]
    """The raw params (not validated yet)."""
    request_id: str | None
    """``None`` for a notification."""
    session_id: str | None
    headers: Mapping[str, str]
    """HTTP request headers, names in lower case (empty on stdio)."""
    access_token: AccessToken | None = None
    """The bearer token the SDK's auth verified for this request (HTTP with auth on)."""
    client_address: str | None = None
    """The peer's IP address over HTTP (behind a proxy, as uvicorn's proxy_headers set it)."""
    state: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Free space for stages to pass things inward (the subject after auth...)."""
    call_next: Proceed | None = dataclasses.field(default=None, repr=False, compare=False)
    """Runs the SDK's handler for this message: the end of a Djed pipeline."""

    @property
    def target(self) -> str | None:
        """The tool, prompt or resource the message is about, when it names one."""
        name = self.params.get("name") if self.params else None
        if isinstance(name, str):
            return name
        uri = self.params.get("uri") if self.params else None
        return uri if isinstance(uri, str) else None

    @property
    def kind(self) -> str | None:
        """``tools``, ``prompts`` or ``resources`` for calls on one of them."""
        return {"tools/call": "tools", "prompts/get": "prompts", "resources/read": "resources"}.get(
            self.method
        )

    @property
    def client(self) -> str:
        """Who is calling, for rate limits and logs.

        The authenticated subject, else the token's subject or client id, else
        the peer address (a new session does not make a new client), else the
        session, else ``"anonymous"``.
        """
        subject = self.state.get("subject")
        if subject is not None:
            return str(getattr(subject, "id", subject))
        token = self.access_token
        if token is not None:
            return token.subject or token.client_id
        return self.client_address or self.session_id or "anonymous"


INTERNAL_ERROR = -32603

#: What the SDK raises through middleware for a client's mistake, answered by the SDK
#: itself: an MCP error, or the pydantic error of malformed params (-32602).
CLIENT_ERRORS: tuple[type[Exception], ...] = (MCPError, ParamsError)

_log = logging.getLogger("djed.mcp_base")


def internal_error(method: str, error: Exception) -> MCPError:
    """Log ``error`` with a new correlation id; the clean error the client gets instead."""
    correlation = uuid.uuid4().hex[:12]
    _log.error(
        "unexpected error in %s (correlation id %s)",
        method,
        correlation,
        exc_info=error,
        extra={"correlation_id": correlation},
    )
    message = f"internal error (correlation id {correlation})"
    return MCPError(INTERNAL_ERROR, message, {"correlation_id": correlation})


Proceed = Callable[[], Awaitable[Any]]
Stage = Callable[[Request, Proceed], Awaitable[Any]]
"""A Djed stage: ``async def stage(request, proceed)``; ``await proceed()`` runs the rest."""

Handler = Callable[[Request], Awaitable[Any]]
"""A whole chain of stages ending in the SDK's handler: ``async def (request) -> result``."""


def _request_of(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Request:
    http = ctx.request if isinstance(ctx.request, HTTPConnection) else None
    headers: Mapping[str, str] = {} if http is None else http.headers  # lower-cased by Starlette
    user = None if http is None else http.scope.get("user")
    peer = None if http is None else http.client
    request_id = ctx.request_id

    async def proceed() -> Any:
        return await call_next(ctx)

    return Request(
        method=ctx.method,
        params=ctx.params or {},
        request_id=None if request_id is None else str(request_id),
        session_id=headers.get("mcp-session-id"),
        headers=headers,
        access_token=user.access_token if isinstance(user, AuthenticatedUser) else None,
        client_address=None if peer is None else peer.host,
        call_next=proceed,
    )


async def end_of_pipeline(request: Request) -> Any:
    """The innermost step of a Djed pipeline: the SDK's own handler for the message."""
    if request.call_next is None:
        raise RuntimeError("this Request was not built by the SDK adapter; it has no handler")
    return await request.call_next()


class _PipelineMiddleware:
    """SDK server middleware running a composed Djed pipeline."""

    __slots__ = ("handler",)

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        try:
            result: HandlerResult = await self.handler(_request_of(ctx, call_next))
        except CLIENT_ERRORS:
            raise
        except Exception as error:
            # The errors stage does this inside the pipeline; this catches what a stage
            # outside it raised, which the SDK would send as code 0 with the exception text.
            raise internal_error(ctx.method, error) from error
        return result


def to_sdk_middleware(handler: Handler) -> ServerMiddleware[Any]:
    """SDK server middleware running ``handler``, a chain ending in :func:`end_of_pipeline`."""
    return _PipelineMiddleware(handler)


class _TraceContextFromHeaders:
    """Parent the SDK's request span on the HTTP ``traceparent`` when ``_meta`` carries none.

    The SDK's own OpenTelemetry middleware (the outermost) continues a trace
    named in the message's ``_meta``; this one, placed just outside it, makes
    the W3C headers of the HTTP request the fallback parent.
    """

    __slots__ = ()

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        http = ctx.request if isinstance(ctx.request, HTTPConnection) else None
        meta = ctx.params.get("_meta") if ctx.params else None
        if (
            http is None
            or "traceparent" not in http.headers
            or (isinstance(meta, Mapping) and "traceparent" in meta)
        ):
            return await call_next(ctx)
        parent = propagate.extract(http.headers)
        if not trace.get_current_span(parent).get_span_context().is_valid:
            return await call_next(ctx)
        token = otel_context.attach(parent)
        try:
            return await call_next(ctx)
        finally:
            otel_context.detach(token)


def install(server: MCPServer, handler: Handler) -> None:
    """Install ``handler`` as ``server``'s middleware, and the trace-header fallback outside."""
    server.middleware.insert(0, _TraceContextFromHeaders())
    server.middleware.append(to_sdk_middleware(handler))


def open_sessions(server: MCPServer) -> int:
    """How many stateful streamable-HTTP sessions ``server`` holds open (0 before serving)."""
    try:
        manager = server.session_manager
    except RuntimeError:  # no HTTP app built yet
        return 0
    # The SDK keeps no public count; its session table is the one source.
    return len(getattr(manager, "_server_instances", ()))
