"""create_server, build_app and run: a stock MCPServer with Djed's pipeline, probes and metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import EllipsisType, FrameType
from typing import Any, Literal

from djed.logger import configure_logging, current_state
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from ._adapter import end_of_pipeline, install
from ._metrics import metrics_endpoint, track_sessions
from ._pipeline import Pipeline
from ._plugins import ENVIRONMENT as PLUGINS_VARIABLE
from ._plugins import installed_plugin_names, middleware_plugins, requested
from ._policy import Authorizer, Policy, Subject
from ._ratelimit import Rate, RateLimiter
from ._stages import (
    authorization_stage,
    errors_stage,
    logging_stage,
    metrics_stage,
    rate_limit_stage,
    subject_from_token,
    validation_stage,
)

__all__ = [
    "ReadinessCheck",
    "ServerSettings",
    "build_app",
    "create_server",
    "default_pipeline",
    "run",
]

_log = logging.getLogger("djed.mcp_base")

ReadinessCheck = Callable[[], bool | Awaitable[bool]]
"""A readiness check: returns (or awaits) True when the dependency is usable."""


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={raw!r}: use true or false")


def _number(name: str, raw: str, kind: type[int] | type[float], *, none_ok: bool) -> Any:
    value = raw.strip().lower()
    if none_ok and value in {"", "none", "0"}:
        return None
    try:
        number = kind(value)
    except ValueError:
        what = "a whole number" if kind is int else "a number of seconds"
        raise ValueError(f"{name}={raw!r}: expected {what}") from None
    if number <= 0:
        raise ValueError(f"{name}={raw!r}: must be above 0" + (" (or none)" if none_ok else ""))
    return number


def _names(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclasses.dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the server is served; :meth:`from_env` reads each from a ``DJED_MCP_*`` variable.

    >>> ServerSettings.from_env({"DJED_MCP_TRANSPORT": "http", "DJED_MCP_PORT": "9000"})
    """

    transport: Literal["stdio", "http"] = "stdio"
    """``DJED_MCP_TRANSPORT``: ``stdio`` or ``http`` (streamable HTTP)."""
    host: str = "127.0.0.1"
    """``DJED_MCP_HOST``: the address to listen on."""
    port: int = 8000
    """``DJED_MCP_PORT``."""
    allowed_hosts: tuple[str, ...] = ()
    """``DJED_MCP_ALLOWED_HOSTS`` (comma-separated); empty means the host and localhost."""
    allowed_origins: tuple[str, ...] = ()
    """``DJED_MCP_ALLOWED_ORIGINS`` (comma-separated)."""
    stateless: bool = False
    """``DJED_MCP_STATELESS``: no sessions, for horizontal scale behind a plain load balancer."""
    json_response: bool = True
    """``DJED_MCP_JSON_RESPONSE``: answer POSTs with JSON rather than an SSE stream."""
    max_request_body_size: int = 1_048_576
    """``DJED_MCP_MAX_BODY_BYTES``."""
    max_sessions: int | None = 1000
    """``DJED_MCP_MAX_SESSIONS`` (``none`` for no limit)."""
    timeout: float | None = 30.0
    """``DJED_MCP_TIMEOUT``: seconds a request may take (``none`` for no limit)."""
    drain_timeout: float = 30.0
    """``DJED_MCP_DRAIN_TIMEOUT``: seconds in-flight requests get to finish after SIGTERM."""
    path: str = "/mcp"
    """``DJED_MCP_PATH``: where the MCP endpoint is mounted."""
    plugins: tuple[str, ...] = ()
    """``DJED_MCP_PLUGINS`` (comma-separated): middleware plugins ``create_server`` adds to the
    default pipeline, innermost, in this order; ``*`` for every installed one."""

    def __post_init__(self) -> None:
        if self.transport not in {"stdio", "http"}:
            raise ValueError(f"transport={self.transport!r}: use stdio or http")
        if not 0 < self.port < 65536:
            raise ValueError(f"port={self.port!r}: use a TCP port, 1 to 65535")
        if not self.path.startswith("/"):
            raise ValueError(f"path={self.path!r}: must start with '/'")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """The settings named by ``DJED_MCP_*`` variables, defaults for the rest.

        Raises:
            ValueError: Naming the variable and what it should hold, for a bad value.
        """
        env = os.environ if environ is None else environ
        found: dict[str, Any] = {}
        readers: dict[str, tuple[str, Callable[[str, str], Any]]] = {
            "transport": ("DJED_MCP_TRANSPORT", lambda _n, raw: raw.strip().lower()),
            "host": ("DJED_MCP_HOST", lambda _n, raw: raw.strip()),
            "port": ("DJED_MCP_PORT", lambda n, raw: _number(n, raw, int, none_ok=False)),
            "allowed_hosts": ("DJED_MCP_ALLOWED_HOSTS", lambda _n, raw: _names(raw)),
            "allowed_origins": ("DJED_MCP_ALLOWED_ORIGINS", lambda _n, raw: _names(raw)),
            "stateless": ("DJED_MCP_STATELESS", _flag),
            "json_response": ("DJED_MCP_JSON_RESPONSE", _flag),
            "max_request_body_size": (
                "DJED_MCP_MAX_BODY_BYTES",
                lambda n, raw: _number(n, raw, int, none_ok=False),
            ),
            "max_sessions": (
                "DJED_MCP_MAX_SESSIONS",
                lambda n, raw: _number(n, raw, int, none_ok=True),
            ),
            "timeout": ("DJED_MCP_TIMEOUT", lambda n, raw: _number(n, raw, float, none_ok=True)),
            "drain_timeout": (
                "DJED_MCP_DRAIN_TIMEOUT",
                lambda n, raw: _number(n, raw, float, none_ok=False),
            ),
            "path": ("DJED_MCP_PATH", lambda _n, raw: raw.strip()),
            "plugins": (PLUGINS_VARIABLE, lambda _n, raw: requested(raw)),
        }
        for field, (variable, read) in readers.items():
            raw = env.get(variable)
            if raw is not None:
                found[field] = read(variable, raw)
        try:
            return cls(**found)
        except ValueError as error:
            raise ValueError(f"DJED_MCP_* settings: {error}") from None

    def hosts(self) -> list[str]:
        """The Host header values to accept: ``allowed_hosts``, or the host and localhost."""
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        return [self.host, f"{self.host}:{self.port}", "localhost", f"localhost:{self.port}"]


