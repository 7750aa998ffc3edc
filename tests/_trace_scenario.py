"""One MCP tool call through every package, traced: run as a process of its own.

A process of its own, because OpenTelemetry allows one tracer provider per process.
Prints one JSON line: the finished spans (name, trace id, span id, parent id) and the
log lines of the run.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from djed.breaker import CircuitBreaker, Guard
from djed.cache import Cache
from djed.crdt import MemoryStorage, SyncServer
from djed.logger import configure_logging, get_logger
from djed.mcp_base import create_server
from mcp import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pycrdt import Map

SCHEMA = {
    "type": "object",
    "properties": {"customer": {"type": "string", "minLength": 1}},
    "required": ["customer"],
}


def gateway(customer: str) -> str:
    """The remote call, in the guard's worker thread."""
    get_logger("gateway").info("charged", customer=customer)
    return f"receipt-for-{customer}"


async def scenario() -> None:
    """Serve one tool that uses every package, and call it once."""
    cache = Cache(ttl=60)
    guard = Guard(CircuitBreaker("gateway"), timeout=5.0)
    documents = SyncServer(MemoryStorage())
    server = create_server("traced", tool_schemas={"bill": SCHEMA}, timeout=30)
    log = get_logger("tool")

    async def customer_record(customer: str) -> dict[str, Any]:
        return {"name": customer, "terms": "30 days"}

    @server.tool()
    async def bill(customer: str) -> str:
        record = await cache.get_or_load(f"customer:{customer}", lambda: customer_record(customer))
        receipt = await asyncio.to_thread(guard.call, gateway, record["name"])
        await documents.edit(
            "invoice-1", lambda doc: doc.get("invoice", type=Map).update({"receipt": receipt})
        )
        log.info("billed", customer=customer, receipt=receipt)
        return receipt

    async with Client(server, mode="legacy") as client:
        await client.call_tool("bill", {"customer": "acme"})
    await documents.stop()


def main() -> None:
    """Run the scenario with an in-memory exporter and JSON logs; print what was recorded."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)
    lines = io.StringIO()
    configure_logging(stream=lines, format="json", level="info")
    asyncio.run(scenario())
    finished = [
        {
            "name": span.name,
            "trace": format(span.context.trace_id, "032x"),
            "id": format(span.context.span_id, "016x"),
            "parent": format(span.parent.span_id, "016x") if span.parent else None,
        }
        for span in spans.get_finished_spans()
    ]
    logs = [json.loads(line) for line in lines.getvalue().splitlines()]
    print(json.dumps({"spans": finished, "logs": logs}))  # the report to the test


if __name__ == "__main__":
    main()
