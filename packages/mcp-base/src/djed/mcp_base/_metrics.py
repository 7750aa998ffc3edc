"""OpenTelemetry instruments of the server, and their Prometheus scrape endpoint.

The instruments come from ``opentelemetry-api`` and cost next to nothing until
an SDK ``MeterProvider`` is set. ``/metrics`` needs the ``[otel]`` extra
(``opentelemetry-sdk``, ``opentelemetry-exporter-prometheus``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._adapter import open_sessions

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation
    from starlette.requests import Request as HttpRequest
    from starlette.responses import Response

__all__ = ["Instruments", "instruments", "metrics_endpoint", "track_sessions"]

_log = logging.getLogger("djed.mcp_base")
_lock = threading.Lock()

#: Request-duration buckets in seconds: sub-millisecond in-process calls up to slow tools.
DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class Instruments:
    """The server's instruments, created once per process."""

    def __init__(self) -> None:
        from opentelemetry import metrics  # noqa: PLC0415 - created on first use

        meter = metrics.get_meter("djed.mcp_base")
        self.duration: Histogram = meter.create_histogram(
            "djed.mcp.request.duration",
            unit="s",
            description="Time to answer an MCP request, by method, target and outcome.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.errors: Counter = meter.create_counter(
            "djed.mcp.request.errors",
            unit="{error}",
            description="MCP requests answered with a JSON-RPC error, by code.",
        )
        self.denials: Counter = meter.create_counter(
            "djed.mcp.denials",
            unit="{request}",
            description="Requests refused by the rate limiter or the authorizer, by reason, rule.",
        )
        self.servers: weakref.WeakSet[MCPServer] = weakref.WeakSet()
        meter.create_observable_gauge(
            "djed.mcp.sessions.active",
            callbacks=[self._observe_sessions],
            unit="{session}",
            description="Stateful streamable-HTTP sessions open.",
        )

    def _observe_sessions(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation  # noqa: PLC0415 - runs at collection

        return [Observation(sum(open_sessions(server) for server in list(self.servers)))]


_instruments: Instruments | None = None


def instruments() -> Instruments:
    """The process-wide instruments."""
    global _instruments  # noqa: PLW0603 - instruments are process-wide in OpenTelemetry too
    with _lock:
        if _instruments is None:
            _instruments = Instruments()
        return _instruments


def track_sessions(server: MCPServer) -> None:
    """Count ``server``'s open sessions in the ``djed.mcp.sessions.active`` gauge."""
    instruments().servers.add(server)


_prometheus_ready = False


def metrics_endpoint() -> Callable[[HttpRequest], Any]:
    """A Starlette endpoint answering Prometheus scrapes.

    The first call makes sure the process exports to Prometheus: with no SDK
    ``MeterProvider`` set yet, it sets one reading into ``prometheus_client``'s
    default registry. An application that set its own provider must give it a
    ``PrometheusMetricReader`` itself; the endpoint serves that registry.

    Raises:
        ImportError: The ``[otel]`` extra is not installed, with the command to fix it.
    """
    global _prometheus_ready  # noqa: PLW0603 - a MeterProvider is process-wide
    try:
        from opentelemetry import metrics  # noqa: PLC0415
        from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
        from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest  # noqa: PLC0415
        from starlette.responses import Response  # noqa: PLC0415
    except ImportError as error:
        raise ImportError(
            "/metrics needs the otel extra: pip install 'djed-mcp-base[otel]'"
            f" ({error.name} is missing), or pass metrics=False"
        ) from error
    with _lock:
        if not _prometheus_ready:
            current = metrics.get_meter_provider()
            if isinstance(current, MeterProvider):
                _log.info(
                    "a MeterProvider is already set: /metrics serves prometheus_client's default"
                    " registry, so give that provider a PrometheusMetricReader"
                )
            else:
                metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))
            _prometheus_ready = True

    async def scrape(_request: HttpRequest) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return scrape
