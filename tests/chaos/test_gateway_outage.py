"""The demo's payment and e-mail gateway fails for a while (5 s; a minute with DJED_CHAOS_LONG=1).

``djed demo`` sends invoices through a djed-breaker Guard: a circuit breaker, a
2 s timeout and a durable queue-for-retry, drained by a Replayer once the gateway
answers again. What a user was promised: while the gateway is down every send
answers at once, saying clearly that the invoice is queued; the rest of the app
works; once the gateway is back every queued invoice goes out by itself (no
restart), exactly once, and its document says so.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from djed.cli._demo import Demo
from djed.cli._demo._invoices import document_name
from djed.mcp_base.testing import serve

from ._chaos_support import lasting, wait_until

SEND_TIMEOUT = 2.0  # the demo's Guard gives the gateway this long


@contextlib.contextmanager
def running(data: Path, **options: Any) -> Iterator[tuple[httpx.Client, Demo]]:
    demo = Demo(data, **options)
    with (
        serve(demo.app(metrics=False), ws="websockets-sansio") as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield http, demo


def on_loop(demo: Demo, work: Any) -> Any:
    """Run a coroutine on the demo's event loop (the server's thread) and return its result."""
    assert demo.loop is not None
    return asyncio.run_coroutine_threadsafe(work, demo.loop).result(30)


def new_invoice(http: httpx.Client, demo: Demo, customer: str) -> str:
    """A draft invoice with one line, made the way a user makes one."""
    identifier = str(http.post("/api/invoices").json()["id"])
    on_loop(demo, demo.add_line(identifier, f"Order of {customer}", "2", "12.50"))
    return identifier


def receipts(demo: Demo, identifiers: list[str]) -> dict[str, Any]:
    """The receipt each invoice's document records (None when it has none)."""
    found = {}
    for identifier in identifiers:
        data = on_loop(demo, demo.sync.read(document_name(identifier)))
        found[identifier] = data["invoice"].get("receipt")
    return found


def test_invoices_sent_during_a_gateway_outage_go_out_exactly_once(tmp_path: Path) -> None:
    outage = lasting(5.0, 60.0)
    with running(tmp_path) as (http, demo):
        assert http.post("/api/invoices/1001/send").json()["delivery"] == "sent"
        assert http.put("/api/gateway", json={"mode": "failing"}).status_code == 200

        sent: list[str] = []
        slowest = 0.0
        started = time.monotonic()
        while time.monotonic() - started < outage:
            identifier = new_invoice(http, demo, f"customer {len(sent)}")
            before = time.monotonic()
            answer = http.post(f"/api/invoices/{identifier}/send")
            slowest = max(slowest, time.monotonic() - before)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["delivery"] == "queued", body
            assert "queued" in body["message"], body  # says what happened, and what comes next
            sent.append(identifier)
            # Reading works throughout (through djed-cache and the CRDT documents).
            assert http.get(f"/api/invoices/{identifier}").json()["delivery"] == "queued"
            time.sleep(0.2)
        # The seeded invoices too, and one of them twice: a user clicking "send" again.
        for identifier in ("1002", "1003", "1003"):
            body = http.post(f"/api/invoices/{identifier}/send").json()
            assert body["delivery"] == "queued", body
        sent += ["1002", "1003"]
        state = http.get("/api/gateway").json()
        assert state["queued"] == len(sent), state  # each invoice waits once, not per click
        assert state["breaker"] in {"open", "half_open"}, state
        assert slowest < SEND_TIMEOUT + 1.0, f"a send took {slowest:.2f} s during the outage"
        rows = {row["id"]: row for row in http.get("/api/invoices").json()["invoices"]}
        assert all(rows[i]["delivery"] == "queued" for i in sent), "the list shows the queue"

        assert http.put("/api/gateway", json={"mode": "ok"}).status_code == 200
        back = time.monotonic()

        def all_delivered() -> bool:
            return all(http.get(f"/api/invoices/{i}").json()["delivery"] == "sent" for i in sent)

        # The replayer backs off (1 s, doubling) between failed probes: allow one period.
        wait_until(all_delivered, "every queued invoice to go out", within=outage + 30.0)
        drained_in = time.monotonic() - back

        charged = collections.Counter(demo.gateway.delivered)
        assert charged["1001"] == 1
        twice = {i: n for i, n in charged.items() if n > 1}
        assert not twice, f"invoices charged more than once: {twice}"
        assert set(sent) <= set(charged), "an invoice sent during the outage was never charged"
        recorded = receipts(demo, sent)
        assert all(recorded.values()), recorded
        assert len(set(recorded.values())) == len(sent), "two documents share one receipt"
        for identifier in sent:
            invoice = http.get(f"/api/invoices/{identifier}").json()
            assert invoice["status"] == "sent", invoice
            assert invoice["delivered_at"], invoice
        state = http.get("/api/gateway").json()
        assert state["queued"] == 0, state
        assert demo.sender.outbox.dead() == [], "nothing was given up on"
        assert http.post("/api/invoices/1001/send").json()["delivery"] == "sent", "live again"
    print(f"gateway: {len(sent)} invoices queued in a {outage:g} s outage;")
    print(f"gateway: all delivered {drained_in:.2f} s after it came back")


def test_a_gateway_that_hangs_charges_each_invoice_once(tmp_path: Path) -> None:
    """The gateway hangs instead of failing: the send is cut off, queued, and charged once."""
    with running(tmp_path, gateway_mode="slow", slow_seconds=SEND_TIMEOUT + 0.5) as (http, demo):
        body = http.post("/api/invoices/1002/send").json()
        assert body["delivery"] == "queued", body
        http.put("/api/gateway", json={"mode": "ok"})
        wait_until(
            lambda: http.get("/api/invoices/1002").json()["delivery"] == "sent",
            "the queued invoice to go out",
        )
        time.sleep(1.0)  # the cut-off call, still running in its worker thread, ends meanwhile
        charged = collections.Counter(demo.gateway.delivered)
        assert charged == {"1002": 1}, f"charged: {dict(charged)}"
