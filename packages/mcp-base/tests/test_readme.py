"""The README's examples run as written: the server over stdio and HTTP, auth, the pipeline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from djed.mcp_base.testing import (
    INITIALIZE,
    INITIALIZED,
    free_port,
    launch,
    stdio_exchange,
    tool_call,
    wait_ready,
)

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


def call(number: str, request_id: int = 2) -> dict[str, Any]:
    return tool_call("get_invoice", {"number": number}, request_id)


class TestExampleServer:
    def test_over_stdio(self, server_py: Path) -> None:
        messages = [INITIALIZE, INITIALIZED, call("INV-0001"), call("7", 3)]
        hello, good, bad = stdio_exchange(launch(server_py), messages, 3)
        assert hello["result"]["serverInfo"] == {"name": "invoices", "version": "1.0.0"}
        assert good["result"]["structuredContent"]["customer"] == "Acme"
        assert bad["error"]["code"] == -32602
        assert bad["error"]["message"].startswith("invalid arguments for get_invoice: /number:")

    def test_over_http(self, server_py: Path) -> None:
        """The README's curl calls, against the example served over stateless HTTP."""
        port = free_port()
        env = {"DJED_MCP_TRANSPORT": "http", "DJED_MCP_PORT": str(port)}
        process = launch(server_py, DJED_MCP_STATELESS="true", **env)
        url = f"http://localhost:{port}"
        try:
            ready = wait_ready(url, process)
            headers = {"Accept": "application/json, text/event-stream"}
            answer = httpx.post(f"{url}/mcp", json=call("7"), headers=headers, timeout=10)
        finally:
            process.terminate()
            process.communicate(timeout=30)
        assert ready == {"status": "ready", "checks": {}}
        error = answer.json()["error"]
        assert error["code"] == -32602
        assert error["data"]["errors"][0]["path"] == "/number"


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
