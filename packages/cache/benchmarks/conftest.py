"""The ratio and overhead report printed after the djed-cache benchmarks.

Every benchmark names its ``case`` and its ``calls`` per round in
``benchmark.extra_info``. After a run with ``--benchmark-enable`` the median round
of each case divided by its calls is its time per call (per navigation in the
model group). The ``FIGURES`` of a group compare two of its cases: as a time ratio
(Djed's time divided by the other library's; above 1, Djed is slower) or as the
nanoseconds a case adds per call to the group's ``bare`` case. ``TARGETS`` says
which figures must stay below what. ``--ratios-json PATH`` writes everything as
JSON under the key ``djed-cache``; ``--ratio-gate`` fails the session when a target
is missed or nothing was measured.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pytest

REPORT_KEY = "djed-cache"

# -- figures and targets -------------------------------------------------------------------


class Figure(NamedTuple):
    """``first / second`` (a time ratio) or ``first - second`` in nanoseconds per call."""

    name: str
    first: str
    second: str
    kind: Literal["ratio", "extra_ns"]


class Target(NamedTuple):
    """An upper bound on one figure of one group."""

    group: str
    figure: str
    limit: float


def _ratio(first: str, second: str) -> Figure:
    return Figure(f"{first}_time_vs_{second}", first, second, "ratio")


def _extra(case: str) -> Figure:
    return Figure(f"{case}_extra_ns", case, "bare", "extra_ns")


# Every group the report knows, in the order it prints them; a group without figures
# (the model) reports its times only.
FIGURES: dict[str, tuple[Figure, ...]] = {
    "cache-memory-hit": (
        _ratio("djed_get", "cachetools_getitem"),
        _ratio("djed_get", "cachetools_get"),
        _ratio("djed_get", "cachetools_getitem_locked"),
    ),
    "cache-async-memory-hit": (_ratio("djed_get", "cashews_get"),),
    "cache-redis-get": (
        _ratio("djed_get", "redis_py_get"),
        _ratio("djed_get", "redis_py_get_orjson"),
        _ratio("djed_get", "redis_py_mget_timeouts"),
        _ratio("redis_py_mget_timeouts", "redis_py_get"),
    ),
    "cache-cached-hit": (
        _extra("djed_cached"),
        _extra("djed_cached_template"),
        _extra("cachetools_cached"),
    ),
    "cache-model": (),
}
TARGETS = (
    Target("cache-memory-hit", "djed_get_time_vs_cachetools_getitem", 1.5),
    Target("cache-async-memory-hit", "djed_get_time_vs_cashews_get", 1.5),
    Target("cache-redis-get", "djed_get_time_vs_redis_py_get", 1.2),
)
# (unit, scale from seconds, what one unit of ``calls`` is)
_UNITS: dict[str, tuple[str, float, str]] = {
    "cache-redis-get": ("µs", 1e6, "call"),
    "cache-model": ("µs", 1e6, "navigation"),
}
_DEFAULT_UNIT = ("ns", 1e9, "call")
_SHOWN_EXTRA = ("hit_rate_at_3",)  # extra_info keys printed beside a case


def per_call_seconds(benchmarks: list[Any]) -> dict[str, dict[str, float]]:
    """Median seconds per call, by group and case, from pytest-benchmark's statistics."""
    table: dict[str, dict[str, float]] = {}
    for bench in benchmarks:
        case, calls = bench.extra_info.get("case"), bench.extra_info.get("calls")
        if bench and bench.group in FIGURES and case and calls:  # bench: has data
            table.setdefault(bench.group, {})[case] = bench.stats.median / calls
    return table


