"""What Djed's pipeline costs per call, in process: the whole of it, and each stage alone.

* ``mcp-call``: ``await client.call_tool("echo", {"text": "hi"})`` through the SDK's own
  in-process ``mcp.Client`` (its default mode), on ``raw_server()`` and on
  ``djed_server()``: what the whole pipeline adds to a real tool call, with the SDK's
  request handling around it.
* ``mcp-stage``: each built-in stage called directly, ``await stage(request, proceed)``,
  where ``proceed`` is an ``async`` function returning a fixed tool result at once,
  against ``await proceed()`` alone (``bare``); and ``pipeline``: the stages together,
  as ``default_pipeline(...).compose(handler)`` builds them for ``create_server``,
  ``await composed(request)``. The request is a ``tools/call`` of ``echo``.

Every round runs a batch of calls in one coroutine on one event loop
(``asyncio.Runner``) kept for the whole test. Logs are rendered as JSON lines to
``/dev/null`` (pytest's own capture of log records is set aside while measuring), and
metrics are recorded by an OpenTelemetry SDK ``MeterProvider`` (as in a served app,
where ``build_app`` sets one up for ``/metrics``; only with ``--benchmark-enable``).
Each case's answer is checked before and after it is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import djed.mcp_base
import pytest
from _servers import STAGES, djed_pipeline, djed_server, djed_stages, raw_server
from djed.logger import configure_logging
from djed.logger.testing import reset_logging
from djed.mcp_base import Request
from mcp import Client
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from pytest_benchmark.fixture import BenchmarkFixture

CLIENT_CALLS = 200  # tool calls per round through the SDK client
STAGE_CALLS = 5_000  # calls per round of a stage alone
ROUNDS = 15
SMOKE_CALLS = 3  # per case, without --benchmark-enable
TEXT = "hi"
RESULT: dict[str, Any] = {"content": [{"type": "text", "text": TEXT}], "isError": False}
SERVERS = {"raw": raw_server, "djed": djed_server}


@pytest.fixture(scope="module", autouse=True)
def quiet_and_measured(measuring: bool) -> Iterator[None]:
    """Logs to /dev/null as JSON lines; metrics recorded for real, as a served app does.

    Both are process-wide. The meter provider, which OpenTelemetry lets a process set
    only once, is set only when measuring (never in the repository's test run, where
    a later test may want to set its own); logging is reset afterwards, so that
    nothing logs to a closed stream.
    """
    if measuring and not isinstance(metrics.get_meter_provider(), MeterProvider):
        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    with open(os.devnull, "w") as sink:  # noqa: PTH123 - a stream for the logger
        configure_logging(stream=sink, format="json")
        try:
            yield
        finally:
            reset_logging()


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


Batch = Callable[[int], Coroutine[Any, Any, Any]]


def _measure(
    benchmark: BenchmarkFixture,
    runner: asyncio.Runner,
    batch: Batch,
    check: Callable[[Any], None],
    calls: int,
) -> None:
    """Check one answer, time rounds of ``calls`` calls each, check again."""
    calls = calls if benchmark.enabled else SMOKE_CALLS
    benchmark.extra_info["calls"] = calls
    with _without_pytest_log_capture():
        check(runner.run(batch(1)))
        benchmark.pedantic(  # type: ignore[no-untyped-call]  # unannotated upstream
            lambda: runner.run(batch(calls)), rounds=ROUNDS, warmup_rounds=2, iterations=1
        )
        check(runner.run(batch(1)))


@contextlib.contextmanager
def _without_pytest_log_capture() -> Iterator[None]:
    """Set aside the handlers with which pytest keeps a copy of each log record of a test.

    An application has no such handler; left in place, it would add about 8 µs to each
    record the stages log through the ``logging`` module (the authorizer's audit line).
    """
    root = logging.getLogger()
    pytest_handlers = [h for h in root.handlers if type(h).__module__ == "_pytest.logging"]
    for handler in pytest_handlers:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in pytest_handlers:
            root.addHandler(handler)


# -- a tool call through the SDK's client ----------------------------------------------------


async def _hold_open(client: Client, opened: asyncio.Future[None], close: asyncio.Event) -> None:
    async with client:
        opened.set_result(None)
        await close.wait()


def _check_tool_result(result: Any) -> None:
    assert not result.is_error, result
    assert result.content[0].text == TEXT, result


@pytest.mark.benchmark(group="mcp-call")
@pytest.mark.parametrize("case", list(SERVERS))
def test_tool_call(benchmark: BenchmarkFixture, runner: asyncio.Runner, case: str) -> None:
    """``echo`` through ``mcp.Client(server)`` in process, on each server."""
    client = Client(SERVERS[case]())
    close = asyncio.Event()
    opened: asyncio.Future[None] = runner.get_loop().create_future()
    # The client stays open in a task of its own across rounds: the SDK ties its task
    # group to the task that entered it.
    holder = runner.get_loop().create_task(_hold_open(client, opened, close))
    runner.run(asyncio.wait([opened, holder], timeout=30, return_when=asyncio.FIRST_COMPLETED))
    if holder.done():
        holder.result()  # the client could not open: raises why
    assert opened.done(), "the in-process client did not open within 30 s"

    async def batch(calls: int) -> Any:
        for _ in range(calls):
            result = await client.call_tool("echo", {"text": TEXT})
        return result

    benchmark.extra_info["case"] = case
    try:
        _measure(benchmark, runner, batch, _check_tool_result, CLIENT_CALLS)
    finally:
        close.set()
        runner.run(asyncio.wait_for(holder, timeout=30))


# -- each stage alone, and the pipeline ------------------------------------------------------


def _request() -> Request:
    return Request(
        method="tools/call",
        params={"name": "echo", "arguments": {"text": TEXT}},
        request_id="1",
        session_id="s",
        headers={},
    )


async def _proceed() -> dict[str, Any]:
    return RESULT


async def _handler(_request: Request) -> dict[str, Any]:
    return RESULT


def _call_of(case: str) -> Callable[[Request], Awaitable[Any]]:
    """One call of ``case`` on a request."""
    if case == "bare":
        return lambda _request: _proceed()
    if case == "pipeline":
        return djed_pipeline().compose(_handler)
    stage = djed_stages()[case]
    return lambda request: stage(request, _proceed)


def _check_result(result: Any) -> None:
    assert result is RESULT, result


STAGE_CASES = ["bare", *STAGES, "pipeline"]


@pytest.mark.benchmark(group="mcp-stage")
@pytest.mark.parametrize("case", STAGE_CASES)
def test_stage(benchmark: BenchmarkFixture, runner: asyncio.Runner, case: str) -> None:
    """A stage alone (or all of them, or none) on a ``tools/call`` of ``echo``."""
    call, request = _call_of(case), _request()

    async def batch(calls: int) -> Any:
        for _ in range(calls):
            result = await call(request)
        return result

    benchmark.extra_info["case"] = case
    _measure(benchmark, runner, batch, _check_result, STAGE_CALLS)


def test_every_built_in_stage_is_measured() -> None:
    """Each ``*_stage`` djed.mcp_base exports is measured, in the pipeline's order."""
    exported = {name for name in djed.mcp_base.__all__ if name.endswith("_stage")}
    missing = sorted(exported - {f"{name}_stage" for name in djed_stages()})
    assert not missing, f"add {missing} to _servers.py (where it says 'extend here')"
    assert list(djed_stages()) == list(STAGES) == djed_pipeline().order()
