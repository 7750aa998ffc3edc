"""Serve one benchmark server over streamable HTTP: ``python _serve.py raw|djed PORT [CPU]``.

uvicorn on 127.0.0.1:PORT, access log off and its logging left alone
(``log_config=None``). ``djed`` is ``build_app(djed_server())`` with its logs (a
request line and an audit line per call) rendered as JSON lines to ``/dev/null``;
``raw`` is the SDK's own ``streamable_http_app`` with the settings ``build_app``
gives it, so the only difference between the two is Djed's middleware (and the
``/healthz``, ``/readyz`` and ``/metrics`` routes, which no benchmark request
matches). With CPU, the process runs on that core alone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import uvicorn
from _servers import djed_server, raw_server
from djed.logger import configure_logging
from djed.mcp_base import build_app
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

JSON_RESPONSE = True
MAX_SESSIONS = 1000
MAX_BODY = 1_048_576  # build_app's default max_request_body_size


def make_app(kind: str, port: int) -> Starlette:
    """The ASGI app of the ``raw`` or ``djed`` server, accepting Host 127.0.0.1:PORT."""
    hosts = [f"127.0.0.1:{port}"]
    if kind == "djed":
        sink = Path(os.devnull).open("w")  # noqa: SIM115 - open for the process's life
        configure_logging(stream=sink, format="json")
        return build_app(
            djed_server(),
            allowed_hosts=hosts,
            json_response=JSON_RESPONSE,
            max_sessions=MAX_SESSIONS,
            max_request_body_size=MAX_BODY,
        )
    if kind != "raw":
        raise SystemExit(f"unknown server {kind!r}: use raw or djed")
    return raw_server().streamable_http_app(
        json_response=JSON_RESPONSE,
        max_sessions=MAX_SESSIONS,
        max_request_body_size=MAX_BODY,
        transport_security=TransportSecuritySettings(allowed_hosts=hosts),
    )


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    if len(argv) > 2:
        os.sched_setaffinity(0, {int(argv[2])})
    uvicorn.run(
        make_app(kind, port),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