def default_pipeline(
    *,
    timeout: float | None = 30.0,
    tool_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    rate_limiter: RateLimiter | None = None,
    authorizer: Authorizer | None = None,
    subject_from: Callable[[AccessToken], Subject | None] = subject_from_token,
    plugins: Iterable[str] = (),
) -> Pipeline:
    """Djed's built-in stages as a :class:`Pipeline` to adjust before ``create_server``.

    >>> pipeline = default_pipeline(timeout=10).without("logging").stage(
    ...     "tenant", tenant_stage, depends_on="authorization"
    ... )
    >>> server = create_server("invoices", version="1.0.0", pipeline=pipeline)

    Outermost first: ``metrics`` and ``logging`` (see everything, including
    refusals), ``errors`` (timeout and clean errors), ``rate_limit`` (when a
    limiter is given), ``authorization`` (when an authorizer is given), then
    ``validation`` (when schemas are given), so nobody learns a tool's schema
    before being allowed to call it. The stages of the ``djed.mcp_base.middleware``
    plugins named in ``plugins`` (``"*"`` for every installed one) come last,
    innermost, in that order: they see only requests the built-in stages let through.

    Raises:
        PluginError: A plugin named in ``plugins`` is not installed or cannot be loaded.
    """
    pipeline = (
        Pipeline()
        .stage("metrics", metrics_stage(), priority="critical")
        .stage("logging", logging_stage(), priority="critical", depends_on="metrics")
        .stage("errors", errors_stage(timeout), priority="high", depends_on="logging")
    )
    last = "errors"
    if rate_limiter is not None:
        pipeline.stage("rate_limit", rate_limit_stage(rate_limiter), depends_on=last)
        last = "rate_limit"
    if authorizer is not None:
        stage = authorization_stage(authorizer, subject_from=subject_from)
        pipeline.stage("authorization", stage, depends_on=last)
        last = "authorization"
    if tool_schemas:
        pipeline.stage("validation", validation_stage(tool_schemas), depends_on=last)
        last = "validation"
    if plugins:
        for name, middleware in middleware_plugins(*plugins).items():
            pipeline.stage(name, middleware, depends_on=last)
            last = name
    return pipeline


