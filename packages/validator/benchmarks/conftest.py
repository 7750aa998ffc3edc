"""The workload of the djed-validator benchmarks and the ratio report printed after them.

Workload: one order schema (draft 7, eight properties: two patterns, ``email`` and
``date-time`` formats, bounded integers, an enum, a nested array of objects,
``required``, ``additionalProperties: false``), a valid order and an invalid one
whose last property, the array of lines, holds a quantity below its minimum.

Report: every benchmark names its ``case`` and its ``calls`` per round in
``benchmark.extra_info``. After a run with ``--benchmark-enable`` the median round
of each case, divided by its calls, gives a time per call; the ``FIGURES`` of each
group compare two cases by ratio or by difference, and ``TARGETS`` says which
figures must reach what. ``test_load.py`` adds its memory and rate figures.
``--ratios-json PATH`` writes everything as JSON; ``--ratio-gate`` fails the
session when a target is missed or nothing was measured.
"""

from __future__ import annotations

import contextlib
import copy
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

ORDER_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^ord-[0-9a-f]{8}$"},
        "email": {"type": "string", "format": "email", "maxLength": 254},
        "created_at": {"type": "string", "format": "date-time"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
        "priority": {"type": "integer", "minimum": 0, "maximum": 9},
        "status": {"enum": ["pending", "paid", "shipped", "cancelled"]},
        "note": {"type": "string", "maxLength": 200},
        "lines": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
                    "qty": {"type": "integer", "minimum": 1, "maximum": 99},
                    "price_cents": {"type": "integer", "minimum": 0},
                },
                "required": ["sku", "qty", "price_cents"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["id", "email", "created_at", "quantity", "status", "lines"],
    "additionalProperties": False,
}
VALID_ORDER: dict[str, Any] = {
    "id": "ord-1a2b3c4d",
    "email": "ana.silva@example.com",
    "created_at": "2026-11-26T09:30:00Z",
    "quantity": 3,
    "priority": 2,
    "status": "paid",
    "note": "leave at the door",
    "lines": [
        {"sku": "ABC-0001", "qty": 1, "price_cents": 1250},
        {"sku": "XYZ-0042", "qty": 2, "price_cents": 399},
    ],
}
INVALID_ORDER: dict[str, Any] = {
    **VALID_ORDER,
    "lines": [VALID_ORDER["lines"][0], {**VALID_ORDER["lines"][1], "qty": 0}],
}
INVALID_POINTER = "/lines/1/qty"


@pytest.fixture
def order_schema() -> dict[str, Any]:
    return copy.deepcopy(ORDER_SCHEMA)


@pytest.fixture
def valid_order() -> dict[str, Any]:
    return copy.deepcopy(VALID_ORDER)


@pytest.fixture
def invalid_order() -> dict[str, Any]:
    return copy.deepcopy(INVALID_ORDER)


@pytest.fixture
def invalid_pointer() -> str:
    """Where the invalid order is wrong, as a JSON Pointer."""
    return INVALID_POINTER


# -- figures and targets -------------------------------------------------------------------


class Figure(NamedTuple):
    """``first / second`` (a ratio) or ``first - second`` in microseconds, per call."""

    name: str
    first: str
    second: str
    kind: Literal["ratio", "extra_us"]


class Target(NamedTuple):
    """A bound on one figure: at most ``limit``, or at least when ``at_least``."""

    group: str
    figure: str
    limit: float
    at_least: bool = False


_THROUGHPUT_FIGURES = (
    Figure("djed_fast_time_vs_fastjsonschema_raw", "djed_fast", "fastjsonschema_raw", "ratio"),
    Figure("djed_rs_time_vs_jsonschema_rs_raw", "djed_rs", "jsonschema_rs_raw", "ratio"),
    Figure("djed_fast_speedup_vs_jsonschema_draft7", "jsonschema_draft7", "djed_fast", "ratio"),
    Figure(
        "djed_cached_extra_us_vs_fastjsonschema_raw",
        "djed_cached",
        "fastjsonschema_raw",
        "extra_us",
    ),
    Figure("djed_cached_extra_us_vs_djed_fast", "djed_cached", "djed_fast", "extra_us"),
)
FIGURES: dict[str, tuple[Figure, ...]] = {
    "validator-valid": _THROUGHPUT_FIGURES,
    "validator-invalid": _THROUGHPUT_FIGURES,
    "validator-compile": (
        Figure("djed_time_vs_fastjsonschema", "djed_compile", "fastjsonschema_compile", "ratio"),
    ),
    "validator-cache-hit": (
        Figure("equal_dict_extra_us_vs_same_object", "equal_dict", "same_object", "extra_us"),
    ),
}
TARGETS = tuple(
    target
    for group in ("validator-valid", "validator-invalid")
    for target in (
        Target(group, "djed_fast_time_vs_fastjsonschema_raw", 1.1),
        Target(group, "djed_rs_time_vs_jsonschema_rs_raw", 1.2),
        Target(group, "djed_fast_speedup_vs_jsonschema_draft7", 10.0, at_least=True),
        Target(group, "djed_cached_extra_us_vs_fastjsonschema_raw", 2.0),
    )
)
_UNITS = {"validator-compile": ("ms", 1e3)}  # every other group in microseconds


