"""What every load test shares: run lengths, core pinning, RSS sampling, results file.

Run lengths come from the environment, read when a test asks (never at import):

* nothing set: the short variant, part of the default ``pytest`` run;
* ``DJED_LOAD_CI_FULL=1``: the one-minute variant the issue names for CI;
* ``DJED_LOAD_LONG=1``: the long variant, run by hand (ten minutes for the logger and
  the validator, five for the CRDT server); it wins over ``DJED_LOAD_CI_FULL``.

Figures go to the JSON file named by ``DJED_LOAD_JSON`` when it is set, one top-level
key per table, merged into what the file already holds (the schema is described in
``benchmarks/README.md``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS_VARIABLE = "DJED_LOAD_JSON"
STARTUP_TIMEOUT = 60.0  # seconds for a child to start its measured work

Variant = Literal["short", "ci-full", "long"]
T = TypeVar("T")


HAS_PROC = Path("/proc/self/status").exists()  # where RSS and CPU time are read (Linux)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in {"", "0", "false", "no"}


def variant() -> Variant:
    """Which length of run the environment asks for."""
    if _flag("DJED_LOAD_LONG"):
        return "long"
    if _flag("DJED_LOAD_CI_FULL"):
        return "ci-full"
    return "short"


def pick(short: T, ci_full: T, long: T) -> T:
    """The value of the current variant."""
    return {"short": short, "ci-full": ci_full, "long": long}[variant()]


class Cores(NamedTuple):
    """``--cpu`` arguments for the process under test and for the process loading it."""

    serve: list[str]
    load: list[str]


def cores() -> Cores:
    """The first usable core for what is measured, the second for the load (when two exist)."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(usable) < 2:
        return Cores([], [])
    return Cores(["--cpu", str(usable[0])], ["--cpu", str(usable[1])])


def pin(cpu: int | None) -> None:
    """Run this process on core ``cpu`` alone (children scripts call it with their --cpu)."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Block until something accepts connections on ``port``; fail if ``process`` dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError(f"nothing listened on port {port} within {timeout:g} s")


def stop(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the process."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    if process.poll() is None:
        process.kill()
        process.wait(timeout=grace)


# -- memory --------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int | None:
    """Resident set size of process ``pid`` now (Linux ``/proc``), or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


class RssSampler:
    """Samples another process's RSS every ``interval`` seconds on a thread of its own.

    ``samples`` holds ``(seconds since start(), bytes)``; sampling stops with ``stop()``
    or when the process is gone.
    """

    def __init__(self, pid: int, interval: float) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self.started = 0.0
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            rss = rss_bytes(self.pid)
            if rss is None:
                return
            self.samples.append((time.monotonic() - self.started, rss))
            if self._halt.wait(self.interval):
                return

    def stop(self) -> list[tuple[float, int]]:
        self._halt.set()
        self._thread.join(timeout=10)
        return self.samples


class Flatness(NamedTuple):
    """How RSS moved after the warm-up, against its level at the start of that window."""

    baseline_mb: float  # median of the first tenth of the judged samples
    peak_mb: float
    end_mb: float  # median of the last tenth
    peak_growth_percent: float
    end_growth_percent: float
    samples: int