def case_details(benchmarks: list[Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """The extra values a case reported (such as ``hit_rate_at_3``), by group and case."""
    details: dict[str, dict[str, dict[str, Any]]] = {}
    for bench in benchmarks:
        case = bench.extra_info.get("case")
        shown = {key: bench.extra_info[key] for key in _SHOWN_EXTRA if key in bench.extra_info}
        if bench and bench.group in FIGURES and case and shown:
            details.setdefault(bench.group, {})[case] = shown
    return details


def compute_figures(table: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Every figure of ``FIGURES`` whose two cases were measured."""
    figures: dict[str, dict[str, float]] = {}
    for group, cases in table.items():
        for name, first, second, kind in FIGURES[group]:
            if first in cases and second in cases:
                value = (
                    cases[first] / cases[second]
                    if kind == "ratio"
                    else (cases[first] - cases[second]) * 1e9
                )
                figures.setdefault(group, {})[name] = value
    return figures


def missed_targets(figures: Mapping[str, Mapping[str, float]]) -> tuple[list[str], int]:
    """The targets missed, and how many targets had a figure to check."""
    missed, checked = [], 0
    for group, figure, limit in TARGETS:
        value = figures.get(group, {}).get(figure)
        if value is not None:
            checked += 1
            if value > limit:
                missed.append(f"{group}.{figure}")
    return missed, checked


def _benchmark_session(config: pytest.Config) -> Any:
    # pytest-benchmark keeps its session on the config and offers no public accessor.
    return getattr(config, "_benchmarksession", None)


# -- options, gate and summary ---------------------------------------------------------------

_STARTED = pytest.StashKey[float]()
_REPORT = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("djed-cache benchmarks")
    # The benchmark conftests of the other packages add these two options too, with
    # the same meaning: whichever is loaded first defines them for the whole run.
    with contextlib.suppress(ValueError):
        group.addoption(
            "--ratios-json",
            metavar="PATH",
            default=None,
            help="Write the benchmark ratios to PATH as JSON.",
        )
    with contextlib.suppress(ValueError):
        group.addoption(
            "--ratio-gate",
            action="store_true",
            default=False,
            help="Fail the session when a benchmark target is missed.",
        )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STARTED] = time.time()


def _machine() -> dict[str, Any]:
    machine: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    for name in ("djed-cache", "cachetools", "cashews", "redis", "orjson", "pytest-benchmark"):
        try:
            machine[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            machine[name] = None
    return machine


def _write_json(config: pytest.Config, document: dict[str, Any]) -> None:
    path = Path(str(config.getoption("ratios_json")))
    merged: dict[str, Any] = {}
    if path.exists() and path.stat().st_mtime >= config.stash[_STARTED]:
        # Written by another package's benchmarks during this run: keep their part.
        with contextlib.suppress(ValueError):
            loaded = json.loads(path.read_text(encoding="utf-8"))
            merged = loaded if isinstance(loaded, dict) else {}
    merged[REPORT_KEY] = {**document, "machine": _machine()}
    path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")


@pytest.hookimpl(trylast=True)  # after any other conftest wrote the same --ratios-json file
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    bench = _benchmark_session(config)
    measured = bench is not None and not bench.disabled
    benchmarks = list(bench.benchmarks) if measured else []
    table = per_call_seconds(benchmarks)
    figures = compute_figures(table)
    missed, checked = missed_targets(figures)
    report = {
        "statistic": "median",
        "seconds_per_call": table,
        "figures": figures,
        "cases": case_details(benchmarks),
        "targets": {f"{group}.{figure}": limit for group, figure, limit in TARGETS},
        "missed_targets": missed,
        "checked_targets": checked,
    }
    config.stash[_REPORT] = report
    if config.getoption("ratios_json", default=None) and table:
        _write_json(config, report)
    gate = bool(config.getoption("ratio_gate", default=False))
    if gate and (missed or not checked) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _format_figure(name: str, value: float) -> str:
    return f"{value:+10.1f} ns" if name.endswith("_extra_ns") else f"{value:10.3f}x"


def _summary_lines(report: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    measured: dict[str, dict[str, float]] = report["seconds_per_call"]
    for group in (group for group in FIGURES if group in measured):
        unit, scale, per = _UNITS.get(group, _DEFAULT_UNIT)
        lines.append(f"{group}  (median round / {per}s per round)")
        details = report["cases"].get(group, {})
        for case, seconds in sorted(measured[group].items(), key=lambda item: item[1]):
            shown = ", ".join(f"{key} {value}" for key, value in details.get(case, {}).items())
            lines.append(f"  {case:<26} {seconds * scale:12.2f} {unit}/{per}  {shown}".rstrip())
        for name, value in report["figures"].get(group, {}).items():
            lines.append(f"  = {name:<46} {_format_figure(name, value)}")
    if report["checked_targets"]:
        lines.append("targets")
    for group, figure, limit in TARGETS:
        value = report["figures"].get(group, {}).get(figure)
        if value is not None:
            status = "MISSED" if f"{group}.{figure}" in report["missed_targets"] else "ok"
            name = f"{group}.{figure}"
            lines.append(f"  {name:<60} {_format_figure(figure, value)}  <= {limit:g}  {status}")
    return lines


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    report = config.stash.get(_REPORT, None)
    gate = bool(config.getoption("ratio_gate", default=False))
    if report is None or not (report["seconds_per_call"] or gate):
        return
    terminalreporter.section("djed-cache ratios and overheads (medians)")
    for line in _summary_lines(report):
        terminalreporter.write_line(line)
    if gate:
        if report["missed_targets"]:
            failed = ", ".join(report["missed_targets"])
            terminalreporter.write_line(f"ratio gate: FAILED ({failed})", red=True)
        elif not report["checked_targets"]:
            terminalreporter.write_line(
                "ratio gate: FAILED, no target measured (run with --benchmark-enable)", red=True
            )
        else:
            terminalreporter.write_line("ratio gate: passed", green=True)
