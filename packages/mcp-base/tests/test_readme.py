"""The README's examples run as written: the server over stdio and HTTP, auth, the pipeline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from djed.mcp_base.testing import free_port

README = Path(__file__).parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def block(first_line: str) -> str:
    found = [b for b in python_blocks() if b.startswith(first_line)]
    assert len(found) == 1, f"one README block starting {first_line!r}"
    return found[0]


@pytest.fixture
def server_py(tmp_path: Path) -> Path:
    path = tmp_path / "server.py"
    path.write_text(block("# server.py"))
    return path


def stdio_exchange(script: Path, messages: list[dict[str, Any]], answers: int) -> list[Any]:
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        process.stdin.flush()
        received = [json.loads(process.stdout.readline()) for _ in range(answers)]
        return sorted(received, key=lambda answer: answer["id"])  # requests run concurrently
    finally:
        process.kill()
        process.communicate()


def call(number: str, request_id: int = 2) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "get_invoice", "arguments": {"number": number}},
    }


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "readme", "version": "0"},
    },
}


class TestExampleServer:
    def test_over_stdio(self, server_py: Path) -> None:
        initialized: dict[str, Any] = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        messages = [INITIALIZE, initialized, call("INV-0001"), call("7", 3)]
        hello, good, bad = stdio_exchange(server_py, messages, 3)
        assert hello["result"]["serverInfo"] == {"name": "invoices", "version": "1.0.0"}
        assert good["result"]["structuredContent"]["customer"] == "Acme"
        assert bad["error"]["code"] == -32602
        assert bad["error"]["message"].startswith("invalid arguments for get_invoice: /number:")

    def test_over_http(self, server_py: Path) -> None:
        """The README's curl calls, against the example served over stateless HTTP."""
        port = free_port()
        env = {**os.environ, "DJED_MCP_TRANSPORT": "http", "DJED_MCP_PORT": str(port)}
        env["DJED_MCP_STATELESS"] = "true"
        process = subprocess.Popen(
            [sys.executable, str(server_py)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://localhost:{port}"
        try:
            ready = wait_for(url, process)
            headers = {"Accept": "application/json, text/event-stream"}
            answer = httpx.post(f"{url}/mcp", json=call("7"), headers=headers, timeout=10)
        finally:
            process.terminate()
            process.communicate(timeout=30)
        assert ready == {"status": "ready", "checks": {}}
        error = answer.json()["error"]
        assert error["code"] == -32602
        assert error["data"]["errors"][0]["path"] == "/number"


def wait_for(url: str, process: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        try:
            return httpx.get(f"{url}/readyz", timeout=1).json()
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the README server did not start")


class TestOtherExamples:
    def test_auth_example_builds_a_server(self) -> None:
        namespace: dict[str, Any] = {}
        exec(block("from djed.mcp_base import Policy"), namespace)
        assert len(namespace["server"].middleware) >= 2

    def test_pipeline_example(self, capsys: pytest.CaptureFixture[str]) -> None:
        namespace: dict[str, Any] = {}
        exec(block("from djed.mcp_base import Pipeline"), namespace)
        out = capsys.readouterr().out
        assert "metrics" not in out.split("flowchart")[0]
        order = [line.split()[1] for line in out.splitlines() if re.match(r"\d+\. ", line)]
        assert order == ["logging", "errors", "rate_limit", "tenant"]
