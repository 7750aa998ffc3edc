"""The invoice demo: one process, every Djed package at work.

- djed-crdt serves each invoice as a Yjs document (``/sync/invoice-<id>``),
  stored in SQLite before it is shared;
- djed-mcp-base serves the same invoices to agents (``/mcp``), with probes and
  ``/metrics``;
- djed-breaker sends invoices to the simulated gateway, queueing them durably
  when it fails;
- djed-cache serves the invoice list and each invoice's first paint, with the
  predictive prefetcher warming the invoice a user usually opens next;
- djed-logger writes every line, with the trace id of the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

from djed.cache import Cache, NavigationModel, Prefetcher, PrefetchMiddleware
from djed.crdt import Access, AuthRequest, SQLiteStorage, SyncServer
from djed.mcp_base import build_app
from pycrdt import Doc, Map
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

from ._gateway import MODES, Gateway, Mode, Sender
from ._invoices import (
    SHAPE,
    STATUSES,
    InvoiceError,
    add_line,
    document_name,
    full,
    invoice_id,
    new_invoice,
    summary,
)

__all__ = ["STATIC", "Demo"]

STATIC = Path(__file__).parent / "static"
_log = logging.getLogger("djed.demo")
_FIRST_ID = 1001
_SEED = (
    ("Acme Rockets", [("Launch pad rental", "2", "450.00"), ("Fuel, per tonne", "1.5", "300.00")]),
    ("Globex", [("Consulting, per day", "3", "850.00")]),
    ("Initech", [("TPS report review", "10", "12.50"), ("Stapler, red", "1", "9.99")]),
)


class Demo:
    """The demo's parts, wired together; :meth:`app` is the ASGI application."""

    def __init__(
        self, data_dir: Path, *, gateway_mode: Mode = "ok", slow_seconds: float = 5.0
    ) -> None:
        from ._tools import register_tools  # noqa: PLC0415 - the tools need the Demo

        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.sync = SyncServer(
            SQLiteStorage(str(data_dir / "documents.sqlite3")),
            shape=SHAPE,
            authorize=self._authorize,
            on_change=self._changed,
            change_debounce=0.2,
        )
        self.cache = Cache(ttl=60)
        self.prefetcher = Prefetcher(
            self.cache, self._load, NavigationModel(order=2), threshold=0.2
        )
        self.gateway = Gateway(gateway_mode, slow_seconds=slow_seconds)
        self.sender = Sender(self.gateway, data_dir / "outbox.sqlite3", self._delivered)
        self.mcp = register_tools(self)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._create_lock = asyncio.Lock()
        self._ids: set[str] | None = None  # read from the store on first use

    # --- reading --------------------------------------------------------------------

    async def ids(self) -> list[str]:
        """Every invoice id, oldest first.

        The store is asked once; after that only :meth:`create` adds invoices (browsers
        cannot: :meth:`_authorize` refuses rooms of unknown invoices).
        """
        if self._ids is None:
            names = await self.sync.storage.names()
            self._ids = {identifier for name in names if (identifier := invoice_id(name))}
        return sorted(self._ids, key=int)

    async def invoice(self, identifier: str) -> dict[str, Any]:
        """Invoice ``identifier`` as it is now, read from its live document."""
        name = document_name(identifier)
        if identifier not in await self.ids():
            raise InvoiceError(f"no invoice {identifier}")
        return full(identifier, await self.sync.read(name))

    async def invoices(self) -> list[dict[str, Any]]:
        """The invoice list, as it is now."""
        return [
            summary(identifier, await self.sync.read(document_name(identifier)))
            for identifier in await self.ids()
        ]

    async def _load(self, key: str) -> Any:
        """What a cached API path holds (the prefetcher loads through this too)."""
        if key == "/api/invoices":
            return {"invoices": await self.invoices()}
        return await self.invoice(key.rsplit("/", 1)[-1])

    async def cached(self, key: str) -> Any:
        """An API path through the cache."""
        return await self.cache.get_or_load(key, lambda: self._load(key))

    async def _forget(self, identifier: str) -> None:
        await self.cache.delete(f"/api/invoices/{identifier}")
        await self.cache.delete("/api/invoices")

    async def _changed(self, name: str, _doc: Doc[Any]) -> None:
        identifier = invoice_id(name)
        if identifier is not None:
            await self._forget(identifier)

    async def _authorize(self, request: AuthRequest) -> Access:
        """Browsers may open existing invoices only: a made-up room name creates nothing."""
        identifier = invoice_id(request.document)
        return "read-write" if identifier is not None and identifier in await self.ids() else None

    # --- writing --------------------------------------------------------------------

    async def edit(self, identifier: str, change: Callable[[Doc[Any]], Any]) -> None:
        """Change an existing invoice's document, live for every open page."""
        if identifier not in await self.ids():
            raise InvoiceError(f"no invoice {identifier}")
        await self.sync.edit(document_name(identifier), change)
        await self._forget(identifier)

    async def create(
        self, customer: str = "", lines: list[tuple[str, str, str]] | None = None
    ) -> str:
        """A new draft invoice; its id."""
        async with self._create_lock:
            existing = await self.ids()
            identifier = str(max((int(i) for i in existing), default=_FIRST_ID - 1) + 1)
            await self.sync.edit(
                document_name(identifier),
                lambda doc: new_invoice(doc, identifier, customer, lines or []),
            )
            assert self._ids is not None  # filled by ids() above
            self._ids.add(identifier)
        await self.cache.delete("/api/invoices")
        _log.info("invoice created", extra={"invoice_id": identifier})
        return identifier

    async def add_line(
        self, identifier: str, description: str, quantity: str, unit_price: str
    ) -> str:
        """Append a line item to an invoice; the line's id."""
        added: list[str] = []
        await self.edit(
            identifier, lambda doc: added.append(add_line(doc, description, quantity, unit_price))
        )
        return added[0]

    async def set_status(self, identifier: str, status: str) -> None:
        """Set an invoice's status (draft, sent, paid, void)."""
        if status not in STATUSES:
            raise InvoiceError(f"status {status!r}: one of {', '.join(STATUSES)}")
        await self.edit(
            identifier, lambda doc: doc.get("invoice", type=Map).update({"status": status})
        )

    async def send(self, identifier: str) -> dict[str, str]:
        """Send an invoice through the gateway: delivered now, or queued until it is back."""
        invoice = await self.invoice(identifier)
        if invoice["total"] == "0.00":
            raise InvoiceError(f"invoice {identifier} has nothing to charge: add a line first")
        delivery, detail = await asyncio.to_thread(
            self.sender.send, identifier, invoice["number"], invoice["total"]
        )
        if delivery == "sent":
            await self._mark_delivered(identifier, detail)
        else:
            await self.edit(
                identifier, lambda doc: doc.get("invoice", type=Map).update({"delivery": "queued"})
            )
            _log.warning("invoice queued for the gateway", extra={"invoice_id": identifier})
        return {"delivery": delivery, "message": detail}

    async def _mark_delivered(self, identifier: str, receipt: str) -> None:
        when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")

        def delivered(doc: Doc[Any]) -> None:
            invoice = doc.get("invoice", type=Map)
            invoice.update({"delivery": "sent", "delivered_at": when, "receipt": receipt})
            if invoice.get("status") == "draft":
                invoice["status"] = "sent"

        await self.edit(identifier, delivered)

    def _delivered(self, identifier: str, receipt: str) -> None:
        """Called from the queue's drainer thread when a queued invoice went out."""
        if self.loop is None:
            raise RuntimeError("the demo is not running")
        future = asyncio.run_coroutine_threadsafe(
            self._mark_delivered(identifier, receipt), self.loop
        )
        future.result(timeout=30)

    async def seed(self) -> None:
        """Three invoices to start with, on first start."""
        if not await self.ids():
            for customer, lines in _SEED:
                await self.create(customer, list(lines))

    # --- serving --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Seed, drain the queue in the background, and close everything at the end."""
        self.loop = asyncio.get_running_loop()
        await self.seed()
        self.sender.start()
        try:
            yield
        finally:
            await asyncio.to_thread(self.sender.stop)
            await self.sync.stop()

    def app(
        self, *, allowed_hosts: list[str] | None = None, metrics: bool | None = None
    ) -> ASGIApp:
        """The whole application: page, API, documents, MCP, probes and ``/metrics``.

        ``metrics=False`` leaves ``/metrics`` out (and the process's meter provider alone).
        """
        hosts = allowed_hosts or ["127.0.0.1:*", "localhost:*"]
        readiness = {"documents": self._ready}
        app = build_app(self.mcp, allowed_hosts=hosts, readiness=readiness, metrics=metrics)
        app.router.routes[0:0] = [*self._routes(), *self.sync.routes("/sync")]
        inner = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(application: Starlette) -> AsyncIterator[Any]:
            async with inner(application) as state, self.running():
                yield state

        app.router.lifespan_context = lifespan
        # djed-cache types ASGI scopes as dict, Starlette as MutableMapping: the same thing.
        prefetching: Any = PrefetchMiddleware(cast("Any", app), self.prefetcher, key=_invoice_path)
        return cast("ASGIApp", prefetching)

    async def _ready(self) -> bool:
        await self.sync.storage.names()
        return True

    def _routes(self) -> list[Route | Mount]:
        return [
            Route("/", self._page, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Route("/api/invoices", self._list, methods=["GET"]),
            Route("/api/invoices", self._create, methods=["POST"]),
            Route("/api/invoices/{id}", self._get, methods=["GET"]),
            Route("/api/invoices/{id}/send", self._send, methods=["POST"]),
            Route("/api/gateway", self._gateway, methods=["GET", "PUT"]),
        ]

    async def _page(self, request: Request) -> Response:
        response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
        if "session" not in request.cookies:  # the prefetcher learns per browser session
            response.set_cookie("session", uuid.uuid4().hex, httponly=True, samesite="lax")
        return response

    async def _list(self, _request: Request) -> Response:
        return JSONResponse(await self.cached("/api/invoices"))

    async def _get(self, request: Request) -> Response:
        return await _answer(lambda: self.cached(request.url.path))

    async def _create(self, _request: Request) -> Response:
        return await _answer(lambda: _id(self.create()), status=201)

    async def _send(self, request: Request) -> Response:
        return await _answer(lambda: self.send(request.path_params["id"]))

    async def _gateway(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse({"error": 'send JSON such as {"mode": "failing"}'}, 400)
            mode = body.get("mode") if isinstance(body, dict) else None
            if mode not in MODES:
                return JSONResponse({"error": f"mode: one of {', '.join(MODES)}"}, 400)
            self.gateway.mode = mode
            _log.info("gateway mode set to %s", mode)
        state = {
            "mode": self.gateway.mode,
            "breaker": str(self.sender.breaker.state),
            "queued": self.sender.queued(),
        }
        return JSONResponse(state)


async def _id(created: Any) -> dict[str, str]:
    return {"id": await created}


async def _answer(produce: Callable[[], Any], status: int = 200) -> Response:
    try:
        return JSONResponse(await produce(), status)
    except InvoiceError as error:
        missing = str(error).startswith("no invoice")
        return JSONResponse({"error": str(error)}, 404 if missing else 400)


def _invoice_path(scope: Scope) -> str | None:
    """The prefetcher learns from invoice openings only."""
    path = str(scope.get("path", ""))
    parts = path.strip("/").split("/")
    if len(parts) == 3 and parts[:2] == ["api", "invoices"] and parts[2].isdigit():
        return path
    return None
