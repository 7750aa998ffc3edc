"""What the djed-crdt benchmarks found: a summary after the run, JSON on request, a gate.

Two sources feed the :class:`Report`. The B1 cases of ``test_edits.py`` are
pytest-benchmark benchmarks of the group ``crdt-b1``, each naming its ``case`` in
``extra_info``; a case's figure is its median round (one whole workload), and the
B1 figures are time ratios between two cases (above 1, the first is slower). The
fan-out tests of ``test_fanout.py`` measure latencies themselves and put them, by
reader count, in the ``fanout_figures`` fixture (only with ``--benchmark-enable``).

``--ratios-json PATH`` writes the report under the key ``djed-crdt``, keeping what
other packages' benchmarks wrote to PATH during the same run; ``--ratio-gate``
fails the session when a target is missed, or when none was measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pytest

REPORT_KEY = "djed-crdt"
B1_GROUP = "crdt-b1"
# figure name -> (numerator case, denominator case), all in the B1 group
B1_RATIOS = {
    "djed_client_time_vs_pycrdt_observed": ("djed_client", "pycrdt_observed"),
    "djed_client_time_vs_pycrdt": ("djed_client", "pycrdt"),
    "djed_client_sqlite_time_vs_pycrdt_observed": ("djed_client_sqlite", "pycrdt_observed"),
    "pycrdt_observed_time_vs_pycrdt": ("pycrdt_observed", "pycrdt"),
    "djed_memory_time_vs_pycrdt_relay": ("djed_memory", "pycrdt_relay"),
    "djed_sqlite_time_vs_pycrdt_relay": ("djed_sqlite", "pycrdt_relay"),
    "djed_memory_compact_time_vs_pycrdt_relay": ("djed_memory_compact", "pycrdt_relay"),
}
SERVERS = ("djed_memory", "djed_sqlite", "pycrdt_websocket")
# figure -> (bound, whether the bound itself still passes)
TARGETS: dict[str, tuple[float, bool]] = {
    "b1.djed_client_time_vs_pycrdt_observed": (1.1, True),
    "fanout.100.djed_memory_p99_ms": (15.0, True),
    "fanout.100.djed_memory_vs_pycrdt_websocket_p99": (1.0, False),
}
VERSIONS_OF = (
    "djed-crdt",
    "pycrdt",
    "pycrdt-websocket",
    "pycrdt-store",
    "uvicorn",
    "starlette",
    "websockets",
    "anyio",
    "pytest-benchmark",
)

_FANOUT_KEY = pytest.StashKey[dict[str, Any]]()
_BEGAN_KEY = pytest.StashKey[float]()
_REPORT_KEY = pytest.StashKey["Report"]()


@pytest.fixture
def fanout_figures(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The fan-out tests' figures, by reader count, for the report."""
    return request.config.stash.setdefault(_FANOUT_KEY, {})


