"""The disk under a service's log file fills up, then space comes back.

The service (``_logging_service.py``) is an HTTP app logging each request through
djed.logger into a file on a 256 KiB tmpfs, buffered (the default for files).
What a user was promised: logging never takes the service down. While the disk
is full every request is still answered, log lines are dropped and counted, and
one clear line on stderr says which file failed and why; once space is freed,
writing resumes by itself with a second line saying how many lines were lost;
the file holds only whole lines; every line is either written or counted as
dropped. Without root (no tmpfs), ``/dev/full`` plays the full disk, for good.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._chaos_support import IN_CI, free_port, lasting, wait_until

SERVICE = Path(__file__).with_name("_logging_service.py")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted for the test (needs root and mount(8))."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs to fill (needs root): {done.stderr.strip()}"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason + "; test_dev_full_service_keeps_serving covers the rest")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


class Service:
    """The logging service in a child process, and an HTTP client for it."""

    def __init__(self, log_file: Path, stderr: Path) -> None:
        self.port = free_port()
        self.stderr_path = stderr
        with stderr.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(SERVICE), str(self.port), str(log_file)],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)
        wait_until(self._healthy, "the service to answer")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"the service exited at start:\n{self.stderr()}", pytrace=False)
        try:
            return self.http.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    def order(self) -> tuple[int, float]:
        """Place one order: its number and how long the answer took."""
        started = time.monotonic()
        answer = self.http.post("/orders", content=b"2 x widget")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["order"]), time.monotonic() - started

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get("/stats").json()
        return found

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, as a process manager does; the exit status."""
        self.http.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the service ignored SIGTERM:\n{self.stderr()}", pytrace=False)


@contextlib.contextmanager
def service(log_file: Path, stderr: Path) -> Iterator[Service]:
    running = Service(log_file, stderr)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def fill(folder: Path) -> Path:
    """Write a ballast file until the file system refuses more (ENOSPC)."""
    ballast = folder / "ballast"
    refused: OSError | None = None
    with ballast.open("wb", buffering=0) as out:
        while refused is None:
            try:
                out.write(b"\0" * 4096)
            except OSError as error:
                refused = error
    assert refused.errno == errno.ENOSPC, refused
    return ballast


def balanced(stats: dict[str, Any]) -> bool:
    """Every event rendered was either written or counted as dropped (nothing queued)."""
    events = sum(value for key, value in stats.items() if key.startswith("events_"))
    return bool(events == stats["written"] + stats["dropped"])


def logged_orders(log_file: Path) -> list[int]:
    """The order numbers in the log file; every line must be whole JSON."""
    numbers = []
    for line in log_file.read_bytes().splitlines():
        event = json.loads(line)  # a torn line would not parse
        if event.get("event") == "order received":
            numbers.append(int(event["order"]))
    return numbers


def test_a_full_disk_costs_log_lines_never_requests(tiny_disk: Path, tmp_path: Path) -> None:
    full_for = lasting(2.0, 60.0)
    log_file = tiny_disk / "orders.log"
    with service(log_file, tmp_path / "stderr.txt") as orders:
        before = [orders.order()[0] for _ in range(20)]
        wait_until(lambda: set(before) <= set(logged_orders(log_file)), "the first lines")

        ballast = fill(tiny_disk)
        during: list[int] = []
        slowest = 0.0
        started = time.monotonic()
        while time.monotonic() - started < full_for or orders.stats()["dropped"] == 0:
            number, seconds = orders.order()
            during.append(number)
            slowest = max(slowest, seconds)
            assert time.monotonic() - started < full_for + 20, "no line was ever dropped"
        assert during == list(range(before[-1] + 1, before[-1] + 1 + len(during)))
        assert slowest < 1.0, f"an order took {slowest:.2f} s while the disk was full"
        wait_until(lambda: balanced(orders.stats()), "the queue to be written or dropped")
        dropped_while_full = orders.stats()["dropped"]
        refusal = f"djed.logger: cannot write to {log_file} (No space left on device)"
        assert orders.stderr().count(refusal) == 1, orders.stderr()  # once, not once per line

        ballast.unlink()
        after = [orders.order()[0] for _ in range(20)]
        wait_until(lambda: after[-1] in logged_orders(log_file), "logging to resume")
        wait_until(lambda: balanced(orders.stats()), "the queue to be written")
        stats = orders.stats()
        notice = re.search(
            rf"writing to {re.escape(str(log_file))} works again; (\d+) log lines were dropped",
            orders.stderr(),
        )
        assert notice is not None, orders.stderr()
        assert int(notice[1]) == dropped_while_full == stats["dropped"]
        assert orders.process.poll() is None, "the service is still up"
        code = orders.stop()
    numbers = logged_orders(log_file)
    assert numbers == sorted(numbers), "lines kept their order"
    assert set(before) | set(after) <= set(numbers), "lines before and after the outage"
    assert not set(during) <= set(numbers), "some lines of the full disk were dropped"
    assert code in {0, -signal.SIGTERM}, orders.stderr()
    assert "Traceback" not in orders.stderr(), orders.stderr()
    print(
        f"disk full: {len(during)} orders answered in {full_for:g} s, slowest {slowest:.3f} s;"
        f" {stats['dropped']} lines dropped, {stats['written']} written"
    )


def test_dev_full_service_keeps_serving(tmp_path: Path) -> None:
    """A log file that can never be written (``/dev/full``): the service serves all the same."""
    if not os.access("/dev/full", os.W_OK):
        pytest.skip("no writable /dev/full on this system")
    with service(Path("/dev/full"), tmp_path / "stderr.txt") as orders:
        numbers = [orders.order()[0] for _ in range(100)]
        assert numbers == list(range(1, 101))
        wait_until(lambda: balanced(orders.stats()), "every line to be dropped")
        stats = orders.stats()
        assert stats["written"] == 0
        assert stats["dropped"] >= 100 + 10  # the orders and their warnings, at least
        refusal = "djed.logger: cannot write to /dev/full (No space left on device)"
        assert orders.stderr().count(refusal) == 1, orders.stderr()
        code = orders.stop()
    assert code in {0, -signal.SIGTERM}, orders.stderr()
    assert "Traceback" not in orders.stderr(), orders.stderr()
