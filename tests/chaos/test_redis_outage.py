"""Redis killed with ``kill -9`` and started again on its port, under each package that uses it.

What a user was promised: Redis is a helper, never a single point of failure. While
it is gone every call still answers, quickly, from local state (with one clear log
line saying so, not one per call); once it is back each package uses it again by
itself, without a restart, and whatever changed meanwhile is reconciled.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from djed.breaker import CircuitBreaker, CircuitOpenError, RedisSharedState, State
from djed.cache import MemoryBackend, SyncCache, SyncRedisBackend, SyncTwoLevelBackend
from djed.crdt import SyncClient

from packages.crdt.tests.test_redis import two_processes

from ._chaos_support import (
    WAIT,
    Writer,
    document_items,
    eventually,
    lasting,
    redis_process,
    wait_until,
)


def messages(caplog: pytest.LogCaptureFixture, logger: str, words: str) -> list[str]:
    """What ``logger`` said that contains ``words``."""
    found = [r.getMessage() for r in caplog.records if r.name == logger]
    return [message for message in found if words in message]


def timed(call: Callable[[], object]) -> tuple[object, float]:
    """``call()``'s result (or the exception it raised) and how long it took."""
    started = time.monotonic()
    try:
        result = call()
    except Exception as error:  # noqa: BLE001 - the caller inspects what was raised
        result = error
    return result, time.monotonic() - started


def test_cache_serves_through_a_redis_crash_and_is_coherent_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two instances of a two-level cache: Redis dies, they keep answering; back, they agree."""
    outage = lasting(1.5, 60.0)
    prefix = f"chaos:{uuid.uuid4().hex}"
    caplog.set_level(logging.INFO, logger="djed.cache")
    with redis_process(tmp_path) as server, contextlib.ExitStack() as cleanup:
        caches = []
        for _ in range(2):
            remote = SyncRedisBackend(server.url, prefix=prefix, socket_timeout=0.2)
            cleanup.callback(remote.close)
            backend = SyncTwoLevelBackend(MemoryBackend(), remote, outage_ttl=0.5)
            cleanup.callback(backend.close)
            caches.append(SyncCache(backend, ttl=60))
        a, b = caches
        price = {"now": 1}
        loads: list[int] = []

        def load_price() -> int:
            loads.append(price["now"])
            return price["now"]

        assert a.get_or_load("price", load_price) == 1
        assert b.get_or_load("price", load_price) == 1
        assert loads == [1], "the second instance found the first one's value in Redis"

        server.kill()
        started = time.monotonic()
        slowest = 0.0
        calls = 0
        while time.monotonic() - started < outage:
            if price["now"] == 1 and time.monotonic() - started > outage / 2:
                price["now"] = 2
                a.set("price", 2)  # a write during the outage: Redis cannot take it
            for cache in (a, b):
                value, seconds = timed(functools.partial(cache.get_or_load, "price", load_price))
                assert value in {1, 2}, f"a call failed during the outage: {value!r}"
                miss = functools.partial(cache.get_or_load, f"new-{calls}", lambda: "x")
                fresh, more = timed(miss)
                assert fresh == "x", f"a miss during the outage failed: {fresh!r}"
                slowest = max(slowest, seconds, more)
                calls += 1
            time.sleep(0.02)
        # A refused connection fails at once, and after a failure Redis is left alone
        # for a second: no call waits, let alone once per call.
        assert slowest < 0.5, f"a call took {slowest:.2f} s while Redis was down"
        assert a.get("price") == 2, "the instance that wrote sees its own write"
        for cache in (a, b):
            assert isinstance(cache.backend, SyncTwoLevelBackend)
            assert cache.backend.remote.available is False
            assert not cache.backend.listening

        server.start()  # same port, empty
        restarted = time.monotonic()
        wait_until(
            lambda: all(
                isinstance(c.backend, SyncTwoLevelBackend)
                and c.backend.listening
                and c.backend.remote.available
                for c in (a, b)
            ),
            "both instances to use Redis again",
        )
        back_after = time.monotonic() - restarted
        # The local levels were dropped on reconnection (messages may have been
        # lost): the instance that never heard of the write no longer serves 1.
        assert b.get_or_load("price", load_price) == 2
        # Live coherence again: a write on one instance reaches the other.
        price["now"] = 3
        a.set("price", 3)
        wait_until(lambda: b.get("price") == 3, "the other instance to drop its old copy")
        raw = redis.Redis.from_url(server.url)
        try:
            assert raw.exists(f"{prefix}:k:price") == 1, "writes reach Redis again"
        finally:
            raw.close()
    warnings = messages(caplog, "djed.cache", "unavailable")
    assert len(warnings) == 2, warnings  # once per instance, not once per call
    assert all("serving the local level alone" in w for w in warnings), warnings
    assert len(messages(caplog, "djed.cache", "available again")) == 2
    print(f"cache: {calls} calls in a {outage:g} s outage, slowest {slowest:.3f} s;")
    print(f"cache: both instances on Redis again {back_after:.2f} s after its restart")


def test_shared_breaker_runs_on_local_state_then_shares_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two replicas sharing a breaker: without Redis each decides alone; back, they agree."""
    outage = lasting(1.5, 60.0)
    prefix = f"chaos:{uuid.uuid4().hex}"
    caplog.set_level(logging.INFO, logger="djed.breaker")

    def refused() -> str:
        raise ConnectionRefusedError("payment provider refused the connection")

    with redis_process(tmp_path) as server, contextlib.ExitStack() as cleanup:
        replicas = []
        for _ in range(2):
            shared = RedisSharedState(server.url, prefix=prefix, socket_timeout=0.2)
            cleanup.callback(shared.close)
            breaker = CircuitBreaker("payments", consecutive_failures=3, open_duration=120)
            shared.attach(breaker)
            replicas.append((shared, breaker))
        (first, one), (second, other) = replicas
        wait_until(lambda: first.available and second.available, "both replicas on Redis")

        server.kill()
        # The dependency fails on the first replica: it trips on its own.
        for _ in range(3):
            error, seconds = timed(lambda: one.call(refused))
            assert isinstance(error, ConnectionRefusedError), error  # the real error, not Redis'
            assert seconds < 0.1
        assert one.state is State.OPEN
        wait_until(lambda: first.available is False, "the first replica to notice Redis is gone")
        started = time.monotonic()
        slowest = 0.0
        while time.monotonic() - started < outage:
            error, seconds = timed(lambda: one.call(lambda: "charged"))
            assert isinstance(error, CircuitOpenError), error
            answer, more = timed(lambda: other.call(lambda: "charged"))
            assert answer == "charged", answer  # it cannot hear the other replica: it decides alone
            slowest = max(slowest, seconds, more)
            time.sleep(0.02)
        assert slowest < 0.1, f"a call waited {slowest:.2f} s for Redis"
        assert "circuit breaker 'payments' is open for" in str(error), error

        server.start()  # same port, empty: the open state must be shared again
        restarted = time.monotonic()
        wait_until(
            lambda: other.state is State.OPEN,
            "the other replica to adopt the open state once Redis is back",
            within=lasting(15.0, 45.0),  # reconnection backs off from 1 s up to 30 s
        )
        back_after = time.monotonic() - restarted
        one.reset()
        wait_until(lambda: other.state is State.CLOSED, "a reset to be shared live again")
    unavailable = messages(caplog, "djed.breaker", "unavailable")
    assert 1 <= len(unavailable) <= 2, unavailable  # once per replica that noticed
    assert all("using local state" in line for line in unavailable), unavailable
    assert len(messages(caplog, "djed.breaker", "restored")) == len(unavailable)
    print(f"breaker: open state shared again {back_after:.2f} s after Redis restarted")


