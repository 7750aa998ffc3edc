"""``djed.mcp_base.middleware``: a pipeline stage, and a callable that cannot be one."""

from __future__ import annotations

from typing import Any

SEEN: list[str] = []
"""``method target`` of every request the audit stage saw, in order."""


async def audit(request: Any, proceed: Any) -> Any:
    """Record the request, leave a mark for the stages inside, and go on."""
    SEEN.append(f"{request.method} {request.target}")
    request.state["audited"] = True
    return await proceed()


def not_async(request: Any, proceed: Any) -> Any:
    """A plain function: a stage must be awaitable."""
    return None
