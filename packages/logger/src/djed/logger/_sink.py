"""Where rendered lines go: a stream or a file, optionally buffered.

This module is self-contained (standard library only) because ``eject`` copies
its source into the generated standalone configuration.
"""

from __future__ import annotations

import atexit
import collections
import errno
import io
import os
import sys
import threading
import weakref
from typing import IO, Any

__all__ = ["LogSink"]

_LIVE_SINKS: weakref.WeakSet[LogSink] = weakref.WeakSet()


def _flush_all_sinks() -> None:
    for sink in list(_LIVE_SINKS):
        sink.close()


def _reset_after_fork() -> None:
    for sink in list(_LIVE_SINKS):
        sink._after_fork()  # noqa: SLF001 - module-private hook


atexit.register(_flush_all_sinks)
os.register_at_fork(after_in_child=_reset_after_fork)


class LogSink:
    """Write whole lines to a file or stream without ever raising.

    Each line reaches the target in one write under a lock, so lines from many
    threads never interleave. In buffered mode lines are queued and written in
    batches by a daemon thread every ``flush_interval`` seconds, when
    ``flush_lines`` lines are waiting, at exit, and at once, together with
    everything queued before it, when a line is urgent (warning and above).

    A failing target (disk full, closed pipe, closed stream) never raises into
    the application: the lines are dropped and counted in ``dropped``, one
    warning goes to stderr, and writing resumes as soon as the target accepts
    data again, with a second notice saying how many lines were lost.
    """

    def __init__(
        self,
        target: IO[Any] | str | os.PathLike[str] | None = None,
        *,
        buffered: bool = False,
        flush_interval: float = 0.2,
        flush_lines: int = 512,
        max_queued_lines: int = 100_000,
    ) -> None:
        self.buffered = buffered
        self.flush_interval = flush_interval
        self.flush_lines = flush_lines
        self.max_queued_lines = max_queued_lines
        self.dropped = 0
        self.written = 0
        self._path: str | None = None
        self._fd = -1
        self._stream: IO[Any] | None = None
        if target is None:
            target = sys.stdout
        if isinstance(target, str | os.PathLike):
            self._path = os.fspath(target)
            self.name = self._path
            self._open_file()
        else:
            self._stream = target
            self.name = str(getattr(target, "name", repr(target)))
        self._queue: collections.deque[bytes] = collections.deque()
        self._io_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._failing = False
        self._torn = False
        self._inode: tuple[int, int] | None = None
        _LIVE_SINKS.add(self)

    # -- writing -------------------------------------------------------------

    def write(self, line: bytes, *, urgent: bool = False) -> None:
        """Queue or write one line (which ends with a newline)."""
        if not self.buffered or self._closed:
            with self._io_lock:
                self._write_out([line])
            return
        if urgent:
            with self._io_lock:
                batch = self._drain()
                batch.append(line)
                self._write_out(batch)
            return
        queue = self._queue
        if len(queue) >= self.max_queued_lines:
            self.dropped += 1
            return
        queue.append(line)
        if self._thread is None:
            self._start_flusher()
        elif len(queue) == self.flush_lines:
            self._wake.set()

    def flush(self) -> None:
        """Write everything queued now."""
        with self._io_lock:
            self._write_out(self._drain())

    def close(self) -> None:
        """Flush, stop the background writer and close a file opened here."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        self.flush()
        with self._io_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _drain(self) -> list[bytes]:
        queue = self._queue
        return [queue.popleft() for _ in range(len(queue))]

    def _start_flusher(self) -> None:
        with self._io_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run_flusher, name="djed-logger-flush", daemon=True
                )
                self._thread.start()

    def _run_flusher(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._queue:
                with self._io_lock:
                    self._reopen_if_rotated()
                    self._write_out(self._drain())

    def _after_fork(self) -> None:
        # The child has no flusher thread and may hold a copy of a locked lock.
        self._io_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._queue.clear()  # the parent writes what it had queued

    # -- the target ------------------------------------------------------------

    def _open_file(self) -> None:
        assert self._path is not None
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        stat = os.fstat(self._fd)
        self._inode = (stat.st_dev, stat.st_ino)

    def _reopen_if_rotated(self) -> None:
        """Follow logrotate-style renames: reopen when the path names a new file."""
        if self._path is None:
            return
        try:
            stat = os.stat(self._path)  # noqa: PTH116 - fd-level code, no Path objects
            if (stat.st_dev, stat.st_ino) == self._inode:
                return
        except FileNotFoundError:
            pass
        except OSError:
            return
        try:
            old = self._fd
            self._open_file()
            if old >= 0:
                os.close(old)
        except OSError:
            return

    def _write_out(self, batch: list[bytes]) -> None:
        """Write a batch in one call; on failure drop and count it. Holds the IO lock."""
        if not batch:
            return
        data = b"".join(batch)
        if self._torn:
            data = b"\n" + data
        done = 0
        try:
            if self._fd < 0 and self._path is not None:
                self._open_file()
            if self._fd >= 0:
                view = memoryview(data)
                while done < len(data):
                    done += os.write(self._fd, view[done:])
            else:
                self._write_stream(data)
        except (OSError, ValueError) as exc:
            self._on_failure(exc, data, done)
            return
        self.written += len(batch)
        self._torn = False
        if self._failing:
            self._failing = False
            self._notice(
                f"djed.logger: writing to {self.name} works again; "
                f"{self.dropped} log lines were dropped so far\n"
            )

    def _on_failure(self, exc: BaseException, data: bytes, done: int) -> None:
        """Count what was lost and cut a half-written line off the end of the file."""
        complete = data.rfind(b"\n", 0, done) + 1
        kept = data.count(b"\n", 0, complete) - (1 if self._torn and complete else 0)
        self.written += kept
        self.dropped += data.count(b"\n") - kept - (1 if self._torn else 0)
        self._torn = False
        torn = done - complete
        if torn:
            try:
                os.ftruncate(self._fd, os.fstat(self._fd).st_size - torn)
            except OSError:
                self._torn = True  # start the next write on a fresh line instead
        if isinstance(exc, OSError) and exc.errno == errno.EBADF and self._path is not None:
            self._fd = -1
        if not self._failing:
            self._failing = True
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._notice(
                f"djed.logger: cannot write to {self.name} ({reason}); "
                "dropping log lines until it accepts data again\n"
            )

    def _write_stream(self, data: bytes) -> None:
        stream: Any = self._stream
        assert stream is not None
        binary = getattr(stream, "buffer", None)
        if binary is not None:
            binary.write(data)
            binary.flush()
        elif isinstance(stream, io.TextIOBase):
            stream.write(data.decode("utf-8", "replace"))
            stream.flush()
        else:
            stream.write(data)
            stream.flush()

    def _notice(self, text: str) -> None:
        if self._stream is sys.stderr or self._stream is getattr(sys.stderr, "buffer", None):
            return
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
