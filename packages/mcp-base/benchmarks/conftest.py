"""Figures of the djed-mcp-base benchmarks: collected, printed, written as JSON and gated.

In-process figures (``test_overhead.py``) come from pytest-benchmark: each benchmark
names its ``case`` and its ``calls`` per round in ``benchmark.extra_info``, and a
case's time per call is its median round divided by its calls. In the ``mcp-call``
group Djed's call is compared with the raw SDK's (microseconds added, time ratio);
in the ``mcp-stage`` group every case is compared with ``bare`` (nanoseconds added).

Load figures (``test_load.py``) are handed over through the ``load_figures`` fixture,
once measured (with ``--benchmark-enable``).

After the run a summary is printed; ``--ratios-json PATH`` writes everything under the
key ``djed-mcp-base`` (keeping what other packages wrote to PATH in the same run) and
``--ratio-gate`` fails the session when a target below is missed or none was measured.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest

# The folder's name, mcp-base, is not a Python package name, so mypy reads the helper
# modules here as top-level modules: make them importable as such at run time too (the
# scripts run from here, such as _serve.py, get that from Python itself).
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

KEY = "djed-mcp-base"
CALL_GROUP, STAGE_GROUP = "mcp-call", "mcp-stage"
LIBRARIES = (
    "djed-mcp-base",
    "djed-logger",
    "djed-validator",
    "mcp",
    "uvicorn",
    "starlette",
    "h11",
    "httptools",
    "uvloop",
    "pydantic",
    "structlog",
    "orjson",
    "opentelemetry-sdk",
    "pytest-benchmark",
)


class Target(NamedTuple):
    """A bound on one figure: below ``limit``, or at least ``limit`` when ``at_least``."""

    figure: str
    limit: float
    at_least: bool = False

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value < self.limit

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<'} {self.limit:g}"


TARGETS = (
    Target("load.djed_vs_raw_throughput", 0.9, at_least=True),
    Target("load.djed_p95_ms_at_50_sessions", 100.0),
)


# -- what the tests hand over --------------------------------------------------------------

_LOAD = pytest.StashKey[dict[str, Any]]()
_STARTED = pytest.StashKey[float]()
_SUMMARY = pytest.StashKey[dict[str, Any]]()


@pytest.fixture
def load_figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Where the load tests put what they measured, for the summary and the gate."""
    return request.config.stash.setdefault(_LOAD, {})


@pytest.fixture(scope="session")
def measuring(pytestconfig: pytest.Config) -> bool:
    """Whether this run measures (``--benchmark-enable``) rather than only checks."""
    return not getattr(_benchmark_session(pytestconfig), "disabled", True)


def _benchmark_session(config: pytest.Config) -> Any:
    # pytest-benchmark keeps its session on the config, without a public accessor.
    return getattr(config, "_benchmarksession", None)


# -- the figures ---------------------------------------------------------------------------


def seconds_per_call(benchmarks: list[Any]) -> dict[str, dict[str, float]]:
    """Median round divided by calls per round, by group and case."""
    table: dict[str, dict[str, float]] = {}
    for bench in benchmarks:
        info = bench.extra_info
        if bench and bench.group in (CALL_GROUP, STAGE_GROUP) and info.get("calls"):
            table.setdefault(bench.group, {})[info["case"]] = bench.stats.median / info["calls"]
    return table


def in_process_figures(table: dict[str, dict[str, float]]) -> dict[str, float]:
    """Djed's call against the raw SDK's; each stage, and the pipeline, against ``bare``."""
    figures: dict[str, float] = {}
    calls = table.get(CALL_GROUP, {})
    if {"raw", "djed"} <= calls.keys():
        figures["call.djed_extra_us"] = (calls["djed"] - calls["raw"]) * 1e6
        figures["call.djed_time_vs_raw"] = calls["djed"] / calls["raw"]
    stages = dict(table.get(STAGE_GROUP, {}))
    bare = stages.pop("bare", None)
    if bare is not None:
        for case, seconds in stages.items():
            figures[f"stage.{case}_extra_ns"] = (seconds - bare) * 1e9
        pipeline = stages.pop("pipeline", None)
        if pipeline is not None and stages:
            alone = sum(stages.values()) - bare * len(stages)
            figures["stage.pipeline_minus_stages_alone_ns"] = (pipeline - bare - alone) * 1e9
    return figures


def load_summary_figures(load: dict[str, Any]) -> dict[str, float]:
    """The headline figures of the load tests, flattened for the gate and the JSON."""
    figures: dict[str, float] = {}
    if "throughput" in load:
        for name in (
            "djed_vs_raw_throughput",
            "djed_vs_raw_calls_per_cpu_second",
            "raw_calls_per_second",
            "djed_calls_per_second",
        ):
            if name in load["throughput"]:
                figures[f"load.{name}"] = load["throughput"][name]
        for kind in ("raw", "djed"):
            figures[f"load.{kind}_p95_ms_at_50_sessions"] = load["throughput"][f"{kind}_p95_ms"]
    if "ramp" in load:
        for kind in ("raw", "djed"):
            figures[f"load.{kind}_most_sessions_p95_under_100ms"] = load["ramp"][f"{kind}_most"]
    return figures


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpus": os.cpu_count(),
        "usable_cpus": None if cores is None else len(cores),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


