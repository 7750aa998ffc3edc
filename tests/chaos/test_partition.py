"""A network partition between two CRDT server processes: one of them loses Redis, alone.

Both processes share one SQLite store and fan out through Redis. The second one
reaches Redis through a relay the test controls; the relay turns into a black
hole (packets dropped, no error, only silence) while clients on both sides keep
editing the same document. What a user was promised: both sides keep serving and
confirming their own clients' edits during the partition, the cut-off process
says once, clearly, that Redis is unreachable, the other one notices nothing,
and once the network heals every edit of both sides reaches every client, with
no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from djed.crdt import SyncClient

from packages.crdt.tests.test_redis import SERVER, Process, unique_prefix

from ._chaos_support import WAIT, Relay, Writer, document_items, eventually, lasting, redis_process

DOCUMENT = "chaos/partition"


@pytest.mark.asyncio
async def test_both_sides_edit_during_a_partition_and_converge_after_it(tmp_path: Path) -> None:
    partition = lasting(3.0, 60.0)
    # health_seconds: a silent link is pinged after 1 s and dropped after 2 s without answer.
    fast = {
        "reconnect_delay": 0.05,
        "max_reconnect_delay": 0.5,
        "health_seconds": 1.0,
        "channel_prefix": unique_prefix(),
    }
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    database = tmp_path / "shared.db"
    with redis_process(tmp_path) as server, contextlib.ExitStack() as cleanup:
        target = urlsplit(server.url)
        relay = Relay(target.hostname or "127.0.0.1", target.port or 6379)
        cleanup.callback(relay.close)
        direct = Process(script, database, server.url, **fast)
        behind = Process(script, database, f"redis://127.0.0.1:{relay.port}/0", **fast)
        logs: dict[str, str] = {}
        cleanup.callback(lambda: logs.update(direct=direct.stop(), behind=behind.stop()))
        await eventually(
            lambda: direct.state()["connected"] and behind.state()["connected"],
            "both processes to connect to Redis",
        )

        async with contextlib.AsyncExitStack() as clients:
            writers = []
            for side, process in (("a", direct), ("b", behind)):
                for number in (1, 2):
                    client = SyncClient(process.url, DOCUMENT, reconnect_base=0.05)
                    await clients.enter_async_context(client)
                    await client.wait_synced(timeout=WAIT)
                    writers.append(Writer(client, f"{side}{number}"))
            for writer in writers:
                writer.start()
            a1, _a2, b1, _b2 = writers
            await eventually(
                lambda: any(i.startswith("b") for i in document_items(a1.client)),
                "edits to cross between the processes",
            )

            relay.partition()
            cut = time.monotonic()
            noticed = await eventually(
                lambda: not behind.state()["connected"],
                "the cut-off process to notice the silence",
            )
            confirmed_before = [w.confirmations for w in writers]
            await asyncio.sleep(max(0.0, partition - (time.monotonic() - cut)))
            assert direct.state()["connected"], "the process with a working link kept it"
            assert all(
                w.confirmations > before
                for w, before in zip(writers, confirmed_before, strict=True)
            ), "a client got no confirmation during the partition"
            on_a = set(document_items(a1.client))
            missing_on_a = [i for i in b1.written if i not in on_a]
            assert missing_on_a, "B's edits during the partition cannot have reached A live"

            relay.heal()
            healed = time.monotonic()
            await eventually(
                lambda: behind.state()["connected"], "the cut-off process to reconnect"
            )
            for writer in writers:
                await writer.stop()
            everything = {item for w in writers for item in w.written}
            for writer in writers:
                await writer.confirm()
            await eventually(
                lambda: all(set(document_items(w.client)) == everything for w in writers),
                "both sides to hold every edit made on either side",
            )
            converged = time.monotonic() - healed
            confirmed = set().union(*(w.acknowledged for w in writers))
            assert confirmed == everything  # each client confirmed all it wrote at the end
        states = (direct.state(), behind.state())
    assert states[0]["reconnects"] == 0, "the process that kept Redis never reconnected"
    assert states[1]["reconnects"] == 1
    assert states[1]["dropped"] > 0, "the cut-off process counted what it could not share"
    assert "Traceback" not in logs["direct"] + logs["behind"]
    assert "is unreachable" not in logs["direct"]
    unreachable = [line for line in logs["behind"].splitlines() if "is unreachable" in line]
    assert len(unreachable) == 1, unreachable  # once per partition, not once per message
    assert f"127.0.0.1:{relay.port}" in unreachable[0], "the line names the Redis it lost"
    print(
        f"partition: noticed after {noticed:.2f} s of silence; {len(everything)} edits;"
        f" converged {converged:.2f} s after healing"
    )
