"""A production MCP server in one call, still a stock ``MCPServer`` underneath.

>>> from djed.mcp_base import create_server
>>> server = create_server("invoices", version="1.0.0")
"""

from __future__ import annotations

from ._adapter import Handler, Proceed, Request, Stage
from ._pipeline import CallNext, Pipeline, PipelineError, StageStats, StageTimeoutError
from ._plugins import PluginError, middleware_plugins
from ._policy import KINDS, AuthDecision, Authorizer, Condition, Policy, Subject
from ._ratelimit import DEFAULT_RATE, BurstRule, Rate, RateLimiter
from ._ratelimit import Decision as RateDecision
from ._server import (
    ReadinessCheck,
    ServerSettings,
    build_app,
    create_server,
    default_pipeline,
    run,
)
from ._stages import (
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    RATE_LIMITED,
    REQUEST_TIMEOUT,
    authorization_stage,
    current_subject,
    errors_stage,
    logging_stage,
    metrics_stage,
    rate_limit_stage,
    subject_from_token,
    validation_stage,
)

__all__ = [
    "DEFAULT_RATE",
    "FORBIDDEN",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "KINDS",
    "RATE_LIMITED",
    "REQUEST_TIMEOUT",
    "AuthDecision",
    "Authorizer",
    "BurstRule",
    "CallNext",
    "Condition",
    "Handler",
    "Pipeline",
    "PipelineError",
    "PluginError",
    "Policy",
    "Proceed",
    "Rate",
    "RateDecision",
    "RateLimiter",
    "ReadinessCheck",
    "Request",
    "ServerSettings",
    "Stage",
    "StageStats",
    "StageTimeoutError",
    "Subject",
    "authorization_stage",
    "build_app",
    "create_server",
    "current_subject",
    "default_pipeline",
    "errors_stage",
    "logging_stage",
    "metrics_stage",
    "middleware_plugins",
    "rate_limit_stage",
    "run",
    "subject_from_token",
    "validation_stage",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - only when asked

        return version("djed-mcp-base")
    msg = f"module 'djed.mcp_base' has no attribute {name!r}"
    raise AttributeError(msg)
