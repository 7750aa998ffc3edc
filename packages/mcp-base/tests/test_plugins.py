"""Pipeline stages from the ``djed.mcp_base.middleware`` entry points of an installed plugin."""

from __future__ import annotations

import importlib
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from djed.logger.testing import capture_logs
from djed.mcp_base import (
    Pipeline,
    PipelineError,
    PluginError,
    RateLimiter,
    ServerSettings,
    _plugins,
    create_server,
    default_pipeline,
    middleware_plugins,
)
from djed.mcp_base.testing import connect

from packages.logger.tests._djed_plugin_kit import MODULE, example_plugin

ENV = "DJED_MCP_PLUGINS"
SCHEMAS = {"echo": {"type": "object", "properties": {"text": {"type": "string"}}}}


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example plugin installed, nothing enabled, and entry points read afresh."""
    monkeypatch.delenv(ENV, raising=False)
    with example_plugin(tmp_path) as folder:
        _plugins._stages.forget()
        yield folder
    _plugins._stages.forget()


def seen() -> list[str]:
    """What the example audit stage recorded (its module is imported afresh for each test)."""
    module = importlib.import_module(f"{MODULE}.middleware")
    return list(module.SEEN)


def echo_server(**options: Any) -> Any:
    server = create_server("invoices", version="1.0.0", **options)

    @server.tool()
    def echo(text: str) -> str:
        """Say it back."""
        return text

    return server


async def call_echo(server: Any) -> str:
    async with connect(server) as client:
        result = await client.call_tool("echo", {"text": "hi"})
    return str(result.content[0].text)


@pytest.mark.asyncio
async def test_installed_stages_stay_out_until_enabled(plugin: Path) -> None:
    assert await call_echo(echo_server()) == "hi"
    assert MODULE not in sys.modules


@pytest.mark.asyncio
async def test_the_variable_adds_the_stage_to_the_default_pipeline(
    plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "audit")
    assert await call_echo(echo_server()) == "hi"
    assert "tools/call echo" in seen()  # with the client's discovery and listing calls


@pytest.mark.asyncio
async def test_create_server_takes_plugins(plugin: Path) -> None:
    assert await call_echo(echo_server(plugins=["audit"], tool_schemas=SCHEMAS)) == "hi"
    assert "tools/call echo" in seen()


def test_plugin_stages_come_innermost_in_the_order_given(plugin: Path) -> None:
    pipeline = default_pipeline(tool_schemas=SCHEMAS, rate_limiter=RateLimiter(), plugins=["audit"])
    assert pipeline.order() == [
        "metrics",
        "logging",
        "errors",
        "rate_limit",
        "validation",
        "audit",
    ]


@pytest.mark.asyncio
async def test_pipeline_plugin_places_the_stage_like_any_other(plugin: Path) -> None:
    async def handler(request: Any) -> str:
        return "handled" if request.state.get("audited") else "not audited"

    async def outer(request: Any, call_next: Any) -> Any:
        request.state["outer"] = True
        return await call_next()

    pipeline = (
        Pipeline()
        .stage("outer", outer, priority="critical")
        .plugin("audit", depends_on="outer", timeout=1.0)
    )
    assert pipeline.order() == ["outer", "audit"]
    request = types.SimpleNamespace(method="tools/call", target="export", state={})
    assert await pipeline.compose(handler)(request) == "handled"
    assert seen() == ["tools/call export"]
    assert pipeline.stats()["audit"]["calls"] == 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "broken",
            (
                "djed.mcp_base.middleware plugin 'broken' (djed_example_plugin.broken:stage, from"
                " djed-example-plugin 1.0) failed to load: ImportError: the example plugin's broken"
                " module cannot be imported (on purpose)"
            ),
        ),
        (
            "not-async",
            (
                "cannot be used: a stage must be an async callable (request, proceed) -> result,"
                " not not_async"
            ),
        ),
        (
            "nope",
            (
                "no djed.mcp_base.middleware plugin named 'nope' is installed"
                " (installed: audit, broken, not-async)"
            ),
        ),
    ],
)
def test_a_stage_asked_for_by_name_fails_loudly(plugin: Path, name: str, expected: str) -> None:
    with pytest.raises(PluginError) as caught:
        Pipeline().plugin(name)
    assert expected in str(caught.value)
    assert isinstance(caught.value, PipelineError)
    with pytest.raises(PluginError, match=re.escape(expected)):
        default_pipeline(plugins=[name])


def test_a_bad_name_in_the_variable_stops_create_server(
    plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "audit,broken")
    with pytest.raises(PluginError, match=r"'broken'.*ImportError"):
        echo_server()


def test_the_star_takes_every_stage_that_loads(plugin: Path) -> None:
    with capture_logs() as logs:
        assert list(middleware_plugins()) == ["audit"]
        assert default_pipeline(plugins=["*"]).order()[-1] == "audit"
    warnings = [entry["event"] for entry in logs if entry["level"] == "warning"]
    assert len(warnings) == 2, warnings  # broken and not-async, each reported once
    assert all(w.endswith("; left out") for w in warnings)
    with pytest.raises(PipelineError, match="'\\*' is not a name"):
        Pipeline().plugin("*")


def test_a_pipeline_given_by_hand_is_left_alone_but_the_variable_is_mentioned(
    plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "audit")
    with capture_logs() as logs:
        create_server("x", pipeline=default_pipeline())
        create_server("x", pipeline=default_pipeline(plugins=["audit"]))
    (warning,) = [entry["event"] for entry in logs if entry["level"] == "warning"]
    assert warning.startswith("DJED_MCP_PLUGINS names audit, but pipeline= replaces")
    with pytest.raises(ValueError, match="give tool_schemas, rate_limit, policies and plugins"):
        create_server("x", pipeline=Pipeline(), plugins=["audit"])


def test_settings_read_the_variable() -> None:
    assert ServerSettings.from_env({ENV: " audit, tenant ,"}).plugins == ("audit", "tenant")
    assert ServerSettings.from_env({}).plugins == ()
