"""Isolation for the djed-logger benchmarks, and the ratio report printed after them.

Each benchmark names its case in ``benchmark.extra_info["case"]``. After a run
with ``--benchmark-enable`` this module compares the cases of each group using
**medians** (robust on a noisy machine):

* throughput groups: ``peer_median / djed_median`` per peer, i.e. Djed's
  throughput as a multiple of the peer's (above 1 means Djed is faster);
* ``logger-startup``: Djed's share, ``djed_first_line - structlog_import``, in
  milliseconds of wall time and megabytes (10**6 bytes) of peak RSS.

``--ratios-json PATH`` writes the figures as JSON; ``--ratio-gate`` makes the
session fail when a target is missed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import logging
import os
import platform
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import structlog
from djed.logger import _config, current_state

THROUGHPUT_GROUPS = ("logger-json-to-file", "logger-filtered")
STARTUP_GROUP = "logger-startup"
STARTUP_BASELINE = "structlog_import"
STARTUP_DJED = "djed_first_line"


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """A figure of the report and the value it must reach."""

    group: str
    figure: str
    limit: float
    at_least: bool

    def met(self, value: float) -> bool:
        """Whether ``value`` reaches the target."""
        return value >= self.limit if self.at_least else value <= self.limit

    def describe(self) -> str:
        """The target as text, such as ``>= 0.95``."""
        return f"{'>=' if self.at_least else '<='} {self.limit:g}"


TARGETS = (
    Target("logger-json-to-file", "djed_vs_structlog_fastest", 0.95, at_least=True),
    Target("logger-json-to-file", "djed_vs_stdlib_json", 2.0, at_least=True),
    Target(STARTUP_GROUP, "djed_share_ms", 30.0, at_least=False),
    Target(STARTUP_GROUP, "djed_share_mb", 5.0, at_least=False),
)


@dataclasses.dataclass
class RatioReport:
    """Figures per group, the lines to print and the targets missed."""

    figures: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    imports_ms: dict[str, float] = dataclasses.field(default_factory=dict)
    lines: list[str] = dataclasses.field(default_factory=list)
    missed: list[str] = dataclasses.field(default_factory=list)
    checked: int = 0


_REPORT = pytest.StashKey[RatioReport]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("djed-logger benchmarks")
    # Other packages' benchmark conftests define the same two options with the same
    # meaning; whichever is loaded first in a run defines them for all.
    with contextlib.suppress(ValueError):
        group.addoption(
            "--ratios-json",
            metavar="PATH",
            default=None,
            help="Write the benchmark ratios and start-up shares to PATH as JSON.",
        )
    with contextlib.suppress(ValueError):
        group.addoption(
            "--ratio-gate",
            action="store_true",
            default=False,
            help="Fail the session when a benchmark target is missed.",
        )


@pytest.fixture(autouse=True)
def _isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each benchmark starts from an unconfigured process and leaves logging as it found it."""
    for name in list(os.environ):
        if name.startswith("DJED_LOGGER_") or name in {"NO_COLOR", "FORCE_COLOR"}:
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    structlog.contextvars.clear_contextvars()
    yield
    state = current_state()
    if state is not None:
        state.sink.close()
    # The package has no public way to forget its configuration.
    _config._state = None  # noqa: SLF001
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)


# -- the report --------------------------------------------------------------


def _cases(benchmarks: list[Any]) -> dict[str, dict[str, Any]]:
    """The benchmarks that produced statistics, by group and case name."""
    cases: dict[str, dict[str, Any]] = {}
    for bench in benchmarks:
        case = bench.extra_info.get("case")
        if bench and bench.group is not None and case is not None:
            cases.setdefault(bench.group, {})[case] = bench
    return cases


def _throughput(report: RatioReport, group: str, cases: Mapping[str, Any]) -> None:
    djed = cases.get("djed")
    if djed is None:
        return
    report.lines.append(f"{group}  (events/s from the median round; ratio = djed / peer)")
    figures = report.figures.setdefault(group, {})
    for case, bench in sorted(cases.items(), key=lambda item: item[0] != "djed"):
        events_per_s = bench.extra_info["events_per_round"] / bench.stats.median
        line = f"  {case:<20} {events_per_s:>14,.0f}"
        if case != "djed":
            ratio = bench.stats.median / djed.stats.median
            figures[f"djed_vs_{case}"] = ratio
            line += f"   djed x{ratio:.2f}"
        report.lines.append(line)


