from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any

import pytest
from djed.cache import Cache, CacheKeyError, MemoryBackend, SyncCache


class Clock:
    """A wall clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class TestMemoryBackend:
    def test_lru_by_entries(self) -> None:
        """Beyond max_entries the least recently used entry goes first."""
        cache = SyncCache(MemoryBackend(max_entries=2))
        cache.set("a", 1)
        cache.set("b", 2)
        cache.get("a")
        cache.set("c", 3)
        assert cache.get("b") is None
        assert (cache.get("a"), cache.get("c")) == (1, 3)
        assert isinstance(cache.backend, MemoryBackend)
        assert cache.backend.evictions == 1

    def test_lru_by_bytes(self) -> None:
        """max_bytes bounds the approximate size held."""
        backend = MemoryBackend(max_bytes=1_000)
        cache = SyncCache(backend)
        for n in range(20):
            cache.set(f"k{n}", "x" * 200)
        assert backend.bytes <= 1_000
        assert cache.get("k19") == "x" * 200
        assert cache.get("k0") is None

    def test_ttl_and_stale_window(self) -> None:
        """A value is fresh for ttl, then stale for stale_ttl, then gone."""
        clock = Clock()
        cache = SyncCache(ttl=10, stale_ttl=5, clock=clock)
        cache.set("k", "v")
        clock.now += 12
        assert cache.get("k") == "v"  # stale but usable
        clock.now += 4
        assert cache.get("k") is None

    def test_no_ttl(self) -> None:
        """ttl=None keeps a value until deleted."""
        clock = Clock()
        cache = SyncCache(ttl=None, clock=clock)
        cache.set("k", "v")
        clock.now += 10**9
        assert cache.get("k") == "v"
        assert cache.delete("k")
        assert not cache.delete("k")


class TestOperations:
    def test_many_and_clear(self) -> None:
        """get_many/set_many keep order; clear empties."""
        cache = SyncCache()
        cache.set_many({"a": 1, "b": 2})
        assert cache.get_many(["b", "x", "a"], default=0) == [2, 0, 1]
        cache.clear()
        assert cache.get("a") is None

    def test_tags(self) -> None:
        """invalidate_tags removes every entry with the tag, and only those."""
        cache = SyncCache()
        cache.set("invoice:42", {"total": 1}, tags=("invoice:42", "customer:7"))
        cache.set("invoice:43", {"total": 2}, tags=("invoice:43", "customer:7"))
        cache.set("other", 3)
        assert cache.invalidate_tags("customer:7") == 2
        assert cache.get("invoice:42") is None
        assert cache.get("other") == 3

    def test_namespace(self) -> None:
        """Two caches with different namespaces share a backend without clashing."""
        backend = MemoryBackend()
        SyncCache(backend, namespace="a:").set("k", 1)
        SyncCache(backend, namespace="b:").set("k", 2)
        assert SyncCache(backend, namespace="a:").get("k") == 1

    def test_bad_settings(self) -> None:
        """Non-positive TTLs are refused."""
        with pytest.raises(ValueError, match="ttl"):
            SyncCache(ttl=0)


class TestLoading:
    def test_get_or_load_and_stats(self) -> None:
        """A miss loads and stores; a hit does not load."""
        cache = SyncCache()
        calls: list[int] = []

        def load(value: str) -> str:
            calls.append(1)
            return value

        assert cache.get_or_load("k", lambda: load("v")) == "v"
        assert cache.get_or_load("k", lambda: load("w")) == "v"
        assert calls == [1]
        stats = cache.stats
        assert (stats.misses, stats.hits, stats.loads) == (1, 1, 1)

    def test_stale_while_revalidate(self) -> None:
        """A stale value is served at once and one background refresh replaces it."""
        clock = Clock()
        cache = SyncCache(ttl=10, stale_ttl=60, clock=clock)
        cache.set("rates", "old")
        clock.now += 11
        started = threading.Event()
        release = threading.Event()

        def slow_load() -> str:
            started.set()
            release.wait(5)
            return "new"

        assert cache.get_or_load("rates", slow_load) == "old"
        assert started.wait(5)
        assert cache.get_or_load("rates", slow_load) == "old"  # no second refresh
        release.set()
        cache.close()
        for _ in range(500):
            if cache.get("rates") == "new":
                break
            threading.Event().wait(0.01)
        assert cache.get("rates") == "new"
        assert cache.stats.refreshes == 1

    def test_stale_served_when_refresh_fails(self, caplog: pytest.LogCaptureFixture) -> None:
        """A failing refresh keeps the stale value and logs a warning."""
        clock = Clock()
        cache = SyncCache(ttl=10, stale_ttl=60, clock=clock)
        cache.set("rates", "old")
        clock.now += 11

        def broken() -> str:
            raise ConnectionError("rates service down")

        assert cache.get_or_load("rates", broken) == "old"
        cache.close()
        for _ in range(500):
            if cache.stats.stale_on_error:
                break
            threading.Event().wait(0.01)
        assert cache.stats.stale_on_error == 1
        assert cache.get("rates") == "old"

    def test_single_flight_threads(self) -> None:
        """50 threads missing one cold key at once cause one load."""
        cache = SyncCache()
        loads = []
        gate = threading.Barrier(50)

        def load() -> str:
            loads.append(1)
            threading.Event().wait(0.05)
            return "v"

        results: list[str] = []

        def worker() -> None:
            gate.wait()
            results.append(cache.get_or_load("cold", load))

        threads = [threading.Thread(target=worker) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == ["v"] * 50
        assert len(loads) == 1

    def test_load_error_propagates_to_every_waiter(self) -> None:
        """When the one load fails, every waiting caller gets its error; nothing is stored."""
        cache = SyncCache()
        with pytest.raises(ZeroDivisionError):
            cache.get_or_load("k", lambda: 1 / 0)
        assert cache.get("k") is None
        assert cache.stats.load_errors == 1

    def test_negative_caching_is_opt_in(self) -> None:
        """None results are cached only with negative_ttl, and only for that long."""
        clock = Clock()
        plain = SyncCache(clock=clock)
        calls: list[int] = []
        plain.get_or_load("missing", lambda: calls.append(1))
        plain.get_or_load("missing", lambda: calls.append(1))
        assert len(calls) == 2
        negative = SyncCache(negative_ttl=5, clock=clock)
        negative.get_or_load("missing", lambda: calls.append(1))
        negative.get_or_load("missing", lambda: calls.append(1))
        assert len(calls) == 3
        clock.now += 6
        negative.get_or_load("missing", lambda: calls.append(1))
        assert len(calls) == 4


@dataclasses.dataclass
class Customer:
    id: int


class Opaque:
    pass


class TestCachedDecorator:
    def test_key_from_arguments(self) -> None:
        """f(1) and f(x=1) share a key; different arguments do not."""
        cache = SyncCache()
        calls: list[int] = []

        @cache.cached(ttl=60)
        def square(x: int, power: int = 2) -> int:
            calls.append(x)
            return int(x**power)

        assert square(3) == 9
        assert square(x=3) == 9
        assert square(3, power=3) == 27
        assert calls == [3, 3]
        assert square.__name__ == "square"

    def test_key_template_and_tags(self) -> None:
        """A key template and tag templates are filled from the arguments."""
        cache = SyncCache()

        @cache.cached(key="invoice:{invoice_id}", tags=("invoice:{invoice_id}", "invoices"))
        def invoice(invoice_id: int) -> dict[str, int]:
            return {"id": invoice_id}

        invoice(42)
        assert cache.get("invoice:42") == {"id": 42}
        cache.invalidate_tags("invoice:42")
        assert cache.get("invoice:42") is None

    def test_structured_arguments(self) -> None:
        """Dicts, lists, dataclasses and objects with __cache_key__ make stable keys."""
        cache = SyncCache()
        calls: list[Any] = []

        @cache.cached()
        def report(filters: dict[str, Any], customer: Customer) -> int:
            calls.append(1)
            return 1

        report({"b": [1, 2], "a": 1}, Customer(7))
        report({"a": 1, "b": [1, 2]}, Customer(7))
        assert len(calls) == 1

    def test_unstable_argument_is_refused(self) -> None:
        """An argument without a stable identity is a clear CacheKeyError naming it."""
        cache = SyncCache()

        @cache.cached()
        def render(page: Opaque) -> str:
            return "html"

        with pytest.raises(CacheKeyError, match="argument 'page' of type Opaque"):
            render(Opaque())

    def test_template_naming_an_unknown_argument(self) -> None:
        """A key template must only name the function's arguments."""
        cache = SyncCache()
        with pytest.raises(CacheKeyError, match="'user_id'"):

            @cache.cached(key="user:{user_id}")
            def profile(uid: int) -> None: ...