def create_server(
    name: str,
    *,
    version: str = "0.0.0",
    instructions: str | None = None,
    settings: ServerSettings | None = None,
    timeout: float | EllipsisType | None = ...,
    tool_schemas: Mapping[str, Mapping[str, Any]] | None = None,
    rate_limit: RateLimiter | Rate | None = None,
    policies: Iterable[Policy] | None = None,
    authorizer: Authorizer | None = None,
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
    subject_from: Callable[[AccessToken], Subject | None] = subject_from_token,
    pipeline: Pipeline | None = None,
    plugins: Iterable[str] | None = None,
    **server_options: Any,
) -> MCPServer:
    """A plain ``MCPServer`` with Djed's pipeline installed as its middleware.

    >>> server = create_server("invoices", version="1.0.0")
    >>> @server.tool()
    ... def get_invoice(number: str) -> dict: ...

    Logging is configured through djed-logger first (unless the application
    already did), so the SDK's own ``logging.basicConfig`` finds handlers in
    place and installs none: every record comes out once, in one format.

    Args:
        name: The server's name, as clients see it.
        version: The server's version, as clients see it.
        instructions: What the server is for, for the model.
        settings: Where ``timeout`` comes from when not given; by default
            :meth:`ServerSettings.from_env`.
        timeout: Seconds a request may take before it is answered with
            ``REQUEST_TIMEOUT``; None for no limit.
        tool_schemas: Raw JSON Schemas by tool name: arguments are validated
            by djed-validator before the tool runs.
        rate_limit: A :class:`RateLimiter`, or one :class:`Rate` for every client.
        policies: Turn zero-trust authorization on with these rules (or pass
            ``authorizer=``): every tool, prompt and resource is refused unless
            a policy allows it.
        authorizer: A configured :class:`Authorizer` instead of ``policies``.
        token_verifier: Verifies bearer tokens over HTTP (the SDK's
            ``TokenVerifier``); requests without a valid token get 401 with
            ``WWW-Authenticate``. Needs ``auth``.
        auth: The SDK's ``AuthSettings`` (issuer, resource server URL, scopes
            every request needs).
        subject_from: Maps a verified token to the :class:`Subject` policies see.
        pipeline: The whole pipeline, replacing the default one (start from
            :func:`default_pipeline` to keep the built-in stages).
        plugins: Names of ``djed.mcp_base.middleware`` plugins whose stages join
            the default pipeline, innermost (``"*"`` for every installed one); by
            default ``settings.plugins`` (``DJED_MCP_PLUGINS``).
        server_options: Passed on to ``MCPServer``.

    Raises:
        ValueError: A setting is contradictory (policies and authorizer, a token
            verifier without auth settings...), with what to change.
        PipelineError: The pipeline's dependencies are missing or form a cycle.
        PluginError: A plugin asked for by name is not installed or cannot be loaded.
    """
    if current_state() is None:
        configure_logging()
    if policies is not None and authorizer is not None:
        raise ValueError("pass policies= or authorizer=, not both")
    if (token_verifier is None) != (auth is None):
        raise ValueError(
            "token_verifier and auth go together: the verifier checks bearer tokens, auth"
            " (mcp.server.auth.settings.AuthSettings) names the issuer and this resource"
        )
    if pipeline is not None and (tool_schemas or rate_limit or policies or authorizer or plugins):
        raise ValueError(
            "pipeline= replaces the built-in stages: give tool_schemas, rate_limit, policies"
            " and plugins to default_pipeline(...) instead"
        )
    if policies is not None:
        authorizer = Authorizer(policies)
    if token_verifier is not None and authorizer is None:
        _log.warning(
            "auth is on without policies: every tool, prompt and resource will be refused"
            " (zero trust); pass policies=[Policy(...)] to allow some"
        )
        authorizer = Authorizer(())
    if pipeline is None:
        if timeout is ...:
            settings = settings or ServerSettings.from_env()
            timeout = settings.timeout
        if plugins is None:
            plugins = _configured_plugins(settings)
        limiter = RateLimiter(rate_limit) if isinstance(rate_limit, Rate) else rate_limit
        pipeline = default_pipeline(
            timeout=timeout,
            tool_schemas=tool_schemas,
            rate_limiter=limiter,
            authorizer=authorizer,
            subject_from=subject_from,
            plugins=plugins,
        )
    elif timeout is not ...:
        raise ValueError("pipeline= replaces the built-in stages: give timeout to default_pipeline")
    else:
        _warn_unused_plugins(pipeline, settings)
    server = MCPServer(
        name,
        version=version,
        instructions=instructions,
        token_verifier=token_verifier,
        auth=auth,
        **server_options,
    )
    install(server, pipeline.compose(end_of_pipeline))
    return server


def _configured_plugins(settings: ServerSettings | None) -> tuple[str, ...]:
    """``settings.plugins``, or without settings the plugins ``DJED_MCP_PLUGINS`` names."""
    if settings is not None:
        return settings.plugins
    return requested(os.environ.get(PLUGINS_VARIABLE))


