"""The one place that touches the SDK's provisional middleware signature.

The SDK (mcp 2.3) calls server middleware as ``await mw(ctx, call_next)`` with
a ``ServerRequestContext``. Djed's stages see a stable :class:`Request` instead
and call ``proceed()``; when the SDK changes its signature, only this module
changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext

__all__ = ["Proceed", "Request", "Stage", "to_sdk_middleware"]


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
    """HTTP request headers (empty on stdio)."""
    state: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Free space for stages to pass things inward (the subject after auth...)."""

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
        """Who is calling: the authenticated subject, else the session, else "anonymous"."""
        subject = self.state.get("subject")
        if subject is not None:
            return str(getattr(subject, "id", subject))
        return self.session_id or self.headers.get("x-forwarded-for") or "anonymous"


Proceed = Callable[[], Awaitable[Any]]
Stage = Callable[[Request, Proceed], Awaitable[Any]]
"""A Djed stage: ``async def stage(request, proceed)``; ``await proceed()`` runs the rest."""


def _request_of(ctx: ServerRequestContext[Any, Any]) -> Request:
    headers: Mapping[str, str] = {}
    try:
        headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        headers = {}
    session_id = getattr(ctx, "session_id", None)
    request_id = ctx.request_id
    return Request(
        method=ctx.method,
        params=ctx.params or {},
        request_id=None if request_id is None else str(request_id),
        session_id=session_id if isinstance(session_id, str) else None,
        headers=headers,
    )


class _StageMiddleware:
    """SDK server middleware running one Djed stage (usually a whole composed pipeline)."""

    __slots__ = ("stage",)

    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        request = _request_of(ctx)

        async def proceed() -> Any:
            return await call_next(ctx)

        result: HandlerResult = await self.stage(request, proceed)
        return result


def to_sdk_middleware(stage: Stage) -> ServerMiddleware[Any]:
    """Turn a Djed stage (usually a whole composed pipeline) into SDK server middleware."""
    return _StageMiddleware(stage)
