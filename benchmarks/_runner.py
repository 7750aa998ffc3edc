"""Running the suites: one pytest process per package, then the load tests.

Each package's benchmarks run in a process of their own, so one suite's imports,
threads and garbage cannot weigh on the next, and each writes its own
``--ratios-json`` and ``--benchmark-json`` files under ``<out>/raw/``. The results
document gathers, per package, the per-call statistics of every case, the package's
own figures, the report rows and the gated metrics (see :mod:`benchmarks._figures`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import _cases, _figures, _machine

FORMAT = 1
LOAD = "load"  # the name --only gives the load tests of benchmarks/load
LOAD_ENV = "DJED_LOAD_JSON"
# The load tests' run lengths (benchmarks/load/_load_common.py): the report runs the
# one-minute variant unless the caller chose one, and the ten-minute one with --long.
LOAD_LONG_ENV, LOAD_CI_ENV = "DJED_LOAD_LONG", "DJED_LOAD_CI_FULL"

# The fast, in-process pairs the quick run measures: a few seconds each, no servers.
QUICK: dict[str, tuple[str, ...]] = {
    "logger": (
        "test_throughput.py::test_filtered_debug[djed]",
        "test_throughput.py::test_filtered_debug[structlog_fastest]",
    ),
    "validator": (
        "test_throughput.py::test_valid[djed_fast]",
        "test_throughput.py::test_valid[fastjsonschema_raw]",
        "test_throughput.py::test_invalid[djed_fast]",
        "test_throughput.py::test_invalid[fastjsonschema_raw]",
    ),
    "breaker": (
        "test_overhead.py::test_sync_overhead[djed_decorated]",
        "test_overhead.py::test_sync_overhead[circuitbreaker]",
        "test_overhead.py::test_async_overhead[djed_decorated]",
        "test_overhead.py::test_async_overhead[circuitbreaker]",
    ),
    "cache": (
        "test_cache_benchmarks.py::test_memory_hit[djed_get]",
        "test_cache_benchmarks.py::test_memory_hit[cachetools_getitem]",
    ),
    "mcp-base": (
        "test_overhead.py::test_tool_call[raw]",
        "test_overhead.py::test_tool_call[djed]",
    ),
    "crdt": (
        "test_edits.py::test_pycrdt[pycrdt_observed]",
        "test_edits.py::test_djed_client[djed_client]",
    ),
}
QUICK_OPTIONS = ("--benchmark-max-time=0.3", "--benchmark-min-rounds=15")


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """What one ``run`` does."""

    root: Path
    out: Path
    quick: bool = False
    only: tuple[str, ...] = ()
    long: bool = False
    echo: bool = True


def suites(root: Path) -> list[str]:
    """The packages that have benchmarks, by folder name, and ``load`` when it has tests."""
    found = sorted(
        (
            folder.parent.name
            for folder in (root / "packages").glob("*/benchmarks")
            if any(folder.glob("test_*.py"))
        ),
        key=_figures.report_order,
    )
    if any((root / "benchmarks" / LOAD).glob("test_*.py")):
        found.append(LOAD)
    return found


def chosen(settings: Settings) -> list[str]:
    """The suites this run measures, in the order they run; unknown names are an error."""
    available = suites(settings.root)
    if settings.quick:
        available = [name for name in available if name in QUICK]
    unknown = sorted(set(settings.only) - set(suites(settings.root)))
    if unknown:
        raise SystemExit(
            f"error: no benchmarks for {', '.join(unknown)}; "
            f"the suites are: {', '.join(suites(settings.root))}"
        )
    picked = [name for name in available if not settings.only or name in settings.only]
    if not picked:
        raise SystemExit("error: nothing to run (the quick subset has none of these suites)")
    return picked


def _declares_ratios_json(folder: Path) -> bool:
    conftest = folder / "conftest.py"
    return conftest.exists() and "--ratios-json" in conftest.read_text(encoding="utf-8")


def _read_json(path: Path) -> Any:
    if not path.exists():
        return {}
    with contextlib.suppress(ValueError):
        return json.loads(path.read_text(encoding="utf-8"))
    return {}


def _own_part(document: Any, package: str) -> dict[str, Any]:
    """A package's figures: under ``djed-<package>`` when the suite keys them, else all."""
    if not isinstance(document, dict):
        return {}
    keyed = document.get(f"djed-{package}")
    return keyed if isinstance(keyed, dict) else document


def _pytest(
    arguments: Sequence[str], settings: Settings, log: Path, env: Mapping[str, str] | None = None
) -> tuple[int, float]:
    command = [sys.executable, "-m", "pytest", *arguments]
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as output:
        output.write(" ".join(command) + "\n\n")
        output.flush()
        completed = subprocess.run(
            command,
            cwd=settings.root,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            check=False,
        )
    return completed.returncode, time.perf_counter() - started


def _common_options(settings: Settings) -> list[str]:
    options = ["--benchmark-enable", "-p", "no:randomly", "-p", "no:cacheprovider", "-q"]
    if settings.quick:
        options.extend(QUICK_OPTIONS)
    return options


