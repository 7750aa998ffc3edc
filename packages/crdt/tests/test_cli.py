"""``python -m djed.crdt serve`` and ``compact`` as a user runs them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pycrdt import Text

from ._support import RawClient, free_port


def start_server(database: Path, port: int) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "djed.crdt",
        "serve",
        "--port",
        str(port),
        "--db",
        str(database),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


async def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0][-2000:]
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not start")


@pytest.mark.asyncio
async def test_serve_then_compact(tmp_path: Path) -> None:
    database, port = tmp_path / "docs.db", free_port()
    process = start_server(database, port)
    try:
        await wait_for_port(port, process)
        async with RawClient(f"ws://127.0.0.1:{port}/inv-1") as client:
            await client.synced.wait()
            client.doc.get("notes", type=Text).insert(0, "from the CLI")
            await client.push()
            async with RawClient(f"ws://127.0.0.1:{port}/inv-1") as other:
                await other.wait_for(lambda: str(other.doc.get("notes", type=Text)) != "")
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert "Uvicorn running on http://127.0.0.1" in output
    assert "DeprecationWarning" not in output
    assert "inv-1: merged" in await asyncio.to_thread(compact, database)


def compact(database: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "djed.crdt", "compact", "--db", str(database)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_bad_arguments_exit_with_usage() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "djed.crdt", "serve", "--port", "many"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "argument --port: invalid int value: 'many'" in done.stderr
