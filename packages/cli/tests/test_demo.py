"""The demo's server side, over real HTTP, WebSockets and MCP: API, live edits, queue, restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from djed.cli._demo import Demo
from djed.crdt import SyncClient, SyncClosedError
from djed.mcp_base.testing import connect_http, serve
from mcp.shared.exceptions import MCPError
from pycrdt import Array, Map

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.contextmanager
def running(data: Path, **options: Any) -> Iterator[tuple[str, Demo]]:
    demo = Demo(data, **options)
    with serve(demo.app(metrics=False), ws="websockets-sansio") as url:
        yield url, demo


def _eventually(check: Any, within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


async def test_seeded_invoices_with_exact_totals(tmp_path: Path) -> None:
    with running(tmp_path) as (url, _demo):
        async with httpx.AsyncClient(base_url=url) as http:
            listed = (await http.get("/api/invoices")).json()["invoices"]
            acme = (await http.get("/api/invoices/1001")).json()
            missing = await http.get("/api/invoices/999")
            bad = await http.get("/api/invoices/abc")
            page = await http.get("/")
    assert [i["customer"] for i in listed] == ["Acme Rockets", "Globex", "Initech"]
    assert acme["subtotal"] == "1350.00"  # 2 x 450.00 + 1.5 x 300.00
    assert acme["tax"] == "270.00"
    assert acme["total"] == "1620.00"
    assert [line["amount"] for line in acme["lines"]] == ["900.00", "450.00"]
    initech = next(i for i in listed if i["customer"] == "Initech")
    assert initech["total"] == "161.99"  # (125.00 + 9.99) x 1.2 = 161.988, half-up
    assert missing.status_code == 404
    assert "no invoice 999" in missing.json()["error"]
    assert bad.status_code == 400
    assert page.status_code == 200
    assert "session" in page.cookies


async def test_an_agent_edit_reaches_an_open_document(tmp_path: Path) -> None:
    with running(tmp_path) as (url, _demo):
        ws = url.replace("http", "ws") + "/sync"
        async with SyncClient(ws, "invoice-1002") as browser:
            await browser.wait_synced(timeout=10)
            lines = browser.doc.get("lines", type=Array)
            assert len(lines) == 1
            async with connect_http(url) as agent:
                added = await agent.call_tool(
                    "add_line_item",
                    {
                        "invoice_id": "1002",
                        "description": "Rush fee",
                        "quantity": "1",
                        "unit_price": "99.90",
                    },
                )
                with pytest.raises(MCPError, match="/quantity: must match pattern"):
                    await agent.call_tool(
                        "add_line_item",
                        {
                            "invoice_id": "1002",
                            "description": "x",
                            "quantity": "lots",
                            "unit_price": "1",
                        },
                    )
                unknown = await agent.call_tool("get_invoice", {"invoice_id": "4242"})
            assert not added.is_error, added
            assert added.structured_content["total"] == "3179.88"  # (2550.00 + 99.90) x 1.2
            if len(lines) < 2:
                arrived = asyncio.Event()
                subscription = lines.observe(lambda _event: arrived.set())
                try:
                    await asyncio.wait_for(arrived.wait(), 10)
                finally:
                    lines.unobserve(subscription)
            assert [str(line["description"]) for line in lines] == [
                "Consulting, per day",
                "Rush fee",
            ]
    assert unknown.is_error
    assert "no invoice 4242" in unknown.content[0].text


async def test_a_browser_edit_reaches_the_agent_and_the_list(tmp_path: Path) -> None:
    with running(tmp_path) as (url, _demo):
        async with SyncClient(url.replace("http", "ws") + "/sync", "invoice-1003") as browser:
            await browser.wait_synced(timeout=10)
            browser.doc.get("invoice", type=Map)["customer"] = "Initrode"
            await browser.wait_synced(timeout=10)
        async with connect_http(url) as agent:
            found = await agent.call_tool("get_invoice", {"invoice_id": "1003"})
        assert found.structured_content["customer"] == "Initrode"

        def listed() -> bool:
            rows = httpx.get(f"{url}/api/invoices").json()["invoices"]
            return any(row["customer"] == "Initrode" for row in rows)

        assert _eventually(listed), "the cached list follows the document"


def test_failing_gateway_queues_then_delivers(tmp_path: Path) -> None:
    with running(tmp_path, gateway_mode="failing") as (url, demo):
        sent = httpx.post(f"{url}/api/invoices/1001/send", timeout=30).json()
        assert sent["delivery"] == "queued"
        state = httpx.get(f"{url}/api/gateway").json()
        assert state["queued"] == 1
        assert httpx.get(f"{url}/api/invoices/1001").json()["delivery"] == "queued"

        assert httpx.put(f"{url}/api/gateway", json={"mode": "ok"}).json()["mode"] == "ok"

        def delivered() -> bool:
            invoice = httpx.get(f"{url}/api/invoices/1001").json()
            return bool(invoice["delivery"] == "sent" and invoice["status"] == "sent")

        assert _eventually(delivered, within=20), httpx.get(f"{url}/api/gateway").json()
        assert demo.gateway.delivered == ["1001"]
        assert httpx.get(f"{url}/api/gateway").json()["queued"] == 0


def test_bad_gateway_requests(tmp_path: Path) -> None:
    with running(tmp_path) as (url, _demo):
        wrong = httpx.put(f"{url}/api/gateway", json={"mode": "sideways"})
        garbage = httpx.put(f"{url}/api/gateway", content=b"{not json")
        empty = httpx.post(f"{url}/api/invoices", timeout=10).json()
        nothing = httpx.post(f"{url}/api/invoices/{empty['id']}/send", timeout=10)
    assert wrong.status_code == 400
    assert "one of ok, failing, slow" in wrong.json()["error"]
    assert garbage.status_code == 400
    assert empty["id"] == "1004"
    assert nothing.status_code == 400
    assert "nothing to charge" in nothing.json()["error"]


def test_everything_survives_a_restart_even_the_queue(tmp_path: Path) -> None:
    with running(tmp_path, gateway_mode="failing") as (url, _demo):
        httpx.post(f"{url}/api/invoices", timeout=10)
        assert (
            httpx.post(f"{url}/api/invoices/1002/send", timeout=30).json()["delivery"] == "queued"
        )
    with running(tmp_path) as (url, demo):
        rows = httpx.get(f"{url}/api/invoices").json()["invoices"]
        assert [row["id"] for row in rows] == ["1001", "1002", "1003", "1004"]

        def drained() -> bool:
            return bool(httpx.get(f"{url}/api/invoices/1002").json()["delivery"] == "sent")

        assert _eventually(drained, within=20)
        assert demo.gateway.delivered == ["1002"]


_TRACE_SCRIPT = """
import asyncio, io, json, sys
from pathlib import Path
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from djed.logger import configure_logging
from djed.cli._demo import Demo
from mcp import Client

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)
lines = io.StringIO()
configure_logging(stream=lines, format="json")

