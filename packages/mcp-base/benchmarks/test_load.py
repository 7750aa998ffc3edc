"""The same ``echo`` tool on the raw SDK and on Djed, loaded over streamable HTTP on loopback.

Each server (``_servers.py``) runs in a process of its own, uvicorn on 127.0.0.1
(``_serve.py``), and the load comes from another process (``_loadgen.py``): hand-written
keep-alive HTTP/1.1 sessions on one asyncio loop, each calling ``echo`` again as soon as
the previous answer came back. With two cores or more, the servers run on the first and
the load generator on the second.

* ``test_throughput``: 50 sessions on each server, alternating raw and Djed
  (raw, Djed, Djed, raw, raw, Djed: ``PAIRS`` pairs, so a drift of the machine weighs on
  both alike); Djed's throughput as a share of raw's is the median of the pairs' ratios.
* ``test_session_ramp``: more and more sessions (``RAMP``), each server at each count
  until its p95 latency reaches 100 ms; for each, the largest count that stayed below
  is reported (goal 500).

Every answer is checked by the load generator; any error fails the test. Without
``--benchmark-enable`` both tests run a short version (a few sessions, about a second
each) that checks the same things.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import pytest
from djed.mcp_base.testing import free_port
from pytest_benchmark.fixture import BenchmarkFixture

HERE = Path(__file__).parent
KINDS = ("raw", "djed")
P95_LIMIT_MS = 100.0
RAMP = (50, 60, 70, 80, 90, 100, 125, 150, 200, 300, 400, 500)
SMOKE_RAMP = (2, 4)
STARTUP_TIMEOUT = 30.0  # seconds for a server to listen
SPARE_SECONDS = 90.0  # beyond a load run's own duration: handshakes, draining, start-up


class Plan(NamedTuple):
    sessions: int
    warm_up: float  # seconds of load before calls are counted
    seconds: float  # seconds during which calls are counted
    pairs: int


FULL = Plan(sessions=50, warm_up=2.0, seconds=6.0, pairs=5)
FULL_RAMP_STEP = Plan(sessions=0, warm_up=2.0, seconds=5.0, pairs=1)
SMOKE = Plan(sessions=4, warm_up=0.2, seconds=0.8, pairs=1)
# The figures of a load run kept as medians over the pairs.
KEPT = (
    "calls_per_second",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "server_cpu_percent",
    "server_cpu_us_per_call",
    "client_cpu_percent",
)


def _cores() -> tuple[list[str], list[str]]:
    """The arguments pinning the servers and the load generator to a core each, if possible."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(usable) < 2:
        return [], []
    return [str(usable[0])], ["--cpu", str(usable[1])]


SERVER_CORE, LOADGEN_CORE = _cores()


class Server:
    """One benchmark server in a process of its own, its output in a temporary file."""

    def __init__(self, kind: str) -> None:
        self.kind, self.port = kind, free_port()
        self.output: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        command = [sys.executable, str(HERE / "_serve.py"), kind, str(self.port), *SERVER_CORE]
        self.process = subprocess.Popen(command, stdout=self.output, stderr=subprocess.STDOUT)

    def log(self) -> str:
        self.output.seek(0)
        return self.output.read().decode(errors="replace")[-3000:]

    def wait_listening(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.05)
            else:
                return
        raise RuntimeError(f"the {self.kind} server did not start:\n{self.log()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.output.close()

    def load(self, sessions: int, plan: Plan) -> dict[str, Any]:
        """Run the load generator against this server; its report, once checked."""
        command = [
            sys.executable,
            str(HERE / "_loadgen.py"),
            str(self.port),
            str(sessions),
            str(plan.warm_up),
            str(plan.seconds),
            "--server-pid",
            str(self.process.pid),
            *LOADGEN_CORE,
        ]
        done = subprocess.run(  # kills the load generator if it overruns
            command,
            capture_output=True,
            text=True,
            timeout=plan.warm_up + plan.seconds + SPARE_SECONDS,
            check=False,
        )
        assert done.returncode == 0, f"load generator failed:\n{done.stderr}\n{self.log()}"
        assert self.process.poll() is None, f"the {self.kind} server died:\n{self.log()}"
        report: dict[str, Any] = json.loads(done.stdout)
        assert report["errors"] == 0, f"{self.kind}: {report['error_examples']}"
        assert report["calls"] > 0, f"{self.kind}: no call answered"
        return report


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    """Both servers, started together; always stopped, whatever happens."""
    started: list[Server] = []
    try:
        started.extend(Server(kind) for kind in KINDS)  # appended one by one: all stopped
        for server in started:
            server.wait_listening()
        yield {server.kind: server for server in started}
    finally:
        for server in started:
            server.stop()


def _order(index: int) -> tuple[str, str]:
    """raw first, then Djed first, and so on: a drift of the machine weighs on both alike."""
    return KINDS if index % 2 == 0 else KINDS[::-1]


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(run[key] for run in runs)), 2)


