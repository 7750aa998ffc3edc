"""The CRDT server killed with ``kill -9`` while offline-first clients write, then restarted.

What a user was promised: an edit the server confirmed (``SyncClient.wait_synced``
returned) is in its SQLite file, even if the process dies the next instant; edits
made while the server is down stay in each client's replica and reach the server
when it is back, by themselves (no client restart); nothing is duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from djed.crdt import SyncClient

from packages.crdt.tests.test_durability import DOCUMENT, stored_items
from packages.crdt.tests.test_interop import ServerProcess

from ._chaos_support import WAIT, Writer, document_items, eventually, lasting

WRITERS = ("w1", "w2", "w3", "w4")


@pytest.mark.asyncio
async def test_every_confirmed_edit_survives_kill_9_and_offline_edits_arrive(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    running = lasting(2.0, 30.0)  # seconds of writing before the kill
    down = lasting(1.5, 20.0)  # seconds the server stays dead, while clients keep writing
    with ServerProcess(tmp_path) as server:
        await server.start()
        async with contextlib.AsyncExitStack() as clients:
            writers = []
            for name in WRITERS:
                client = SyncClient(
                    server.url,
                    DOCUMENT,
                    store=tmp_path / f"replica-{name}.db",
                    reconnect_base=0.05,
                    reconnect_cap=0.5,
                )
                await clients.enter_async_context(client)
                await client.wait_synced(timeout=WAIT)
                writers.append(Writer(client, name))
            for writer in writers:
                writer.start()
            await asyncio.sleep(running)
            assert all(w.confirmations > 0 for w in writers), "writers were confirmed under load"

            await server.kill()  # SIGKILL: no shutdown, no flush, no goodbye
            confirmed = set().union(*(w.acknowledged for w in writers))
            killed_at = time.monotonic()

            # The promise: the killed server's file holds every confirmed edit.
            at_kill, _log_length = await stored_items(server.db)
            assert len(at_kill) == len(set(at_kill)), "an item was stored twice"
            lost = sorted(confirmed - set(at_kill))
            assert not lost, f"{len(lost)} confirmed item(s) missing after kill -9: {lost[:10]}"

            # Clients notice and go on writing offline.
            await eventually(
                lambda: all(w.client.status in {"offline", "connecting"} for w in writers),
                "every client to notice the server is gone",
            )
            written_before = sum(len(w.written) for w in writers)
            await asyncio.sleep(max(0.0, down - (time.monotonic() - killed_at)))
            assert sum(len(w.written) for w in writers) > written_before, "writing went on"

            # Same file, same port: the clients reconnect by themselves.
            await server.start()
            for writer in writers:
                await writer.stop()
            everything = {item for w in writers for item in w.written}
            recovered = await eventually(
                lambda: all(w.client.status == "synced" for w in writers),
                "every client to reconnect and sync",
            )
            for writer in writers:
                await writer.confirm()
            await eventually(
                lambda: all(set(document_items(w.client)) == everything for w in writers),
                "every client to hold every item written",
            )
            for writer in writers:
                counts = Counter(document_items(writer.client))
                assert max(counts.values()) == 1, "an item appears twice in a replica"

    # What the server holds once the clients are gone.
    stored, _log_length = await stored_items(server.db)
    assert sorted(stored) == sorted(everything)
    record_property(
        "kill -9",
        {
            "written": len(everything),
            "confirmed before the kill": len(confirmed),
            "stored at the kill": len(at_kill),
            "seconds to resync after the restart": round(recovered, 2),
        },
    )
