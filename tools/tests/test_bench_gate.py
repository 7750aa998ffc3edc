"""The benchmark regression gate, end to end and on the committed baseline.

The end-to-end tests build a tiny workspace with one package whose benchmarks pair
a "Djed" call with a "peer" call that both sleep; ``DJED_TOY_SLOWDOWN`` stretches the
Djed side. They run the real ``python -m benchmarks run`` on it (pytest-benchmark in a
subprocess, the package's own ``--ratios-json`` conftest), write a baseline from a
clean run, and check that the gate fails on a 30% slowdown, even after measuring the
failing package once more, and passes without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from benchmarks import _figures, _markdown
from tools.bench_gate import THRESHOLD, compare, worse_by
from tools.bench_gate._compare import best_of
from tools.bench_gate.cli import gate

REPO = Path(__file__).resolve().parents[2]
METRIC = "toy:toy-sleep:djed/peer"

TOY_CONFTEST = """
import contextlib
import json
from pathlib import Path

import pytest


def pytest_addoption(parser):
    with contextlib.suppress(ValueError):
        parser.addoption("--ratios-json", default=None)


def pytest_sessionfinish(session, exitstatus):
    bench = getattr(session.config, "_benchmarksession", None)
    path = session.config.getoption("ratios_json")
    if bench is None or bench.disabled or not path:
        return
    medians = {b.extra_info["case"]: b.stats.median for b in bench.benchmarks if b}
    if {"djed", "peer"} <= medians.keys():
        figures = {"toy-sleep": {"djed_time_vs_peer": medians["djed"] / medians["peer"]}}
        Path(path).write_text(json.dumps({"djed-toy": {"figures": figures}}))
"""

TOY_BENCHMARK = """
import os
import time

import pytest

BASE = 0.02  # seconds a call sleeps; the Djed side sleeps DJED_TOY_SLOWDOWN times longer


@pytest.mark.parametrize("case", ["peer", "djed"])
def test_sleep(benchmark, case):
    slowdown = float(os.environ.get("DJED_TOY_SLOWDOWN", "1")) if case == "djed" else 1.0
    benchmark.group = "toy-sleep"
    benchmark.extra_info["case"] = case
    benchmark.extra_info["calls"] = 1
    benchmark.pedantic(time.sleep, args=(BASE * slowdown,), rounds=7, warmup_rounds=1)
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy-workspace")
    folder = root / "packages" / "toy" / "benchmarks"
    folder.mkdir(parents=True)
    (folder / "conftest.py").write_text(textwrap.dedent(TOY_CONFTEST), encoding="utf-8")
    (folder / "test_toy.py").write_text(textwrap.dedent(TOY_BENCHMARK), encoding="utf-8")
    return root