def test_throughput(
    benchmark: BenchmarkFixture, servers: dict[str, Server], load_figures: dict[str, Any]
) -> None:
    """Djed's throughput against raw's at 50 sessions, and each side's latency there."""
    plan = FULL if benchmark.enabled else SMOKE

    def measure() -> list[dict[str, dict[str, Any]]]:
        return [
            {kind: servers[kind].load(plan.sessions, plan) for kind in _order(pair)}
            for pair in range(plan.pairs)
        ]

    pairs = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[no-untyped-call]  # unannotated upstream
    figures: dict[str, Any] = {"sessions": plan.sessions, "pairs": plan.pairs}
    ratios = [pair["djed"]["calls_per_second"] / pair["raw"]["calls_per_second"] for pair in pairs]
    figures["djed_vs_raw_throughput"] = round(statistics.median(ratios), 4)
    figures["ratios"] = [round(ratio, 4) for ratio in ratios]
    cpu = [[pair[kind].get("server_cpu_us_per_call") for kind in KINDS] for pair in pairs]
    if all(raw and djed for raw, djed in cpu):
        # Calls per second of server CPU: the throughput ratio the servers would show with
        # a core each to themselves, whatever else ran on the machine meanwhile.
        by_cpu = statistics.median(raw / djed for raw, djed in cpu)
        figures["djed_vs_raw_calls_per_cpu_second"] = round(by_cpu, 4)
    for kind in KINDS:
        runs = [pair[kind] for pair in pairs]
        for key in KEPT:
            if all(run.get(key) is not None for run in runs):
                figures[f"{kind}_{key}"] = _median(runs, key)
        figures[f"{kind}_runs"] = runs
    benchmark.extra_info.update(figures)
    if benchmark.enabled:
        load_figures["throughput"] = figures


def _most_under_limit(steps: list[dict[str, Any]], kind: str) -> tuple[int, str]:
    """The largest session count before ``kind``'s p95 first reached the limit, and why."""
    most = 0
    for step in steps:
        if kind in step and step[kind]["p95_ms"] >= P95_LIMIT_MS:
            return most, f"p95 reached {P95_LIMIT_MS:g} ms at {step['sessions']}"
        most = step["sessions"]
    return most, f"p95 below {P95_LIMIT_MS:g} ms up to {most}, the last count tried"


def test_session_ramp(
    benchmark: BenchmarkFixture, servers: dict[str, Server], load_figures: dict[str, Any]
) -> None:
    """More and more sessions on each server, until its p95 latency reaches 100 ms."""
    counts, plan = (RAMP, FULL_RAMP_STEP) if benchmark.enabled else (SMOKE_RAMP, SMOKE)

    def ramp() -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        going = set(KINDS)  # the servers still below the limit
        for index, sessions in enumerate(counts):
            step: dict[str, Any] = {"sessions": sessions}
            for kind in (kind for kind in _order(index) if kind in going):
                step[kind] = servers[kind].load(sessions, plan)
                if step[kind]["p95_ms"] >= P95_LIMIT_MS:
                    going.discard(kind)
            steps.append(step)
            if not going:
                break
        return steps

    steps = benchmark.pedantic(ramp, rounds=1, iterations=1)  # type: ignore[no-untyped-call]  # unannotated upstream
    figures: dict[str, Any] = {"steps": steps}
    for kind in KINDS:
        figures[f"{kind}_most"], figures[f"{kind}_limit"] = _most_under_limit(steps, kind)
    benchmark.extra_info.update(figures)
    if benchmark.enabled:
        load_figures["ramp"] = figures
