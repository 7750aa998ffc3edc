"""djed-mcp-base over streamable HTTP: 50 concurrent sessions, then a ramp to 100 ms p95.

The servers and the load generator are djed-mcp-base's own benchmark scripts, run as
they are (``packages/mcp-base/benchmarks``): ``_serve.py raw|djed PORT CORE`` serves the
same ``echo`` tool on the SDK alone (the peer) or on ``create_server`` with every
built-in stage on, under uvicorn on 127.0.0.1; ``_loadgen.py`` opens N keep-alive
sessions (the MCP handshake, then ``tools/call echo`` in a closed loop, every answer
checked) and prints throughput and latency percentiles. The servers share the first
core, the load generator has the second.

1. 50 sessions on each server, alternating which goes first (``PAIRS_AT_50`` pairs):
   p50/p95/p99 and calls a second. The promise is p95 < 100 ms for Djed; it is recorded
   always and asserted in the long variant only (a short run on a shared two-core
   machine is too noisy to judge a latency bound).
2. The ramp, for each server on its own: up from 50 (``UP``) while p95 stays below
   100 ms, or down (``DOWN``) if it was already above at 50, until p95 crosses 100 ms.
   The longer variants first measure a few counts below 50 on both (``LOW``), so that
   the curves of latency and throughput against sessions show their shape.
   Reported: the most sessions tried with p95 below 100 ms, the fewest at or above, and
   the crossing estimated by linear interpolation between them.

Any error in any answer fails the test, in every variant.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import pytest

from benchmarks.load._load_checks import crossing
from benchmarks.load._load_common import (
    REPO,
    cores,
    free_port,
    median,
    pick,
    record,
    row,
    rss_bytes,
    run_json,
    running,
    variant,
    wait_listening,
)

KEY = "load-mcp"
THROUGHPUT_KEY = "load-mcp-throughput"
SCRIPTS = REPO / "packages" / "mcp-base" / "benchmarks"
KINDS = ("raw", "djed")
NAMES = {"raw": "mcp SDK (raw)", "djed": "djed-mcp-base"}
LIMIT_MS = 100.0
SESSIONS = 50
UP = (75, 100, 150, 200, 300, 400, 600, 800, 1000)  # _serve.py accepts 1000 sessions
DOWN = (35, 25, 15, 10, 5, 2)
# Counts below 50 measured on both servers in the longer variants, for the shape of the curves.
LOW: tuple[int, ...] = pick((), (5, 10, 25), (1, 5, 10, 25))


class Plan(NamedTuple):
    warm_up: float  # seconds of load before calls are counted
    seconds: float  # seconds during which calls are counted


AT_50 = Plan(*pick((0.5, 2.5), (2.0, 10.0), (5.0, 60.0)))
PAIRS_AT_50 = pick(1, 2, 3)
RAMP_STEP = Plan(*pick((0.5, 1.5), (1.0, 4.0), (2.0, 10.0)))
FIGURES = ("calls_per_second", "p50_ms", "p95_ms", "p99_ms")
# Per load run, beyond its own duration: opening up to 1000 sessions, draining, closing.
SPARE = 120.0


class Server:
    """One of the benchmark servers, in a process of its own; its output in a temporary file."""

    def __init__(self, kind: str, process: Any, port: int, output: IO[bytes]) -> None:
        self.kind, self.process, self.port, self.output = kind, process, port, output

    def log(self) -> str:
        self.output.seek(0)
        return self.output.read().decode(errors="replace")[-3000:]

    def load(self, sessions: int, plan: Plan, cpu: list[str]) -> dict[str, Any]:
        """One load run of ``sessions`` sessions; its report, checked."""
        command = [sys.executable, str(SCRIPTS / "_loadgen.py"), str(self.port), str(sessions)]
        command += [str(plan.warm_up), str(plan.seconds), "--server-pid", str(self.process.pid)]
        report = run_json([*command, *cpu], timeout=plan.warm_up + plan.seconds + SPARE)
        assert self.process.poll() is None, f"the {self.kind} server died:\n{self.log()}"
        assert report["errors"] == 0, f"{self.kind}: {report['error_examples']}"
        assert report["calls"] > 0, f"{self.kind}: no call answered at {sessions} sessions"
        rss = rss_bytes(self.process.pid)
        report["server_rss_mb"] = None if rss is None else round(rss / 1e6, 2)
        return report


@contextlib.contextmanager
def servers(core: list[str]) -> Iterator[dict[str, Server]]:
    """Both servers, started together and always stopped."""
    with contextlib.ExitStack() as stack:
        started: dict[str, Server] = {}
        for kind in KINDS:
            port = free_port()
            output = stack.enter_context(tempfile.TemporaryFile())
            command = [sys.executable, str(SCRIPTS / "_serve.py"), kind, str(port), *core]
            process = stack.enter_context(running(command, stdout=output, stderr=output))
            started[kind] = Server(kind, process, port, output)
        for server in started.values():
            try:
                wait_listening(server.port, server.process)
            except RuntimeError as error:
                raise RuntimeError(f"{server.kind}: {error}\n{server.log()}") from error
        yield started


def _order(index: int) -> tuple[str, ...]:
    return KINDS if index % 2 == 0 else KINDS[::-1]


def ramp(
    running_servers: dict[str, Server], first: dict[str, dict[str, Any]], cpu: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Each server's steps: ``LOW``, then from 50 sessions up or down until p95 crosses 100 ms."""
    steps = {kind: [first[kind]] for kind in KINDS}
    for index, sessions in enumerate(LOW):
        for kind in _order(index):
            steps[kind].append(running_servers[kind].load(sessions, RAMP_STEP, cpu))
    going = {}
    for kind in KINDS:
        tried = {step["sessions"] for step in steps[kind]}
        counts = UP if first[kind]["p95_ms"] < LIMIT_MS else DOWN
        going[kind] = [count for count in counts if count not in tried]
    index = 0
    while any(going.values()):
        for kind in _order(index):
            if not going[kind]:
                continue
            sessions = going[kind].pop(0)
            report = running_servers[kind].load(sessions, RAMP_STEP, cpu)
            steps[kind].append(report)
            was_under = first[kind]["p95_ms"] < LIMIT_MS
            if (report["p95_ms"] < LIMIT_MS) != was_under:
                going[kind] = []  # crossed
        index += 1
    return {kind: sorted(found, key=lambda step: step["sessions"]) for kind, found in steps.items()}


