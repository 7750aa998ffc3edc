"""A child process for the outbox kill tests; the parent SIGKILLs it mid-work.

``python _outbox_worker.py drain DB LOG`` drains the outbox, appending each
delivered key to LOG (flushed and fsynced per line) and sleeping a little per
item. ``python _outbox_worker.py enqueue DB LOG`` enqueues items forever,
appending each key to LOG once ``enqueue`` has returned.
"""

from __future__ import annotations

import os
import sys
import time

from djed.breaker._outbox import Outbox, OutboxItem


def append_line(fd: int, line: str) -> None:
    """Write one line and force it to disk before going on."""
    os.write(fd, f"{line}\n".encode())
    os.fsync(fd)


def drain(database: str, log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def deliver(item: OutboxItem) -> None:
        append_line(fd, item.key)
        time.sleep(0.01)

    with Outbox(database) as outbox:
        outbox.drain(deliver)


def enqueue(database: str, log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with Outbox(database) as outbox:
        n = 0
        while True:
            # Rows of a few pages each, so that a kill can land inside one.
            payload = {"n": n, "blob": "x" * (1000 + 997 * n % 9000)}
            append_line(fd, outbox.enqueue("load", payload, key=f"item-{n}"))
            n += 1


if __name__ == "__main__":
    mode, database, log = sys.argv[1:]
    {"drain": drain, "enqueue": enqueue}[mode](database, log)