async def main():
    demo = Demo(Path(sys.argv[1]))
    async with demo.running(), Client(demo.mcp, mode="legacy") as client:
        await client.call_tool("send_invoice", {"invoice_id": "1001"})

asyncio.run(main())
print(json.dumps({
    "spans": [[s.name, format(s.context.trace_id, "032x")] for s in spans.get_finished_spans()],
    "logs": [json.loads(line) for line in lines.getvalue().splitlines()],
}))
"""


def test_one_trace_from_the_mcp_call_to_the_gateway(tmp_path: Path) -> None:
    """The tool call, the gateway span and the gateway's log line share one trace id."""
    done = subprocess.run(  # a process of its own: one tracer provider per process
        [sys.executable, "-c", _TRACE_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    traces = dict(found["spans"])
    call = traces["tools/call send_invoice"]
    assert traces["gateway.deliver"] == call
    assert traces["MCP send tools/call send_invoice"] == call, "the client started the trace"
    gateway_lines = [log for log in found["logs"] if log["event"].startswith("gateway delivered")]
    assert [log["trace_id"] for log in gateway_lines] == [call]


def test_the_invoice_opened_next_is_prefetched(tmp_path: Path) -> None:
    """After sessions that open 1001 then 1003, opening 1001 loads 1003 ahead of time."""
    with running(tmp_path) as (url, demo):
        # The seed's change notifications (0.2 s debounce) drop cached entries: let them pass.
        time.sleep(1.0)
        for session in ("s1", "s2", "s3"):
            for invoice in ("1001", "1003"):
                httpx.get(f"{url}/api/invoices/{invoice}", cookies={"session": session})
        # An edit of 1003 drops it from the cache (only keys not fresh are prefetched).
        assert demo.loop is not None
        forget = demo.cache.delete("/api/invoices/1003")
        asyncio.run_coroutine_threadsafe(forget, demo.loop).result(timeout=10)
        httpx.get(f"{url}/api/invoices/1001", cookies={"session": "newcomer"})

        def prefetched() -> bool:
            assert demo.loop is not None
            cached = demo.cache.get("/api/invoices/1003")
            return asyncio.run_coroutine_threadsafe(cached, demo.loop).result(10) is not None

        assert _eventually(prefetched, within=10)
        before = demo.cache.stats.prefetch_hits
        answer = httpx.get(f"{url}/api/invoices/1003", cookies={"session": "newcomer"})
        assert answer.json()["customer"] == "Initech"
        assert demo.cache.stats.prefetch_hits == before + 1


def test_a_made_up_room_is_refused(tmp_path: Path) -> None:
    """Connecting to /sync/invoice-9999 creates no invoice 9999."""

    async def connect(url: str) -> None:
        async with SyncClient(url.replace("http", "ws") + "/sync", "invoice-9999") as client:
            await client.wait_synced(timeout=10)

    with running(tmp_path) as (url, _demo):
        with pytest.raises(SyncClosedError, match="4403"):
            asyncio.run(connect(url))
        assert httpx.get(f"{url}/api/invoices/9999").status_code == 404
        assert len(httpx.get(f"{url}/api/invoices").json()["invoices"]) == 3


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", "12"),
        ("12.5", "12.5"),
        (".5", "0.5"),
        ("+3", "3"),
        ("1e3", "0"),
        ("1_000", "0"),
        ("-2", "0"),
        ("١٢", "0"),
        ("abc", "0"),
        ("1.2.3", "0"),
        ("", "0"),
    ],
)
def test_amounts_read_as_the_page_reads_them(text: str, value: str) -> None:
    from decimal import Decimal

    from djed.cli._demo._invoices import decimal_or_zero

    assert decimal_or_zero(text) == Decimal(value)


