"""The Redis backends and serializers against a real redis-server."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis
from djed.cache._backend import Entry
from djed.cache._redis import RedisBackend, SyncRedisBackend
from djed.cache._serializers import OrjsonSerializer, PickleSerializer, SerializationError

from ._redis_support import REDIS_URL, WAIT, cache_lines, free_port, require_redis, wait_for

require_redis()


def entry(
    value: Any, ttl: float | None = 60.0, stale: float = 0.0, tags: tuple[str, ...] = ()
) -> Entry:
    if ttl is None:
        return Entry(value, None, None, tags)
    now = time.time()
    return Entry(value, now + ttl, now + ttl + stale if stale else None, tags)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A namespace of its own for each test, removed afterwards."""
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


@pytest.fixture
def sync_backend(prefix: str) -> Iterator[SyncRedisBackend]:
    with SyncRedisBackend(REDIS_URL, prefix=prefix) as backend:
        yield backend


@pytest_asyncio.fixture
async def backend(prefix: str) -> AsyncIterator[RedisBackend]:
    async with RedisBackend(REDIS_URL, prefix=prefix) as made:
        yield made


class RedisProcess:
    """A redis-server of the test's own, which it can kill and start again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        with redis.Redis.from_url(self.url, socket_timeout=0.5) as client:
            wait_for(lambda: self._answers(client), f"redis-server on port {self.port}")

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(WAIT)
        self.process = None


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None:
        reason = "needs the redis-server program on PATH; .ci/run installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisProcess(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


class TestSerializers:
    def test_orjson_round_trip(self) -> None:
        """An entry comes back equal, tags as a tuple."""
        serializer = OrjsonSerializer()
        original = Entry({"a": [1, 2.5, None, "x"]}, 10.25, 20.5, ("t1", "t2"))
        assert serializer.loads(serializer.dumps(original)) == original

    def test_orjson_refuses_non_str_keys(self) -> None:
        """A dict with an int key is refused, naming the type and where it is."""
        with pytest.raises(SerializationError, match=r"value\['rates'\] has a key of type int"):
            OrjsonSerializer().dumps(Entry({"rates": {1: "EUR"}}))

    def test_orjson_refuses_unknown_types(self) -> None:
        """A set is refused with orjson's reason and what to do."""
        with pytest.raises(SerializationError, match=r"cannot be written as JSON.*default="):
            OrjsonSerializer().dumps(Entry({1, 2}))

    def test_orjson_default_converts(self) -> None:
        """default= turns what orjson cannot write into something it can."""
        serializer = OrjsonSerializer(default=sorted)
        assert serializer.loads(serializer.dumps(Entry({3, 1}))).value == [1, 3]

    def test_orjson_refuses_foreign_bytes(self) -> None:
        """Bytes that are not an entry raise, suggesting a serializer mismatch."""
        with pytest.raises(SerializationError, match="same serializer"):
            OrjsonSerializer().loads(b"\x80\x04garbage")

    def test_pickle_needs_explicit_trust(self) -> None:
        """PickleSerializer is refused unless trusted=True is passed."""
        with pytest.raises(ValueError, match=r"trusted=True"):
            PickleSerializer()
        with pytest.raises(ValueError, match=r"runs code"):
            PickleSerializer(trusted=1)  # type: ignore[arg-type]

    def test_pickle_round_trip(self) -> None:
        """Trusted pickling keeps Python types (sets, tuples)."""
        serializer = PickleSerializer(trusted=True)
        original = Entry({"ids": {1, 2}, "pair": (1, "a")}, 1.0, 2.0, ("t",))
        assert serializer.loads(serializer.dumps(original)) == original


