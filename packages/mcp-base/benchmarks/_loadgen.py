"""A load generator for one MCP server: ``python _loadgen.py PORT SESSIONS WARM_UP SECONDS``.

Optional further arguments: ``--cpu N`` (run on that core alone) and ``--server-pid
PID`` (report that process's CPU time over the measured window, from ``/proc``).

Each session is one keep-alive HTTP/1.1 connection to 127.0.0.1:PORT, written by
hand over asyncio streams (no HTTP library in the loop): the session handshake of
protocol 2025-06-18 (``initialize``, whose answer carries the ``mcp-session-id``
header, then ``notifications/initialized``), then ``tools/call echo`` again and
again, each sent as soon as the previous answer came back (a closed loop, no think
time). Every answer is parsed and checked: HTTP 200, a JSON-RPC result for the
request's id, not ``isError``, the text sent echoed back. Anything else counts as
an error. Calls are counted from ``WARM_UP`` seconds after every session is open,
for ``SECONDS``; at the end each session is deleted (HTTP ``DELETE``) so the
server can be loaded again.

Prints one JSON object: calls per second, latency percentiles in milliseconds,
errors (with up to five examples), and the CPU time both processes used while
measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

PROTOCOL = "2025-06-18"
TEXT = "hello, djed"
HANDSHAKE_TIMEOUT = 60.0  # seconds for every session to open
DRAIN_TIMEOUT = 10.0  # seconds for the calls in flight when time is up to come back
ERROR_EXAMPLES = 5


class Answer:
    """One HTTP response: status, lower-cased headers, body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class Connection:
    """A keep-alive HTTP/1.1 connection speaking just enough of the protocol for MCP."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self.reader, self.writer = reader, writer
        self.head = (
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\n"
            f"MCP-Protocol-Version: {PROTOCOL}\r\n"
        )

    async def send(self, body: bytes, session: str | None, method: str = "POST") -> Answer:
        head = self.head if method == "POST" else self.head.replace("POST", method, 1)
        if session is not None:
            head += f"Mcp-Session-Id: {session}\r\n"
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return await self.receive()

    async def receive(self) -> Answer:
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunks()
        else:
            body = b""
        return Answer(status, headers, body)

    async def _chunks(self) -> bytes:
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await self.reader.readexactly(size + 2))[:-2])
        await self.reader.readuntil(b"\r\n")  # no trailers expected
        return b"".join(parts)


def _message(number: int | None, method: str, params: dict[str, Any]) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if number is not None:
        message["id"] = number
    return json.dumps(message, separators=(",", ":")).encode()


def _problem(answer: Answer, number: int) -> str | None:
    """What is wrong with the answer to ``tools/call`` number ``number``, if anything."""
    if answer.status != 200:
        return f"HTTP {answer.status}: {answer.body[:200]!r}"
    try:
        message = json.loads(answer.body)
        result = message["result"]
        if message.get("id") != number or result.get("isError"):
            return f"wrong or failed result: {answer.body[:200]!r}"
        if result["content"][0]["text"] != TEXT:
            return f"wrong text: {answer.body[:200]!r}"
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return f"not a tools/call result: {answer.body[:200]!r}"
    return None


class Load:
    """Shared state of every session: the clock window, latencies and errors."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.window = (float("inf"), float("inf"))  # (start, end) on perf_counter
        self.stopping = False
        self.latencies: list[float] = []
        self.errors = 0
        self.examples: list[str] = []

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.examples) < ERROR_EXAMPLES:
            self.examples.append(text)


async def open_session(port: int) -> tuple[Connection, str]:
    """A connection with an initialised MCP session on it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connection = Connection(reader, writer, port)
    info = {"name": "djed-bench", "version": "1.0"}
    params = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": info}
    answer = await connection.send(_message(0, "initialize", params), None)
    session = answer.headers.get("mcp-session-id")
    if answer.status != 200 or not session:
        raise RuntimeError(f"initialize: HTTP {answer.status} {answer.body[:300]!r}")
    answer = await connection.send(_message(None, "notifications/initialized", {}), session)
    if answer.status != 202:
        raise RuntimeError(f"notifications/initialized: HTTP {answer.status}")
    return connection, session


async def call_loop(connection: Connection, session: str, load: Load) -> None:
    """Call ``echo`` until time is up, recording each call that ends in the window."""
    await load.go.wait()
    arguments = {"name": "echo", "arguments": {"text": TEXT}}
    number = 0
    latencies, clock = load.latencies, time.perf_counter
    try:
        while not load.stopping:
            number += 1
            body = _message(number, "tools/call", arguments)
            started = clock()
            answer = await connection.send(body, session)
            ended = clock()
            problem = _problem(answer, number)
            start, end = load.window
            if start <= ended <= end:
                if problem is None:
                    latencies.append(ended - started)
                else:
                    load.error(problem)
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        if not load.stopping:
            load.error(f"connection: {type(error).__name__}: {error}")


async def close_session(connection: Connection, session: str) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
        await connection.send(b"", session, method="DELETE")  # best effort
    connection.writer.close()


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU seconds of process ``pid`` so far (Linux), else None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted values, in milliseconds."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(len(ordered) * share))
    return ordered[rank - 1] * 1e3


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load = Load()
    async with asyncio.timeout(HANDSHAKE_TIMEOUT):
        opened = await asyncio.gather(*(open_session(args.port) for _ in range(args.sessions)))
    tasks = [asyncio.create_task(call_loop(conn, session, load)) for conn, session in opened]
    load.go.set()
    await asyncio.sleep(args.warm_up)
    server_before, client_before = cpu_seconds(args.server_pid), time.process_time()
    start = time.perf_counter()
    load.window = (start, start + args.seconds)
    await asyncio.sleep(args.seconds)
    elapsed = time.perf_counter() - start
    server_after, client_after = cpu_seconds(args.server_pid), time.process_time()
    load.stopping = True
    done, late = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT)
    for task in late:
        task.cancel()
        load.error("a call was still unanswered 10 s after time was up")
    for task in done:
        task.result()  # a bug in this script raises here
    async with asyncio.timeout(DRAIN_TIMEOUT):
        await asyncio.gather(*(close_session(conn, session) for conn, session in opened))
    ordered = sorted(load.latencies)
    calls = len(ordered)
    report: dict[str, Any] = {
        "sessions": args.sessions,
        "seconds": round(elapsed, 3),
        "calls": calls,
        "calls_per_second": round(calls / elapsed, 1),
        "p50_ms": round(percentile(ordered, 0.50), 2),
        "p95_ms": round(percentile(ordered, 0.95), 2),
        "p99_ms": round(percentile(ordered, 0.99), 2),
        "max_ms": round(ordered[-1] * 1e3, 2) if ordered else None,
        "errors": load.errors,
        "error_examples": load.examples,
        "client_cpu_percent": round((client_after - client_before) / elapsed * 100, 1),
    }
    if server_before is not None and server_after is not None:
        used = server_after - server_before
        report["server_cpu_percent"] = round(used / elapsed * 100, 1)
        report["server_cpu_us_per_call"] = round(used / calls * 1e6, 1) if calls else None
    return report


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("port", type=int)
    parser.add_argument("sessions", type=int)
    parser.add_argument("warm_up", type=float, help="seconds before calls are counted")
    parser.add_argument("seconds", type=float, help="seconds during which calls are counted")
    parser.add_argument("--cpu", type=int, default=None, help="run on this core alone")
    parser.add_argument("--server-pid", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main(sys.argv[1:])