def test_the_page_s_own_unit_tests() -> None:
    """demo-web's node:test suite (money, text diffs, the invoice model on real Yjs documents)."""
    from djed.cli._assets import _npm_command

    web = Path(__file__).resolve().parents[1] / "demo-web"
    if not (web / "node_modules").is_dir():
        pytest.skip("run `npm ci` in packages/cli/demo-web first (.ci/run does)")
    command, env = _npm_command()
    done = subprocess.run(
        [*command, "test"],
        cwd=web,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout


async def test_the_mcp_tools_over_stdio(tmp_path: Path) -> None:
    """`djed demo --stdio`: a desktop client's view of the same invoices."""
    from mcp import Client, StdioServerParameters

    from ._cli_support import DJED

    parameters = StdioServerParameters(
        command=str(DJED), args=["demo", "--stdio", "--data", str(tmp_path)], cwd=tmp_path
    )
    async with Client(parameters) as client:
        listed = await client.call_tool("list_invoices", {})
        created = await client.call_tool("create_invoice", {"customer": "Umbrella"})
    assert [row["id"] for row in listed.structured_content["result"]] == ["1001", "1002", "1003"]
    assert created.structured_content["id"] == "1004"
    assert created.structured_content["total"] == "0.00"


def test_a_slow_gateway_is_cut_off_and_queued(tmp_path: Path) -> None:
    """Past the 2 s timeout the call counts as failed: the invoice waits in the queue."""
    with running(tmp_path, gateway_mode="slow", slow_seconds=4.0) as (url, _demo):
        started = time.monotonic()
        sent = httpx.post(f"{url}/api/invoices/1003/send", timeout=30).json()
        assert sent["delivery"] == "queued"
        assert time.monotonic() - started < 3.5, "the caller waited for the timeout, not longer"


def test_sending_twice_charges_once(tmp_path: Path) -> None:
    """The gateway is called with an idempotency key: one charge per invoice and amount."""
    with running(tmp_path) as (url, demo):
        first = httpx.post(f"{url}/api/invoices/1001/send", timeout=30).json()
        again = httpx.post(f"{url}/api/invoices/1001/send", timeout=30).json()
    assert first == again
    assert demo.gateway.delivered == ["1001"]