def _warn_unused_plugins(pipeline: Pipeline, settings: ServerSettings | None) -> None:
    """Say so when DJED_MCP_PLUGINS names plugins that a pipeline given by hand leaves out."""
    wanted = _configured_plugins(settings)
    if "*" in wanted:
        wanted = installed_plugin_names()
    present = set(pipeline.order()) if wanted else set()
    missing = [name for name in wanted if name not in present]
    if missing:
        _log.warning(
            "%s names %s, but pipeline= replaces the default pipeline that it applies to;"
            " add them with pipeline.plugin(name) or default_pipeline(plugins=[...])",
            PLUGINS_VARIABLE,
            ", ".join(missing),
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
    metrics: bool | None = None,
    path: str = "/mcp",
) -> Starlette:
    """The streamable-HTTP ASGI app of ``server``, with ``/healthz``, ``/readyz`` and ``/metrics``.

    ``allowed_hosts`` lists the Host header values to accept (``"api.example.com"``,
    ``"api.example.com:443"``, ``"127.0.0.1:*"`` for any port; ``"*"`` only with
    ``allow_any_host=True``). The probes and ``/metrics`` sit outside
    authentication: ``/healthz`` answers 200 while the process runs; ``/readyz``
    runs every ``readiness`` check (a database ping, an open breaker...) and
    answers 200 or 503 with a JSON body listing each, and 503 once a shutdown
    began. ``/metrics`` serves Prometheus text when the ``[otel]`` extra is
    installed (``metrics=None``, the default, mounts it only then; ``True``
    requires it; ``False`` leaves it out).

    Raises:
        ValueError: ``allowed_hosts`` is empty, or holds ``"*"`` without ``allow_any_host``.
        ImportError: ``metrics=True`` without the ``[otel]`` extra.
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
    track_sessions(server)
    checks = dict(readiness or {})
    app.state.djed_draining = False

    async def healthz(_request: HttpRequest) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: HttpRequest) -> JSONResponse:
        results = {name: await _check(check) for name, check in checks.items()}
        if app.state.djed_draining:
            return JSONResponse({"status": "draining", "checks": results}, status_code=503)
        ready = all(results.values())
        body = {"status": "ready" if ready else "not ready", "checks": results}
        return JSONResponse(body, status_code=200 if ready else 503)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    scrape = _scrape_endpoint(metrics)
    if scrape is not None:
        routes.append(Route("/metrics", scrape, methods=["GET"]))
    app.router.routes[0:0] = routes
    return app


def _scrape_endpoint(metrics: bool | None) -> Callable[[HttpRequest], Any] | None:
    if metrics is False:
        return None
    try:
        return metrics_endpoint()
    except ImportError:
        if metrics:
            raise
        return None


def run(server: MCPServer, settings: ServerSettings | None = None, **app_options: Any) -> None:
    """Serve over stdio or streamable HTTP, as ``settings`` (by default the environment) say.

    Over HTTP, uvicorn serves :func:`build_app` (``app_options`` go to it)
    without touching logging (djed-logger renders its records). On SIGTERM or
    Ctrl-C the server stops accepting connections, ``/readyz`` answers 503, and
    in-flight requests get ``drain_timeout`` seconds to finish before the
    process exits.

    Raises:
        ValueError: A ``DJED_MCP_*`` variable holds a bad value (named in the message).
    """
    settings = settings or ServerSettings.from_env()
    if settings.transport == "stdio":
        server.run("stdio")
        return
    import uvicorn  # noqa: PLC0415 - only for HTTP

    options: dict[str, Any] = {
        "allowed_hosts": settings.hosts(),
        "allowed_origins": settings.allowed_origins,
        "stateless": settings.stateless,
        "json_response": settings.json_response,
        "max_request_body_size": settings.max_request_body_size,
        "max_sessions": settings.max_sessions,
        "path": settings.path,
    }
    app = build_app(server, **(options | app_options))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep uvicorn's hands off logging: djed-logger renders its records
        timeout_graceful_shutdown=max(1, round(settings.drain_timeout)),
    )
    _DrainingServer(config, app).run()


class _DrainingServer:
    """uvicorn's server, marking the app as draining (``/readyz`` 503) when asked to stop."""

    def __init__(self, config: Any, app: Starlette) -> None:
        import uvicorn  # noqa: PLC0415 - only for HTTP

        app_state = app.state

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                if not app_state.djed_draining:
                    app_state.djed_draining = True
                    _log.info(
                        "%s: draining in-flight requests, then stopping",
                        signal.Signals(sig).name,
                    )
                super().handle_exit(sig, frame)

        self.server = Server(config)

    def run(self) -> None:
        self.server.run()
