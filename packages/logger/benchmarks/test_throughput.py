"""Per-event cost of djed.logger, structlog's fastest setup and stdlib logging, to a JSON file.

Every round logs a batch of ``EVENTS_PER_ROUND`` events inside a bound request
id, so a round's time divided by the batch size is the cost of one event. The
three cases write JSON lines to a real file and are checked afterwards: a case
that wrote fewer lines than it logged fails.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import orjson
import pytest
import structlog
from djed.logger import configure_logging, current_state, flush_logs, get_logger, log_context
from pytest_benchmark.fixture import BenchmarkFixture

EVENTS_PER_ROUND = 1_000
REQUEST_ID = "req-7f3a9c"
FIELDS: dict[str, Any] = {"path": "/invoices/42", "status": 200, "duration_ms": 12.5}


class LoggerCase(Protocol):
    """One logger writing JSON lines to a file, driven a batch at a time."""

    def log_batch(self) -> None:
        """Log ``EVENTS_PER_ROUND`` info events inside a bound request id."""

    def skip_batch(self) -> None:
        """Make ``EVENTS_PER_ROUND`` debug calls, below the configured level."""

    def log_one(self) -> None:
        """Log one info event inside a bound request id."""

    def close(self) -> None:
        """Write out everything logged and close the file."""


class DjedCase:
    """djed.logger as a user sets it up for a JSON file (buffered, redaction on)."""

    def __init__(self, path: Path) -> None:
        configure_logging(file=path, format="json", service="bench", metrics=False)
        self.log = get_logger("bench")

    def log_batch(self) -> None:
        log = self.log
        with log_context(request_id=REQUEST_ID):
            for _ in range(EVENTS_PER_ROUND):
                log.info("request handled", path="/invoices/42", status=200, duration_ms=12.5)

    def skip_batch(self) -> None:
        log = self.log
        with log_context(request_id=REQUEST_ID):
            for _ in range(EVENTS_PER_ROUND):
                log.debug("cache probe", key="invoice:42")

    def log_one(self) -> None:
        with log_context(request_id=REQUEST_ID):
            self.log.info("request handled", path="/invoices/42", status=200, duration_ms=12.5)

    def close(self) -> None:
        flush_logs()
        state = current_state()
        assert state is not None
        state.sink.close()


class StructlogFastestCase:
    """structlog's fastest documented configuration: filtering logger, orjson, bytes output."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("wb")
        structlog.configure(
            cache_logger_on_first_use=True,
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            logger_factory=structlog.BytesLoggerFactory(self.file),
        )
        self.log = structlog.get_logger()

    def log_batch(self) -> None:
        log = self.log
        with structlog.contextvars.bound_contextvars(request_id=REQUEST_ID):
            for _ in range(EVENTS_PER_ROUND):
                log.info("request handled", path="/invoices/42", status=200, duration_ms=12.5)

    def skip_batch(self) -> None:
        log = self.log
        with structlog.contextvars.bound_contextvars(request_id=REQUEST_ID):
            for _ in range(EVENTS_PER_ROUND):
                log.debug("cache probe", key="invoice:42")

    def log_one(self) -> None:
        with structlog.contextvars.bound_contextvars(request_id=REQUEST_ID):
            self.log.info("request handled", path="/invoices/42", status=200, duration_ms=12.5)

    def close(self) -> None:
        self.file.close()


_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bench_request_id", default=None
)
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


class RequestIdFilter(logging.Filter):
    """Copy the request id of the current context onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__["request_id"] = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.datetime.fromtimestamp(
                record.created, tz=datetime.UTC
            ).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(
            (key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES
        )
        return json.dumps(payload)


class StdlibJsonCase:
    """The standard library alone: a file handler, a JSON formatter and a context filter."""

    def __init__(self, path: Path) -> None:
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(JsonFormatter())
        self.filter = RequestIdFilter()
        self.logger = logging.getLogger("bench.stdlib_json")
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.logger.addFilter(self.filter)
        self.logger.addHandler(self.handler)

    def log_batch(self) -> None:
        logger = self.logger
        token = _request_id.set(REQUEST_ID)
        try:
            for _ in range(EVENTS_PER_ROUND):
                logger.info(
                    "request handled",
                    extra={"path": "/invoices/42", "status": 200, "duration_ms": 12.5},
                )
        finally:
            _request_id.reset(token)

    def skip_batch(self) -> None:
        logger = self.logger
        token = _request_id.set(REQUEST_ID)
        try:
            for _ in range(EVENTS_PER_ROUND):
                logger.debug("cache probe", extra={"key": "invoice:42"})
        finally:
            _request_id.reset(token)

    def log_one(self) -> None:
        token = _request_id.set(REQUEST_ID)
        try:
            self.logger.info("request handled", extra=FIELDS)
        finally:
            _request_id.reset(token)

    def close(self) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.removeFilter(self.filter)
        self.handler.close()


CASES: dict[str, Callable[[Path], LoggerCase]] = {
    "djed": DjedCase,
    "structlog_fastest": StructlogFastestCase,
    "stdlib_json": StdlibJsonCase,
}


def _check_event(line: bytes) -> None:
    event = json.loads(line)
    assert event["event"] == "request handled"
    assert event["request_id"] == REQUEST_ID
    assert {key: event[key] for key in FIELDS} == FIELDS


@pytest.mark.benchmark(group="logger-json-to-file")
@pytest.mark.parametrize("case", list(CASES))
def test_json_to_file(benchmark: BenchmarkFixture, tmp_path: Path, case: str) -> None:
    """Each round logs a batch of info events with a bound request id as JSON lines to a file."""
    path = tmp_path / "events.jsonl"
    logger = CASES[case](path)
    batches = 0

    def log_batch() -> None:
        nonlocal batches
        logger.log_batch()
        batches += 1

    benchmark.extra_info.update(case=case, events_per_round=EVENTS_PER_ROUND)
    try:
        log_batch()  # warm-up: first-use caches, file opened, flusher started
        benchmark(log_batch)
    finally:
        logger.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == batches * EVENTS_PER_ROUND
    _check_event(lines[0])
    _check_event(lines[-1])


@pytest.mark.benchmark(group="logger-filtered")
@pytest.mark.parametrize("case", list(CASES))
def test_filtered_debug(benchmark: BenchmarkFixture, tmp_path: Path, case: str) -> None:
    """Each round makes a batch of debug calls below the level; none of them is written."""
    path = tmp_path / "events.jsonl"
    logger = CASES[case](path)
    benchmark.extra_info.update(case=case, events_per_round=EVENTS_PER_ROUND)
    try:
        logger.skip_batch()
        benchmark(logger.skip_batch)
        logger.log_one()
    finally:
        logger.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1
    _check_event(lines[0])