class TestAsyncCache:
    @pytest.mark.asyncio
    async def test_operations(self) -> None:
        """The async cache has the same operations."""
        cache = Cache()
        await cache.set("a", 1, tags=("t",))
        await cache.set_many({"b": 2})
        assert await cache.get_many(["a", "b", "c"]) == [1, 2, None]
        assert await cache.invalidate_tags("t") == 1
        assert await cache.get("a") is None
        assert await cache.delete("b")
        await cache.clear()

    @pytest.mark.asyncio
    async def test_single_flight_thousand_misses(self) -> None:
        """1,000 concurrent misses on a cold key call the loader once."""
        cache = Cache()
        loads = 0

        async def load() -> str:
            nonlocal loads
            loads += 1
            await asyncio.sleep(0.01)
            return "v"

        results = await asyncio.gather(*(cache.get_or_load("cold", load) for _ in range(1000)))
        assert results == ["v"] * 1000
        assert loads == 1

    @pytest.mark.asyncio
    async def test_stale_while_revalidate(self) -> None:
        """A stale value comes back at once; the refresh runs as a task."""
        clock = Clock()
        cache = Cache(ttl=10, stale_ttl=60, clock=clock)
        await cache.set("k", "old")
        clock.now += 11

        async def load() -> str:
            return "new"

        assert await cache.get_or_load("k", load) == "old"
        await cache.aclose()
        assert await cache.get("k") == "new"

    @pytest.mark.asyncio
    async def test_decorator_and_errors(self) -> None:
        """@cache.cached on coroutines; a failing load propagates to all waiters."""
        cache = Cache()
        calls = 0

        @cache.cached(key="user:{user_id}")
        async def user(user_id: int) -> dict[str, int]:
            nonlocal calls
            calls += 1
            return {"id": user_id}

        assert await user(1) == {"id": 1}
        assert await user(user_id=1) == {"id": 1}
        assert calls == 1

        async def broken() -> None:
            await asyncio.sleep(0.01)
            raise ConnectionError("down")

        outcomes = await asyncio.gather(
            *(cache.get_or_load("x", broken) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, ConnectionError) for o in outcomes)

    @pytest.mark.asyncio
    async def test_serves_stale_when_breaker_refuses(self) -> None:
        """With djed-breaker in use, an open breaker during a refresh keeps the stale value."""
        breakers = pytest.importorskip("djed.breaker", reason="djed-breaker is optional")
        breaker = breakers.CircuitBreaker("rates")
        breaker.force_open()
        clock = Clock()
        cache = Cache(ttl=10, stale_ttl=60, clock=clock)
        await cache.set("rates", "old")
        clock.now += 11

        async def load() -> str:
            return str(await breaker.call_async(asyncio.sleep, 0, "new"))

        assert await cache.get_or_load("rates", load) == "old"
        await cache.aclose()
        assert await cache.get("rates") == "old"
        assert cache.stats.stale_on_error == 1
