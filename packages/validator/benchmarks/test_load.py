"""Bounded load on djed.validator: flat memory at a steady rate, then the sustained maximum.

* Paced: ``PACED_RATE`` validations per second through ``djed.validator.validate``, like
  a service handling requests: each request body is parsed anew and one in ten is
  invalid (its error is read, as a service reporting it would). The resident set size
  must not grow by more than ``RSS_GROWTH`` plus ``RSS_SLACK_BYTES``; the growth in
  allocated memory blocks is reported beside it.
* Sustained: as many validations as 1 and then 2 threads manage, reported, never judged.

With ``--benchmark-enable``, or when ``DJED_BENCH_LOAD_SECONDS`` or
``DJED_BENCH_SUSTAIN_SECONDS`` is set, the paced phase lasts ``DJED_BENCH_LOAD_SECONDS``
(default 5) and each sustained phase ``DJED_BENCH_SUSTAIN_SECONDS`` (default 2), and the
figures appear in the session's summary. Otherwise both run a smoke version of about
half a second in all, which checks the same things on fewer validations.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from djed.validator import ValidationError, default_cache, validate

PACED_RATE = 100  # validations per second
INVALID_EVERY = 10
RSS_GROWTH = 0.05
# Growth that is not a leak: pymalloc takes memory from the system in 256 KiB arenas and
# glibc malloc trims its heaps lazily, so RSS moves in steps of that size. RSS also grows
# only once a leak has used up the memory the allocator already holds free, so the 5 s
# run catches gross leaks and the long runs by hand the slow ones; the count of allocated
# blocks, reported beside it, shows a leak of small Python objects from the first one.
RSS_SLACK_BYTES = 2_000_000
# Blocks that may appear once (caches warming, interned strings); a steady run adds ~100-150.
BLOCK_SLACK = 1_000
WARM_UP_CALLS = 1_000
SMOKE_PACED_SECONDS = 0.3
SMOKE_SUSTAINED_SECONDS = 0.1


def _seconds(variable: str, default: float, full: bool, smoke: float) -> float:
    value = os.environ.get(variable)
    return float(value) if value else (default if full else smoke)


def _full_run(benchmarks_enabled: bool) -> bool:
    variables = ("DJED_BENCH_LOAD_SECONDS", "DJED_BENCH_SUSTAIN_SECONDS")
    return benchmarks_enabled or any(os.environ.get(name) for name in variables)


def rss_bytes() -> int:
    """Resident set size now (Linux), else the peak so far (other POSIX systems)."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes there, KiB elsewhere
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


class Service:
    """What a request handler does: parse the body, validate it, report errors."""

    def __init__(self, schema: dict[str, Any], valid: Any, invalid: Any, pointer: str) -> None:
        self.schema = schema
        self.bodies = (orjson.dumps(valid), orjson.dumps(invalid))
        self.pointer = pointer

    def handle(self, number: int) -> None:
        """Handle request ``number``; fails if the validator gives a wrong answer."""
        bad = number % INVALID_EVERY == 0
        instance = orjson.loads(self.bodies[bad])
        try:
            validate(self.schema, instance)
        except ValidationError as exc:
            found: str | None = exc.path
        else:
            found = None
        assert found == (self.pointer if bad else None), f"request {number}: error at {found}"


@pytest.fixture
def service(
    order_schema: dict[str, Any],
    valid_order: dict[str, Any],
    invalid_order: dict[str, Any],
    invalid_pointer: str,
) -> Service:
    return Service(order_schema, valid_order, invalid_order, invalid_pointer)


def test_paced_memory_stays_flat(
    service: Service, benchmarks_enabled: bool, load_results: dict[str, dict[str, float]]
) -> None:
    """``PACED_RATE`` validations per second; RSS at the end within bounds of the start."""
    full = _full_run(benchmarks_enabled)
    seconds = _seconds("DJED_BENCH_LOAD_SECONDS", 5.0, full, SMOKE_PACED_SECONDS)
    for number in range(WARM_UP_CALLS):
        service.handle(number)
    misses = default_cache().stats().misses
    gc.collect()
    start_blocks, start_rss = sys.getallocatedblocks(), rss_bytes()
    peak_rss = start_rss
    total = round(seconds * PACED_RATE)
    late = 0.0
    started = time.perf_counter()
    for number in range(total):
        due = started + number / PACED_RATE
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        late = max(late, time.perf_counter() - due)
        service.handle(number)
        if number % PACED_RATE == 0:
            peak_rss = max(peak_rss, rss_bytes())
    elapsed = time.perf_counter() - started
    gc.collect()
    end_blocks, end_rss = sys.getallocatedblocks(), rss_bytes()
    peak_rss = max(peak_rss, end_rss)
    assert default_cache().stats().misses == misses, "the schema was compiled again"
    limit = start_rss * (1 + RSS_GROWTH) + RSS_SLACK_BYTES
    assert end_rss <= limit, (
        f"RSS grew from {start_rss / 1e6:.1f} MB to {end_rss / 1e6:.1f} MB over {total}"
        f" validations (limit {limit / 1e6:.1f} MB)"
    )
    # RSS only moves once a leak has used up memory the allocator already holds, so a short
    # run also bounds the growth in live allocated blocks, which shows a leak at once.
    block_limit = BLOCK_SLACK + total // 10
    assert end_blocks - start_blocks <= block_limit, (
        f"{end_blocks - start_blocks} more allocated blocks after {total} validations"
        f" (limit {block_limit})"
    )
    if full:
        load_results["paced"] = {
            "validations": total,
            "seconds": elapsed,
            "per_second": total / elapsed,
            "max_lateness_ms": late * 1e3,
            "rss_start_mb": start_rss / 1e6,
            "rss_end_mb": end_rss / 1e6,
            "rss_peak_mb": peak_rss / 1e6,
            "rss_growth_mb": (end_rss - start_rss) / 1e6,
            "rss_growth_percent": (end_rss - start_rss) / start_rss * 100,
            "allocated_blocks_growth": end_blocks - start_blocks,
        }


@pytest.mark.parametrize("threads", [1, 2])
def test_sustained_maximum(
    service: Service,
    threads: int,
    benchmarks_enabled: bool,
    load_results: dict[str, dict[str, float]],
) -> None:
    """Validate as fast as ``threads`` threads can for a while; report validations per second.

    The instances are parsed once here: the rate is that of validation alone.
    """
    full = _full_run(benchmarks_enabled)
    seconds = _seconds("DJED_BENCH_SUSTAIN_SECONDS", 2.0, full, SMOKE_SUSTAINED_SECONDS)
    schema = service.schema
    valid, invalid = (orjson.loads(body) for body in service.bodies)
    validate(schema, valid)  # compiled (or found) before the clock starts
    barrier = threading.Barrier(threads + 1, timeout=60)

    def work() -> int:
        done = 0
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for _ in range(INVALID_EVERY - 1):
                validate(schema, valid)
            try:
                validate(schema, invalid)
            except ValidationError:
                done += INVALID_EVERY
            else:
                raise AssertionError("the invalid order passed")
        return done

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(work) for _ in range(threads)]
        barrier.wait()
        started = time.perf_counter()
        counts = [future.result() for future in futures]  # re-raises a worker's failure
    elapsed = time.perf_counter() - started
    assert all(counts), counts
    if full:
        load_results[f"sustained_{threads}_thread{'s' if threads > 1 else ''}"] = {
            "seconds": elapsed,
            "validations": sum(counts),
            "per_second": sum(counts) / elapsed,
        }
