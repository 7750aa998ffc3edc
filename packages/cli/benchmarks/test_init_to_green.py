"""From nothing to a project whose tests pass: `djed init` against plain copier, same run.

Each round makes a new project in a new folder, installs it with `uv sync` (warm
package cache) and runs its tests. The peer is copier itself rendering the same
template folder, which is what a team would do without djed-cli; djed adds the
version store for `djed update`, the Docker files, `uv lock` and the first commit.

    uv run pytest packages/cli/benchmarks --benchmark-enable -p no:randomly -s

prints the median seconds of each and their ratio (djed ÷ copier).
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import copier
import pytest

from ..tests._cli_support import DJED, TEMPLATES, UV, environment, run  # noqa: TID252

ROUNDS = 3
_seconds: dict[str, list[float]] = {}


def _to_green(folder: Path, env: dict[str, str]) -> None:
    run([UV, "sync", "--quiet"], folder, env)
    run([UV, "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"], folder, env)


def _djed(parent: Path, name: str, env: dict[str, str]) -> None:
    run([str(DJED), "init", "mcp-server", name, "--defaults"], parent, env)
    _to_green(parent / name, env)


def _copier(parent: Path, name: str, env: dict[str, str]) -> None:
    data = {"name": name, "djed_source": env["DJED_SOURCE"]}
    copier.run_copy(
        str(TEMPLATES / "mcp-server"), parent / name, data=data, defaults=True, quiet=True
    )
    _to_green(parent / name, env)


@pytest.mark.parametrize(("tool", "make"), [("copier", _copier), ("djed", _djed)])
def test_init_to_green(
    benchmark: Any,
    tmp_path: Path,
    private_template_store: Path,
    tool: str,
    make: Callable[[Path, str, dict[str, str]], None],
) -> None:
    env = environment(private_template_store)
    names = (f"p{n}" for n in itertools.count())
    benchmark.group = "init-to-green"
    benchmark.extra_info["case"] = tool

    def once() -> None:
        started = time.perf_counter()
        make(tmp_path, next(names), env)
        _seconds.setdefault(tool, []).append(time.perf_counter() - started)

    benchmark.pedantic(once, rounds=ROUNDS if benchmark.enabled else 1, iterations=1)
    assert list(tmp_path.glob("p*/uv.lock")), "the projects were installed"
    if tool == "djed" and "copier" in _seconds:
        djed, plain = statistics.median(_seconds["djed"]), statistics.median(_seconds["copier"])
        benchmark.extra_info["ratio"] = djed / plain
        print(  # the figures docs/PERFORMANCE.md reports
            f"\ninit to green: djed {djed:.2f} s, copier {plain:.2f} s, ratio {djed / plain:.2f}"
        )
