"""Two-level backends (memory in front of Redis) kept coherent by pub/sub, on a real Redis."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
from djed.cache._backend import Entry
from djed.cache._redis import RedisBackend, SyncRedisBackend
from djed.cache._twolevel import SyncTwoLevelBackend, TwoLevelBackend

from ._redis_support import (
    REDIS_URL,
    WAIT,
    cache_lines,
    free_port,
    require_redis,
    unused_url,
    wait_for,
)

require_redis()


class DictBackend:
    """The smallest thread-safe memory backend: a dict of entries, tags found by scanning.

    The tests inspect local levels only through ``peek`` and ``len``, which
    ``MemoryBackend`` has too: swap ``DictBackend``/``AsyncDictBackend`` for
    ``MemoryBackend``/``AsyncMemoryBackend`` to run them against it.
    """

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry | None:
        with self._lock:
            entry = self.entries.get(key)
            if entry is not None and not entry.is_usable(time.time()):
                del self.entries[key]
                return None
            return entry

    def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        return [self.get(key) for key in keys]

    def peek(self, key: str) -> Entry | None:
        """The entry as stored, even past its time (what the tests inspect)."""
        return self.entries.get(key)

    def __len__(self) -> int:
        return len(self.entries)

    def set(self, key: str, entry: Entry) -> None:
        with self._lock:
            self.entries[key] = entry

    def set_many(self, entries: Mapping[str, Entry]) -> None:
        with self._lock:
            self.entries.update(entries)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self.entries.pop(key, None) is not None

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        wanted = set(tags)
        with self._lock:
            doomed = [k for k, e in self.entries.items() if wanted.intersection(e.tags)]
            for key in doomed:
                del self.entries[key]
            return len(doomed)


class AsyncDictBackend:
    """:class:`DictBackend` behind the async interface."""

    def __init__(self) -> None:
        self.store = DictBackend()

    async def get(self, key: str) -> Entry | None:
        return self.store.get(key)

    async def get_many(self, keys: Iterable[str]) -> list[Entry | None]:
        return self.store.get_many(keys)

    async def set(self, key: str, entry: Entry) -> None:
        self.store.set(key, entry)

    async def set_many(self, entries: Mapping[str, Entry]) -> None:
        self.store.set_many(entries)

    async def delete(self, key: str) -> bool:
        return self.store.delete(key)

    async def clear(self) -> None:
        self.store.clear()

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        return self.store.invalidate_tags(tags)


def entry(value: Any, ttl: float | None = 60.0, tags: tuple[str, ...] = ()) -> Entry:
    return Entry(value, None if ttl is None else time.time() + ttl, None, tags)


async def await_for(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not await condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT} s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def prefix() -> Iterator[str]:
    value = f"djed-test:{uuid.uuid4().hex}"
    yield value
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{value}:*"))
        if keys:
            client.delete(*keys)


@pytest_asyncio.fixture
async def make_two(prefix: str) -> AsyncIterator[Callable[..., TwoLevelBackend]]:
    """TwoLevelBackend factory (one per simulated instance), all closed at teardown."""
    made: list[TwoLevelBackend] = []

    def make(url: str = REDIS_URL, **options: Any) -> TwoLevelBackend:
        remote = RedisBackend(url, prefix=prefix)
        made.append(TwoLevelBackend(AsyncDictBackend(), remote, **options))
        return made[-1]

    yield make
    for two in made:
        await two.aclose()
        await two.remote.aclose()


@pytest.fixture
def make_sync_two(prefix: str) -> Iterator[Callable[..., SyncTwoLevelBackend]]:
    made: list[SyncTwoLevelBackend] = []

    def make(url: str = REDIS_URL, **options: Any) -> SyncTwoLevelBackend:
        remote = SyncRedisBackend(url, prefix=prefix)
        made.append(SyncTwoLevelBackend(DictBackend(), remote, **options))
        return made[-1]

    yield make
    for two in made:
        two.close()
        two.remote.close()


def local_of(two: TwoLevelBackend | SyncTwoLevelBackend) -> DictBackend:
    local = two.local
    assert isinstance(local, AsyncDictBackend | DictBackend)
    return local.store if isinstance(local, AsyncDictBackend) else local


def kept(two: TwoLevelBackend | SyncTwoLevelBackend, key: str) -> Entry:
    """The entry ``two`` holds in its local level for ``key`` (failing if none)."""
    entry = local_of(two).peek(key)
    assert entry is not None, f"{key!r} is not in the local level"
    return entry


class TestReads:
    @pytest.mark.asyncio
    async def test_local_first_then_remote(self, make_two: Callable[..., TwoLevelBackend]) -> None:
        """A local hit is served from memory; a miss reads Redis and fills the local level."""
        a = make_two()
        await a.remote.set("k", entry("remote"))
        assert (await a.get("k")) == await a.remote.get("k")
        assert kept(a, "k").value == "remote"
        local_of(a).set("k", entry("local"))
        assert (await a.get("k")) is not None
        assert (await a.get("k")).value == "local"  # type: ignore[union-attr]
        assert await a.get("nowhere") is None

    @pytest.mark.asyncio
    async def test_get_many_mixes_levels(self, make_two: Callable[..., TwoLevelBackend]) -> None:
        """get_many takes local hits, reads only the misses from Redis, and keeps them."""
        a = make_two()
        local_of(a).set("x", entry("local x"))
        await a.remote.set_many({"y": entry("remote y"), "x": entry("remote x")})
        found = await a.get_many(["x", "y", "z", "y"])
        assert [e and e.value for e in found] == ["local x", "remote y", None, "remote y"]
        assert kept(a, "y").value == "remote y"

    @pytest.mark.asyncio
    async def test_fill_skipped_after_an_invalidation(
        self, make_two: Callable[..., TwoLevelBackend]
    ) -> None:
        """A value read before an invalidation arrived is not kept locally."""
        a, b = make_two(), make_two()
        await a.set("k", entry("old"))
        await b.get("other")  # b listens
        generation = b._generation
        await a.delete("k")
        await await_for(lambda: _changed(b, generation), "b to hear the deletion")
        await b._fill({"k": entry("old")}, generation)
        assert local_of(b).peek("k") is None


async def _changed(two: TwoLevelBackend, generation: int) -> bool:
    return two._generation != generation


class TestCoherence:
    @pytest.mark.asyncio
    async def test_writes_drop_other_copies(self, make_two: Callable[..., TwoLevelBackend]) -> None:
        """set, delete, invalidate_tags and clear in one instance drop the other's copies."""
        a, b = make_two(), make_two()
        assert a.writer != b.writer
        await heard_by(b, a.set("k", entry("v1", tags=("t",))))
        assert (await b.get("k")) is not None
        assert local_of(b).peek("k") is not None

        await a.set("k", entry("v2", tags=("t",)))
        await await_for(lambda: _gone(b, "k"), "the stale copy to leave b after set")
        assert (await b.get("k")).value == "v2"  # type: ignore[union-attr]
        assert kept(a, "k").value == "v2"  # a ignores its own message

        await a.delete("k")
        await await_for(lambda: _gone(b, "k"), "the copy to leave b after delete")

        await heard_by(b, a.set_many({"m": entry(1, tags=("t",)), "n": entry(2, tags=("u",))}))
        await b.get_many(["m", "n"])
        assert len(local_of(b)) == 2
        assert await a.invalidate_tags(["t"]) == 1
        await await_for(lambda: _gone(b, "m"), "the tagged copy to leave b")
        assert local_of(b).peek("n") is not None

        await a.clear()
        await await_for(lambda: _gone(b, "n"), "b's local level to empty after clear")
        assert await b.get("n") is None

    @pytest.mark.asyncio
    async def test_other_process(
        self, make_two: Callable[..., TwoLevelBackend], prefix: str, tmp_path: Path
    ) -> None:
        """A write in another process drops this process's local copy."""
        b = make_two()
        await b.remote.set("k", entry("v1"))
        assert (await b.get("k")).value == "v1"  # type: ignore[union-attr]
        child = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _CHILD, REDIS_URL, prefix],
            capture_output=True,
            timeout=WAIT,
            check=False,
        )
        assert child.returncode == 0, child.stderr.decode()
        await await_for(lambda: _gone(b, "k"), "the copy to leave after the other process wrote")
        assert (await b.get("k")).value == "v2"  # type: ignore[union-attr]


