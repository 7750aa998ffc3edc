"""One writer, many readers, one document: how long an edit takes to reach every reader.

``python _fanout.py PORT DOCUMENT --readers R --updates N --rate HZ [options]`` prints
one JSON report. Everything runs on one asyncio loop in this process, so a reader's
receive time and the writer's send time come from the same clock
(``time.perf_counter``).

1. Warm-up: one client syncs with ``DOCUMENT`` and leaves, so the room is loaded
   (pycrdt-websocket serves many clients joining a room that is not yet started
   badly: they can hang).
2. R readers connect at once, each sending a sync step 1 (an empty state vector) and
   answering the server's step 1 with its step 2, as the y-websocket client does;
   the run goes on when every reader got its step 2.
3. The writer syncs, then appends ``[0000042]`` (its sequence number, seven digits)
   to a ``Text`` named ``text``, N times, one transaction each, paced at HZ edits a
   second on an absolute schedule; each update goes out as a sync update, its send
   time noted just before it is written.
4. A reader finds the sequence numbers in each sync update it receives by their
   marker; a latency is its receive time minus the send time. Readers need no
   document for that; ``--verify K`` of them also apply every update to a pycrdt
   ``Doc`` and must end with exactly the writer's text, and so must a client that
   joins once the run is over (what the server holds).

The first ``--skip`` updates are left out of the figures (the connections settle).
The report gives p50, p99, max and mean over every (reader, update) pair, how many
pairs never arrived before ``--deadline`` seconds after the last send, how late the
writer was on its schedule, and the CPU time of this process and, with
``--server-pid``, of the server while the writer ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from djed.crdt._protocol import (
    AWARENESS,
    SYNC,
    SYNC_STEP1,
    SYNC_STEP2,
    SYNC_UPDATE,
    parse,
    sync_step1,
    sync_step2,
    update_message,
)
from pycrdt import Doc, Text, TransactionEvent
from websockets.asyncio.client import ClientConnection, connect

MARK = re.compile(rb"\[(\d{7})\]")
EMPTY_STATE = b"\x00"  # the state vector of an empty document
EMPTY_UPDATE = b"\x00\x00"  # an update with nothing in it
CONNECT_TIMEOUT = 20.0


def marker(seq: int) -> str:
    return f"[{seq:07d}]"


class Peer:
    """One connection speaking the sync protocol; a ``Doc`` when it must keep the content."""

    def __init__(self, url: str, *, keep: bool, expect: int = 0) -> None:
        self.url = url
        self.doc: Doc[Any] | None = Doc() if keep else None
        self.synced = asyncio.Event()
        self.received: dict[int, float] = {}  # sequence number -> receive time
        self.expect = expect
        self.complete = asyncio.Event()  # set once ``expect`` sequence numbers arrived
        self.others = 0  # messages that were neither sync nor awareness
        self.closed: str | None = None  # how the server ended the connection, if it did

    def text(self) -> str:
        assert self.doc is not None
        return str(self.doc.get("text", type=Text))

    async def run(self, ws: ClientConnection) -> None:
        """Sync, then take in every message until the connection is closed."""
        doc = self.doc
        await ws.send(sync_step1(EMPTY_STATE if doc is None else doc.get_state()))
        received = self.received
        async for data in ws:
            now = time.perf_counter()
            if not isinstance(data, bytes):
                raise RuntimeError(f"a text frame from the server: {data[:80]!r}")
            message = parse(data)
            if message.kind == AWARENESS:
                continue
            if message.kind != SYNC:
                self.others += 1
                continue
            if message.substep == SYNC_STEP1:
                diff = EMPTY_UPDATE if doc is None else doc.get_update(message.payload)
                await ws.send(sync_step2(diff))
                continue
            if message.substep == SYNC_UPDATE:
                for found in MARK.finditer(message.payload):
                    received.setdefault(int(found[1]), now)
                if len(received) >= self.expect > 0:
                    self.complete.set()
            if doc is not None:
                doc.apply_update(message.payload)
            if message.substep == SYNC_STEP2:
                self.synced.set()
        self.closed = f"{ws.close_code} {ws.close_reason}"


async def open_peer(peer: Peer) -> tuple[ClientConnection, asyncio.Task[None]]:
    ws = await connect(peer.url, open_timeout=CONNECT_TIMEOUT, max_size=None)
    return ws, asyncio.create_task(peer.run(ws))


async def close_all(connections: Sequence[tuple[ClientConnection, asyncio.Task[None]]]) -> None:
    for _, task in connections:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws, _ in connections))
    await asyncio.gather(*(task for _, task in connections), return_exceptions=True)


def percentile(ordered: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of sorted values (``share`` 0.99 for p99)."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def on_cpu(pid: int | None) -> float | None:
    """Seconds the live threads of process ``pid`` have run on a CPU so far, or None.

    From the scheduler's own count (``/proc/PID/task/*/schedstat``, in nanoseconds),
    so Linux only; a thread that has ended no longer counts.
    """
    if pid is None:
        return None
    total = 0
    for thread in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, IndexError, ValueError):  # a thread just ended
            total += int(thread.read_text().split()[0])
    return total / 1e9 if total else None


async def sync_once(url: str, *, keep: bool) -> Peer:
    """Connect, sync, and leave; the peer keeps what it received."""
    peer = Peer(url, keep=keep)
    connection = await open_peer(peer)
    try:
        await asyncio.wait_for(peer.synced.wait(), CONNECT_TIMEOUT)
    finally:
        await close_all([connection])
    return peer


async def write(
    ws: ClientConnection, text: Text, updates: list[bytes], arguments: argparse.Namespace
) -> tuple[dict[int, float], list[float]]:
    """The N paced edits; their send times, and how late each was on its schedule."""
    sent: dict[int, float] = {}
    late: list[float] = []
    start = time.perf_counter() + 0.05
    for seq in range(arguments.updates):
        due = start + seq / arguments.rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        text += marker(seq)
        message = update_message(updates.pop())
        sent[seq] = now = time.perf_counter()
        late.append(now - due)
        await ws.send(message)
    return sent, late


async def measure(arguments: argparse.Namespace) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{arguments.port}/{arguments.document}"
    await sync_once(url, keep=False)  # load (or start) the room before the crowd comes
    readers = [
        Peer(url, keep=index < arguments.verify, expect=arguments.updates)
        for index in range(arguments.readers)
    ]
    connections = list(await asyncio.gather(*(open_peer(reader) for reader in readers)))
    writer = Peer(url, keep=True)  # its Doc is the writer's document; echoes change nothing
    assert writer.doc is not None
    text = writer.doc.get("text", type=Text)
    updates: list[bytes] = []

    def keep_update(event: TransactionEvent) -> None:
        updates.append(event.update)

    writer.doc.observe(keep_update)
    try:
        connections.append(await open_peer(writer))
        everyone = [*readers, writer]
        await asyncio.wait_for(
            asyncio.gather(*(peer.synced.wait() for peer in everyone)), CONNECT_TIMEOUT
        )
        await asyncio.sleep(arguments.settle)
        for _, task in connections:
            if task.done():  # a peer that failed while syncing
                task.result()
        server_before, client_before = on_cpu(arguments.server_pid), time.process_time()
        sent, late = await write(connections[-1][0], text, updates, arguments)
        everyone_has_all = asyncio.gather(*(reader.complete.wait() for reader in readers))
        with contextlib.suppress(TimeoutError):  # the report counts what is missing
            await asyncio.wait_for(everyone_has_all, arguments.deadline)
        server_after, client_after = on_cpu(arguments.server_pid), time.process_time()
        for _, task in connections:
            if task.done():
                task.result()  # a reader that failed: its error ends the run
    finally:
        await close_all(connections)
    expected = "".join(marker(seq) for seq in range(arguments.updates))
    wrong = [i for i, reader in enumerate(readers[: arguments.verify]) if reader.text() != expected]
    late_joiner = await sync_once(url, keep=True)
    counted = range(min(arguments.skip, arguments.updates - 1), arguments.updates)
    latencies = sorted(
        reader.received[seq] - sent[seq]
        for reader in readers
        for seq in counted
        if seq in reader.received
    )
    missing = arguments.readers * arguments.updates - sum(len(r.received) for r in readers)
    report: dict[str, Any] = {
        "readers": arguments.readers,
        "updates": arguments.updates,
        "rate": arguments.rate,
        "counted_updates": len(counted),
        "samples": len(latencies),
        "missing": missing,
        "verified_readers": arguments.verify,
        "wrong_readers": wrong,
        "writer_text_ok": writer.text() == expected,
        "late_joiner_ok": late_joiner.text() == expected,
        "other_messages": sum(reader.others for reader in readers),
        "closed_by_server": sorted({r.closed for r in readers if r.closed is not None}),
        "received_least": min(len(r.received) for r in readers),
        "writer_late_max_ms": max(late) * 1e3,
        "client_cpu_s": client_after - client_before,
    }
    if latencies:
        report |= {
            "p50_ms": percentile(latencies, 0.50) * 1e3,
            "p99_ms": percentile(latencies, 0.99) * 1e3,
            "max_ms": latencies[-1] * 1e3,
            "mean_ms": sum(latencies) / len(latencies) * 1e3,
        }
    if server_before is not None and server_after is not None:
        report["server_cpu_s"] = server_after - server_before
    return report


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("document")
    parser.add_argument("--readers", type=int, required=True)
    parser.add_argument("--updates", type=int, required=True)
    parser.add_argument("--rate", type=float, default=50.0, help="edits a second")
    parser.add_argument("--skip", type=int, default=0, help="first updates not counted")
    parser.add_argument("--verify", type=int, default=3, help="readers keeping a Doc")
    parser.add_argument("--settle", type=float, default=0.2, help="seconds after syncing")
    parser.add_argument("--deadline", type=float, default=5.0, help="seconds after the last send")
    parser.add_argument("--server-pid", type=int, default=None)
    parser.add_argument("--cpu", type=int, default=None)
    arguments = parser.parse_args(argv)
    if arguments.cpu is not None:
        os.sched_setaffinity(0, {arguments.cpu})
    report = asyncio.run(measure(arguments))
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