def _bound_text(figure: str) -> str:
    bound, inclusive = TARGETS[figure]
    return f"{'<=' if inclusive else '<'} {bound:g}"


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclasses.dataclass
class Report:
    """Everything measured in this session, and what the targets make of it."""

    b1_seconds: dict[str, float]
    fanout: dict[str, Any]
    gate: str = ""

    @classmethod
    def of(cls, config: pytest.Config) -> Report:
        # pytest-benchmark keeps its session on the config, without a public accessor.
        session = getattr(config, "_benchmarksession", None)
        benchmarks = [] if session is None or session.disabled else session.benchmarks
        b1 = {
            bench.extra_info["case"]: bench.stats.median
            for bench in benchmarks
            if bench and bench.group == B1_GROUP and "case" in bench.extra_info
        }
        return cls(b1, config.stash.get(_FANOUT_KEY, {}))

    @property
    def figures(self) -> dict[str, float]:
        """Every figure, flat: ``b1.<ratio>`` and ``fanout.<readers>.<name>``."""
        found: dict[str, float] = {}
        for name, (top, bottom) in B1_RATIOS.items():
            if top in self.b1_seconds and bottom in self.b1_seconds:
                found[f"b1.{name}"] = self.b1_seconds[top] / self.b1_seconds[bottom]
        for readers, measured in self.fanout.items():
            found |= {
                f"fanout.{readers}.{name}": value
                for name, value in measured.items()
                if isinstance(value, float | int) and not isinstance(value, bool)
            }
        return found

    @property
    def verdicts(self) -> dict[str, bool]:
        """Whether each target that was measured is met."""
        figures = self.figures
        verdicts = {}
        for figure, (bound, inclusive) in TARGETS.items():
            if figure in figures:
                value = figures[figure]
                verdicts[figure] = value <= bound if inclusive else value < bound
        return verdicts

    def as_json(self) -> dict[str, Any]:
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        return {
            "b1_seconds_per_round": self.b1_seconds,
            "figures": self.figures,
            "fanout": self.fanout,
            "targets": {figure: _bound_text(figure) for figure in TARGETS},
            "targets_met": self.verdicts,
            "machine": {
                "cpus": os.cpu_count(),
                "usable_cpus": None if cores is None else len(cores),
                "load_average": os.getloadavg(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "libraries": {name: _installed(name) for name in VERSIONS_OF},
            },
        }

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.b1_seconds:
            out.append(f"{B1_GROUP}: median round (10,000 edits, encoded, applied)")
            for case, seconds in sorted(self.b1_seconds.items(), key=lambda item: item[1]):
                out.append(f"  {case:<22}{seconds * 1e3:10.2f} ms")
        for name, value in self.figures.items():
            if name.startswith("b1."):
                out.append(f"  = {name[3:]:<44}{value:8.3f}x")
        for readers in sorted(self.fanout, key=int):
            out += self._fanout_lines(readers, self.fanout[readers])
        verdicts = self.verdicts
        figures = self.figures
        for figure, met in verdicts.items():
            shown = f"{figures[figure]:.3f} {_bound_text(figure)}"
            out.append(f"target {figure}: {shown} {'ok' if met else 'MISSED'}")
        if self.gate:
            out.append(f"ratio gate: {self.gate}")
        return out

    @staticmethod
    def _fanout_lines(readers: str, measured: dict[str, Any]) -> list[str]:
        plan = measured["plan"]
        heading = (
            f"fan-out to {readers} readers: {plan['counted_updates']} edits counted at"
            f" {plan['rate']:g}/s, median of {plan['rounds']} rounds"
        )
        out = [heading]
        for server in SERVERS:
            cpu = measured.get(f"{server}_server_cpu_us_per_update", float("nan"))
            out.append(
                f"  {server:<17} p50 {measured[f'{server}_p50_ms']:7.2f}"
                f"  p99 {measured[f'{server}_p99_ms']:7.2f}"
                f"  max {measured[f'{server}_max_ms']:7.2f} ms"
                f"  server CPU {cpu:7.0f} us/edit"
                f"  writer late <= {measured[f'{server}_writer_late_max_ms']:.1f} ms"
            )
        out += [
            f"  = {pair}: p50 {measured[pair + '_p50']:.3f}x, p99 {measured[pair + '_p99']:.3f}x"
            for pair in ("djed_memory_vs_pycrdt_websocket", "djed_sqlite_vs_djed_memory")
        ]
        return out


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("djed-crdt benchmarks")
    # The other packages' benchmark conftests declare the same two options, with the
    # same meaning; whichever conftest comes first declares them, the others get a
    # ValueError, which is fine.
    with contextlib.suppress(ValueError):
        group.addoption("--ratios-json", metavar="PATH", default=None, help="Write ratios here.")
    with contextlib.suppress(ValueError):
        group.addoption("--ratio-gate", action="store_true", default=False, help="Gate targets.")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_BEGAN_KEY] = time.time()


def _write(config: pytest.Config, report: Report) -> None:
    target = Path(str(config.getoption("ratios_json")))
    written: dict[str, Any] = {}
    if target.exists() and target.stat().st_mtime >= config.stash[_BEGAN_KEY]:
        with contextlib.suppress(ValueError):  # other packages' part, from this very run
            loaded = json.loads(target.read_text(encoding="utf-8"))
            written = loaded if isinstance(loaded, dict) else {}
    written[REPORT_KEY] = report.as_json()
    target.write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")


@pytest.hookimpl(trylast=True)  # after other packages wrote the same --ratios-json file
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    report = Report.of(config)
    if report.figures and config.getoption("ratios_json", default=None):
        _write(config, report)
    if config.getoption("ratio_gate", default=False):
        verdicts = report.verdicts
        if not verdicts:
            report.gate = "FAILED, no target measured (run all of it with --benchmark-enable)"
        else:
            report.gate = "passed" if all(verdicts.values()) else "FAILED"
        if report.gate != "passed" and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config.stash[_REPORT_KEY] = report


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    report = config.stash.get(_REPORT_KEY, None)
    if report is None or not (report.figures or report.gate):
        return
    terminalreporter.section(f"{REPORT_KEY}: latencies, ratios, targets")
    for line in report.lines():
        terminalreporter.write_line(line, red="FAILED" in line, green=line.endswith("passed"))
