"""A small HTTP service that logs every request through djed.logger into a file.

Run as ``python _logging_service.py PORT LOG_FILE``; the chaos tests fill the disk
under the file. Routes: ``POST /orders`` (logs a line per order, a warning every
tenth), ``GET /stats`` (the logger's counters), ``GET /health``. uvicorn's own
lines go through the same logger (djed.logger bridges the ``logging`` module).
"""

from __future__ import annotations

import itertools
import os
import sys

import uvicorn
from djed.logger import configure_logging, current_state, get_logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_orders = itertools.count(1)


async def orders(request: Request) -> JSONResponse:
    number = next(_orders)
    log = get_logger("chaos.orders")
    payload = await request.body()
    log.info("order received", order=number, size=len(payload), note="x" * 120)
    if number % 10 == 0:
        log.warning("order flagged for review", order=number)
    return JSONResponse({"order": number})


async def stats(_request: Request) -> JSONResponse:
    state = current_state()
    assert state is not None
    return JSONResponse({**state.stats(), "pid": os.getpid()})


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    configure_logging(file=path, format="json", service="chaos-orders", metrics=False)
    routes = [
        Route("/orders", orders, methods=["POST"]),
        Route("/stats", stats),
        Route("/health", health),
    ]
    uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=port, log_config=None)


if __name__ == "__main__":
    main()
