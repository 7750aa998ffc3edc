"""djed.logger under load: 1,000 events a second with flat memory, then the maximum rate.

One child process (``_load_logger_child.py paced``) logs 1,000 events a second to a
JSON-lines file through djed.logger (buffered, redaction on) while this process samples
its resident set size. After the warm-up, no sample may exceed the level at the start
of the judged window by more than 5 %; the file must hold every event, in order, with
the secret redacted; the rate must hold (at least 95 % of the target over the run).

Meanwhile, on the other core, the maximum rate is measured in fresh processes
(``_load_logger_child.py max``): djed.logger against plain structlog writing the same
JSON fields to a file the same way, alternating (djed first, then structlog first, ...)
so that a drift of the machine weighs on both. A rate counts only the events found in
the file afterwards.

Run lengths (see ``README.md``): 20 s by default, 60 s with ``DJED_LOAD_CI_FULL=1``,
10 minutes with ``DJED_LOAD_LONG=1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.load._load_common import (
    HAS_PROC,
    cores,
    flatness,
    gated,
    median,
    module,
    pick,
    record,
    row,
    rss_series,
    run_json,
    variant,
    watch_child,
)

pytestmark = pytest.mark.skipif(not HAS_PROC, reason="reads process memory from /proc (Linux)")

KEY = "load-logger"
RATE = 1000  # events a second
RSS_LIMIT_PERCENT = 5.0
RATE_FLOOR = 0.95  # share of RATE the paced run must reach
CHILD = "_load_logger_child"
SECONDS = pick(20, 60, 600)
WARM_UP = pick(4, 10, 30)  # seconds of the paced run not judged for memory
INTERVAL = pick(0.25, 0.5, 2.0)  # seconds between RSS samples
MAX_SECONDS = pick(2, 3, 5)  # per maximum-rate run
MAX_PAIRS = pick(2, 3, 5)
LIBS = ("djed", "structlog")


def check_paced_file(path: Path, ticks: int, per_tick: int) -> None:
    """Every event of the paced run is in the file, in order, with its secret redacted."""
    lines = path.read_bytes().splitlines()
    assert len(lines) == ticks * per_tick, f"{len(lines)} lines for {ticks * per_tick} events"
    for index, line in enumerate(lines):
        event = orjson.loads(line)
        request, seq = divmod(index, per_tick)
        assert (event["request_id"], event["seq"]) == (f"req-{request}", seq), f"line {index}"
        assert event["token"] == "[REDACTED]", f"line {index} shows the secret"
        assert event["level"] == "info"
        assert event["event"] == "request handled"


def maximum_runs(folder: Path, cpu: list[str]) -> list[dict[str, dict[str, Any]]]:
    """``MAX_PAIRS`` pairs of maximum-rate runs, each checked against its file."""
    pairs = []
    for pair in range(MAX_PAIRS):
        order = LIBS if pair % 2 == 0 else LIBS[::-1]
        runs: dict[str, dict[str, Any]] = {}
        for lib in order:
            out = folder / f"max-{lib}-{pair}.jsonl"
            arguments = ["max", "--lib", lib, "--out", str(out), "--seconds", str(MAX_SECONDS)]
            report = run_json(module(CHILD, *arguments, *cpu), timeout=MAX_SECONDS + 60)
            written = out.read_bytes().count(b"\n")
            expected = report["warm_events"] + report["events"] - report["dropped"]
            assert written == expected, f"{lib}: {written} lines in the file, {expected} logged"
            out.unlink()  # hundreds of megabytes in the long variant
            runs[lib] = report
        pairs.append(runs)
    return pairs


@pytest.mark.timeout(SECONDS + MAX_PAIRS * 2 * (MAX_SECONDS + 60) + 120)
def test_logger_sustained_rate_flat_memory_and_maximum(tmp_path: Path) -> None:
    serve_cpu, load_cpu = cores()
    out = tmp_path / "paced.jsonl"
    paced = ["paced", "--out", str(out), "--rate", str(RATE), "--seconds", str(SECONDS)]
    (report, samples), pairs = watch_child(
        module(CHILD, *paced, *serve_cpu),
        INTERVAL,
        timeout=SECONDS + 120,
        meanwhile=lambda: maximum_runs(tmp_path, load_cpu),
    )
    memory = flatness(samples, WARM_UP)

    rates = {lib: [pair[lib]["per_second"] for pair in pairs] for lib in LIBS}
    pair_ratios = [pair["djed"]["per_second"] / pair["structlog"]["per_second"] for pair in pairs]
    best = {lib: round(median(values), 1) for lib, values in rates.items()}
    sustained = report["per_second"] >= RATE * RATE_FLOOR
    flat = memory.peak_growth_percent <= RSS_LIMIT_PERCENT
    maximum = row(
        "maximum sustained rate",
        best["djed"],
        best["structlog"],
        peer_name="structlog",
        lower_is_better=False,
    )
    record(
        KEY,
        {
            "title": f"djed-logger: {RATE} events/s for {SECONDS:g} s, then the maximum",
            "unit": "events/s",
            "rows": [
                gated(maximum, median(pair_ratios)),  # the median of the pairs' ratios
                row(
                    f"paced rate held (target {RATE})",
                    report["per_second"],
                    lower_is_better=False,
                    unit="events/s",
                ),
                row("latest paced tick (ms)", report["latest_tick_ms"], unit="ms"),
                row("RSS peak growth after warm-up (%)", memory.peak_growth_percent, unit="%"),
                row("RSS growth at the end (%)", memory.end_growth_percent, unit="%"),
                row("RSS after warm-up (MB)", memory.baseline_mb, unit="MB"),
                row("lines dropped", report["dropped"], unit="lines"),
            ],
            "series": {"djed.logger child RSS (MB)": rss_series(samples)},
            "series_labels": {"x": "seconds", "y": "RSS (MB)"},
            "notes": (
                f"{variant()} variant: paced {SECONDS:g} s (RSS judged after {WARM_UP:g} s);"
                f" maximum: median of {MAX_PAIRS} alternating pairs of {MAX_SECONDS:g} s runs"
                " against structlog writing the same JSON fields to a file, measured on the"
                " other core while the paced run goes on. DJED_LOAD_CI_FULL=1 runs 60 s,"
                " DJED_LOAD_LONG=1 runs 10 minutes."
            ),
            "promises": {"rate_sustained": sustained, "rss_flat_within_5_percent": flat},
            "paced": report,
            "rss": memory._asdict(),
            "maximum_runs": pairs,
        },
    )
    assert report["dropped"] == 0, f"{report['dropped']} lines dropped at {RATE} events/s"
    check_paced_file(out, report["events"] // report["per_tick"], report["per_tick"])
    assert sustained, f"{report['per_second']} events/s held, the target is {RATE}"
    assert flat, f"RSS grew {memory.peak_growth_percent} % after the warm-up: {memory}"