async def heard_by(two: TwoLevelBackend, write: Awaitable[Any]) -> None:
    """Run ``write`` in another instance and wait until ``two`` applied its message."""
    await two.get("-")  # listening from now on
    generation = two._generation
    await write
    await await_for(lambda: _changed(two, generation), "the message to arrive")


def heard_by_sync(two: SyncTwoLevelBackend, write: Callable[[], object]) -> None:
    """Run ``write`` in another instance and wait until ``two`` applied its message."""
    two.get("-")  # listening from now on
    generation = two._generation
    write()
    wait_for(lambda: two._generation != generation, "the message to arrive")


async def _gone(two: TwoLevelBackend, key: str) -> bool:
    return local_of(two).peek(key) is None


_CHILD = textwrap.dedent(
    """
    import sys, time
    from djed.cache._backend import Entry
    from djed.cache._redis import SyncRedisBackend
    from djed.cache._twolevel import SyncTwoLevelBackend

    class Local:
        def __init__(self): self.entries = {}
        def get(self, key): return self.entries.get(key)
        def get_many(self, keys): return [self.entries.get(k) for k in keys]
        def set(self, key, entry): self.entries[key] = entry
        def set_many(self, entries): self.entries.update(entries)
        def delete(self, key): return self.entries.pop(key, None) is not None
        def clear(self): self.entries.clear()
        def invalidate_tags(self, tags): return 0

    url, prefix = sys.argv[1], sys.argv[2]
    with SyncTwoLevelBackend(Local(), SyncRedisBackend(url, prefix=prefix)) as two:
        two.set("k", Entry("v2", time.time() + 60))
        two.remote.close()
    """
)


