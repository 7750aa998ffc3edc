"""Start-up cost of djed.logger: time to the first log line and peak memory, in fresh processes.

``structlog_import`` only imports structlog; ``djed_first_line`` imports
djed.logger, configures it with the defaults and writes one line to stdout
(not a terminal here, so the line is JSON). Djed's share is the difference.

Peak RSS comes from ``os.wait4`` in a small launcher process rather than in
pytest itself: Linux keeps a process's high-water RSS across ``exec``, so a
child spawned straight from a large pytest process would report pytest's size.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

SCRIPTS = {
    "structlog_import": "import structlog\n",
    "djed_first_line": (
        "import djed.logger\n"
        "djed.logger.configure_logging()\n"
        "djed.logger.get_logger().info('ready')\n"
    ),
}
ROUNDS = 20
RSS_SAMPLES = 7
TOP_IMPORTS = 8

# Spawns the script, waits for it with os.wait4 and prints its peak RSS (KiB),
# the launcher's own peak (a floor the child inherits) and the exit code.
_LAUNCHER = """\
import os, sys
floor = 0
with open("/proc/self/status") as status:
    for line in status:
        if line.startswith("VmHWM:"):
            floor = int(line.split()[1])
null = os.open(os.devnull, os.O_WRONLY)
pid = os.posix_spawn(
    sys.executable,
    [sys.executable, "-c", sys.argv[1]],
    os.environ,
    file_actions=[(os.POSIX_SPAWN_DUP2, null, 1)],
)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, floor, os.waitstatus_to_exitcode(status))
"""


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The children's environment: no djed.logger settings, and a bytecode cache of their own.

    Deployed code runs from compiled bytecode, so the children write and reuse
    ``.pyc`` files in a temporary folder (the first run of each script fills
    it), whatever ``PYTHONDONTWRITEBYTECODE`` says, and without touching the
    source tree or the virtual environment.
    """
    variables = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DJED_LOGGER_")
        and name not in {"NO_COLOR", "FORCE_COLOR", "PYTHONDONTWRITEBYTECODE"}
    }
    variables["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("bytecode"))
    return variables


def _run(script: str, environment: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=environment,
        check=True,
    )


def _check_output(case: str, environment: dict[str, str]) -> None:
    """Run the script once (this also warms the bytecode cache) and check what it printed."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPTS[case]],
        capture_output=True,
        env=environment,
        check=True,
    )
    assert result.stderr == b""
    if case == "djed_first_line":
        event = json.loads(result.stdout)
        assert event["event"] == "ready"
        assert event["level"] == "info"
    else:
        assert result.stdout == b""


def _peak_rss_kib(script: str, environment: dict[str, str]) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, script],
        capture_output=True,
        env=environment,
        check=True,
        text=True,
    )
    peak, floor, code = (int(field) for field in result.stdout.split())
    assert code == 0, result.stderr
    # A peak at the launcher's own size would measure the launcher, not the script.
    assert peak > floor, f"peak RSS {peak} KiB is not above the launcher's {floor} KiB"
    return peak


def _import_rows(script: str, environment: dict[str, str]) -> list[tuple[str, int, int, int]]:
    """``-X importtime`` of a script as (module, depth, self µs, cumulative µs), in its order."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script],
        capture_output=True,
        env=environment,
        check=True,
        text=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue
        name = fields[2].lstrip()
        depth = (len(fields[2]) - len(name) - 1) // 2
        rows.append((name.strip(), depth, int(fields[0]), int(fields[1])))
    return rows


def _import_breakdown(environment: dict[str, str]) -> dict[str, float]:
    """The largest imports that the Djed script adds to the structlog-only script, in ms.

    Djed's own modules count their self time; a third-party or standard module
    counts its whole subtree and names the module that imported it.
    """
    baseline = {row[0] for row in _import_rows(SCRIPTS["structlog_import"], environment)}
    rows = _import_rows(SCRIPTS["djed_first_line"], environment)
    # -X importtime prints children before their parent: walk backwards to find parents.
    parents: dict[int, int | None] = {}
    stack: list[int] = []
    for index in range(len(rows) - 1, -1, -1):
        while stack and rows[stack[-1]][1] >= rows[index][1]:
            stack.pop()
        parents[index] = stack[-1] if stack else None
        stack.append(index)
    costs: dict[str, float] = {}
    for index, (name, _depth, self_us, cumulative_us) in enumerate(rows):
        if name in baseline:
            continue
        if name == "djed" or name.startswith("djed."):
            costs[f"{name} (own code)"] = self_us / 1000
            continue
        parent = parents[index]
        parent_name = rows[parent][0] if parent is not None else None
        if parent_name is None or parent_name.startswith("djed.") or parent_name in baseline:
            costs[f"{name} (imported by {parent_name or 'a call at run time'})"] = (
                cumulative_us / 1000
            )
    largest = sorted(costs.items(), key=lambda item: item[1], reverse=True)[:TOP_IMPORTS]
    return {name: round(ms, 2) for name, ms in largest}


@pytest.mark.benchmark(group="logger-startup")
@pytest.mark.parametrize("case", list(SCRIPTS))
def test_startup(benchmark: BenchmarkFixture, environment: dict[str, str], case: str) -> None:
    """Each round runs the script in a fresh interpreter, from process start to exit."""
    script = SCRIPTS[case]
    _check_output(case, environment)
    benchmark.extra_info["case"] = case
    if sys.platform == "linux":
        samples = RSS_SAMPLES if benchmark.enabled else 1
        benchmark.extra_info["peak_rss_kib"] = statistics.median(
            _peak_rss_kib(script, environment) for _ in range(samples)
        )
    if case == "djed_first_line" and benchmark.enabled:
        benchmark.extra_info["import_ms"] = _import_breakdown(environment)
    benchmark.pedantic(  # type: ignore[no-untyped-call]  # pytest-benchmark leaves it unannotated
        _run, args=(script, environment), rounds=ROUNDS, iterations=1, warmup_rounds=1
    )
