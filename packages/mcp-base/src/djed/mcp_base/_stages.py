"""Built-in stages: request logging, timeouts and clean errors, argument validation."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from djed.logger import get_logger, log_context
from djed.validator import SchemaValidator, ValidationError
from mcp.shared.exceptions import MCPError

from ._adapter import Proceed, Request, Stage

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "REQUEST_TIMEOUT",
    "errors_stage",
    "logging_stage",
    "validation_stage",
]

INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: A server-defined JSON-RPC code (the -32000 to -32099 range) for a call that timed out.
REQUEST_TIMEOUT = -32001

_stdlib_log = logging.getLogger("djed.mcp_base")


def logging_stage(logger_name: str = "djed.mcp_base.requests") -> Stage:
    """Log every request once it finished: what, who, how long, and how it ended.

    Arguments are logged only at debug level (and go through djed-logger's
    redaction). Everything logged while the request runs carries its
    ``request_id``, ``session_id`` and ``mcp_method`` through the log context.
    """
    log = get_logger(logger_name)

    async def stage(request: Request, proceed: Proceed) -> Any:
        if request.request_id is None:
            return await proceed()  # notifications are not requests
        started = time.perf_counter()
        outcome = "ok"
        with log_context(
            request_id=request.request_id,
            session_id=request.session_id,
            mcp_method=request.method,
        ):
            try:
                result = await proceed()
                if getattr(result, "is_error", False) or (
                    isinstance(result, Mapping) and result.get("isError")
                ):
                    outcome = "tool_error"
                return result
            except MCPError as error:
                outcome = f"error {error.error.code}"
                raise
            except BaseException as error:
                outcome = f"error {type(error).__name__}"
                raise
            finally:
                log.info(
                    "mcp request",
                    target=request.target,
                    client=request.client,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    outcome=outcome,
                )
                if request.method == "tools/call":
                    log.debug("mcp arguments", arguments=request.params.get("arguments"))

    return stage


def errors_stage(timeout: float | None = 30.0) -> Stage:
    """Bound each request by ``timeout`` seconds and turn surprises into clean MCP errors.

    A request past its timeout is cancelled and answered with code
    :data:`REQUEST_TIMEOUT` and a message naming the tool and the limit. An
    unexpected exception is logged with its traceback and a correlation id, and
    the client gets code :data:`INTERNAL_ERROR` with only that id: never a
    traceback or internal detail.
    """
    if timeout is not None and timeout <= 0:
        raise ValueError("timeout must be positive (or None)")

    async def stage(request: Request, proceed: Proceed) -> Any:
        try:
            if timeout is None or request.request_id is None:
                return await proceed()
            async with asyncio.timeout(timeout):
                return await proceed()
        except TimeoutError:
            what = request.target or request.method
            raise MCPError(
                REQUEST_TIMEOUT, f"{what} did not finish within {timeout:g} s", None
            ) from None
        except MCPError:
            raise
        except Exception as error:
            correlation = uuid.uuid4().hex[:12]
            _stdlib_log.exception(
                "unexpected error in %s (correlation id %s)",
                request.method,
                correlation,
                extra={"correlation_id": correlation},
            )
            message = f"internal error (correlation id {correlation})"
            raise MCPError(INTERNAL_ERROR, message, {"correlation_id": correlation}) from error

    return stage


def validation_stage(schemas: Mapping[str, Mapping[str, Any]]) -> Stage:
    """Validate the arguments of the tools named in ``schemas`` against their JSON Schema.

    Invalid arguments get :data:`INVALID_PARAMS` with every error and its JSON
    path, before the tool runs. Schemas are compiled once, here.
    """
    validators = {
        name: SchemaValidator(dict(schema), all_errors=True) for name, schema in schemas.items()
    }

    async def stage(request: Request, proceed: Proceed) -> Any:
        if request.method == "tools/call":
            validator = validators.get(request.target or "")
            if validator is not None:
                try:
                    validator.validate(request.params.get("arguments") or {})
                except ValidationError as error:
                    details = [
                        {"path": e.path or "/", "keyword": e.keyword, "message": e.message}
                        for e in error.errors
                    ]
                    summary = "; ".join(f"{d['path']}: {d['message']}" for d in details[:5])
                    raise MCPError(
                        INVALID_PARAMS,
                        f"invalid arguments for {request.target}: {summary}",
                        {"errors": details},
                    ) from None
        return await proceed()

    return stage
