"""Many editors on a few documents: ``python -m benchmarks.load._load_crdt_clients PORT ...``.

Every client runs on one asyncio loop in this process, so a send time and a receive
time come from the same clock (``time.perf_counter``). Client ``c`` edits document
``doc-{c % documents}``; each keeps a pycrdt ``Doc`` in sync over its own WebSocket
(the y-websocket sync protocol, as ``djed.crdt._protocol`` builds and parses it).

1. Warm-up: one client syncs with each document and leaves (so a room is loaded
   before the crowd comes; pycrdt-websocket serves a crowd joining a room it has not
   started badly).
2. Every client connects and syncs; then each inserts ``[ccc:ssssss]`` (its number,
   the edit's sequence number: twelve characters) into the ``Text`` named ``text``
   ``--rate`` times a second for ``--seconds``, at a random position between two
   markers of what it sees (an insertion never splits another marker), starting at a
   random phase. Each insertion is one update, sent as a sync update; the client keeps
   the marker and the update in its own log, and the send time.
3. A receiving client finds the markers in each update it receives; a fan-out latency
   is its receive time minus the edit's send time. Once every client got every edit of
   its document's other clients (or ``--deadline`` seconds after the last send), the
   clients leave; a fresh client then fetches each document from the server.

The journal (``--journal PATH``) holds each final document (its full update and its
text) and each client's log (markers and updates, base64), for the caller to replay.
Stdout gets one JSON report: counts, what never arrived, whether the clients of each
document ended with the same text, latency percentiles and their distribution, the p99
per time window, and the CPU time this process used.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

from djed.crdt._protocol import (
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

from benchmarks.load._load_common import cdf_series, percentile, pin

MARK = re.compile(rb"\[(\d{3}):(\d{6})\]")
WIDTH = 12  # characters of a marker
CONNECT_TIMEOUT = 30.0


def marker(client: int, seq: int) -> str:
    return f"[{client:03d}:{seq:06d}]"


class Shared:
    """What every client of the run writes to: send times, latencies, delivery counts."""

    def __init__(self, expected: int) -> None:
        self.sent: dict[bytes, float] = {}  # marker -> send time
        self.latencies: list[tuple[float, float]] = []  # (send time, latency)
        self.delivered = 0
        self.expected = expected  # deliveries once every edit reached every other client
        self.all_delivered = asyncio.Event()
        self.unknown = 0  # markers received before their send time was noted (a bug)


class Editor:
    """One client: a Doc kept in sync over one connection, editing and logging its edits."""

    def __init__(self, number: int, url: str, document: str, shared: Shared) -> None:
        self.number, self.url, self.document, self.shared = number, url, document, shared
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("text", type=Text)
        self.synced = asyncio.Event()
        self.log: list[str] = []  # the markers this client inserted
        self.updates: list[bytes] = []  # the update of each of them
        self.seen: set[bytes] = set()  # markers of other clients received
        self.tag = f"[{number:03d}:".encode()
        self._local = False
        self._captured: list[bytes] = []
        self.doc.observe(self._on_change)
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None

    def _on_change(self, event: TransactionEvent) -> None:
        if self._local:
            self._captured.append(event.update)

    async def open(self) -> None:
        self.ws = await connect(self.url, open_timeout=CONNECT_TIMEOUT, max_size=None)
        self.reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: ClientConnection) -> None:
        await ws.send(sync_step1(self.doc.get_state()))
        shared = self.shared
        async for data in ws:
            now = time.perf_counter()
            if not isinstance(data, bytes):
                raise RuntimeError(f"a text frame from the server: {data[:80]!r}")
            message = parse(data)
            if message.kind != SYNC:
                continue
            if message.substep == SYNC_STEP1:
                await ws.send(sync_step2(self.doc.get_update(message.payload)))
                continue
            if message.substep == SYNC_UPDATE:
                for found in MARK.finditer(message.payload):
                    mark = found[0]
                    if mark.startswith(self.tag) or mark in self.seen:
                        continue
                    self.seen.add(mark)
                    sent = shared.sent.get(mark)
                    if sent is None:
                        shared.unknown += 1
                    else:
                        shared.latencies.append((sent, now - sent))
                    shared.delivered += 1
                if shared.delivered >= shared.expected:
                    shared.all_delivered.set()
            self.doc.apply_update(message.payload)
            if message.substep == SYNC_STEP2:
                self.synced.set()

    async def edit(self, seq: int, rng: random.Random) -> None:
        """Insert this client's next marker between two markers it sees, and send it."""
        assert self.ws is not None
        mark = marker(self.number, seq)
        slots = len(self.text) // WIDTH
        self._local = True
        try:
            self.text.insert(WIDTH * rng.randint(0, slots), mark)
        finally:
            self._local = False
        (update,) = self._captured
        self._captured.clear()
        self.log.append(mark)
        self.updates.append(update)
        self.shared.sent[mark.encode()] = time.perf_counter()
        await self.ws.send(update_message(update))

    async def edit_for(self, edits: int, rate: float, start: float, rng: random.Random) -> float:
        """``edits`` edits at ``rate`` a second from a random phase; the latest one, in seconds."""
        phase = rng.random() / rate
        latest = 0.0
        for seq in range(edits):
            due = start + phase + seq / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                latest = max(latest, -wait)
            await self.edit(seq, rng)
        return latest

    def failure(self) -> BaseException | None:
        """The error that ended this client's reading early, if one did."""
        if self.reader is None or not self.reader.done() or self.reader.cancelled():
            return None
        return self.reader.exception()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)


