"""The modules `djed eject` writes, tested as the plain code they are."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from djed.cli._ejected import mcp_setup, resilience, validation
from djed.validator import SchemaValidator as DjedValidator
from djed.validator import ValidationError as DjedError
from mcp import Client
from mcp.server.mcpserver.exceptions import ToolError
from starlette.testclient import TestClient

NOTE = json.loads(
    (
        Path(__file__).resolve().parents[3]
        / "templates/mcp-server/template/src/{{ package }}"
        / "{% if validator %}schemas{% endif %}/note.schema.json"
    ).read_text()
)


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        {"title": ""},
        {},
        {"title": "x", "tags": ["ok", "Not OK"]},
        {"title": "x", "tags": ["a", "a"]},
        {"title": "x", "priority": "urgent"},
        {"title": "x", "colour": "red"},
        {"title": 7},
    ],
)
def test_the_same_first_error_as_djed_validator(document: dict[str, Any]) -> None:
    with pytest.raises(DjedError) as djed:
        DjedValidator(NOTE).validate(document)
    with pytest.raises(validation.ValidationError) as plain:
        validation.SchemaValidator(NOTE).validate(document)
    assert plain.value.errors[0].path == djed.value.errors[0].path
    assert plain.value.errors[0].keyword == djed.value.errors[0].keyword
    assert str(plain.value).split(":")[0] == str(djed.value).split(":")[0]


def test_valid_data_comes_back() -> None:
    note = {"title": "ok", "tags": ["a-b"], "priority": "high"}
    assert validation.SchemaValidator(NOTE).validate(note) is note
    assert validation.SchemaValidator(NOTE).is_valid(note)
    assert not validation.SchemaValidator(NOTE).is_valid({"title": ""})
    assert validation.validate(NOTE, note) is note


@pytest.mark.parametrize(
    ("name", "pointer"),
    [
        ("data", ""),
        ("data.title", "/title"),
        ("data.lines[1].qty", "/lines/1/qty"),
        ("data.a/b", "/a~1b"),
    ],
)
def test_pointers(name: str, pointer: str) -> None:
    assert validation._pointer(name) == pointer


def test_remote_references_are_refused_not_fetched() -> None:
    schema = {"$ref": "http://127.0.0.1:9/schema.json"}
    with pytest.raises(validation.SchemaError, match="refused"):
        validation.SchemaValidator(schema)


def test_a_bad_schema_is_a_schema_error() -> None:
    with pytest.raises(validation.SchemaError, match="invalid schema"):
        validation.SchemaValidator({"type": "nonsense"})


# --- resilience ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fail() -> None:
    raise ConnectionError("down")


def test_the_breaker_opens_on_the_failure_rate_then_probes() -> None:
    clock = Clock()
    breaker = resilience.CircuitBreaker(
        "svc", minimum_calls=4, failure_rate_threshold=50, open_duration=10, clock=clock
    )
    breaker.call(lambda: 1)
    breaker.call(lambda: 1)
    with pytest.raises(ConnectionError):
        breaker.call(_fail)
    assert breaker.state == "closed"
    with pytest.raises(ConnectionError):
        breaker.call(_fail)
    assert breaker.state == "open"
    with pytest.raises(resilience.CircuitOpenError) as refused:
        breaker.call(lambda: 1)
    assert refused.value.retry_after == pytest.approx(10)
    clock.now = 10
    assert breaker.state == "half_open"
    for _ in range(5):
        breaker.call(lambda: 1)
    assert breaker.state == "closed"


def test_half_open_lets_only_the_probes_through() -> None:
    clock = Clock()
    breaker = resilience.CircuitBreaker(
        "svc", consecutive_failures=2, half_open_max_calls=1, open_duration=5, clock=clock
    )
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(_fail)
    clock.now = 5
    with pytest.raises(ConnectionError):
        breaker.call(_fail)
    assert breaker.state is resilience.State.OPEN, "one failed probe reopens it"


def test_the_decorator_on_async_functions() -> None:
    breaker = resilience.CircuitBreaker("svc", consecutive_failures=1)

    @breaker
    async def fetch() -> str:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        asyncio.run(fetch())
    with pytest.raises(resilience.CircuitOpenError):
        asyncio.run(fetch())


def test_retry_tries_then_reraises() -> None:
    calls = []

    @resilience.Retry(attempts=3, initial=0.001, maximum=0.002)
    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError
        return "ok"

    assert flaky() == "ok"
    assert len(calls) == 3
    with pytest.raises(ConnectionError):
        resilience.Retry(attempts=2, initial=0.001).call(_fail)


# --- mcp_setup ----------------------------------------------------------------------


@pytest.fixture
def server() -> Any:
    app = mcp_setup.create_server(
        "plain",
        timeout=0.2,
        tool_schemas={"echo": {"type": "object", "required": ["text"]}},
    )

    @app.tool()
    def echo(text: str = "") -> str:
        return text

    @app.tool()
    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"

    @app.tool()
    def crash() -> str:
        raise RuntimeError("secret detail")

    @app.tool()
    def refuse() -> str:
        raise ToolError("no such note")

    return app


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_plain_middleware(server: Any, mode: str) -> None:
    async def calls() -> list[Any]:
        async with Client(server, mode=mode, raise_exceptions=False) as client:
            results: list[Any] = [await client.call_tool("echo", {"text": "hi"})]
            for name in ("echo", "slow", "crash"):
                try:
                    results.append(await client.call_tool(name, {}))
                except Exception as error:  # noqa: BLE001 - the MCP error is what is checked
                    results.append(error)
            results.append(await client.call_tool("refuse", {}))
            return results

    ok, invalid, slow, crash, refused = asyncio.run(calls())
    assert ok.content[0].text == "hi"
    assert "invalid arguments" in str(invalid)
    assert "longer than 0.2 s" in str(slow)
    assert crash.is_error, "the SDK turns a crashing tool into an error result"
    assert "secret detail" not in str(crash)
    assert refused.is_error
    assert "no such note" in refused.content[0].text


def test_settings_from_the_same_variables() -> None:
    settings = mcp_setup.ServerSettings.from_env(
        {"DJED_MCP_TRANSPORT": "http", "DJED_MCP_PORT": "9000", "DJED_MCP_TIMEOUT": "none"}
    )
    assert (settings.transport, settings.port, settings.timeout) == ("http", 9000, None)
    with pytest.raises(ValueError, match="DJED_MCP_PORT='eighty'"):
        mcp_setup.ServerSettings.from_env({"DJED_MCP_PORT": "eighty"})
    with pytest.raises(ValueError, match="DJED_MCP_TRANSPORT"):
        mcp_setup.ServerSettings.from_env({"DJED_MCP_TRANSPORT": "pigeon"})


def test_probes(server: Any) -> None:
    app = mcp_setup.build_app(
        server, settings=mcp_setup.ServerSettings(allowed_hosts=("testserver",))
    )
    with TestClient(app) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").status_code == 200
        app.state.draining = True
        assert http.get("/readyz").status_code == 503