class TestAsyncBackend:
    @pytest.mark.asyncio
    async def test_round_trip(self, backend: RedisBackend) -> None:
        """set, get, get_many, delete and clear do what they say."""
        first, second = entry({"n": 1}), entry("two")
        await backend.set("a", first)
        await backend.set_many({"b": second})
        assert await backend.get("a") == first
        assert await backend.get("missing") is None
        assert await backend.get_many(["b", "missing", "a"]) == [second, None, first]
        assert await backend.get_many([]) == []
        assert await backend.delete("a") is True
        assert await backend.delete("a") is False
        await backend.clear()
        assert await backend.get("b") is None
        assert backend.available is True

    @pytest.mark.asyncio
    async def test_ttls_are_set(self, backend: RedisBackend, raw: redis.Redis, prefix: str) -> None:
        """Redis keeps an entry until stale_until, else fresh_until, else for ever."""
        await backend.set("swr", entry(1, ttl=10, stale=20))
        await backend.set("fresh", entry(1, ttl=10))
        await backend.set("forever", entry(1, ttl=None))
        assert 29_000 < raw.pttl(f"{prefix}:k:swr") <= 30_000
        assert 9_000 < raw.pttl(f"{prefix}:k:fresh") <= 10_000
        assert raw.pttl(f"{prefix}:k:forever") == -1

    @pytest.mark.asyncio
    async def test_past_entries_are_misses(
        self, backend: RedisBackend, raw: redis.Redis, prefix: str
    ) -> None:
        """An entry already past stale_until lives 1 ms, and reads as a miss even if left."""
        await backend.set("old", entry(1, ttl=-5))
        assert raw.pttl(f"{prefix}:k:old") in {-2, 0, 1}
        raw.set(f"{prefix}:k:left", OrjsonSerializer().dumps(entry(1, ttl=-5)))
        assert await backend.get("left") is None

    @pytest.mark.asyncio
    async def test_tags(self, backend: RedisBackend, raw: redis.Redis, prefix: str) -> None:
        """invalidate_tags removes the tagged keys and the tag sets, counting each key once."""
        await backend.set_many(
            {
                "invoice:1": entry(1, tags=("customer:7", "invoice:1")),
                "invoice:2": entry(2, tags=("customer:7",)),
                "invoice:3": entry(3, tags=("customer:8",)),
            }
        )
        assert await backend.invalidate_tags(["customer:7", "invoice:1"]) == 2
        assert await backend.get_many(["invoice:1", "invoice:2"]) == [None, None]
        assert (await backend.get("invoice:3")) is not None
        assert not raw.exists(f"{prefix}:t:customer:7", f"{prefix}:t:invoice:1")
        assert await backend.invalidate_tags(["customer:7"]) == 0
        assert await backend.invalidate_tags([]) == 0

    @pytest.mark.asyncio
    async def test_tag_sets_outlive_their_members(
        self, backend: RedisBackend, raw: redis.Redis, prefix: str
    ) -> None:
        """A tag set expires with its longest-lived member, and never if one never expires."""
        tag = f"{prefix}:t:shared"
        await backend.set("long", entry(1, ttl=100, tags=("shared",)))
        await backend.set("short", entry(1, ttl=10, tags=("shared",)))
        assert 99_000 < raw.pttl(tag) <= 100_000
        await backend.set("forever", entry(1, ttl=None, tags=("shared",)))
        assert raw.pttl(tag) == -1
        await backend.set("later", entry(1, ttl=5, tags=("shared",)))
        assert raw.pttl(tag) == -1

    @pytest.mark.asyncio
    async def test_clear_is_scoped(
        self, backend: RedisBackend, raw: redis.Redis, prefix: str
    ) -> None:
        """clear() removes this prefix's entries and tags only, never its locks or fences."""
        other = f"{prefix}-other"
        try:
            async with RedisBackend(REDIS_URL, prefix=other) as neighbour:
                await neighbour.set("a", entry(1, tags=("t",)))
                await backend.set("a", entry(1, tags=("t",)))
                raw.set(f"{prefix}:fence:a", 7)
                await backend.clear()
                assert await backend.get("a") is None
                assert not raw.exists(f"{prefix}:t:t")
                assert raw.get(f"{prefix}:fence:a") == b"7"
                assert await neighbour.get("a") is not None
        finally:
            raw.delete(f"{other}:k:a", f"{other}:t:t")

    @pytest.mark.asyncio
    async def test_glob_characters_in_prefix(self, raw: redis.Redis, prefix: str) -> None:
        """A prefix with glob characters clears only itself."""
        async with RedisBackend(REDIS_URL, prefix=f"{prefix}[*]") as odd:
            await odd.set("a", entry(1))
            raw.set(f"{prefix}x:k:a", b"keep")
            await odd.clear()
            assert await odd.get("a") is None
            assert raw.get(f"{prefix}x:k:a") == b"keep"

    @pytest.mark.asyncio
    async def test_serialisation_errors_raise(
        self, backend: RedisBackend, raw: redis.Redis
    ) -> None:
        """An unwritable value or unreadable bytes raise, naming the key."""
        with pytest.raises(SerializationError, match=r"cache key 'bad'.*key of type int"):
            await backend.set("bad", entry({1: "x"}))
        raw.set(f"{backend.prefix}:k:foreign", b"\x80\x04not json")
        with pytest.raises(SerializationError, match=r"cache key 'foreign' in Redis"):
            await backend.get("foreign")

    @pytest.mark.asyncio
    async def test_pickle_through_redis(self, prefix: str) -> None:
        """A trusted PickleSerializer keeps Python types through Redis."""
        serializer = PickleSerializer(trusted=True)
        async with RedisBackend(REDIS_URL, prefix=prefix, serializer=serializer) as backend:
            stored = entry({"ids": {1, 2}})
            await backend.set("p", stored)
            assert await backend.get("p") == stored


