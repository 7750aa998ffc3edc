"""`djed demo`: the collaborative invoice editor built from every Djed package.

Needs the ``demo`` extra (``pip install 'djed-cli[demo]'``): djed-crdt,
djed-mcp-base, djed-breaker, djed-cache and djed-logger.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ._app import STATIC, Demo
from ._gateway import MODES, Mode

__all__ = ["MODES", "STATIC", "Demo", "serve", "serve_stdio"]


def _observability(stream: object) -> None:
    """Structured logs (pretty on a terminal) and real trace ids for every request."""
    from djed.logger import configure_logging  # noqa: PLC0415

    configure_logging(stream=stream, service="djed-demo")
    try:
        from opentelemetry import trace  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    except ImportError:  # pragma: no cover - the otel extra of djed-mcp-base brings it
        return
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())


def serve(data_dir: Path, *, host: str, port: int, gateway: Mode = "ok") -> None:
    """Serve the page, the API, the documents and MCP over HTTP until interrupted."""
    import uvicorn  # noqa: PLC0415

    _observability(sys.stdout)
    demo = Demo(data_dir, gateway_mode=gateway)
    hosts = sorted({f"{host}:*", "127.0.0.1:*", "localhost:*"})
    config = uvicorn.Config(
        demo.app(allowed_hosts=hosts),
        host=host,
        port=port,
        log_config=None,
        ws="websockets-sansio",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()


def serve_stdio(data_dir: Path, *, gateway: Mode = "ok") -> None:
    """Serve the MCP tools over stdio (logs go to stderr: stdout carries the protocol)."""
    _observability(sys.stderr)
    demo = Demo(data_dir, gateway_mode=gateway)

    async def main() -> None:
        async with demo.running():
            await demo.mcp.run_stdio_async()

    asyncio.run(main())
