"""The two servers every djed-mcp-base benchmark compares: the same tool, with and without Djed.

``raw_server()`` is the SDK's own ``MCPServer``; ``djed_server()`` is ``create_server``
with every built-in stage switched on, each set up to do its full work on every call
without ever refusing one. ``djed_pipeline()`` and ``djed_stages()`` are the same
stages, configured the same way, for the in-process measurements. Both servers serve
one tool, ``echo``, an ``async`` function (a sync one would add the same thread hop
to both sides).
"""

from __future__ import annotations

from typing import Any

from djed.mcp_base import (
    Authorizer,
    Pipeline,
    Policy,
    Rate,
    RateLimiter,
    Stage,
    authorization_stage,
    create_server,
    default_pipeline,
    errors_stage,
    logging_stage,
    metrics_stage,
    rate_limit_stage,
    validation_stage,
)
from mcp.server.mcpserver import MCPServer

NAME = "bench"
TIMEOUT = 30.0  # the errors stage's bound per request: create_server's default
ECHO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string", "maxLength": 1000}},
    "required": ["text"],
    "additionalProperties": False,
}
TOOL_SCHEMAS = {"echo": ECHO_SCHEMA}
# Far above anything a benchmark reaches (a few thousand calls a second in all).
UNLIMITED = Rate(per_second=1_000_000, burst=1_000_000)


async def echo(text: str) -> str:
    """Say it back."""
    return text


def limiter() -> RateLimiter:
    """A rate limiter that checks every call and refuses none of the benchmark's."""
    return RateLimiter(default=UNLIMITED)


def authorizer() -> Authorizer:
    """Zero-trust authorization with one policy letting anyone call any tool."""
    return Authorizer([Policy("tools/*", anonymous=True, name="anyone")])


def raw_server() -> MCPServer:
    """A plain ``MCPServer("bench")`` serving ``echo``."""
    server = MCPServer(NAME)
    server.tool()(echo)
    return server


# -- extend here: a built-in stage added to djed.mcp_base gets its option in the three
#    functions below and its name in STAGES, set up so that it does its full work on
#    every call and never refuses one of the benchmark's (test_overhead.py fails until
#    djed_stages has it).

STAGES = ("metrics", "logging", "errors", "rate_limit", "authorization", "validation")
"""The built-in stages ``djed_server()`` runs, by their names in the pipeline, outermost first."""


def djed_server() -> MCPServer:
    """``echo`` on ``create_server`` with every built-in stage on.

    Configure logging first (``djed.logger.configure_logging``): otherwise
    ``create_server`` sets up djed-logger's defaults and the logging stage writes
    one line per request to standard output.
    """
    server = create_server(
        NAME,
        timeout=TIMEOUT,
        tool_schemas=TOOL_SCHEMAS,
        rate_limit=limiter(),
        authorizer=authorizer(),
    )
    server.tool()(echo)
    return server


def djed_pipeline() -> Pipeline:
    """The pipeline ``djed_server()`` runs, from ``default_pipeline`` like ``create_server``."""
    return default_pipeline(
        timeout=TIMEOUT,
        tool_schemas=TOOL_SCHEMAS,
        rate_limiter=limiter(),
        authorizer=authorizer(),
    )


def djed_stages() -> dict[str, Stage]:
    """Each built-in stage alone, by its name in ``STAGES``."""
    return {
        "metrics": metrics_stage(),
        "logging": logging_stage(),
        "errors": errors_stage(TIMEOUT),
        "rate_limit": rate_limit_stage(limiter()),
        "authorization": authorization_stage(authorizer()),
        "validation": validation_stage(TOOL_SCHEMAS),
    }