class TestSyncBackend:
    def test_round_trip(
        self, sync_backend: SyncRedisBackend, raw: redis.Redis, prefix: str
    ) -> None:
        """The sync twin stores, reads, deletes, invalidates and clears the same way."""
        first, second = entry(1, ttl=10, stale=5, tags=("t",)), entry("two", tags=("u",))
        sync_backend.set("a", first)
        sync_backend.set_many({"b": second})
        assert sync_backend.get("a") == first
        assert sync_backend.get_many(["b", "x", "a"]) == [second, None, first]
        assert 14_000 < raw.pttl(f"{prefix}:k:a") <= 15_000
        assert sync_backend.invalidate_tags(["t"]) == 1
        assert sync_backend.get("a") is None
        assert sync_backend.delete("b") is True
        sync_backend.set("c", entry(3))
        sync_backend.clear()
        assert sync_backend.get_many(["b", "c"]) == [None, None]

    @pytest.mark.asyncio
    async def test_twins_share_the_layout(
        self, sync_backend: SyncRedisBackend, backend: RedisBackend
    ) -> None:
        """What one twin writes, the other reads and invalidates."""
        sync_backend.set("a", entry(1, tags=("t",)))
        assert (await backend.get("a")) == sync_backend.get("a")
        assert await backend.invalidate_tags(["t"]) == 1
        assert sync_backend.get("a") is None