def flatness(samples: Sequence[tuple[float, int]], warm_up: float) -> Flatness:
    """Judge the samples taken after ``warm_up`` seconds (at least two must be)."""
    judged = [rss for seconds, rss in samples if seconds >= warm_up]
    if len(judged) < 2:
        raise AssertionError(f"only {len(judged)} RSS samples after the warm-up")
    tenth = max(1, len(judged) // 10)
    baseline = _median(judged[:tenth])
    end = _median(judged[-tenth:])
    peak = max(judged)
    return Flatness(
        baseline_mb=round(baseline / 1e6, 3),
        peak_mb=round(peak / 1e6, 3),
        end_mb=round(end / 1e6, 3),
        peak_growth_percent=round((peak - baseline) / baseline * 100, 3),
        end_growth_percent=round((end - baseline) / baseline * 100, 3),
        samples=len(judged),
    )


def rss_series(samples: Sequence[tuple[float, int]], points: int = 200) -> list[list[float]]:
    """``[seconds, MB]`` pairs, thinned to about ``points`` for the plot."""
    step = max(1, math.ceil(len(samples) / points))
    kept = list(samples[::step])
    if samples and kept[-1] != samples[-1]:
        kept.append(samples[-1])
    return [[round(seconds, 2), round(rss / 1e6, 3)] for seconds, rss in kept]


# -- statistics ----------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    if not values:
        raise ValueError("median of nothing")
    return _median(values)


def percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of sorted values (``share`` 0.99 for p99)."""
    if not ordered:
        raise ValueError("percentile of nothing")
    return float(ordered[max(0, math.ceil(share * len(ordered)) - 1)])


def cdf_series(ordered: Sequence[float], scale: float = 1.0) -> list[list[float]]:
    """``[value * scale, percent of samples at or below it]`` at 100 evenly spaced ranks."""
    if not ordered:
        return []
    shares = [index / 100 for index in range(1, 100)] + [0.995, 0.999, 1.0]
    return [[round(percentile(ordered, s) * scale, 3), round(s * 100, 1)] for s in shares]


def row(
    name: str,
    djed: float | None,
    peer: float | None = None,
    *,
    peer_name: str | None = None,
    lower_is_better: bool = True,
    unit: str | None = None,
) -> dict[str, Any]:
    """One line of a result table, without a ratio.

    The report computes ``djed / peer`` itself for display; only a row given an explicit
    ``ratio`` (see :func:`gated`) is compared against the baseline by the regression gate.
    """
    line: dict[str, Any] = {"name": name, "djed": djed, "peer": peer}
    line["lower_is_better"] = lower_is_better
    if peer_name is not None:
        line["peer_name"] = peer_name
    if unit is not None:
        line["unit"] = unit
    return line


def gated(line: dict[str, Any], value: float) -> dict[str, Any]:
    """``line`` with its ``ratio`` set to ``value``: a figure for the regression gate.

    Not in the short variant: a few seconds on a shared machine move such a ratio by
    more than the gate's 20 %, so there the report shows ``djed / peer`` ungated.
    """
    if variant() == "short":
        return line
    return line | {"ratio": round(value, 4)}


# -- results file --------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where and how the figures were taken."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpus": os.cpu_count(),
        "usable_cpus": None if usable is None else len(usable),
        "python": sys.version.split()[0],
        "variant": variant(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def record(key: str, value: dict[str, Any]) -> Path | None:
    """Merge ``{key: value}`` into the file named by ``DJED_LOAD_JSON``, if set.

    The file is locked while it is read and rewritten, so tests running at once keep
    each other's keys; a file that is not a JSON object is replaced.
    """
    target = os.environ.get(RESULTS_VARIABLE)
    if not target:
        return None
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()
        document: Any = {}
        if text.strip():
            with contextlib.suppress(ValueError):
                document = json.loads(text)
        if not isinstance(document, dict):
            document = {}
        document[key] = value | {"machine": machine()}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(document, indent=2) + "\n")
    return path


class Watched(NamedTuple):
    """What a watched child reported at the end, and its RSS samples."""

    report: dict[str, Any]
    samples: list[tuple[float, int]]


def watch_child(
    command: list[str], interval: float, timeout: float, meanwhile: Callable[[], T]
) -> tuple[Watched, T]:
    """Run ``command`` (a module of this folder), sampling its RSS; ``meanwhile()`` runs meanwhile.

    The child prints one JSON line when its measured work starts (the samples' clock
    starts there) and its report as its last line. ``meanwhile``'s result is returned
    beside what was watched.
    """
    with running(command, cwd=REPO, stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], STARTUP_TIMEOUT)
        assert ready, f"the child said nothing within {STARTUP_TIMEOUT:g} s: {command}"
        assert child.stdout.readline(), f"the child exited before starting: {command}"
        sampler = RssSampler(child.pid, interval).start()
        try:
            during = meanwhile()
            stdout, _ = child.communicate(timeout=timeout)
        finally:
            samples = sampler.stop()
    assert child.returncode == 0, f"the child failed with {child.returncode}: {command}"
    report: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    return Watched(report, samples), during


def run_json(command: list[str], timeout: float) -> dict[str, Any]:
    """Run a module of this folder to the end; the JSON object it printed last."""
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stderr[-3000:]}"
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def module(name: str, *arguments: str) -> list[str]:
    """The command running module ``benchmarks.load.<name>`` with this interpreter."""
    return [sys.executable, "-m", f"benchmarks.load.{name}", *arguments]


@contextlib.contextmanager
def running(
    command: list[str], grace: float = 10.0, **options: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process for the duration of the block; stopped whatever happens.

    It gets SIGTERM at the end, and SIGKILL if it is still there ``grace`` seconds later.
    """
    process = subprocess.Popen(command, **options)
    try:
        yield process
    finally:
        stop(process, grace)