def _at_50(pairs: list[dict[str, dict[str, Any]]], kind: str, figure: str) -> float:
    return round(median([pair[kind][figure] for pair in pairs]), 2)


@pytest.mark.timeout(
    int(PAIRS_AT_50 * 2 * (sum(AT_50) + 10) + 2 * (len(UP) + 1) * (sum(RAMP_STEP) + 30) + 2 * SPARE)
)
def test_mcp_sessions_p95_and_ramp(tmp_path: Path) -> None:
    serve_cpu, load_cpu = cores()
    with servers(serve_cpu[1:]) as running_servers:
        pairs = [
            {kind: running_servers[kind].load(SESSIONS, AT_50, load_cpu) for kind in _order(i)}
            for i in range(PAIRS_AT_50)
        ]
        # The ramp starts from the last pair's run at 50 sessions.
        steps = ramp(running_servers, pairs[-1], load_cpu)
    found = {kind: crossing(steps[kind], LIMIT_MS) for kind in KINDS}
    figure = {kind: {f: _at_50(pairs, kind, f) for f in FIGURES} for kind in KINDS}
    p95 = {kind: figure[kind]["p95_ms"] for kind in KINDS}
    calls = {kind: figure[kind]["calls_per_second"] for kind in KINDS}
    promise_met = p95["djed"] < LIMIT_MS
    peer = NAMES["raw"]
    throughput_ratios = [
        round(pair["djed"]["calls_per_second"] / pair["raw"]["calls_per_second"], 4)
        for pair in pairs
    ]
    rows = [
        row(f"p95 at {SESSIONS} sessions", p95["djed"], p95["raw"], peer_name=peer, unit="ms"),
        row(
            f"p50 at {SESSIONS} sessions",
            figure["djed"]["p50_ms"],
            figure["raw"]["p50_ms"],
            peer_name=peer,
            unit="ms",
        ),
        row(
            f"p99 at {SESSIONS} sessions",
            figure["djed"]["p99_ms"],
            figure["raw"]["p99_ms"],
            peer_name=peer,
            unit="ms",
        ),
        row(
            f"most sessions tried with p95 < {LIMIT_MS:g} ms",
            found["djed"].under,
            found["raw"].under,
            peer_name=peer,
            lower_is_better=False,
            unit="sessions",
        ),
        row(
            f"sessions where p95 crosses {LIMIT_MS:g} ms (interpolated)",
            found["djed"].estimate,
            found["raw"].estimate,
            peer_name=peer,
            lower_is_better=False,
            unit="sessions",
        ),
    ]
    notes = (
        f"{variant()} variant: {PAIRS_AT_50} alternating pair(s) of {AT_50.seconds:g} s at"
        f" {SESSIONS} sessions (after {AT_50.warm_up:g} s of warm-up), then ramp steps of"
        f" {RAMP_STEP.seconds:g} s; servers on one core, the load generator on the other."
        f" Promise p95 < {LIMIT_MS:g} ms at {SESSIONS} sessions:"
        f" {'met' if promise_met else 'MISSED'} ({p95['djed']} ms); asserted in the long"
        " variant only."
    )
    record(
        KEY,
        {
            "title": f"djed-mcp-base over streamable HTTP: {SESSIONS} sessions and the ramp",
            "unit": "ms",
            "rows": rows,
            "series": {
                f"{NAMES[kind]} p95 (ms)": [[s["sessions"], s["p95_ms"]] for s in steps[kind]]
                for kind in KINDS
            },
            "series_labels": {"x": "concurrent sessions", "y": "p95 latency (ms)"},
            "notes": notes,
            "promises": {f"djed_p95_under_{LIMIT_MS:g}ms_at_{SESSIONS}_sessions": promise_met},
            "at_50": pairs,
            "ramp": steps,
            "crossing": {kind: found[kind]._asdict() for kind in KINDS},
        },
    )
    through = row(
        f"calls/s at {SESSIONS} sessions",
        calls["djed"],
        calls["raw"],
        peer_name=peer,
        lower_is_better=False,
    )
    record(
        THROUGHPUT_KEY,
        {
            "title": "djed-mcp-base over streamable HTTP: throughput against concurrency",
            "unit": "calls/s",
            "rows": [through],
            "series": {
                f"{NAMES[kind]} calls/s": [
                    [s["sessions"], s["calls_per_second"]] for s in steps[kind]
                ]
                for kind in KINDS
            },
            "series_labels": {"x": "concurrent sessions", "y": "calls per second"},
            "notes": (
                "Closed loop: each session sends its next call when the answer is back."
                f" Djed/raw throughput of each pair at {SESSIONS} sessions: {throughput_ratios}"
                " (not gated: djed-mcp-base's own benchmark gates it, over more pairs)."
            ),
        },
    )
    for kind in KINDS:
        assert found[kind].under is not None or found[kind].over is not None, steps[kind]
    if variant() == "long":
        assert promise_met, f"p95 at {SESSIONS} sessions is {p95['djed']} ms (limit {LIMIT_MS})"