@pytest.mark.asyncio
async def test_crdt_fan_out_serves_alone_then_every_edit_reaches_everyone(tmp_path: Path) -> None:
    """Two server processes on one store: Redis dies mid-stream; no confirmed edit is lost."""
    outage = lasting(1.5, 60.0)
    fast = {"reconnect_delay": 0.05, "max_reconnect_delay": 0.5, "health_seconds": 1.0}
    document = "chaos/fan-out"
    with redis_process(tmp_path) as server, two_processes(tmp_path, server.url, **fast) as pair:
        async with contextlib.AsyncExitStack() as clients:
            writers = []
            for side, process in zip("ab", pair, strict=True):
                for number in (1, 2):
                    client = SyncClient(
                        process.url, document, reconnect_base=0.05, reconnect_cap=0.5
                    )
                    await clients.enter_async_context(client)
                    await client.wait_synced(timeout=WAIT)
                    writers.append(Writer(client, f"{side}{number}"))
            for writer in writers:
                writer.start()
            await eventually(
                lambda: all(len(document_items(w.client)) > 20 for w in writers),
                "edits to flow between the two processes",
            )

            server.kill()
            await eventually(
                lambda: not any(p.state()["connected"] for p in pair),
                "both processes to notice Redis is gone",
            )
            confirmed_before = [w.confirmations for w in writers]
            await asyncio.sleep(outage)
            # Each process still stores and confirms its own clients' edits.
            assert all(
                w.confirmations > before
                for w, before in zip(writers, confirmed_before, strict=True)
            ), "a client got no confirmation while Redis was down"
            a1, a2, b1, _b2 = writers
            confirmed_on_a = set(a2.acknowledged)
            await eventually(
                lambda: set(document_items(a1.client)) >= confirmed_on_a,
                "clients of one process to see each other's edits during the outage",
            )
            on_a1 = set(document_items(a1.client))
            assert not on_a1 >= set(b1.written), "nothing links the processes, yet B's edits came"

            server.start()
            restarted = time.monotonic()
            await eventually(
                lambda: all(p.state()["connected"] for p in pair), "both processes to reconnect"
            )
            for writer in writers:
                await writer.stop()
            everything = {item for w in writers for item in w.written}
            for writer in writers:
                await writer.confirm()
            await eventually(
                lambda: all(set(document_items(w.client)) == everything for w in writers),
                "every client to hold every edit of both sides",
            )
            converged = time.monotonic() - restarted
            confirmed = set().union(*(w.acknowledged for w in writers))
            assert confirmed <= everything
        for process in pair:
            assert process.state()["reconnects"] == 1
    for process in pair:
        assert process.lines("is unreachable") == 1  # one line per outage, not per message
        assert process.lines("is back after") == 1
    print(f"crdt fan-out: {len(everything)} edits, converged {converged:.2f} s after the restart")
