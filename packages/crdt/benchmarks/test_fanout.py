"""Fan-out latency: one writer's edits reaching 10 and 100 readers, on three servers.

The servers (``_serve.py``: Djed on ``MemoryStorage``, Djed on ``SQLiteStorage`` in a
temporary folder, and pycrdt-websocket) each run in a process of their own, uvicorn
on 127.0.0.1, started together for the module. The readers and the writer run in
another process (``_fanout.py``), so that a latency is measured on one clock: a
reader's receive time minus the writer's send time. The machine has two cores: the
servers run on the first and the load generator on the second (when two are usable).

Each test is one reader count. With ``--benchmark-enable`` it makes three rounds (see
``plan``); a round runs the load generator once against each server, in an order
turned by one each round (so a drift of the machine weighs on all three alike), each
time on a document of its own: the writer makes 500 edits at 50 a second, paced so
that the figure is latency, not saturation. A server's figure is the median over the
rounds of its p50, p99 and max; a ratio is the median of the rounds' ratios.

Without ``--benchmark-enable`` each test is a short correctness run (a few readers, a
few edits, one round): every reader must get every edit, and the readers that keep a
document, like a client joining afterwards, must hold exactly the writer's text.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

HERE = Path(__file__).parent
KINDS = ("djed-memory", "djed-sqlite", "pycrdt-websocket")
STARTUP_TIMEOUT = 30.0  # seconds for a server to listen
# The load generator waits up to 30 s after the last edit for every reader to have it
# (a busy machine can hold a process back that long); it returns as soon as they do.
SPARE_SECONDS = 90.0  # beyond a run's paced writing: connecting, 30 s of draining, checking


class Plan(NamedTuple):
    readers: int
    updates: int
    rate: float  # edits a second
    skip: int  # first updates not counted
    verify: int  # readers keeping a document
    rounds: int


def plan(readers: int, *, enabled: bool) -> Plan:
    if enabled:
        return Plan(readers, updates=500, rate=50.0, skip=20, verify=3, rounds=3)
    few = 3 if readers <= 10 else 6
    return Plan(few, updates=6, rate=200.0, skip=0, verify=few, rounds=1)


def _cores() -> tuple[list[str], list[str]]:
    """The arguments putting the servers on one core and the load generator on another."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(usable) < 2:
        return [], []
    return ["--cpu", str(usable[0])], ["--cpu", str(usable[1])]


SERVER_CORE, LOADGEN_CORE = _cores()


