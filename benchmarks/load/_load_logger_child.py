"""The process a logger load test watches: ``python -m benchmarks.load._load_logger_child``.

Two modes, each writing JSON lines to the file ``--out`` and printing JSON on stdout:

* ``paced``: djed.logger as a service sets it up for a file (JSON, buffered, redaction
  on), logging ``--rate`` events a second for ``--seconds``, in ticks of 10 ms on an
  absolute schedule. Each tick is one request: a bound ``request_id``, then its share of
  events, each with a sequence number ``seq`` and a ``token`` that must come out
  redacted. It prints ``{"started": ...}`` when the first tick is due (the parent's
  clock for the warm-up starts there), then the final report.
* ``max``: djed.logger or plain structlog configured to write the same JSON fields to a
  file the same way, logging as fast as it can in batches of one request each, for
  ``--warm-up`` seconds (not counted) and then ``--seconds``; everything is written out
  before the clock stops, so the rate counts events that reached the file.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import structlog
from djed.logger import configure_logging, current_state, flush_logs, get_logger, log_context

from benchmarks.load._load_common import pin

TICK = 0.01  # seconds: the paced schedule's step
BATCH = 100  # events per request in the max mode
NAME = "load"
SECRET = "s3cr3t-value"  # logged as ``token``; djed.logger must redact it


class Batches:
    """One configured logger, driven a request (a batch of events) at a time."""

    def __init__(self, batch: Callable[[int, int], None], finish: Callable[[], int]) -> None:
        self.batch = batch  # (request number, events) -> None
        self.finish = finish  # write everything out; returns lines dropped


def djed_batches(path: Path) -> Batches:
    configure_logging(file=path, format="json", service=NAME, metrics=False)
    log = get_logger(NAME)

    def batch(request: int, events: int) -> None:
        with log_context(request_id=f"req-{request}"):
            for number in range(events):
                log.info("request handled", path="/items", status=200, seq=number, token=SECRET)

    def finish() -> int:
        flush_logs()
        state = current_state()
        assert state is not None
        return state.sink.dropped

    return Batches(batch, finish)


def structlog_batches(path: Path) -> Batches:
    """structlog alone, writing what djed.logger writes (but no redaction) to a file."""
    output = path.open("ab")
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(output),
    )
    log = structlog.get_logger().bind(logger=NAME, service=NAME)

    def batch(request: int, events: int) -> None:
        with structlog.contextvars.bound_contextvars(request_id=f"req-{request}"):
            for number in range(events):
                log.info("request handled", path="/items", status=200, seq=number, token=SECRET)

    def finish() -> int:
        output.flush()
        return 0

    return Batches(batch, finish)


def paced(arguments: argparse.Namespace) -> dict[str, Any]:
    per_tick = round(arguments.rate * TICK)
    if per_tick < 1 or abs(per_tick - arguments.rate * TICK) > 1e-9:
        raise SystemExit(f"--rate must be a multiple of {1 / TICK:g}")
    logger = djed_batches(arguments.out)
    ticks = round(arguments.seconds / TICK)
    start = time.perf_counter() + 0.05
    print(json.dumps({"started": time.time()}), flush=True)
    latest = 0.0
    for tick in range(ticks):
        due = start + tick * TICK
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        else:
            latest = max(latest, -wait)
        logger.batch(tick, per_tick)
    elapsed = time.perf_counter() - start
    dropped = logger.finish()
    events = ticks * per_tick
    return {
        "events": events,
        "per_tick": per_tick,
        "seconds": round(elapsed, 3),
        "per_second": round(events / elapsed, 1),
        "latest_tick_ms": round(latest * 1e3, 3),
        "dropped": dropped,
    }


def maximum(arguments: argparse.Namespace) -> dict[str, Any]:
    make = {"djed": djed_batches, "structlog": structlog_batches}[arguments.lib]
    logger = make(arguments.out)
    request = 0
    until = time.perf_counter() + arguments.warm_up
    while time.perf_counter() < until:
        logger.batch(request, BATCH)
        request += 1
    warm_events = request * BATCH
    logger.finish()
    start = time.perf_counter()
    until = start + arguments.seconds
    while time.perf_counter() < until:
        logger.batch(request, BATCH)
        request += 1
    dropped = logger.finish()
    elapsed = time.perf_counter() - start
    events = request * BATCH - warm_events
    return {
        "lib": arguments.lib,
        "warm_events": warm_events,
        "events": events,
        "dropped": dropped,
        "seconds": round(elapsed, 4),
        "per_second": round((events - dropped) / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mode", choices=("paced", "max"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--lib", choices=("djed", "structlog"), default="djed")
    parser.add_argument("--rate", type=float, default=1000.0, help="events a second (paced)")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--warm-up", type=float, default=0.5, help="seconds not counted (max)")
    parser.add_argument("--cpu", type=int, default=None)
    arguments = parser.parse_args()
    pin(arguments.cpu)
    report = paced(arguments) if arguments.mode == "paced" else maximum(arguments)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