async def fetch(url: str) -> Doc[Any]:
    """What the server holds for a document: sync once from empty, then leave."""
    doc: Doc[Any] = Doc()
    async with connect(url, open_timeout=CONNECT_TIMEOUT, max_size=None) as ws:
        await ws.send(sync_step1(doc.get_state()))
        async with asyncio.timeout(CONNECT_TIMEOUT):
            async for data in ws:
                assert isinstance(data, bytes)
                message = parse(data)
                if message.kind != SYNC:
                    continue
                if message.substep == SYNC_STEP1:
                    await ws.send(sync_step2(b"\x00\x00"))
                    continue
                doc.apply_update(message.payload)
                if message.substep == SYNC_STEP2:
                    return doc
    raise RuntimeError(f"{url}: the server closed before its sync step 2")


def windows(latencies: list[tuple[float, float]], start: float, width: float) -> list[list[float]]:
    """``[seconds since start, p99 ms, p50 ms]`` per window of ``width`` seconds of send time."""
    buckets: dict[int, list[float]] = {}
    for sent, latency in latencies:
        buckets.setdefault(int((sent - start) // width), []).append(latency)
    rows = []
    for index in sorted(buckets):
        ordered = sorted(buckets[index])
        middle = round((index + 0.5) * width, 2)
        rows.append([middle, percentile(ordered, 0.99) * 1e3, percentile(ordered, 0.5) * 1e3])
    return [[t, round(p99, 3), round(p50, 3)] for t, p99, p50 in rows]


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(arguments.seed)
    base = f"ws://127.0.0.1:{arguments.port}"
    names = [f"doc-{index}" for index in range(arguments.documents)]
    for name in names:
        await fetch(f"{base}/{name}")
    edits = round(arguments.seconds * arguments.rate)
    members = [
        sum(1 for c in range(arguments.clients) if c % arguments.documents == d)
        for d in range(arguments.documents)
    ]
    shared = Shared(expected=sum(n * (n - 1) for n in members) * edits)
    editors = []
    for number in range(arguments.clients):
        name = names[number % arguments.documents]
        editors.append(Editor(number, f"{base}/{name}", name, shared))
    connected = time.perf_counter()
    async with asyncio.timeout(CONNECT_TIMEOUT):
        await asyncio.gather(*(editor.open() for editor in editors))
        await asyncio.gather(*(editor.synced.wait() for editor in editors))
    connect_seconds = time.perf_counter() - connected
    cpu_before = time.process_time()
    start = time.perf_counter() + 0.1
    generators = [random.Random(rng.random()) for _ in editors]
    try:
        pacing = [
            editor.edit_for(edits, arguments.rate, start, generator)
            for editor, generator in zip(editors, generators, strict=True)
        ]
        latest = await asyncio.gather(*pacing)
        last_send = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shared.all_delivered.wait(), arguments.deadline)
        drained = time.perf_counter() - last_send
    finally:
        cpu_used = time.process_time() - cpu_before
        failures = [error for editor in editors if (error := editor.failure()) is not None]
        await asyncio.gather(*(editor.close() for editor in editors))
    if failures:
        raise failures[0]  # a client whose connection failed: its error ends the run
    texts: dict[str, set[str]] = {}
    for editor in editors:
        texts.setdefault(editor.document, set()).add(str(editor.text))
    finals = {name: await fetch(f"{base}/{name}") for name in names}
    ordered = sorted(latency for _, latency in shared.latencies)
    journal = {
        "documents": {
            name: {
                "update": base64.b64encode(doc.get_update()).decode(),
                "text": str(doc.get("text", type=Text)),
            }
            for name, doc in finals.items()
        },
        "clients": [
            {
                "client": editor.number,
                "document": editor.document,
                "markers": editor.log,
                "updates": [base64.b64encode(update).decode() for update in editor.updates],
            }
            for editor in editors
        ],
    }
    arguments.journal.write_text(json.dumps(journal), encoding="utf-8")
    report: dict[str, Any] = {
        "clients": arguments.clients,
        "documents": arguments.documents,
        "rate_per_client": arguments.rate,
        "edits": edits * arguments.clients,
        "connect_seconds": round(connect_seconds, 3),
        "editing_seconds": round(last_send - start, 3),
        "drain_seconds": round(drained, 3),
        "deliveries_expected": shared.expected,
        "deliveries": shared.delivered,
        "missing_deliveries": shared.expected - shared.delivered,
        "unknown_markers": shared.unknown,
        "documents_diverged": sorted(name for name, seen in texts.items() if len(seen) != 1),
        "latest_edit_ms": round(max(latest) * 1e3, 3),
        "client_cpu_percent": round(cpu_used / max(last_send - start, 1e-9) * 100, 1),
        "samples": len(ordered),
    }
    if ordered:
        report |= {
            f"p{label}_ms": round(percentile(ordered, share) * 1e3, 3)
            for label, share in (("50", 0.5), ("95", 0.95), ("99", 0.99), ("999", 0.999))
        }
        report["max_ms"] = round(ordered[-1] * 1e3, 3)
        report["mean_ms"] = round(sum(ordered) / len(ordered) * 1e3, 3)
        report["cdf_ms"] = cdf_series(ordered, scale=1e3)
        width = max(1.0, math.ceil(arguments.seconds / 60))
        report["window_seconds"] = width
        report["p99_by_window"] = windows(shared.latencies, start, width)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--seconds", type=float, required=True, help="of editing")
    parser.add_argument("--rate", type=float, default=1.0, help="edits a second per client")
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds to wait after")
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--cpu", type=int, default=None)
    arguments = parser.parse_args()
    if arguments.clients > 999:
        raise SystemExit("at most 999 clients (three digits in a marker)")
    pin(arguments.cpu)
    sys.stdout.write(json.dumps(asyncio.run(run(arguments))) + "\n")


if __name__ == "__main__":
    main()