class Server:
    """One server in a process (and session) of its own, its output in a temporary file.

    The process picks its own port and writes it to a file once it listens.
    """

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.port = 0
        self.ready = folder / f"{kind}.port"
        self.output: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        command = [sys.executable, str(HERE / "_serve.py"), kind, str(self.ready)]
        self.process = subprocess.Popen(
            [*command, "--store", str(folder), *SERVER_CORE],
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        self.output.seek(0)
        return self.output.read().decode(errors="replace")[-3000:]

    def await_port(self) -> None:
        """Block until the server says where it listens; fail if it dies or takes too long."""
        give_up = time.monotonic() + STARTUP_TIMEOUT
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError(f"the {self.kind} server did not start:\n{self.log()}")
            time.sleep(0.02)
        self.port = int(self.ready.read_text())

    def stop(self) -> None:
        """SIGTERM for Djed (it stores what is pending), SIGKILL for pycrdt-websocket.

        pycrdt-websocket can wait forever on a stuck connection when asked to stop.
        """
        if self.process.poll() is None and self.kind != "pycrdt-websocket":
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.output.close()

    def fan_out(self, document: str, plan: Plan) -> dict[str, Any]:
        """Run the load generator against this server; its report, once checked."""
        command = [sys.executable, str(HERE / "_fanout.py"), str(self.port), document]
        command += ["--readers", str(plan.readers), "--updates", str(plan.updates)]
        command += ["--rate", str(plan.rate), "--skip", str(plan.skip), "--deadline", "30"]
        command += ["--verify", str(plan.verify), "--server-pid", str(self.process.pid)]
        done = subprocess.run(  # kills the load generator if it overruns
            [*command, *LOADGEN_CORE],
            capture_output=True,
            text=True,
            timeout=plan.updates / plan.rate + SPARE_SECONDS,
            check=False,
        )
        assert done.returncode == 0, f"load generator failed:\n{done.stderr}\n{self.log()}"
        assert self.process.poll() is None, f"the {self.kind} server died:\n{self.log()}"
        report: dict[str, Any] = json.loads(done.stdout)
        assert report["missing"] == 0, f"{self.kind}: {report['missing']} updates never arrived"
        assert not report["wrong_readers"], f"{self.kind}: readers with the wrong text"
        assert report["writer_text_ok"], f"{self.kind}: the writer's own text is wrong"
        assert report["late_joiner_ok"], f"{self.kind}: a new client gets the wrong text"
        assert report["samples"] == plan.readers * (plan.updates - plan.skip)
        return report


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """The three servers, started together; always stopped, whatever happens."""
    folder = tmp_path_factory.mktemp("fanout")
    with contextlib.ExitStack() as stopping:  # stops each server started, come what may
        running: dict[str, Server] = {}
        for kind in KINDS:
            running[kind] = Server(kind, folder)
            stopping.callback(running[kind].stop)
        for server in running.values():
            server.await_port()
        yield running


def _median(values: list[float]) -> float:
    return round(float(statistics.median(values)), 3)


def summarize(rounds: list[dict[str, dict[str, Any]]], updates: int) -> dict[str, Any]:
    """Each server's medians over the rounds, and the ratios between them."""
    figures: dict[str, Any] = {}
    for kind in KINDS:
        runs = [one[kind] for one in rounds]
        key = kind.replace("-", "_")
        for stat in ("p50_ms", "p99_ms", "max_ms", "mean_ms"):
            figures[f"{key}_{stat}"] = _median([run[stat] for run in runs])
        for stat in ("p50", "p99"):
            figures[f"{key}_{stat}_runs"] = [round(run[f"{stat}_ms"], 3) for run in runs]
        if all("server_cpu_s" in run for run in runs):
            per_update = [run["server_cpu_s"] / updates * 1e6 for run in runs]
            figures[f"{key}_server_cpu_us_per_update"] = _median(per_update)
        figures[f"{key}_writer_late_max_ms"] = round(max(r["writer_late_max_ms"] for r in runs), 3)
    pairs = {
        "djed_memory_vs_pycrdt_websocket": ("djed-memory", "pycrdt-websocket"),
        "djed_sqlite_vs_pycrdt_websocket": ("djed-sqlite", "pycrdt-websocket"),
        "djed_sqlite_vs_djed_memory": ("djed-sqlite", "djed-memory"),
    }
    for name, (first, second) in pairs.items():
        for stat in ("p50", "p99"):
            ratios = [one[first][f"{stat}_ms"] / one[second][f"{stat}_ms"] for one in rounds]
            figures[f"{name}_{stat}"] = _median(ratios)
    for stat in ("p50", "p99"):  # what persistence adds, in milliseconds
        extra = [
            one["djed-sqlite"][f"{stat}_ms"] - one["djed-memory"][f"{stat}_ms"] for one in rounds
        ]
        figures[f"djed_sqlite_extra_{stat}_ms"] = _median(extra)
    return figures


@pytest.mark.parametrize("readers", [10, 100])
def test_fan_out(
    benchmark: BenchmarkFixture,
    servers: dict[str, Server],
    fanout_figures: dict[str, Any],
    readers: int,
) -> None:
    """Every edit reaches every reader; with ``--benchmark-enable``, how fast, per server."""
    chosen = plan(readers, enabled=benchmark.enabled)

    def measure() -> list[dict[str, dict[str, Any]]]:
        rounds = []
        for index in range(chosen.rounds):
            order = KINDS[index % len(KINDS) :] + KINDS[: index % len(KINDS)]
            document = f"fanout-{readers}-{index}"
            rounds.append({kind: servers[kind].fan_out(document, chosen) for kind in order})
        return rounds

    rounds = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[no-untyped-call]  # unannotated upstream
    figures = summarize(rounds, chosen.updates)
    setup = {"readers": chosen.readers, "updates": chosen.updates, "rate": chosen.rate}
    setup |= {"rounds": chosen.rounds, "counted_updates": chosen.updates - chosen.skip}
    benchmark.extra_info.update(figures | setup)
    if benchmark.enabled:
        fanout_figures[str(readers)] = figures | {"plan": setup, "runs": rounds}
