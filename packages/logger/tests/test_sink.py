from __future__ import annotations

import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import orjson
import pytest
from djed.logger import configure_logging, current_state, flush_logs, get_logger
from djed.logger._sink import LogSink


def wait_for(condition: object, timeout: float = 5.0) -> None:
    """Poll until condition() is true; the timeout only guards against hangs."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def log_in_child(path: pathlib.Path, body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter with buffered logging to ``path`` as ``log``."""
    preamble = (
        "import os\n"
        "from djed.logger import configure_logging, flush_logs, get_logger\n"
        f"configure_logging(file={str(path)!r}, flush_interval=30)\n"
        "log = get_logger('x')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", preamble + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def events_in(path: pathlib.Path) -> list[str]:
    return [json.loads(line)["event"] for line in path.read_text().splitlines()]


class FailingStream(io.RawIOBase):
    """A binary stream that fails while `broken` is set."""

    def __init__(self) -> None:
        self.broken = False
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        if self.broken:
            raise OSError(5, "Input/output error")
        chunk = bytes(data)  # type: ignore[call-overload]
        self.data += chunk
        return len(chunk)


class TestBuffering:
    def test_routine_lines_wait_urgent_lines_do_not(self, tmp_path: pathlib.Path) -> None:
        """Info lines wait in the buffer; a warning writes them and itself at once, in order."""
        path = tmp_path / "app.log"
        configure_logging(file=path, flush_interval=30, metrics=False)
        log = get_logger("x")
        log.info("first")
        log.info("second")
        assert path.read_bytes() == b""
        log.warning("third")
        events = [orjson.loads(line)["event"] for line in path.read_bytes().splitlines()]
        assert events == ["first", "second", "third"]

    def test_background_flush_on_interval(self, tmp_path: pathlib.Path) -> None:
        """Buffered lines reach the file within a flush interval, without any other call."""
        path = tmp_path / "app.log"
        configure_logging(file=path, flush_interval=0.05, metrics=False)
        get_logger("x").info("later")
        wait_for(lambda: b"later" in path.read_bytes())

    def test_flush_logs(self, tmp_path: pathlib.Path) -> None:
        """flush_logs() writes everything queued."""
        path = tmp_path / "app.log"
        configure_logging(file=path, flush_interval=30, metrics=False)
        get_logger("x").info("queued")
        flush_logs()
        assert b"queued" in path.read_bytes()

    def test_exit_flushes(self, tmp_path: pathlib.Path) -> None:
        """Lines still queued at a normal interpreter exit are written."""
        path = tmp_path / "app.log"
        result = log_in_child(
            path,
            """
            for n in range(1000):
                log.info("line", n=n)
            """,
        )
        assert result.returncode == 0, result.stderr
        assert len(path.read_bytes().splitlines()) == 1000

    def test_error_survives_immediate_death(self, tmp_path: pathlib.Path) -> None:
        """An error line and everything before it are on disk even if the process dies at once."""
        path = tmp_path / "app.log"
        result = log_in_child(
            path,
            """
            log.info("before")
            log.error("fatal", code=3)
            os._exit(1)
            """,
        )
        assert result.returncode == 1
        assert events_in(path) == ["before", "fatal"]


class TestNeverCrashes:
    def test_full_disk_drops_counts_and_warns_once(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """On /dev/full every line is dropped and counted, with one warning on stderr."""
        configure_logging(file="/dev/full", buffered=False, metrics=False)
        log = get_logger("x")
        for n in range(50):
            log.info("lost", n=n)
        log.error("also lost")
        state = current_state()
        assert state is not None
        assert state.stats()["dropped"] == 51
        err = capsys.readouterr().err
        assert err.count("cannot write to /dev/full") == 1
        assert "No space left on device" in err

    def test_full_disk_buffered(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The buffered path also drops and counts instead of raising."""
        configure_logging(file="/dev/full", flush_interval=0.01, metrics=False)
        log = get_logger("x")
        for _ in range(10):
            log.info("lost")
        flush_logs()
        state = current_state()
        assert state is not None
        assert state.stats()["dropped"] == 10
        assert capsys.readouterr().err.count("cannot write") == 1

    def test_failing_stream_recovers(self, capsys: pytest.CaptureFixture[str]) -> None:
        """When a stream fails and later works again, logging resumes with a notice."""
        stream = FailingStream()
        configure_logging(stream=stream, format="json", metrics=False)
        log = get_logger("x")
        log.info("kept 1")
        stream.broken = True
        log.info("dropped 1")
        log.info("dropped 2")
        stream.broken = False
        log.info("kept 2")
        events = [orjson.loads(line)["event"] for line in bytes(stream.data).splitlines()]
        assert events == ["kept 1", "kept 2"]
        err = capsys.readouterr().err
        assert "Input/output error" in err
        assert "works again; 2 log lines were dropped" in err

    def test_closed_stream(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Writing to a closed stream drops the line instead of raising ValueError."""
        stream = io.BytesIO()
        configure_logging(stream=stream, format="json", metrics=False)
        stream.close()
        get_logger("x").error("nowhere to go")
        state = current_state()
        assert state is not None
        assert state.stats()["dropped"] == 1

    def test_closed_pipe(self) -> None:
        """A child whose stdout reader has gone keeps running and exits cleanly."""
        reader, writer = os.pipe()
        os.close(reader)
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                (
                    "from djed.logger import get_logger, current_state\n"
                    "log = get_logger('x')\n"
                    "for n in range(100): log.info('into a closed pipe', n=n)\n"
                    "import sys; print(current_state().stats()['dropped'], file=sys.stderr)\n"
                ),
            ],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
        os.close(writer)
        assert child.returncode == 0, child.stderr
        assert "Traceback" not in child.stderr
        assert child.stderr.strip().endswith("100")
        assert child.stderr.count("cannot write") == 1


@pytest.fixture
def tiny_tmpfs(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A 64 KiB tmpfs: a real disk that fills up."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must be able to mount a tmpfs: {result.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


class TestRealFullDisk:
    def test_fills_then_recovers(
        self, tiny_tmpfs: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """On a disk that fills up lines are dropped; once space is freed they are written."""
        ballast = tiny_tmpfs / "ballast"
        path = tiny_tmpfs / "app.log"
        configure_logging(file=path, buffered=False, metrics=False)
        log = get_logger("x")
        ballast.write_bytes(b"x" * 40_000)
        for n in range(400):
            log.info("filling", n=n, pad="p" * 40)
        state = current_state()
        assert state is not None
        dropped = state.stats()["dropped"]
        assert dropped > 0
        ballast.unlink()
        log.error("after recovery")
        lines = path.read_bytes().splitlines()
        assert all(orjson.loads(line) for line in lines if line)  # no torn line is left unparsable
        assert orjson.loads(lines[-1])["event"] == "after recovery"
        assert state.stats()["written"] + dropped == 401
        err = capsys.readouterr().err
        assert err.count("No space left on device") == 1
        assert "works again" in err


class TestOrdering:
    def test_threads_never_interleave(self, tmp_path: pathlib.Path) -> None:
        """Lines from many threads are whole and none is lost."""
        path = tmp_path / "app.log"
        configure_logging(file=path, flush_interval=0.01, metrics=False)
        log = get_logger("x")

        def worker(worker_id: int) -> None:
            for n in range(500):
                log.info("event", worker=worker_id, n=n, payload="x" * (n % 300))
                if n % 100 == 0:
                    log.warning("checkpoint", worker=worker_id)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        flush_logs()
        events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        assert len(events) == 8 * 505
        for worker_id in range(8):
            ns = [e["n"] for e in events if e["worker"] == worker_id and e["event"] == "event"]
            assert ns == list(range(500))

    def test_rotated_file_is_reopened(self, tmp_path: pathlib.Path) -> None:
        """After a logrotate-style rename, new lines go to a new file at the same path."""
        path = tmp_path / "app.log"
        configure_logging(file=path, flush_interval=0.01, metrics=False)
        log = get_logger("x")
        log.info("old file")
        flush_logs()
        shutil.move(path, tmp_path / "app.log.1")
        log.info("new file")
        wait_for(lambda: path.exists() and b"new file" in path.read_bytes())
        assert b"old file" in (tmp_path / "app.log.1").read_bytes()

    def test_fork_child_does_not_repeat_parent_lines(self, tmp_path: pathlib.Path) -> None:
        """A forked child logs its own lines and never writes the parent's queue twice."""
        path = tmp_path / "app.log"
        result = log_in_child(
            path,
            """
            log.info("parent queued")
            pid = os.fork()
            if pid == 0:
                log.info("child")
                flush_logs()
                os._exit(0)
            os.waitpid(pid, 0)
            """,
        )
        assert result.returncode == 0, result.stderr
        assert sorted(events_in(path)) == ["child", "parent queued"]


class TestLogSinkDirect:
    def test_text_stream(self) -> None:
        """A text stream receives decoded lines."""
        stream = io.StringIO()
        sink = LogSink(stream)
        sink.write(b'{"a":1}\n')
        assert stream.getvalue() == '{"a":1}\n'

    def test_queue_limit_drops_and_counts(self, tmp_path: pathlib.Path) -> None:
        """A full queue drops new lines instead of growing without bound."""
        sink = LogSink(tmp_path / "x.log", buffered=True, flush_interval=30, max_queued_lines=3)
        for _ in range(5):
            sink.write(b"line\n")
        assert sink.dropped == 2
        sink.close()
        assert (tmp_path / "x.log").read_bytes() == b"line\n" * 3
