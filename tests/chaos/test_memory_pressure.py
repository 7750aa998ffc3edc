"""Memory pressure: a worker whose address space is capped (``RLIMIT_AS``) gets a document
too big to validate within it, then smaller ones.

What a user was promised: running out of memory is an error like any other: the
request that needed too much fails with ``MemoryError`` (the worker answers
that), nothing crashes or hangs, and the worker goes on serving smaller requests,
logging them as before. Each case starts ``_memory_service.py`` in a process of
its own, capped 256 MiB above what it uses once ready.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ._chaos_support import need

SERVICE = Path(__file__).with_name("_memory_service.py")
ANSWER_WITHIN = 6.0  # seconds; a big request takes about one
BIG = 400_000  # invalid items: reporting every error needs far more than 256 MiB
HEADROOM_MIB = 256


class Worker:
    """The capped worker in a child process, one JSON line per request and per answer."""

    def __init__(self, engine: str, cache: str, log_file: Path) -> None:
        self.log_file = log_file
        self.process = subprocess.Popen(
            [sys.executable, str(SERVICE), engine, cache, str(log_file), str(HEADROOM_MIB)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        ready = self._next("start")
        assert "ready" in ready, ready

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self._errors.extend(self.process.stderr)

    def stderr(self) -> str:
        return "".join(self._errors)[-3000:]

    def _next(self, what: str) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=ANSWER_WITHIN)
        except queue.Empty:
            pytest.fail(f"the worker hung: no answer to {what} in {ANSWER_WITHIN:g} s")
        if line is None:
            code = self.process.wait(ANSWER_WITHIN)
            pytest.fail(f"the worker died on {what} (exit status {code}):\n{self.stderr()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, items: int, *, bad: bool, key: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        request = {"items": items, "bad": bad, "key": key}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._next(f"{items} items ({key})")

    def logged(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_file.read_bytes().splitlines()]

    def finish(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(ANSWER_WITHIN)

    def close(self) -> None:
        """Kill the worker if it still runs, and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for reader in self._readers:
            reader.join(ANSWER_WITHIN)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


RS_CRASHES = (
    "djed-validator's rs engine (jsonschema-rs; the default for drafts 2019-09 and 2020-12) "
    "does not survive an allocation failure: the process aborts ('memory allocation of N "
    "bytes failed', SIGABRT), segfaults, or panics in pyo3 ('PyObject pointer is null') and "
    "hangs; all_errors=True collects every error with no bound, so a large invalid document "
    "needs memory in proportion to its errors"
)
CACHE_PINS = (
    "djed-cache SyncCache: when a loader runs out of memory, _load's finally block (the "
    "'with self._flights_lock' that removes the flight, then flight.done.set()) raises "
    "MemoryError itself, so the flight stays registered: it pins the failed load's frames "
    "(the whole document) through flight.error's traceback, the worker cannot even log, and "
    "any later get_or_load of that key waits on flight.done forever (no timeout)"
)


@pytest.mark.parametrize(
    ("engine", "cache"),
    [
        pytest.param("fast", "direct", id="validator-fast"),
        pytest.param(
            "rs",
            "direct",
            id="validator-rs",
            marks=pytest.mark.xfail(strict=True, reason=RS_CRASHES),
        ),
        pytest.param(
            "fast",
            "cache",
            id="through-cache",
            marks=pytest.mark.xfail(strict=True, reason=CACHE_PINS),
        ),
    ],
)
def test_out_of_memory_fails_one_request_and_the_worker_serves_on(
    tmp_path: Path, engine: str, cache: str
) -> None:
    need(None if Path("/proc/self/status").is_file() else "needs Linux (/proc/self/status)")
    worker = Worker(engine, cache, tmp_path / "worker.log")
    try:
        assert worker.ask(10, bad=True, key="warm-up") == {"ok": True, "valid": False, "errors": 10}
        for attempt in range(2):  # the same big document twice: the same clear failure
            answer = worker.ask(BIG, bad=True, key="big")
            assert answer == {"ok": False, "error": "MemoryError", "stage": "validate"}, (
                f"attempt {attempt + 1}: {answer}"
            )
        assert worker.ask(10, bad=False, key="small") == {"ok": True, "valid": True, "errors": 0}
        smaller = worker.ask(1_000, bad=True, key="smaller")
        assert smaller == {"ok": True, "valid": False, "errors": 1_000}

        # The logger's background writer survived: routine lines arrive while it runs.
        deadline = time.monotonic() + ANSWER_WITHIN
        while sum(e["event"] == "request done" for e in worker.logged()) < 3:
            assert time.monotonic() < deadline, "routine log lines stopped being written"
            time.sleep(0.05)
        failures = [e for e in worker.logged() if e["event"] == "request ran out of memory"]
        assert [(e["items"], e["level"]) for e in failures] == [(BIG, "error")] * 2
        assert worker.finish() == 0, worker.stderr()
        assert "Traceback" not in worker.stderr(), worker.stderr()
    finally:
        worker.close()
