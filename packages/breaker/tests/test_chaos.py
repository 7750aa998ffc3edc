"""A real HTTP dependency on 127.0.0.1 that fails half the time, then hangs, then heals."""

from __future__ import annotations

import http.server
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from djed.breaker import CircuitBreaker, Guard

TIMEOUT = 0.2
OPEN_DURATION = 0.5


class Dependency(http.server.ThreadingHTTPServer):
    """Answers 200, fails with 500 at ``failure_rate``, or hangs for ``hang`` seconds."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "flaky"
        self.failure_rate = 0.5
        self.hang = 1.0
        self.random = random.Random(7)
        self.served = 0

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/rates"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Dependency

    def do_GET(self) -> None:
        server = self.server
        server.served += 1
        if server.mode == "hang":
            time.sleep(server.hang)
        elif server.mode == "flaky" and server.random.random() < server.failure_rate:
            self.send_response(500)
            self.end_headers()
            return
        body = b'{"EUR": 1.08}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep the test output quiet."""


@pytest.fixture
def dependency() -> Iterator[Dependency]:
    server = Dependency()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as error:
        error.close()  # an error response holds its socket until closed
        raise


class TestChaos:
    def test_fail_hang_heal(self, dependency: Dependency) -> None:
        """Every call answers (real or fallback) within its timeout; recovery follows healing."""
        threads_before = set(threading.enumerate())
        breaker = CircuitBreaker(
            "rates",
            failure_rate_threshold=50,
            window_size=20,
            minimum_calls=10,
            open_duration=OPEN_DURATION,
            half_open_max_calls=3,
        )
        opened: list[float] = []
        breaker.add_listener(
            lambda _b, _old, new: opened.append(1.0) if new.value == "open" else None
        )
        guard = Guard(breaker, timeout=TIMEOUT, fallback=b"stale", max_workers=8)
        answers: list[bytes] = []
        slowest = 0.0

        def call() -> bytes:
            nonlocal slowest
            started = time.monotonic()
            answer = guard.call(fetch, dependency.url)
            slowest = max(slowest, time.monotonic() - started)
            answers.append(answer)
            return answer

        for _ in range(200):
            call()
        assert opened, "the breaker never opened while half the calls failed"
        dependency.mode = "hang"
        for _ in range(60):
            call()
            time.sleep(0.005)
        assert breaker.stats()["state"] in {"open", "half_open"}
        dependency.mode = "healthy"
        time.sleep(OPEN_DURATION)  # one open period after the dependency healed
        recovered = [call() for _ in range(3)]
        assert recovered == [b'{"EUR": 1.08}'] * 3
        assert breaker.stats()["state"] == "closed"
        for _ in range(50):
            assert call() == b'{"EUR": 1.08}'

        assert all(a in {b'{"EUR": 1.08}', b"stale"} for a in answers)
        assert len(answers) == 313  # every call answered: 100% successful or fallback
        # No call waited for the hanging dependency: the timeout cut each one short.
        # (A generous bound: this guards the timeout's enforcement, not speed.)
        assert slowest < TIMEOUT + 1.0
        # The hung requests finish on the server side; then no thread is left behind.
        guard.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            leftover = [
                t for t in threading.enumerate() if t not in threads_before and t.is_alive()
            ]
            leftover = [t for t in leftover if not t.name.startswith("Thread-")]  # server's own
            if not leftover:
                break
            time.sleep(0.05)
        assert not leftover, leftover
