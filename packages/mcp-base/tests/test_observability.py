"""Prometheus metrics, OpenTelemetry traces and trace ids in log lines.

A MeterProvider and a TracerProvider can be set once per process, so each
check runs its server in a fresh interpreter and reports what it saw as JSON.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from djed.mcp_base import build_app, create_server

_COMMON = """
import asyncio, io, json, httpx
from djed.logger import configure_logging
from djed.mcp_base import Rate, build_app, create_server
from djed.mcp_base.testing import connect_http, serve
from mcp.shared.exceptions import MCPError
logs = io.StringIO()
configure_logging(stream=logs, format="json")
server = create_server(
    "bench", version="1.0.0", rate_limit=Rate(per_second=0.01, burst=6),
    tool_schemas={"echo": {"type": "object", "properties": {"text": {"type": "string"}}}},
)
@server.tool()
def echo(text: str) -> str:
    from djed.logger import get_logger
    get_logger("app").info("echoing", text=text)
    return text
"""


def run_script(body: str) -> dict[str, Any]:
    script = _COMMON + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the Prometheus sample ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.partition("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels} in:\n{text}")


class TestMetrics:
    def test_scrape(self) -> None:
        """/metrics has durations by method and tool, sessions, errors by code and denials."""
        report = run_script(
            """
            async def calls(url):
                async with connect_http(url, mode="legacy") as client:
                    await client.call_tool("echo", {"text": "a"})
                    try:
                        await client.call_tool("echo", {"text": 5})
                    except MCPError:
                        pass
                    while True:
                        try:
                            await client.call_tool("echo", {"text": "b"})
                        except MCPError as error:
                            break
                    return httpx.get(url + "/metrics").text
            with serve(build_app(server, allowed_hosts=["127.0.0.1:*"])) as url:
                during = asyncio.run(calls(url))
                after = httpx.get(url + "/metrics")
            print(json.dumps({"during": during, "after": after.text,
                              "type": after.headers["content-type"]}))
            """
        )
        during, after = report["during"], report["after"]
        assert report["type"].startswith("text/plain")
        count = "djed_mcp_request_duration_seconds_count"
        assert sample(after, count, mcp_method="tools/call", mcp_target="echo", outcome="ok") >= 2
        assert sample(after, count, mcp_method="initialize") == 1
        bucket = "djed_mcp_request_duration_seconds_bucket"
        assert sample(after, bucket, mcp_method="tools/call", le="+Inf") >= 2
        assert sample(after, "djed_mcp_request_errors_total", code="-32602") == 1
        assert sample(after, "djed_mcp_request_errors_total", code="-32029") == 1
        assert sample(after, "djed_mcp_denials_total", reason="rate_limit", rule="default") == 1
        assert sample(during, "djed_mcp_sessions_active") == 1
        assert sample(after, "djed_mcp_sessions_active") == 0
        assert sample(after, "djed_mcp_stage_calls_total", stage="validation") >= 2
        assert sample(after, "djed_mcp_stage_time_seconds_total", stage="logging") > 0

    def test_without_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the [otel] extra /metrics is left out, or refused clearly when asked for."""
        monkeypatch.setitem(sys.modules, "prometheus_client", None)
        server = create_server("x")
        app = build_app(server, allowed_hosts=["127.0.0.1"])
        assert "/metrics" not in [getattr(route, "path", None) for route in app.routes]
        with pytest.raises(ImportError, match=r"pip install 'djed-mcp-base\[otel\]'"):
            build_app(create_server("y"), allowed_hosts=["127.0.0.1"], metrics=True)
        app = build_app(create_server("z"), allowed_hosts=["127.0.0.1"], metrics=False)
        assert "/metrics" not in [getattr(route, "path", None) for route in app.routes]


class TestTracing:
    def test_traceparent_from_headers_and_meta(self) -> None:
        """The request span continues the HTTP traceparent, or _meta's when both are given."""
        report = run_script(
            """
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
            HEADER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            META = "00-11111111111111111111111111111111-2222222222222222-01"
            def call(url, meta):
                params = {"name": "echo", "arguments": {"text": "t"}}
                if meta:
                    params["_meta"] = {"traceparent": META}
                body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
                headers = {"traceparent": HEADER, "Accept": "application/json, text/event-stream"}
                return httpx.post(url + "/mcp", json=body, headers=headers).json()
            with serve(build_app(server, allowed_hosts=["127.0.0.1:*"], stateless=True)) as url:
                answers = [call(url, False), call(url, True)]
            spans = [
                {"name": s.name, "trace": format(s.context.trace_id, "032x"),
                 "parent": format(s.parent.span_id, "016x") if s.parent else None}
                for s in exporter.get_finished_spans() if s.name == "tools/call echo"
            ]
            lines = [json.loads(l) for l in logs.getvalue().splitlines() if l.startswith("{")]
            echoing = [l.get("trace_id") for l in lines if l.get("event") == "echoing"]
            requests = [l.get("trace_id") for l in lines if l.get("event") == "mcp request"]
            print(json.dumps({"answers": answers, "spans": spans, "echoing": echoing,
                              "requests": requests}))
            """
        )
        assert all("result" in answer for answer in report["answers"]), report["answers"]
        header_trace, meta_trace = "0af7651916cd43dd8448eb211c80319c", "1" * 32
        assert report["spans"] == [
            {"name": "tools/call echo", "trace": header_trace, "parent": "b7ad6b7169203331"},
            {"name": "tools/call echo", "trace": meta_trace, "parent": "2" * 16},
        ]
        # Every log line of the request carries its trace id: the tool's and the request log.
        assert report["echoing"] == [header_trace, meta_trace]
        assert report["requests"][-2:] == [header_trace, meta_trace]