# -- options, summary, JSON and gate -------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("djed-mcp-base benchmarks")
    # Every package's benchmark conftest declares these two, meaning the same thing; the
    # first loaded wins and the others' declarations are refused with ValueError.
    options: dict[str, dict[str, Any]] = {
        "--ratios-json": {"metavar": "PATH", "help": "Write the benchmark ratios to PATH."},
        "--ratio-gate": {"action": "store_true", "help": "Fail when a target is missed."},
    }
    for flag, settings in options.items():
        with contextlib.suppress(ValueError):
            group.addoption(flag, default=None if "metavar" in settings else False, **settings)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STARTED] = time.time()


def _export(config: pytest.Config, summary: dict[str, Any]) -> None:
    path = Path(str(config.getoption("ratios_json")))
    document: Any = {}
    if path.exists() and path.stat().st_mtime >= config.stash[_STARTED]:
        with contextlib.suppress(ValueError):  # another package's part of this run
            document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        document = {}
    document[KEY] = summary | {"machine": machine()}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


@pytest.hookimpl(trylast=True)  # after other packages wrote the same --ratios-json file
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    bench_session = _benchmark_session(config)
    measured = not getattr(bench_session, "disabled", True)
    table = seconds_per_call(list(getattr(bench_session, "benchmarks", ())) if measured else [])
    load = config.stash.get(_LOAD, {})
    figures = in_process_figures(table) | load_summary_figures(load)
    checked = {t.figure: t.met(figures[t.figure]) for t in TARGETS if t.figure in figures}
    summary: dict[str, Any] = {
        "seconds_per_call": table,
        "figures": figures,
        "load": load,
        "targets": {t.figure: str(t) for t in TARGETS},
        "targets_met": checked,
    }
    if config.getoption("ratios_json", default=None) and figures:
        _export(config, summary)
    summary["gate"] = ""
    if config.getoption("ratio_gate", default=False):
        summary["gate"] = "passed" if checked and all(checked.values()) else "FAILED"
        if not checked:
            summary["gate"] += ", nothing measured (run with --benchmark-enable)"
        if summary["gate"] != "passed" and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config.stash[_SUMMARY] = summary


def _load_lines(load: dict[str, Any]) -> list[str]:
    lines = []
    if "throughput" in load:
        through = load["throughput"]
        lines.append(f"load at {through['sessions']} sessions (median of {through['pairs']} pairs)")
        lines += [
            f"  {kind:<5} {through[f'{kind}_calls_per_second']:9.1f} calls/s"
            f"  p50 {through[f'{kind}_p50_ms']:7.2f}  p95 {through[f'{kind}_p95_ms']:7.2f}"
            f"  p99 {through[f'{kind}_p99_ms']:7.2f} ms"
            f"  server CPU {through.get(f'{kind}_server_cpu_us_per_call', 0):7.1f} us/call"
            f" ({through.get(f'{kind}_server_cpu_percent', 0):5.1f} % of a core)"
            for kind in ("raw", "djed")
        ]
        lines.append(f"  = djed/raw throughput {through['djed_vs_raw_throughput']:.3f}")
        if "djed_vs_raw_calls_per_cpu_second" in through:
            by_cpu = through["djed_vs_raw_calls_per_cpu_second"]
            lines.append(f"  = djed/raw calls per second of server CPU {by_cpu:.3f}")
    if "ramp" in load:
        lines.append("ramp: p95 ms (calls/s)   raw | djed")
        for step in load["ramp"]["steps"]:
            shown = "  | ".join(
                f"{step[kind]['p95_ms']:8.2f} ({step[kind]['calls_per_second']:7.1f})"
                if kind in step
                else f"{'-':>18}"
                for kind in ("raw", "djed")
            )
            lines.append(f"  {step['sessions']:>4} sessions  {shown}")
        ramp = load["ramp"]
        lines.append(
            f"  = most sessions with p95 < 100 ms: raw {ramp['raw_most']}"
            f" ({ramp['raw_limit']}), djed {ramp['djed_most']} ({ramp['djed_limit']}); goal 500"
        )
    return lines


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    for group, cases in summary["seconds_per_call"].items():
        lines.append(f"{group}  (median round / calls per round)")
        lines += [
            f"  {case:<14} {seconds * 1e6:10.2f} us/call"
            for case, seconds in sorted(cases.items(), key=lambda item: item[1])
        ]
    lines += [
        f"  = {name:<40} {value:12.3f}"
        for name, value in summary["figures"].items()
        if not name.startswith("load.")
    ]
    lines += _load_lines(summary["load"])
    for figure, met in summary["targets_met"].items():
        value = summary["figures"][figure]
        bound = summary["targets"][figure]
        lines.append(f"target {figure} {value:.3f} {bound}: {'ok' if met else 'MISSED'}")
    if summary["gate"]:
        lines.append(f"ratio gate: {summary['gate']}")
    return lines


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    summary = config.stash.get(_SUMMARY, {})
    if not (summary.get("figures") or summary.get("gate")):
        return  # nothing measured, nothing asked
    terminalreporter.section(f"{KEY} overheads, load and targets")
    for line in _summary_lines(summary):
        terminalreporter.write_line(line, red="FAILED" in line, green=line.endswith("passed"))