def per_call_seconds(benchmarks: list[Any]) -> dict[str, dict[str, float]]:
    """Median seconds per call, by group and case, from pytest-benchmark's statistics."""
    table: dict[str, dict[str, float]] = {}
    for bench in benchmarks:
        case, calls = bench.extra_info.get("case"), bench.extra_info.get("calls")
        if bench and bench.group in FIGURES and case and calls:  # bench: has data
            table.setdefault(bench.group, {})[case] = bench.stats.median / calls
    return table


def compute_figures(table: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Every figure of ``FIGURES`` whose two cases were measured."""
    figures: dict[str, dict[str, float]] = {}
    for group, cases in table.items():
        for name, first, second, kind in FIGURES[group]:
            if first in cases and second in cases:
                value = (
                    cases[first] / cases[second]
                    if kind == "ratio"
                    else (cases[first] - cases[second]) * 1e6
                )
                figures.setdefault(group, {})[name] = value
    return figures


def missed_targets(figures: Mapping[str, Mapping[str, float]]) -> tuple[list[str], int]:
    """The targets missed, and how many targets had a figure to check."""
    missed, checked = [], 0
    for group, figure, limit, at_least in TARGETS:
        value = figures.get(group, {}).get(figure)
        if value is not None:
            checked += 1
            if (value < limit) if at_least else (value > limit):
                missed.append(f"{group}.{figure}")
    return missed, checked


# -- what the load tests hand over -----------------------------------------------------------

_LOAD = pytest.StashKey[dict[str, dict[str, float]]]()
_STARTED = pytest.StashKey[float]()


@pytest.fixture
def load_results(request: pytest.FixtureRequest) -> dict[str, dict[str, float]]:
    """Figures of the load tests by phase, reported at the end of the session."""
    return request.config.stash.setdefault(_LOAD, {})


@pytest.fixture
def benchmarks_enabled(request: pytest.FixtureRequest) -> bool:
    """Whether this run measures (``--benchmark-enable``) rather than smoke-tests."""
    session = _benchmark_session(request.config)
    return session is not None and not session.disabled


def _benchmark_session(config: pytest.Config) -> Any:
    # pytest-benchmark keeps its session on the config and offers no public accessor.
    return getattr(config, "_benchmarksession", None)


# -- options, gate and summary ---------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("djed-validator benchmarks")
    # Other packages' benchmark conftests define the same two options with the same
    # meaning; when one of them is loaded first in a run, its definition is shared.
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
    for name in ("djed-validator", "fastjsonschema", "jsonschema-rs", "jsonschema", "orjson"):
        try:
            machine[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            machine[name] = None
    return machine


def _write_json(config: pytest.Config, document: dict[str, Any]) -> None:
    path = Path(str(config.getoption("ratios_json")))
    merged: dict[str, Any] = {}
    if path.exists() and path.stat().st_mtime >= config.stash[_STARTED]:
        # Another package's benchmarks wrote their figures there in this run: keep them.
        with contextlib.suppress(ValueError):
            loaded = json.loads(path.read_text(encoding="utf-8"))
            merged = loaded if isinstance(loaded, dict) else {}
    merged["djed-validator"] = {**document, "machine": _machine()}
    path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")


_REPORT = pytest.StashKey[dict[str, Any]]()


@pytest.hookimpl(trylast=True)  # after any other conftest wrote the same --ratios-json file
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    bench = _benchmark_session(config)
    measured = bench is not None and not bench.disabled
    table = per_call_seconds(list(bench.benchmarks)) if measured else {}
    figures = compute_figures(table)
    missed, checked = missed_targets(figures)
    report = {
        "statistic": "median",
        "seconds_per_call": table,
        "figures": figures,
        "load": config.stash.get(_LOAD, {}),
        "missed_targets": missed,
        "checked_targets": checked,
    }
    config.stash[_REPORT] = report
    if config.getoption("ratios_json", default=None) and (table or report["load"]):
        _write_json(config, report)
    gate = bool(config.getoption("ratio_gate", default=False))
    if gate and (missed or not checked) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _summary_lines(report: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for group, cases in report["seconds_per_call"].items():
        unit, scale = _UNITS.get(group, ("us", 1e6))
        lines.append(f"{group}  (median round / calls per round)")
        lines.extend(
            f"  {case:<22} {seconds * scale:10.3f} {unit}/call {1 / seconds:>14,.0f} calls/s"
            for case, seconds in sorted(cases.items(), key=lambda item: item[1])
        )
        lines.extend(
            f"  = {name:<48} {value:9.4f}{'' if 'extra_us' in name else 'x'}"
            for name, value in report["figures"].get(group, {}).items()
        )
    for phase, values in report["load"].items():
        shown = ", ".join(
            f"{key} {value:,}" if isinstance(value, int) else f"{key} {value:,.2f}"
            for key, value in values.items()
        )
        lines.append(f"load {phase}: {shown}")
    if report["checked_targets"]:
        lines.append("targets")
    for group, figure, limit, at_least in TARGETS:
        value = report["figures"].get(group, {}).get(figure)
        if value is not None:
            status = "MISSED" if f"{group}.{figure}" in report["missed_targets"] else "ok"
            bound = f"{'>=' if at_least else '<='} {limit:g}"
            name = f"{group}.{figure}"
            lines.append(f"  {name:<62} {value:9.4f}  target {bound:<6} {status}")
    return lines


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    report = config.stash.get(_REPORT, None)
    gate = bool(config.getoption("ratio_gate", default=False))
    if report is None or not (report["seconds_per_call"] or report["load"] or gate):
        return
    terminalreporter.section("djed-validator ratios (medians)")
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