def _python(args: list[str], slowdown: float | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJED_TOY_SLOWDOWN"}
    if slowdown is not None:
        env["DJED_TOY_SLOWDOWN"] = str(slowdown)
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _run_toy(toy: Path, out: Path, slowdown: float | None = None) -> dict[str, Any]:
    done = _python(
        ["benchmarks", "run", "--root", str(toy), "--out", str(out), "--no-docs"], slowdown
    )
    assert done.returncode == 0, done.stdout + done.stderr
    document: dict[str, Any] = json.loads((out / "latest.json").read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def baseline(toy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("baseline-run")
    document = _run_toy(toy, out)
    assert METRIC in document["metrics"], document["metrics"]
    path = out / "baseline.json"
    done = _python(
        ["tools.bench_gate", "baseline", "--results", str(out / "latest.json"),
         "--baseline", str(path)],
        None,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def _check(toy: Path, results: Path, baseline: Path, slowdown: float | None) -> Any:
    return _python(
        ["tools.bench_gate", "check", "--rerun", "--results", str(results),
         "--baseline", str(baseline), "--root", str(toy)],
        slowdown,
    )  # fmt: skip


@pytest.mark.slow
def test_a_real_30_percent_slowdown_fails_the_gate(
    toy: Path, baseline: Path, tmp_path: Path
) -> None:
    document = _run_toy(toy, tmp_path, slowdown=1.3)
    base = json.loads(baseline.read_text(encoding="utf-8"))["metrics"][METRIC]["value"]
    measured = document["metrics"][METRIC]["value"]
    assert worse_by(measured, base, lower_is_better=True) > THRESHOLD

    done = _check(toy, tmp_path / "latest.json", baseline, slowdown=1.3)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "re-running toy once before failing" in done.stdout
    assert f"REGRESSED {METRIC}" in done.stdout
    assert "gate: FAILED" in done.stdout


@pytest.mark.slow
def test_the_same_benchmarks_without_the_slowdown_pass(
    toy: Path, baseline: Path, tmp_path: Path
) -> None:
    _run_toy(toy, tmp_path)

    done = _check(toy, tmp_path / "latest.json", baseline, slowdown=None)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"OK        {METRIC}" in done.stdout
    assert "re-running" not in done.stdout
    assert "gate: passed" in done.stdout


@pytest.mark.slow
def test_a_slow_first_run_that_the_second_run_clears_passes(
    toy: Path, baseline: Path, tmp_path: Path
) -> None:
    # The results say "slow", but the second measurement, made without the slowdown,
    # shows it was a one-off: the gate keeps the better of the two and passes.
    document = _run_toy(toy, tmp_path, slowdown=1.3)
    assert METRIC in document["metrics"]

    done = _check(toy, tmp_path / "latest.json", baseline, slowdown=None)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "re-running toy once before failing" in done.stdout
    assert "gate: passed" in done.stdout


# -- the committed baseline ---------------------------------------------------------------


def _committed() -> dict[str, dict[str, Any]]:
    baseline = json.loads((REPO / "benchmarks" / "baseline.json").read_text(encoding="utf-8"))
    metrics: dict[str, dict[str, Any]] = baseline["metrics"]
    return metrics


def _slower(metrics: dict[str, dict[str, Any]], factor: float) -> dict[str, dict[str, Any]]:
    """Every ratio as if Djed had become ``factor`` times slower against its peer."""
    return {
        metric: data
        | {"value": data["value"] * factor if data["lower_is_better"] else data["value"] / factor}
        for metric, data in metrics.items()
    }


def test_the_committed_baseline_covers_every_package_with_a_peer() -> None:
    packages = {data["package"] for data in _committed().values()}
    assert {"logger", "validator", "breaker", "cache", "mcp-base", "crdt", "cli"} <= packages
    for metric, data in _committed().items():
        assert data["value"] > 0, metric
        assert isinstance(data["lower_is_better"], bool), metric


def test_a_30_percent_slowdown_of_any_recorded_ratio_fails() -> None:
    recorded = _committed()
    for metric in recorded:
        run = recorded | _slower({metric: recorded[metric]}, 1.3)
        verdicts = {v.metric: v for v in compare(run, recorded)}
        assert verdicts[metric].status == "regressed", metric
        assert sum(v.failed for v in verdicts.values()) == 1


def test_the_recorded_ratios_themselves_and_small_drifts_pass() -> None:
    recorded = _committed()
    for run in (recorded, _slower(recorded, 1.15), _slower(recorded, 0.5)):
        assert not [v for v in compare(run, recorded) if v.failed]


# -- the rules --------------------------------------------------------------------------


def test_the_direction_decides_what_worse_means() -> None:
    assert worse_by(1.3, 1.0, lower_is_better=True) == pytest.approx(0.3)
    assert worse_by(1.0, 1.3, lower_is_better=False) == pytest.approx(0.3)
    assert worse_by(0.5, 1.0, lower_is_better=True) < 0
    assert worse_by(2.0, 1.0, lower_is_better=False) < 0


def _metric(value: float, *, lower: bool = True, package: str = "p") -> dict[str, Any]:
    return {"value": value, "lower_is_better": lower, "package": package, "name": "n"}


def test_missing_and_new_ratios() -> None:
    baseline = {"p:a": _metric(1.0), "p:b": _metric(1.0), "q:c": _metric(1.0, package="q")}
    run = {"p:a": _metric(1.1), "p:new": _metric(2.0)}

    verdicts = {v.metric: v.status for v in compare(run, baseline, packages={"p"})}
    assert verdicts == {"p:a": "ok", "p:b": "missing", "p:new": "new"}  # q was not run

    subset = {v.metric: v.status for v in compare(run, baseline, allow_missing=True)}
    assert subset == {"p:a": "ok", "p:new": "new"}


def test_a_second_run_replaces_only_what_it_improves() -> None:
    first = {"p:a": _metric(1.5), "p:b": _metric(0.5, lower=False), "p:c": _metric(1.0)}
    second = {"p:a": _metric(1.1), "p:b": _metric(0.4, lower=False), "p:c": _metric(1.4)}

    merged = best_of(first, second)

    assert {m: d["value"] for m, d in merged.items()} == {"p:a": 1.1, "p:b": 0.5, "p:c": 1.0}


def test_the_gate_measures_the_failing_packages_again_and_only_them() -> None:
    baseline = {"p:a": _metric(1.0), "q:b": _metric(1.0, package="q")}
    first = {"p:a": _metric(1.4), "q:b": _metric(1.0, package="q")}
    asked: list[list[str]] = []

    def still_slow(suites: list[str]) -> dict[str, dict[str, Any]]:
        asked.append(suites)
        return {"p:a": _metric(1.35), "q:b": _metric(5.0, package="q")}

    verdicts, repeated = gate(
        first, baseline, suites={"p", "q"}, threshold=0.2, allow_missing=False, rerun=still_slow
    )

    assert repeated
    assert asked == [["p"]]
    assert {v.metric: v.status for v in verdicts} == {"p:a": "regressed", "q:b": "ok"}


# -- what the gate reads: rows, metrics and the report around them ----------------------------


def _case(median: float, fastest: float) -> dict[str, Any]:
    return {"median": median, "min": fastest, "rounds": 20, "calls": 1}


def test_a_pair_gives_a_time_row_or_a_rate_row_and_its_gated_ratio() -> None:
    cases = {
        "logger-filtered": {"djed": _case(2.0, 1.0), "structlog_fastest": _case(4.0, 1.5)},
        "cache-memory-hit": {"djed_get": _case(3.0, 2.0), "cachetools_getitem": _case(2.0, 1.0)},
    }
    rows = {row.section: row for row in _figures.package_rows("logger", cases, {})}
    rows |= {row.section: row for row in _figures.package_rows("cache", cases, {})}

    rate = rows["logger-filtered"]
    assert (rate.djed, rate.peer, rate.ratio) == (0.5, 0.25, 2.0)
    assert not rate.lower_is_better
    assert rate.gate_ratio == pytest.approx(1.5)  # from the fastest rounds
    time_row = rows["cache-memory-hit"]
    assert (time_row.ratio, time_row.gate_ratio, time_row.lower_is_better) == (1.5, 2.0, True)
    metrics = _figures.metrics([rate, time_row])
    assert metrics["cache:cache-memory-hit:djed_get/cachetools_getitem"]["value"] == 2.0


def test_load_rows_are_read_tolerantly_and_gated_only_when_they_ask() -> None:
    tests = {
        "load-x": {
            "unit": "events/s",
            "rows": [
                {"name": "rate", "djed": 900, "peer": 1000, "ratio": 0.9, "lower_is_better": False},
                {"name": "no ratio given", "djed": 2.0, "peer": 4.0},
                {"djed": 1.0},
                "not a row",
            ],
        },
        "load-y": ["not", "an", "object"],
    }

    rows = _figures.load_rows(tests)

    assert [(row.name, row.ratio, row.metric) for row in rows] == [
        ("rate", 0.9, "load:load-x:rate"),
        ("no ratio given", 0.5, None),
    ]
    assert rows[0].unit == "events/s"
    assert not rows[0].lower_is_better


def test_the_summary_goes_after_the_first_paragraph_and_replaces_only_itself() -> None:
    document = "# Performance\n\nFirst paragraph,\ntwo lines.\n\n## djed-x\n\nHand-written.\n"
    once = _markdown.splice(document, f"{_markdown.START}\none\n{_markdown.END}")
    assert once == (
        "# Performance\n\nFirst paragraph,\ntwo lines.\n\n"
        f"{_markdown.START}\none\n{_markdown.END}\n\n## djed-x\n\nHand-written.\n"
    )
    twice = _markdown.splice(once, f"{_markdown.START}\ntwo\n{_markdown.END}")
    assert twice == once.replace("\none\n", "\ntwo\n")
    with pytest.raises(ValueError, match="only one of the markers"):
        _markdown.splice(document + _markdown.END, "x")


def test_the_real_performance_document_keeps_every_hand_written_line() -> None:
    document = (REPO / "docs" / "PERFORMANCE.md").read_text(encoding="utf-8")
    start, end = document.find(_markdown.START), document.find(_markdown.END)
    assert 0 < start < end, "the generated summary is in place"
    hand_written = document[:start] + document[end + len(_markdown.END) :]
    section = f"{_markdown.START}\nnew summary\n{_markdown.END}"

    spliced = _markdown.splice(document, section)

    assert section in spliced
    outside = spliced.replace(section, "")
    assert outside == hand_written
    assert document[:start].count("\n## ") == 0, "the summary comes before the package sections"
