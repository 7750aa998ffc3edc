"""A production MCP server in one call, still a stock ``MCPServer`` underneath.

>>> from djed.mcp_base import create_server
>>> server = create_server("invoices", version="1.0.0")
"""

from __future__ import annotations

from ._adapter import Proceed, Request, Stage
from ._pipeline import CallNext, Pipeline, PipelineError, StageStats, StageTimeoutError
from ._policy import KINDS, AuthDecision, Authorizer, Condition, Policy, Subject
from ._ratelimit import DEFAULT_RATE, BurstRule, Rate, RateLimiter
from ._ratelimit import Decision as RateDecision
from ._server import ReadinessCheck, build_app, compose, create_server, run
from ._stages import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    REQUEST_TIMEOUT,
    errors_stage,
    logging_stage,
    validation_stage,
)

__all__ = [
    "DEFAULT_RATE",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "KINDS",
    "REQUEST_TIMEOUT",
    "AuthDecision",
    "Authorizer",
    "BurstRule",
    "CallNext",
    "Condition",
    "Pipeline",
    "PipelineError",
    "Policy",
    "Proceed",
    "Rate",
    "RateDecision",
    "RateLimiter",
    "ReadinessCheck",
    "Request",
    "Stage",
    "StageStats",
    "StageTimeoutError",
    "Subject",
    "build_app",
    "compose",
    "create_server",
    "errors_stage",
    "logging_stage",
    "run",
    "validation_stage",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - only when asked

        return version("djed-mcp-base")
    msg = f"module 'djed.mcp_base' has no attribute {name!r}"
    raise AttributeError(msg)
