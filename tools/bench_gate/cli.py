"""Command line of the benchmark regression gate.

    python -m tools.bench_gate check [--results FILE] [--baseline FILE] [--rerun]
    python -m tools.bench_gate quick [--baseline FILE] [--out DIR]
    python -m tools.bench_gate baseline [--results FILE] [--baseline FILE] [--only SUITE ...]

``check`` compares a finished run; ``quick`` measures the short in-process subset and
compares it; ``baseline`` writes the run's ratios as the new baseline. Before failing,
``check --rerun`` and ``quick`` measure the failing suites once more and keep, for
every ratio, the better of the two runs: noise rarely strikes the same ratio twice.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from tools.bench_gate._compare import THRESHOLD, Verdict, best_of, compare, table

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "benchmarks" / "baseline.json"
RESULTS = ROOT / "benchmarks" / "results"
FORMAT = 1


class GateError(Exception):
    """A problem with the gate's inputs, reported as ``error: ...`` with exit status 1."""


def _read(path: Path, what: str) -> dict[str, Any]:
    if not path.exists():
        raise GateError(f"no {what} at {path}")
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise GateError(f"{what} {path} is not valid JSON: {error}") from error
    if not isinstance(loaded, dict):
        raise GateError(f"{what} {path} does not hold a JSON object")
    return loaded


