"""Command line of the performance report.

    uv run python -m benchmarks run [--quick | --long] [--only SUITE ...] [--out DIR] [--no-docs]
    uv run python -m benchmarks render [--results FILE]

``run`` measures and then renders; ``render`` recomputes the rows and gated metrics of a
results file from its recorded statistics (after a change to the pairs or the rules),
then redraws the plots and the summary of ``docs/PERFORMANCE.md``, measuring nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import _runner

ROOT = Path(__file__).resolve().parents[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run every package's benchmarks and the load tests; regenerate the report.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="measure, keep the results, regenerate the report")
    run.add_argument(
        "--quick",
        action="store_true",
        help="only the fast in-process pairs, with short timings (writes quick.json, not the docs)",
    )
    run.add_argument(
        "--only",
        nargs="+",
        metavar="SUITE",
        default=(),
        help="run only these suites (package folder names, or 'load'); the others keep "
        "their figures from the previous results file",
    )
    run.add_argument(
        "--long",
        action="store_true",
        help="the load tests' long variant (minutes each; DJED_LOAD_LONG=1) instead of the "
        "one-minute one",
    )
    run.add_argument("--out", type=Path, default=None, help="results folder (benchmarks/results)")
    run.add_argument("--no-docs", action="store_true", help="do not touch docs/PERFORMANCE.md")
    run.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    render = commands.add_parser(
        "render", help="recompute rows and metrics of a results file, redraw the report"
    )
    render.add_argument("--results", type=Path, default=None, help="benchmarks/results/latest.json")
    render.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    return parser


def results_name(quick: bool) -> str:
    """The file a run writes in its results folder."""
    return "quick.json" if quick else "latest.json"


def _load(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else None


def render(document: Mapping[str, Any], root: Path) -> Path:
    """Draw the plots and rewrite the summary of ``docs/PERFORMANCE.md``; return that file."""
    from benchmarks import _markdown, _plots  # matplotlib only when drawing

    docs = root / "docs"
    rows = _runner.all_rows(document)
    folder = docs / "images" / "perf"
    images = _plots.draw_all(document, rows, folder)
    for stale in set(folder.glob("*.png")) - set(images.values()):
        stale.unlink()  # the folder holds generated plots only: drop those not drawn now
    section = _markdown.summary(document, rows, images, docs)
    target = docs / "PERFORMANCE.md"
    _markdown.write(target, section)
    return target


def _run(arguments: argparse.Namespace) -> int:
    root: Path = arguments.root.resolve()
    out: Path = (arguments.out or root / "benchmarks" / "results").resolve()
    settings = _runner.Settings(
        root, out, quick=arguments.quick, only=tuple(arguments.only), long=arguments.long
    )
    results = out / results_name(settings.quick)
    previous = _load(results) if settings.only else None
    document = _runner.run(settings, previous)
    out.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"results: {results}")
    if not settings.quick and not arguments.no_docs:
        print(f"report: {render(document, root)}")
    failed = _runner.failed(document, _runner.chosen(settings))
    if failed:
        print(f"error: the benchmarks of {', '.join(failed)} failed (logs in {out / 'raw'})")
        return 1
    return 0


def _render(arguments: argparse.Namespace) -> int:
    root: Path = arguments.root.resolve()
    results = arguments.results or root / "benchmarks" / "results" / results_name(quick=False)
    document = _load(results)
    if document is None:
        print(f"error: no results at {results}; run `python -m benchmarks run` first")
        return 1
    document = _runner.refresh(document)
    results.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"results: {results} (rows and metrics recomputed)")
    print(f"report: {render(document, root)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    arguments = _parser().parse_args(argv)
    if arguments.command == "run":
        return _run(arguments)
    return _render(arguments)


if __name__ == "__main__":
    sys.exit(main())
