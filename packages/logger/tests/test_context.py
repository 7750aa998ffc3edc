from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable

import pytest
from djed.logger import get_logger, log_context, with_log_context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from .conftest import Output


class TestLogContext:
    def test_binds_inside_the_block_only(self, json_logging: Callable[..., Output]) -> None:
        """Values bound by log_context appear inside the block and vanish after it."""
        output = json_logging()
        log = get_logger("x")
        with log_context(request_id="r-1"):
            log.info("inside")
        log.info("outside")
        inside, outside = output.events()
        assert inside["request_id"] == "r-1"
        assert "request_id" not in outside

    def test_nesting_restores_outer_values(self, json_logging: Callable[..., Output]) -> None:
        """An inner block may override a value; the outer value comes back after it."""
        output = json_logging()
        log = get_logger("x")
        with log_context(user="ada"):
            with log_context(user="grace", step=2):
                log.info("inner")
            log.info("outer")
        inner, outer = output.events()
        assert (inner["user"], inner["step"]) == ("grace", 2)
        assert outer["user"] == "ada"
        assert "step" not in outer

    def test_event_values_win_over_context(self, json_logging: Callable[..., Output]) -> None:
        """A field passed to the log call overrides the bound one."""
        output = json_logging()
        with log_context(status="pending"):
            get_logger("x").info("changed", status="paid")
        assert output.events()[0]["status"] == "paid"

    async def _handle(self, request_id: str) -> None:
        with log_context(request_id=request_id):
            await asyncio.sleep(0.001)
            get_logger("x").info("after await")
            await asyncio.to_thread(get_logger("x").info, "in to_thread")

    @pytest.mark.asyncio
    async def test_survives_await_and_stays_per_task(
        self, json_logging: Callable[..., Output]
    ) -> None:
        """Concurrent tasks keep their own request ids across await and asyncio.to_thread."""
        output = json_logging()
        await asyncio.gather(*(self._handle(f"r-{n}") for n in range(20)))
        events = output.events()
        assert len(events) == 40
        by_request: dict[str, list[str]] = {}
        for event in events:
            by_request.setdefault(event["request_id"], []).append(event["event"])
        assert len(by_request) == 20
        assert all(sorted(v) == ["after await", "in to_thread"] for v in by_request.values())

    def test_with_log_context_carries_into_thread_pools(
        self, json_logging: Callable[..., Output]
    ) -> None:
        """with_log_context hands the caller's bindings to an executor thread."""
        output = json_logging()
        log = get_logger("x")
        with (
            log_context(job="nightly"),
            concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool,
        ):
            pool.submit(with_log_context(log.info), "wrapped").result()
            pool.submit(log.info, "plain").result()
        wrapped, plain = output.events()
        assert wrapped["job"] == "nightly"
        assert "job" not in plain

    def test_threads_do_not_share_bindings(self, json_logging: Callable[..., Output]) -> None:
        """A binding made in one thread is invisible in another."""
        output = json_logging()
        log = get_logger("x")
        barrier = threading.Barrier(2)

        def worker(name: str) -> None:
            with log_context(worker=name):
                barrier.wait()
                log.info("working")

        threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(e["worker"] for e in output.events()) == ["a", "b"]


class TestTraceIds:
    def test_recording_span_adds_ids(self, json_logging: Callable[..., Output]) -> None:
        """Inside a recording OpenTelemetry span, trace_id and span_id are added."""
        output = json_logging()
        tracer = TracerProvider().get_tracer("test")
        with tracer.start_as_current_span("work") as span:
            get_logger("x").info("traced")
            context = span.get_span_context()
        event = output.events()[0]
        assert event["trace_id"] == format(context.trace_id, "032x")
        assert event["span_id"] == format(context.span_id, "016x")

    def test_no_ids_without_a_recording_span(self, json_logging: Callable[..., Output]) -> None:
        """Outside spans, or in an unsampled one, no ids are added."""
        output = json_logging()
        log = get_logger("x")
        log.info("plain")
        with TracerProvider(sampler=ALWAYS_OFF).get_tracer("t").start_as_current_span("s"):
            log.info("unsampled")
        for event in output.events():
            assert "trace_id" not in event