def _metrics(document: Mapping[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    metrics = document.get("metrics")
    if not isinstance(metrics, dict):
        raise GateError(f"{path} has no 'metrics' object; was it written by `benchmarks run`?")
    return metrics


def _suites(document: Mapping[str, Any]) -> set[str]:
    suites = set(document.get("packages", {}))
    if isinstance(document.get("load"), Mapping):
        suites.add("load")
    return suites


def measure(
    root: Path, out: Path, *, quick: bool, only: Sequence[str] = (), echo: bool = True
) -> tuple[int, dict[str, Any]]:
    """Run ``python -m benchmarks run`` into ``out``; return its status and results document."""
    command = [sys.executable, "-m", "benchmarks", "run", "--no-docs", "--out", str(out)]
    command += ["--root", str(root)]
    if quick:
        command.append("--quick")
    if only:
        command += ["--only", *only]
    completed = subprocess.run(command, cwd=ROOT, check=False, capture_output=not echo, text=True)
    results = out / ("quick.json" if quick else "latest.json")
    document = _read(results, "results file") if results.exists() else {}
    return completed.returncode, document


def gate(
    metrics: Mapping[str, Mapping[str, Any]],
    baseline: Mapping[str, Mapping[str, Any]],
    *,
    suites: Collection[str],
    threshold: float,
    allow_missing: bool,
    rerun: Any = None,
) -> tuple[list[Verdict], bool]:
    """Compare, and when something fails and ``rerun`` is given, measure those suites again.

    ``rerun`` takes the failing suites and returns their new metrics. The result is the
    final verdicts and whether a second measurement was made.
    """
    verdicts = compare(
        metrics, baseline, packages=suites, threshold=threshold, allow_missing=allow_missing
    )
    failing = sorted({verdict.package for verdict in verdicts if verdict.failed})
    if not failing or rerun is None:
        return verdicts, False
    print(f"re-running {', '.join(failing)} once before failing")
    again: Mapping[str, Mapping[str, Any]] = rerun(failing)
    merged = best_of(metrics, {m: d for m, d in again.items() if d.get("package") in failing})
    verdicts = compare(
        merged, baseline, packages=suites, threshold=threshold, allow_missing=allow_missing
    )
    return verdicts, True


def _report(verdicts: list[Verdict], threshold: float, *, require_some: bool) -> int:
    for line in table(verdicts, threshold):
        print(line)
    compared = sum(verdict.status in {"ok", "regressed"} for verdict in verdicts)
    if require_some and not compared:
        print("gate: FAILED, no ratio of the baseline was measured")
        return 1
    if any(verdict.failed for verdict in verdicts):
        print("gate: FAILED")
        return 1
    print("gate: passed")
    return 0


def _baseline_metrics(path: Path) -> dict[str, dict[str, Any]]:
    return _metrics(_read(path, "baseline"), path)


def _rerunner(root: Path, out: Path, *, quick: bool) -> Any:
    def rerun(suites: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        status, document = measure(root, out, quick=quick, only=suites)
        if status != 0:
            print(f"the second run of {', '.join(suites)} failed (exit {status})")
        return document.get("metrics", {}) if document else {}

    return rerun


def _check(arguments: argparse.Namespace) -> int:
    results: Path = arguments.results
    document = _read(results, "results file")
    quick = bool(document.get("quick", False))
    rerun = None
    if arguments.rerun:
        rerun = _rerunner(arguments.root, results.parent / "rerun", quick=quick)
    verdicts, _ = gate(
        _metrics(document, results),
        _baseline_metrics(arguments.baseline),
        suites=_suites(document),
        threshold=arguments.threshold,
        allow_missing=quick,
        rerun=rerun,
    )
    return _report(verdicts, arguments.threshold, require_some=True)


def _quick(arguments: argparse.Namespace) -> int:
    out: Path = arguments.out
    baseline = _baseline_metrics(arguments.baseline)
    status, document = measure(arguments.root, out, quick=True)
    if status != 0 or not document:
        print(f"gate: FAILED, the quick benchmarks did not finish (exit {status})")
        return 1
    verdicts, _ = gate(
        _metrics(document, out / "quick.json"),
        baseline,
        suites=_suites(document),
        threshold=arguments.threshold,
        allow_missing=True,
        rerun=_rerunner(arguments.root, out / "rerun", quick=True),
    )
    return _report(verdicts, arguments.threshold, require_some=True)


def _write_baseline(arguments: argparse.Namespace) -> int:
    results: Path = arguments.results
    document = _read(results, "results file")
    if document.get("quick"):
        raise GateError(f"{results} comes from a quick run; the baseline takes full runs only")
    metrics = _metrics(document, results)
    kept: dict[str, dict[str, Any]] = {}
    if arguments.only and arguments.baseline.exists():
        kept = {
            metric: data
            for metric, data in _baseline_metrics(arguments.baseline).items()
            if data.get("package") not in arguments.only
        }
    chosen = {
        metric: {key: data[key] for key in ("value", "lower_is_better", "package", "name")}
        for metric, data in metrics.items()
        if not arguments.only or data.get("package") in arguments.only
    }
    baseline = {
        "format": FORMAT,
        "threshold": THRESHOLD,
        "updated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "run": {"finished": document.get("finished"), "machine": document.get("machine")},
        "metrics": dict(sorted({**kept, **chosen}.items())),
    }
    arguments.baseline.parent.mkdir(parents=True, exist_ok=True)
    arguments.baseline.write_text(json.dumps(baseline, indent=1) + "\n", encoding="utf-8")
    print(f"baseline: {len(chosen)} ratios from {results} written to {arguments.baseline}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench_gate",
        description="Fail when a Djed/peer ratio is more than 20%% worse than the baseline.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="compare a finished run with the baseline")
    check.add_argument("--results", type=Path, default=RESULTS / "latest.json")
    check.add_argument(
        "--rerun", action="store_true", help="measure failing suites once more before failing"
    )
    quick = commands.add_parser("quick", help="measure the quick subset and compare it")
    quick.add_argument("--out", type=Path, default=RESULTS)
    update = commands.add_parser("baseline", help="write a run's ratios as the new baseline")
    update.add_argument("--results", type=Path, default=RESULTS / "latest.json")
    update.add_argument(
        "--only", nargs="+", default=(), metavar="SUITE", help="replace only these suites' ratios"
    )
    for command in (check, quick, update):
        command.add_argument("--baseline", type=Path, default=BASELINE)
        command.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    for command in (check, quick):
        command.add_argument(
            "--threshold", type=float, default=THRESHOLD, help="allowed worsening (0.2 = 20%%)"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    arguments = _parser().parse_args(argv)
    commands = {"check": _check, "quick": _quick, "baseline": _write_baseline}
    try:
        return commands[arguments.command](arguments)
    except GateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
