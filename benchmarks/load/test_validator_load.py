"""djed.validator under load: 100 validations a second with flat memory, then the maximum.

One child process (``_load_validator_child.py paced``) handles 100 sign-up requests a
second the way a service does (parse the body, ``djed.validator.validate`` it, read the
error of the invalid one in ten) while this process samples its resident set size.
After the warm-up, no sample may exceed the level at the start of the judged window by
more than 5 %, every answer must be right, and the rate must hold (95 % of the target).

Meanwhile, on the other core, the maximum rate of one thread is measured in fresh
processes for djed.validator, raw fastjsonschema (what djed.validator compiles with)
and jsonschema (the peer), in an order turned by one each round.

Run lengths (see ``README.md``): 20 s by default, 60 s with ``DJED_LOAD_CI_FULL=1``,
10 minutes with ``DJED_LOAD_LONG=1``.
"""

from __future__ import annotations

from typing import Any

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

KEY = "load-validator"
RATE = 100  # validations a second
RSS_LIMIT_PERCENT = 5.0
RATE_FLOOR = 0.95
CHILD = "_load_validator_child"
SECONDS = pick(20, 60, 600)
WARM_UP = pick(4, 10, 30)
INTERVAL = pick(0.25, 0.5, 2.0)
MAX_SECONDS = pick(1.5, 3, 5)
MAX_ROUNDS = pick(2, 3, 5)
LIBS = ("djed", "fastjsonschema", "jsonschema")


def maximum_rounds(cpu: list[str]) -> list[dict[str, dict[str, Any]]]:
    """``MAX_ROUNDS`` rounds of one maximum-rate run per library, the order turned each round."""
    rounds = []
    for index in range(MAX_ROUNDS):
        shift = index % len(LIBS)
        runs = {}
        for lib in LIBS[shift:] + LIBS[:shift]:
            arguments = ["max", "--lib", lib, "--seconds", str(MAX_SECONDS), *cpu]
            runs[lib] = run_json(module(CHILD, *arguments), timeout=MAX_SECONDS + 60)
        rounds.append(runs)
    return rounds


def _ratio(rounds: list[dict[str, dict[str, Any]]], first: str, second: str) -> float:
    """The median over the rounds of ``first``'s rate divided by ``second``'s."""
    values = [one[first]["per_second"] / one[second]["per_second"] for one in rounds]
    return round(median(values), 4)


@pytest.mark.timeout(SECONDS + MAX_ROUNDS * len(LIBS) * (MAX_SECONDS + 60) + 120)
def test_validator_sustained_rate_flat_memory_and_maximum() -> None:
    serve_cpu, load_cpu = cores()
    paced = ["paced", "--rate", str(RATE), "--seconds", str(SECONDS), *serve_cpu]
    (report, samples), rounds = watch_child(
        module(CHILD, *paced),
        INTERVAL,
        timeout=SECONDS + 120,
        meanwhile=lambda: maximum_rounds(load_cpu),
    )
    memory = flatness(samples, WARM_UP)
    best = {lib: round(median([one[lib]["per_second"] for one in rounds]), 1) for lib in LIBS}
    sustained = report["per_second"] >= RATE * RATE_FLOOR
    flat = memory.peak_growth_percent <= RSS_LIMIT_PERCENT
    against_peer = row(
        "maximum rate, one thread, against the peer",
        best["djed"],
        best["jsonschema"],
        peer_name="jsonschema",
        lower_is_better=False,
    )
    against_raw = row(
        "maximum rate, one thread, against the library underneath",
        best["djed"],
        best["fastjsonschema"],
        peer_name="fastjsonschema (raw)",
        lower_is_better=False,
    )
    record(
        KEY,
        {
            "title": f"djed-validator: {RATE} validations/s for {SECONDS:g} s, then the maximum",
            "unit": "validations/s",
            "rows": [
                gated(against_peer, _ratio(rounds, "djed", "jsonschema")),
                gated(against_raw, _ratio(rounds, "djed", "fastjsonschema")),
                row(
                    f"paced rate held (target {RATE})",
                    report["per_second"],
                    lower_is_better=False,
                ),
                row("latest paced request (ms)", report["latest_ms"], unit="ms"),
                row("RSS peak growth after warm-up (%)", memory.peak_growth_percent, unit="%"),
                row("RSS growth at the end (%)", memory.end_growth_percent, unit="%"),
                row("RSS after warm-up (MB)", memory.baseline_mb, unit="MB"),
            ],
            "series": {"djed.validator child RSS (MB)": rss_series(samples)},
            "series_labels": {"x": "seconds", "y": "RSS (MB)"},
            "notes": (
                f"{variant()} variant: paced {SECONDS:g} s (RSS judged after {WARM_UP:g} s);"
                f" maximum: one thread, median of {MAX_ROUNDS} rounds of {MAX_SECONDS:g} s"
                " runs, measured on the other core while the paced run goes on; ratios are"
                " medians of each round's ratio. DJED_LOAD_CI_FULL=1 runs 60 s,"
                " DJED_LOAD_LONG=1 runs 10 minutes."
            ),
            "promises": {"rate_sustained": sustained, "rss_flat_within_5_percent": flat},
            "paced": report,
            "rss": memory._asdict(),
            "maximum_rounds": rounds,
        },
    )
    assert report["validations"] == round(RATE * SECONDS)
    assert report["refused"] == report["validations"] // 10
    assert sustained, f"{report['per_second']} validations/s held, the target is {RATE}"
    assert flat, f"RSS grew {memory.peak_growth_percent} % after the warm-up: {memory}"
