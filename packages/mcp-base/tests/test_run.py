"""ServerSettings from the environment, and run(): stdio, HTTP, graceful drain on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from djed.mcp_base import ServerSettings
from djed.mcp_base.testing import (
    INITIALIZE,
    INITIALIZED,
    free_port,
    launch,
    stdio_exchange,
    tool_call,
    wait_ready,
)

SERVER = """
import asyncio
from djed.logger import configure_logging
from djed.mcp_base import create_server, run
configure_logging(format="json")
server = create_server("slow", version="1.0.0")
@server.tool()
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"slept {seconds}"
run(server)
"""


class TestSettings:
    def test_defaults(self) -> None:
        settings = ServerSettings.from_env({})
        assert settings == ServerSettings()
        assert (settings.transport, settings.host, settings.port) == ("stdio", "127.0.0.1", 8000)
        assert settings.hosts() == ["127.0.0.1", "127.0.0.1:8000", "localhost", "localhost:8000"]

    def test_every_variable(self) -> None:
        settings = ServerSettings.from_env(
            {
                "DJED_MCP_TRANSPORT": "HTTP",
                "DJED_MCP_HOST": "0.0.0.0",
                "DJED_MCP_PORT": "9000",
                "DJED_MCP_ALLOWED_HOSTS": "api.example.com, api.example.com:443",
                "DJED_MCP_ALLOWED_ORIGINS": "https://app.example.com",
                "DJED_MCP_STATELESS": "yes",
                "DJED_MCP_JSON_RESPONSE": "false",
                "DJED_MCP_MAX_BODY_BYTES": "65536",
                "DJED_MCP_MAX_SESSIONS": "none",
                "DJED_MCP_TIMEOUT": "2.5",
                "DJED_MCP_DRAIN_TIMEOUT": "10",
                "DJED_MCP_PATH": "/api/mcp",
            }
        )
        assert settings == ServerSettings(
            transport="http",
            host="0.0.0.0",
            port=9000,
            allowed_hosts=("api.example.com", "api.example.com:443"),
            allowed_origins=("https://app.example.com",),
            stateless=True,
            json_response=False,
            max_request_body_size=65536,
            max_sessions=None,
            timeout=2.5,
            drain_timeout=10.0,
            path="/api/mcp",
        )
        assert settings.hosts() == ["api.example.com", "api.example.com:443"]

    @pytest.mark.parametrize(
        ("variable", "value", "message"),
        [
            ("DJED_MCP_PORT", "eighty", "DJED_MCP_PORT='eighty': expected a whole number"),
            ("DJED_MCP_PORT", "70000", "port=70000: use a TCP port"),
            ("DJED_MCP_TRANSPORT", "sse", "transport='sse': use stdio or http"),
            ("DJED_MCP_STATELESS", "maybe", "DJED_MCP_STATELESS='maybe': use true or false"),
            ("DJED_MCP_TIMEOUT", "-1", "DJED_MCP_TIMEOUT='-1': must be above 0 (or none)"),
            ("DJED_MCP_PATH", "mcp", "path='mcp': must start with '/'"),
        ],
    )
    def test_bad_values_name_the_variable(self, variable: str, value: str, message: str) -> None:
        with pytest.raises(ValueError, match="DJED_MCP_") as info:
            ServerSettings.from_env({variable: value})
        assert message in str(info.value)


def start(tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(SERVER))
    return launch(script, **env)


def call_slow(url: str, seconds: float) -> httpx.Response:
    body = tool_call("slow", {"seconds": seconds}, request_id=7)
    headers = {"Accept": "application/json, text/event-stream"}
    return httpx.post(f"{url}/mcp", json=body, headers=headers, timeout=20)


class TestRun:
    def test_sigterm_drains_in_flight_calls(self, tmp_path: Path) -> None:
        """A call in flight when SIGTERM arrives still gets its answer before the process ends.

        Once drained, uvicorn re-raises the signal, so the exit status says
        "terminated by SIGTERM" as a supervisor expects.
        """
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start(
            tmp_path,
            DJED_MCP_TRANSPORT="http",
            DJED_MCP_PORT=str(port),
            DJED_MCP_STATELESS="true",
            DJED_MCP_DRAIN_TIMEOUT="15",
        )
        try:
            wait_ready(url, process)
            answers: list[httpx.Response] = []
            caller = threading.Thread(target=lambda: answers.append(call_slow(url, 1.5)))
            caller.start()
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            caller.join(20)
            stdout, stderr = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == -signal.SIGTERM, stderr[-2000:]
        assert answers, "the in-flight call got no answer"
        assert answers[0].status_code == 200
        assert answers[0].json()["result"]["content"][0]["text"] == "slept 1.5"
        lines = (stdout + stderr).splitlines()
        events = [json.loads(line).get("event", "") for line in lines if line[:1] == "{"]
        assert any("SIGTERM: draining in-flight requests" in event for event in events), events
        # uvicorn's records come out through djed-logger, once each, as JSON.
        assert events.count("Application startup complete.") == 1
        assert not [line for line in lines if "Application startup" in line and line[:1] != "{"]

    def test_stdio(self, tmp_path: Path) -> None:
        """With the default settings run() speaks MCP over stdin and stdout."""
        messages = [INITIALIZE, INITIALIZED, tool_call("slow", {"seconds": 0})]
        answers = stdio_exchange(start(tmp_path), messages, 2)
        assert answers[0]["result"]["serverInfo"]["name"] == "slow"
        assert answers[1]["result"]["content"][0]["text"] == "slept 0.0"

    def test_bad_setting_fails_fast(self, tmp_path: Path) -> None:
        """A bad DJED_MCP_* value stops the process with a message naming the variable."""
        process = start(tmp_path, DJED_MCP_TRANSPORT="http", DJED_MCP_PORT="eighty")
        _, stderr = process.communicate(timeout=30)
        assert process.returncode != 0
        assert "DJED_MCP_PORT='eighty': expected a whole number" in stderr