def run_package(package: str, settings: Settings) -> dict[str, Any]:
    """Run one package's benchmarks and return its part of the results document."""
    folder = settings.root / "packages" / package / "benchmarks"
    raw = settings.out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    ratios_path, bench_path = raw / f"{package}.ratios.json", raw / f"{package}.benchmark.json"
    for path in (ratios_path, bench_path):
        path.unlink(missing_ok=True)
    targets = [str(folder / node) for node in QUICK[package]] if settings.quick else [str(folder)]
    arguments = [*targets, *_common_options(settings), f"--benchmark-json={bench_path}"]
    if _declares_ratios_json(folder):
        arguments.append(f"--ratios-json={ratios_path}")
    returncode, seconds = _pytest(arguments, settings, raw / f"{package}.log")
    cases = _cases.summarize(_read_json(bench_path))
    ratios = _own_part(_read_json(ratios_path), package)
    rows = _figures.package_rows(package, cases, ratios)
    return {
        "returncode": returncode,
        "seconds": round(seconds, 1),
        "quick": settings.quick,
        "machine": _machine.describe(),
        "cases": cases,
        "figures": ratios,
        "rows": [row.as_json() for row in rows],
    }


def run_load(settings: Settings) -> dict[str, Any]:
    """Run the load tests of ``benchmarks/load``, which write their figures to one JSON file."""
    raw = settings.out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    figures = raw / "load.json"
    figures.unlink(missing_ok=True)
    arguments = [str(settings.root / "benchmarks" / LOAD), *_common_options(settings)]
    env = {LOAD_ENV: str(figures)}
    if settings.long:
        env[LOAD_LONG_ENV] = "1"
    elif LOAD_LONG_ENV not in os.environ and LOAD_CI_ENV not in os.environ:
        env[LOAD_CI_ENV] = "1"
    returncode, seconds = _pytest(arguments, settings, raw / "load.log", env)
    tests = _read_json(figures)
    tests = tests if isinstance(tests, dict) else {}
    return {
        "returncode": returncode,
        "seconds": round(seconds, 1),
        "quick": settings.quick,
        "machine": _machine.describe(),
        "tests": tests,
        "rows": [row.as_json() for row in _figures.load_rows(tests)],
    }


def _say(settings: Settings, text: str) -> None:
    if settings.echo:
        print(text, flush=True)


def _tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def run(settings: Settings, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run the chosen suites and return the results document.

    With ``previous`` (the document of an earlier run), the suites not run this time keep
    their earlier results, so re-running one package keeps the report whole.
    """
    started = _machine.now()
    packages: dict[str, Any] = dict((previous or {}).get("packages", {}))
    load: Any = (previous or {}).get("load")
    for name in chosen(settings):
        _say(settings, f"== {name}: running{' (quick)' if settings.quick else ''}")
        if name == LOAD:
            load = part = run_load(settings)
        else:
            packages[name] = part = run_package(name, settings)
        status = "ok" if part["returncode"] == 0 else f"FAILED (exit {part['returncode']})"
        _say(settings, f"   {status} in {part['seconds']:.0f} s, {len(part['rows'])} rows")
        if part["returncode"] != 0:
            _say(settings, _tail(settings.out / "raw" / f"{name}.log"))
    document: dict[str, Any] = {
        "format": FORMAT,
        "quick": settings.quick,
        "started": started,
        "finished": _machine.now(),
        "machine": _machine.describe(),
        "packages": dict(_figures.in_report_order(packages)),
    }
    if load is not None:
        document["load"] = load
    document["metrics"] = all_metrics(document)
    return document


def refresh(document: dict[str, Any]) -> dict[str, Any]:
    """Recompute the rows and metrics of a results document from what it measured.

    The statistics and the suites' own figures are kept; the rows follow the current
    ``PAIRS`` and rules, so a change to them shows without measuring again.
    """
    for package, part in document.get("packages", {}).items():
        rows = _figures.package_rows(package, part.get("cases", {}), part.get("figures", {}))
        part["rows"] = [row.as_json() for row in rows]
    load = document.get("load")
    if isinstance(load, dict):
        load["rows"] = [row.as_json() for row in _figures.load_rows(load.get("tests", {}))]
    document["metrics"] = all_metrics(document)
    return document


def all_rows(document: Mapping[str, Any]) -> list[_figures.Row]:
    """Every row of a results document, packages first, then the load tests."""
    parts: Iterable[Mapping[str, Any]] = [
        *(part for _, part in _figures.in_report_order(document.get("packages", {}))),
        *([document["load"]] if isinstance(document.get("load"), Mapping) else []),
    ]
    return [_figures.Row.from_json(row) for part in parts for row in part.get("rows", [])]


def all_metrics(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The gated ratios of a results document."""
    return _figures.metrics(all_rows(document))


def failed(document: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """The suites among ``names`` whose pytest run did not succeed."""
    parts = dict(document.get("packages", {}))
    if isinstance(document.get("load"), Mapping):
        parts[LOAD] = document["load"]
    return [name for name in names if parts.get(name, {}).get("returncode", 0) != 0]
