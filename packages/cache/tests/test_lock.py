"""Leases across processes (RedisLock, SyncRedisLock) against a real redis-server."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio
import redis
from djed.cache._lock import Lease, RedisLock, SyncRedisLock

from ._redis_support import REDIS_URL, require_redis, unused_url

require_redis()


@pytest.fixture
def prefix() -> Iterator[str]:
    value = f"djed-test:{uuid.uuid4().hex}"
    yield value
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=f"{value}:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def raw() -> Iterator[redis.Redis]:
    with redis.Redis.from_url(REDIS_URL) as client:
        yield client


@pytest_asyncio.fixture
async def make_lock(prefix: str) -> AsyncIterator[Callable[..., RedisLock]]:
    """RedisLock factory, each with its own connections (like separate processes)."""
    made: list[RedisLock] = []

    def make(url: str = REDIS_URL) -> RedisLock:
        made.append(RedisLock(url, prefix=prefix))
        return made[-1]

    yield make
    for lock in made:
        await lock.aclose()


@pytest.fixture
def make_sync_lock(prefix: str) -> Iterator[Callable[..., SyncRedisLock]]:
    made: list[SyncRedisLock] = []

    def make(url: str = REDIS_URL) -> SyncRedisLock:
        made.append(SyncRedisLock(url, prefix=prefix))
        return made[-1]

    yield make
    for lock in made:
        lock.close()


class TestRedisLock:
    @pytest.mark.asyncio
    async def test_one_of_many_wins(self, make_lock: Callable[..., RedisLock]) -> None:
        """Ten concurrent acquirers of one key: exactly one lease."""
        locks = [make_lock() for _ in range(10)]
        leases = await asyncio.gather(*(lock.acquire("k", lease=5) for lock in locks))
        won = [lease for lease in leases if lease is not None]
        assert len(won) == 1
        assert not won[0].local
        assert await locks[0].acquire("other", lease=5) is not None

    @pytest.mark.asyncio
    async def test_release_by_non_owner_refused(
        self, make_lock: Callable[..., RedisLock], raw: redis.Redis, prefix: str
    ) -> None:
        """A lease with another token cannot release or extend the key."""
        a, b = make_lock(), make_lock()
        lease = await a.acquire("k", lease=5)
        assert lease is not None
        forged = dataclasses.replace(lease, token="not-the-token")
        assert await b.release(forged) is False
        assert await b.extend(forged) is False
        assert raw.exists(f"{prefix}:lock:k")
        assert await b.acquire("k", lease=5) is None
        assert await a.release(lease) is True
        assert await a.release(lease) is False
        assert await b.acquire("k", lease=5) is not None

    @pytest.mark.asyncio
    async def test_fencing(
        self, make_lock: Callable[..., RedisLock], raw: redis.Redis, prefix: str
    ) -> None:
        """Each acquisition has a larger fence; only the newest lease is current."""
        a, b = make_lock(), make_lock()
        first = await a.acquire("k", lease=5)
        assert first is not None
        assert await a.is_current(first)
        await a.release(first)
        second = await b.acquire("k", lease=5)
        assert second is not None
        assert second.fence == first.fence + 1
        assert not await a.is_current(first)
        assert await b.is_current(second)
        await b.release(second)
        raw.delete(f"{prefix}:fence:k")  # the counter lost (expired, or Redis restarted empty)
        third = await a.acquire("k", lease=5)
        assert third is not None
        assert third.fence > second.fence
        assert not await b.is_current(second)

    @pytest.mark.asyncio
    async def test_expired_lease(self, make_lock: Callable[..., RedisLock]) -> None:
        """After its lease runs out another caller takes the key; the old holder can do nothing."""
        a, b = make_lock(), make_lock()
        old = await a.acquire("k", lease=0.05)
        assert old is not None
        await asyncio.sleep(0.15)
        new = await b.acquire("k", lease=5)
        assert new is not None
        assert new.fence > old.fence
        assert not await a.is_current(old)
        assert await a.extend(old) is False
        assert await a.release(old) is False
        assert await b.is_current(new)

    @pytest.mark.asyncio
    async def test_extend(
        self, make_lock: Callable[..., RedisLock], raw: redis.Redis, prefix: str
    ) -> None:
        """extend() renews the holder's lease, for its ttl or the given seconds."""
        a, b = make_lock(), make_lock()
        lease = await a.acquire("k", lease=0.2)
        assert lease is not None
        assert await a.extend(lease, 30) is True
        assert 29_000 < raw.pttl(f"{prefix}:lock:k") <= 30_000
        await asyncio.sleep(0.3)
        assert await b.acquire("k", lease=5) is None
        assert await a.extend(lease) is True
        assert raw.pttl(f"{prefix}:lock:k") <= 200

    @pytest.mark.asyncio
    async def test_lease_must_be_positive(self, make_lock: Callable[..., RedisLock]) -> None:
        """A lease of zero seconds is refused."""
        with pytest.raises(ValueError, match="positive"):
            await make_lock().acquire("k", lease=0)

    @pytest.mark.asyncio
    async def test_redis_down_gives_local_leases(
        self, make_lock: Callable[..., RedisLock], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Unreachable Redis: leases exclude callers in this process only; one warning."""
        caplog.set_level(logging.INFO, logger="djed.cache")
        lock = make_lock(unused_url())
        lease = await lock.acquire("k", lease=5)
        assert lease is not None
        assert lease.local
        assert await lock.acquire("k", lease=5) is None
        assert await lock.is_current(lease)
        assert await lock.extend(lease) is True
        assert await lock.release(lease) is True
        again = await lock.acquire("k", lease=5)
        assert again is not None
        assert again.fence > lease.fence
        assert not await lock.is_current(lease)
        assert lock.available is False
        lines = [r for r in caplog.records if r.name == "djed.cache"]
        assert len(lines) == 1
        assert lines[0].levelno == logging.WARNING
        assert "redis lock at" in lines[0].getMessage()
        assert "within this process only" in lines[0].getMessage()

    @pytest.mark.asyncio
    async def test_redis_lease_unverifiable_when_down(self, prefix: str) -> None:
        """A Redis lease whose fence cannot be read is not current (the write is skipped)."""
        async with RedisLock(unused_url(), prefix=prefix) as lock:
            lease = Lease("k", "token", 1, 5.0)
            assert await lock.is_current(lease) is False
            assert await lock.release(lease) is False


class TestSyncRedisLock:
    def test_one_of_many_threads_wins(self, make_sync_lock: Callable[..., SyncRedisLock]) -> None:
        """Eight threads acquiring at once: exactly one lease."""
        locks = [make_sync_lock() for _ in range(8)]
        barrier = threading.Barrier(len(locks))
        leases: list[Lease | None] = []

        def attempt(lock: SyncRedisLock) -> None:
            barrier.wait(5)
            leases.append(lock.acquire("k", lease=5))

        threads = [threading.Thread(target=attempt, args=(lock,)) for lock in locks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(leases) == len(locks)
        assert len([lease for lease in leases if lease is not None]) == 1

    def test_lifecycle(self, make_sync_lock: Callable[..., SyncRedisLock]) -> None:
        """Acquire, refuse a second, extend, expire, fence and release like the async twin."""
        a, b = make_sync_lock(), make_sync_lock()
        lease = a.acquire("k", lease=0.05)
        assert lease is not None
        assert b.acquire("k", lease=5) is None
        assert b.release(dataclasses.replace(lease, token="x")) is False
        time.sleep(0.15)
        newer = b.acquire("k", lease=5)
        assert newer is not None
        assert newer.fence == lease.fence + 1
        assert not a.is_current(lease)
        assert a.release(lease) is False
        assert b.extend(newer, 10) is True
        assert b.is_current(newer)
        assert b.release(newer) is True

    def test_redis_down(self, prefix: str, caplog: pytest.LogCaptureFixture) -> None:
        """Unreachable Redis: a local lease, one warning, no exception."""
        caplog.set_level(logging.INFO, logger="djed.cache")
        with SyncRedisLock(unused_url(), prefix=prefix) as lock:
            lease = lock.acquire("k", lease=0.05)
            assert lease is not None
            assert lease.local
            assert lock.acquire("k", lease=5) is None
            time.sleep(0.1)
            assert lock.acquire("k", lease=5) is not None  # the local lease expired
            assert lock.release(lease) is False
        assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1

    def test_twins_share_keys(
        self, prefix: str, make_sync_lock: Callable[..., SyncRedisLock]
    ) -> None:
        """A key held through the sync twin is held for the async one too."""
        held = make_sync_lock().acquire("k", lease=5)
        assert held is not None

        async def other() -> Lease | None:
            async with RedisLock(REDIS_URL, prefix=prefix) as lock:
                return await lock.acquire("k", lease=5)

        assert asyncio.run(other()) is None