class TestOptions:
    def test_refused_options(self) -> None:
        """Settings that cannot work are refused, naming the setting."""
        with pytest.raises(ValueError, match="prefix"):
            SyncRedisBackend(REDIS_URL, prefix="")
        with pytest.raises(ValueError, match="socket_timeout"):
            SyncRedisBackend(REDIS_URL, socket_timeout=0)
        with redis.Redis.from_url(REDIS_URL) as client:
            with pytest.raises(ValueError, match="either url or client"):
                SyncRedisBackend(REDIS_URL, client=client)
        with redis.Redis.from_url(REDIS_URL, decode_responses=True) as client:
            with pytest.raises(ValueError, match="decode_responses"):
                SyncRedisBackend(client=client)
        with pytest.raises(ValueError, match="cannot use this Redis URL"):
            SyncRedisBackend("http://example.invalid")

    def test_url_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """DJED_CACHE_REDIS_URL is the default URL, read when the backend is made."""
        monkeypatch.setenv("DJED_CACHE_REDIS_URL", "redis://127.0.0.1:1/3")
        with SyncRedisBackend() as backend:
            assert repr(backend) == "SyncRedisBackend('redis://127.0.0.1:1/3', prefix='djed:cache')"

    def test_passed_client_stays_open(self, prefix: str) -> None:
        """close() leaves a client passed in open."""
        with redis.Redis.from_url(REDIS_URL) as client:
            SyncRedisBackend(client=client, prefix=prefix).close()
            assert client.ping()

    def test_missing_redis_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without redis-py the error says which extra to install."""
        import sys

        monkeypatch.setitem(sys.modules, "redis", None)
        with pytest.raises(ImportError, match=r"pip install 'djed-cache\[redis\]'"):
            SyncRedisBackend()


class TestRedisDown:
    def test_unreachable_sync(self, caplog: pytest.LogCaptureFixture, prefix: str) -> None:
        """Nothing listening: misses and no-ops, one warning, no exception."""
        caplog.set_level(logging.INFO, logger="djed.cache")
        with SyncRedisBackend(f"redis://127.0.0.1:{free_port()}/0", prefix=prefix) as backend:
            assert backend.get("a") is None
            backend.set("a", entry(1))
            assert backend.get("a") is None
            assert backend.get_many(["a", "b"]) == [None, None]
            assert backend.delete("a") is False
            assert backend.invalidate_tags(["t"]) == 0
            backend.clear()
            assert backend.available is False
        warnings = cache_lines(caplog, "unavailable")
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING
        assert "redis cache at redis://127.0.0.1:" in warnings[0].getMessage()
        assert "serving misses" in warnings[0].getMessage()

    @pytest.mark.asyncio
    async def test_unreachable_async(self, caplog: pytest.LogCaptureFixture, prefix: str) -> None:
        """The async backend degrades the same way."""
        caplog.set_level(logging.INFO, logger="djed.cache")
        async with RedisBackend(f"redis://127.0.0.1:{free_port()}/0", prefix=prefix) as backend:
            started = time.monotonic()
            assert await backend.get("a") is None
            await backend.set("a", entry(1))
            assert await backend.get_many(["a"]) == [None]
            assert await backend.delete("a") is False
            assert await backend.invalidate_tags(["t"]) == 0
            await backend.clear()
            assert time.monotonic() - started < 2
        assert len(cache_lines(caplog, "unavailable")) == 1

    def test_serialisation_errors_still_raise(self, prefix: str) -> None:
        """A programming error raises even while Redis is down."""
        with SyncRedisBackend(f"redis://127.0.0.1:{free_port()}/0", prefix=prefix) as backend:
            with pytest.raises(SerializationError, match="cache key 'bad'"):
                backend.set("bad", entry({1, 2}))

    def test_killed_and_back_sync(
        self, own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Redis killed: one warning; back on the same port: one info line, working again."""
        caplog.set_level(logging.INFO, logger="djed.cache")
        with SyncRedisBackend(own_redis.url, prefix="p") as backend:
            backend.set("a", entry(1))
            assert backend.get("a") is not None
            own_redis.kill()
            for _ in range(5):
                assert backend.get("a") is None
                backend.set("a", entry(2))
            own_redis.start()

            def works() -> bool:
                backend.set("b", entry(3))
                return backend.get("b") is not None

            wait_for(works, "the backend to use Redis again")
            assert backend.available is True
        assert len(cache_lines(caplog, "unavailable")) == 1
        assert len(cache_lines(caplog, "available again")) == 1

    @pytest.mark.asyncio
    async def test_killed_and_back_async(
        self, own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The async backend also warns once, recovers, and says so once."""
        caplog.set_level(logging.INFO, logger="djed.cache")
        async with RedisBackend(own_redis.url, prefix="p") as backend:
            await backend.set("a", entry(1))
            own_redis.kill()
            assert await backend.get("a") is None
            assert await backend.delete("a") is False
            own_redis.start()
            deadline = time.monotonic() + WAIT
            while await backend.get("b") is None:
                assert time.monotonic() < deadline, "the backend never used Redis again"
                await backend.set("b", entry(3))
                await asyncio.sleep(0.02)
        assert len(cache_lines(caplog, "unavailable")) == 1
        assert len(cache_lines(caplog, "available again")) == 1