def _startup(report: RatioReport, cases: Mapping[str, Any]) -> None:
    baseline, djed = cases.get(STARTUP_BASELINE), cases.get(STARTUP_DJED)
    if baseline is None or djed is None:
        return
    report.lines.append(f"{STARTUP_GROUP}  (median wall time to exit; peak RSS, median)")
    for case, bench in ((STARTUP_BASELINE, baseline), (STARTUP_DJED, djed)):
        rss = bench.extra_info.get("peak_rss_kib")
        memory = f"{rss * 1024 / 1e6:8.1f} MB" if rss is not None else "     n/a"
        report.lines.append(f"  {case:<20} {bench.stats.median * 1000:8.1f} ms {memory}")
    figures = report.figures.setdefault(STARTUP_GROUP, {})
    figures["djed_share_ms"] = (djed.stats.median - baseline.stats.median) * 1000
    share = f"  {'djed share':<20} {figures['djed_share_ms']:+8.1f} ms"
    base_rss, djed_rss = (
        baseline.extra_info.get("peak_rss_kib"),
        djed.extra_info.get("peak_rss_kib"),
    )
    if base_rss is not None and djed_rss is not None:
        figures["djed_share_mb"] = (djed_rss - base_rss) * 1024 / 1e6
        share += f" {figures['djed_share_mb']:+8.1f} MB"
    report.lines.append(share)
    report.imports_ms = dict(djed.extra_info.get("import_ms", {}))
    if report.imports_ms:
        report.lines.append("  largest imports in Djed's share (one -X importtime run, ms):")
        report.lines.extend(f"    {ms:7.2f}  {name}" for name, ms in report.imports_ms.items())


def _check_targets(report: RatioReport) -> None:
    for target in TARGETS:
        value = report.figures.get(target.group, {}).get(target.figure)
        if value is None:
            status = "not measured"
        else:
            report.checked += 1
            status = "ok" if target.met(value) else "MISSED"
            if status == "MISSED":
                report.missed.append(f"{target.group}.{target.figure}")
        shown = "-" if value is None else f"{value:.2f}"
        name = f"{target.group}.{target.figure}"
        report.lines.append(f"  {name:<46} {shown:>8}  target {target.describe():<8} {status}")


def build_report(benchmarks: list[Any]) -> RatioReport:
    """Compute every ratio and share from the statistics pytest-benchmark collected."""
    report = RatioReport()
    cases = _cases(benchmarks)
    for group in THROUGHPUT_GROUPS:
        _throughput(report, group, cases.get(group, {}))
    _startup(report, cases.get(STARTUP_GROUP, {}))
    report.lines.append("targets")
    _check_targets(report)
    return report


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "structlog": importlib.metadata.version("structlog"),
        "orjson": importlib.metadata.version("orjson"),
        "djed-logger": importlib.metadata.version("djed-logger"),
    }


def _write_json(path: str, report: RatioReport) -> None:
    document: dict[str, Any] = dict(report.figures)
    document["statistic"] = "median"
    document["startup_imports_ms"] = report.imports_ms
    document["missed_targets"] = report.missed
    document["machine"] = _machine()
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _benchmark_session(config: pytest.Config) -> Any:
    # pytest-benchmark keeps its session on the config and offers no public accessor.
    return getattr(config, "_benchmarksession", None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    gate = bool(config.getoption("ratio_gate", default=False))
    bench_session = _benchmark_session(config)
    if bench_session is None or bench_session.disabled or not bench_session.benchmarks:
        if gate and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    report = build_report(list(bench_session.benchmarks))
    config.stash[_REPORT] = report
    json_path = config.getoption("ratios_json", default=None)
    if json_path:
        _write_json(str(json_path), report)
    if gate and (report.missed or not report.checked) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    gate = bool(config.getoption("ratio_gate", default=False))
    report = config.stash.get(_REPORT, None)
    if report is None:
        if gate:
            terminalreporter.write_line(
                "ratio gate: FAILED, no benchmark figures (run with --benchmark-enable)", red=True
            )
        return
    terminalreporter.section("djed-logger ratios (medians)")
    for line in report.lines:
        terminalreporter.write_line(line)
    if gate:
        if report.missed:
            terminalreporter.write_line(
                f"ratio gate: FAILED ({', '.join(report.missed)})", red=True
            )
        elif not report.checked:
            terminalreporter.write_line("ratio gate: FAILED, no target was measured", red=True)
        else:
            terminalreporter.write_line("ratio gate: passed", green=True)
