"""Built-in stages: metrics, logging, errors, rate limits, authorization, validation.

Each is an ``async def stage(request, proceed)`` usable alone, in a
:class:`~djed.mcp_base.Pipeline`, or in any code that can call it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from djed.logger import get_logger, log_context
from djed.validator import SchemaValidator, ValidationError
from mcp.server.auth.provider import AccessToken
from mcp.shared.exceptions import MCPError
from opentelemetry import trace
from pydantic import ValidationError as ParamsError

from ._adapter import CLIENT_ERRORS, INTERNAL_ERROR, Proceed, Request, Stage, internal_error
from ._metrics import instruments
from ._policy import Authorizer, Subject
from ._ratelimit import RateLimiter

__all__ = [
    "FORBIDDEN",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "RATE_LIMITED",
    "REQUEST_TIMEOUT",
    "authorization_stage",
    "current_subject",
    "errors_stage",
    "logging_stage",
    "metrics_stage",
    "rate_limit_stage",
    "subject_from_token",
    "validation_stage",
]

INVALID_PARAMS = -32602
_tracer = trace.get_tracer("djed.mcp_base")
# Server-defined JSON-RPC codes, in the -32000 to -32099 range the spec leaves to servers.
#: A request that did not finish within its timeout.
REQUEST_TIMEOUT = -32001
#: A request the authorizer refused (the data says which rule, and whether to re-authenticate).
FORBIDDEN = -32003
#: A request over its client's rate (the data carries ``retry_after`` in seconds).
RATE_LIMITED = -32029

_subject: contextvars.ContextVar[Subject | None] = contextvars.ContextVar(
    "djed_mcp_subject", default=None
)


def current_subject() -> Subject | None:
    """Who is calling, inside a tool, resource or prompt of a server with auth on.

    >>> @server.tool()
    ... def whoami() -> str:
    ...     subject = current_subject()
    ...     return subject.id if subject else "anonymous"

    None outside a request, or when the request carries no verified token.
    """
    return _subject.get()


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
                if _is_tool_error(result):
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
        except CLIENT_ERRORS:
            raise  # the SDK answers these itself (INVALID_PARAMS for malformed params)
        except Exception as error:
            raise internal_error(request.method, error) from error

    return stage


def metrics_stage() -> Stage:
    """Record each request in the ``djed.mcp.request.duration`` histogram and errors by code.

    The histogram's attributes are ``mcp.method``, ``mcp.target`` (the tool or
    prompt name, resource URI; at most 1,000 distinct values, then ``"other"``,
    so clients naming random tools cannot blow up the series) and ``outcome``
    (``ok``, ``tool_error``, ``error``). ``djed.mcp.request.errors`` counts
    JSON-RPC errors by ``code``.
    """
    meter = instruments()
    targets: set[str] = set()

    def target_of(request: Request) -> str:
        target = request.target
        if target is None:
            return ""
        if target in targets:
            return target
        if len(targets) < 1000:
            targets.add(target)
            return target
        return "other"

    async def stage(request: Request, proceed: Proceed) -> Any:
        if request.request_id is None:
            return await proceed()
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await proceed()
            outcome = "tool_error" if _is_tool_error(result) else "ok"
            return result
        except MCPError as error:
            meter.errors.add(1, {"code": str(error.error.code)})
            raise
        except ParamsError:
            meter.errors.add(1, {"code": str(INVALID_PARAMS)})
            raise
        except Exception:
            meter.errors.add(1, {"code": str(INTERNAL_ERROR)})
            raise
        finally:
            attributes = {"mcp.method": request.method, "mcp.target": target_of(request)}
            attributes["outcome"] = outcome
            meter.duration.record(time.perf_counter() - started, attributes)

    return stage


def _is_tool_error(result: Any) -> bool:
    return bool(
        getattr(result, "is_error", False)
        or (isinstance(result, Mapping) and result.get("isError") is True)
    )


def rate_limit_stage(limiter: RateLimiter) -> Stage:
    """Refuse requests over their client's rate with :data:`RATE_LIMITED` and a retry-after.

    The client is the token's subject (or client id) when auth is on, else the
    peer address, else the session (see :attr:`Request.client`). Tool calls
    draw from the tool's bucket, every other request from the client's default
    one; notifications are never limited. The error's data carries
    ``retry_after`` (seconds), ``limit`` and ``rule``; refusals are counted in
    ``djed.mcp.denials`` and logged at most once a second per client.
    """
    meter = instruments()
    logged: OrderedDict[str, float] = OrderedDict()

    async def stage(request: Request, proceed: Proceed) -> Any:
        if request.request_id is None:
            return await proceed()
        client = request.client
        tool = request.target if request.method == "tools/call" else None
        decision = limiter.check(client, tool)
        if decision.allowed:
            return await proceed()
        meter.denials.add(1, {"reason": "rate_limit", "rule": decision.rule})
        now = time.monotonic()
        if now - logged.get(client, -1.0) >= 1.0:
            logged[client] = now
            logged.move_to_end(client)
            if len(logged) > 1024:
                logged.popitem(last=False)
            _stdlib_log.warning(
                "rate limit: refused %s for %s (rule %s)",
                request.target or request.method,
                client,
                decision.rule,
                extra={"client": client, "rule": decision.rule},
            )
        retry = round(decision.retry_after, 3)
        raise MCPError(
            RATE_LIMITED,
            f"rate limit exceeded for {request.target or request.method}: retry after {retry:g} s",
            {"retry_after": retry, "limit": decision.limit, "rule": decision.rule},
        )

    return stage


def subject_from_token(token: AccessToken) -> Subject:
    """The default mapping of a verified token to a :class:`Subject`.

    The id is the token's ``subject`` (the resource owner), else its
    ``client_id``; the scopes are the token's; roles come from a ``roles``
    claim (a list, or one space-separated string); the claims are the token's
    claims plus ``client_id``.
    """
    claims = dict(token.claims or {})
    claims.setdefault("client_id", token.client_id)
    roles = claims.get("roles", ())
    return Subject(
        token.subject or token.client_id,
        scopes=token.scopes,
        roles=roles if isinstance(roles, str | list | tuple | set | frozenset) else (),
        claims=claims,
    )


def authorization_stage(
    authorizer: Authorizer,
    *,
    subject_from: Callable[[AccessToken], Subject | None] = subject_from_token,
) -> Stage:
    """Zero trust: a tool call, prompt or resource read goes ahead only if a policy allows it.

    The request's verified token becomes a :class:`Subject` (through
    ``subject_from``), stored for :func:`current_subject` and in
    ``request.state["subject"]``. Calls on a tool, prompt or resource are then
    put to ``authorizer`` (which audits every decision); a refusal is answered
    with :data:`FORBIDDEN`, its message giving the reason and its data the rule
    and ``requires_reauth``. Other requests (listing, ping) pass.
    """
    meter = instruments()

    async def stage(request: Request, proceed: Proceed) -> Any:
        token = request.access_token
        subject = None if token is None else subject_from(token)
        if subject is not None:
            request.state["subject"] = subject
        kind = request.kind
        if kind is not None and request.request_id is not None:
            arguments = request.params.get("arguments")
            decision = authorizer.decide(
                subject,
                kind,
                request.target or "",
                arguments=arguments if isinstance(arguments, Mapping) else None,
            )
            if not decision.allowed:
                meter.denials.add(1, {"reason": "authorization", "rule": decision.rule})
                raise MCPError(
                    FORBIDDEN,
                    f"access to {decision.target} denied: {decision.reason}",
                    {"rule": decision.rule, "requires_reauth": decision.requires_reauth},
                )
        reset = _subject.set(subject)
        try:
            return await proceed()
        finally:
            _subject.reset(reset)

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
                    with _tracer.start_as_current_span(
                        "djed.mcp.validate", attributes={"mcp.tool": request.target or ""}
                    ):
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