class TestSyncTwin:
    def test_writes_drop_other_copies(
        self, make_sync_two: Callable[..., SyncTwoLevelBackend]
    ) -> None:
        """The sync twin's listener thread drops copies written elsewhere."""
        a, b = make_sync_two(), make_sync_two()
        heard_by_sync(b, lambda: a.set("k", entry("v1", tags=("t",))))
        assert b.get("k") is not None
        assert local_of(b).peek("k") is not None
        a.set("k", entry("v2", tags=("t",)))
        wait_for(lambda: local_of(b).peek("k") is None, "the stale copy to leave b")
        assert b.get("k").value == "v2"  # type: ignore[union-attr]
        assert a.invalidate_tags(["t"]) == 1
        wait_for(lambda: local_of(b).peek("k") is None, "the tagged copy to leave b")
        heard_by_sync(a, lambda: b.set("j", entry("j")))
        assert a.get("j") is not None
        assert b.delete("j") is True
        wait_for(lambda: local_of(a).peek("j") is None, "the copy to leave a after delete")
        heard_by_sync(b, lambda: a.set("x", entry(1)))
        assert b.get("x") is not None
        a.clear()
        wait_for(lambda: len(local_of(b)) == 0, "b's local level to empty")

    def test_close_stops_the_thread(
        self, make_sync_two: Callable[..., SyncTwoLevelBackend]
    ) -> None:
        """close() ends the listener thread; the levels still answer afterwards."""
        before = set(threading.enumerate())
        two = make_sync_two()
        two.get("k")
        started = set(threading.enumerate()) - before
        assert started
        two.close()
        two.close()
        assert not [t for t in started if t.is_alive()]
        two.set("k", entry(1))
        assert two.get("k") is not None


class TestRedisDown:
    @pytest.mark.asyncio
    async def test_local_level_keeps_working(
        self, make_two: Callable[..., TwoLevelBackend], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Unreachable Redis: the local level serves, capped to outage_ttl; one warning."""
        caplog.set_level(logging.INFO, logger="djed.cache")
        a = make_two(unused_url(), outage_ttl=2.0)
        await a.set("k", entry("v", ttl=3600))
        assert (await a.get("k")).value == "v"  # type: ignore[union-attr]
        assert await a.delete("k") is True
        await a.set("k", entry("v", ttl=None))
        capped = kept(a, "k")
        assert capped.fresh_until is not None
        assert capped.fresh_until <= time.time() + 2.0
        assert await a.invalidate_tags(["t"]) == 0
        assert not a.listening
        warnings = cache_lines(caplog, "unavailable")
        assert len(warnings) == 1
        assert "local level alone" in warnings[0].getMessage()

    def test_sync_local_level_keeps_working(
        self, make_sync_two: Callable[..., SyncTwoLevelBackend], caplog: pytest.LogCaptureFixture
    ) -> None:
        """The sync twin serves its local level alone, with one warning."""
        caplog.set_level(logging.INFO, logger="djed.cache")
        a = make_sync_two(unused_url(), outage_ttl=1.0)
        a.set("k", entry("v"))
        assert a.get("k").value == "v"  # type: ignore[union-attr]
        assert (kept(a, "k").fresh_until or math.inf) <= time.time() + 1.0
        time.sleep(0.3)  # several reconnection attempts, none of which may log again
        assert len(cache_lines(caplog, "unavailable")) == 1

    @pytest.mark.asyncio
    async def test_reconnect_clears_the_local_level(
        self, make_two: Callable[..., TwoLevelBackend], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Redis killed and back: messages may be lost, so the local level starts empty."""
        if shutil.which("redis-server") is None:
            reason = "needs the redis-server program on PATH; .ci/run installs it"
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        caplog.set_level(logging.INFO, logger="djed.cache")
        port = free_port()
        server = _start_redis(port)
        try:
            a = make_two(f"redis://127.0.0.1:{port}/0")
            await a.set("k", entry("v"))
            assert a.listening
            server.send_signal(signal.SIGKILL)
            server.wait(WAIT)
            await await_for(lambda: _not_listening(a), "the listener to notice")
            assert local_of(a).peek("k") is not None  # still served during the outage
            server = _start_redis(port)
            await await_for(lambda: _listening(a), "the listener to reconnect")
            assert local_of(a).peek("k") is None
            assert len(cache_lines(caplog, "unavailable")) == 1
            assert len(cache_lines(caplog, "available again")) == 1
        finally:
            server.kill()
            server.wait(WAIT)


async def _listening(two: TwoLevelBackend) -> bool:
    return two.listening


async def _not_listening(two: TwoLevelBackend) -> bool:
    return not two.listening


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    command = [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    with redis.Redis(port=port, socket_timeout=0.5) as client:

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, f"redis-server on port {port}")
    return process
