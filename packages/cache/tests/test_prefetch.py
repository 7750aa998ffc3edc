from __future__ import annotations

import asyncio
from typing import Any

import pytest
from djed.cache import Cache, MemoryBackend, NavigationModel, Prefetcher, PrefetchMiddleware


def trained_model(times: int = 20) -> NavigationModel:
    """A model that has seen list -> detail -> edit many times."""
    model = NavigationModel(order=2)
    for n in range(times):
        session = f"train-{n}"
        for key in ("/invoices", "/invoices/42", "/invoices/42/edit"):
            model.record(session, key)
    return model


class TestPrefetcher:
    @pytest.mark.asyncio
    async def test_next_page_is_warm_before_it_is_asked_for(self) -> None:
        """After /invoices, /invoices/42 is loaded in the background, so the next get hits."""
        cache = Cache()
        loads: list[str] = []

        async def load(key: str) -> str:
            loads.append(key)
            return f"page {key}"

        prefetcher = Prefetcher(cache, load, trained_model(), threshold=0.3)
        scheduled = await prefetcher.after_request("ada", "/invoices")
        assert scheduled == ["/invoices/42"]
        await prefetcher.wait()
        assert await cache.get("/invoices/42") == "page /invoices/42"
        await prefetcher.after_request("ada", "/invoices/42")
        assert cache.stats.prefetch_hits == 1
        assert cache.stats.prefetches >= 1

    @pytest.mark.asyncio
    async def test_threshold_and_budget(self) -> None:
        """Nothing below the threshold is planned; at most max_prefetch keys are."""
        cache = Cache()

        async def load(key: str) -> str:
            return key

        model = NavigationModel(order=1)
        for n in range(30):
            model.record(f"s{n}", "/home")
            model.record(f"s{n}", ["/a", "/b", "/c"][n % 3])
        strict = Prefetcher(cache, load, model, threshold=0.9)
        assert strict.plan("new") == []
        model.record("x", "/home")
        loose = Prefetcher(cache, load, model, threshold=0.05, max_prefetch=2)
        assert len(loose.plan("x")) == 2

    @pytest.mark.asyncio
    async def test_fresh_keys_are_not_planned(self) -> None:
        """A key already fresh in the cache is not loaded again."""
        cache = Cache()
        await cache.set("/invoices/42", "cached")

        async def load(key: str) -> str:
            raise AssertionError("must not load")

        prefetcher = Prefetcher(cache, load, trained_model(), threshold=0.3)
        assert await prefetcher.after_request("ada", "/invoices") == []

    @pytest.mark.asyncio
    async def test_never_evicts_to_make_room(self) -> None:
        """With a full memory backend nothing is prefetched."""
        backend = MemoryBackend(max_entries=2)
        cache = Cache(backend)
        await cache.set("hot-1", 1)
        await cache.set("hot-2", 2)

        async def load(key: str) -> str:
            return key

        prefetcher = Prefetcher(cache, load, trained_model(), threshold=0.3)
        assert await prefetcher.after_request("ada", "/invoices") == []
        assert cache.stats.prefetch_skipped == 1
        assert await cache.get("hot-1") == 1

    @pytest.mark.asyncio
    async def test_backs_off_when_loads_are_slow_or_busy(self) -> None:
        """High loader latency or full concurrency skips prefetching."""
        cache = Cache()
        gate = asyncio.Event()

        async def load(key: str) -> str:
            await gate.wait()
            return key

        prefetcher = Prefetcher(cache, load, trained_model(), threshold=0.3, max_concurrency=1)
        assert await prefetcher.after_request("a", "/invoices") == ["/invoices/42"]
        await asyncio.sleep(0)
        assert await prefetcher.after_request("b", "/invoices/42") == []  # one already running
        gate.set()
        await prefetcher.wait()
        await cache.clear()
        prefetcher.latency = 5.0  # loads have been slow lately
        assert await prefetcher.after_request("c", "/invoices") == []
        assert cache.stats.prefetch_skipped >= 2

    @pytest.mark.asyncio
    async def test_failing_prefetch_is_harmless(self) -> None:
        """A loader error during prefetch is swallowed; nothing is cached."""
        cache = Cache()

        async def load(key: str) -> str:
            raise ConnectionError("down")

        prefetcher = Prefetcher(cache, load, trained_model(), threshold=0.3)
        await prefetcher.after_request("ada", "/invoices")
        await prefetcher.wait()
        assert await cache.get("/invoices/42") is None


class TestMiddleware:
    @pytest.mark.asyncio
    async def test_records_and_prefetches_per_session(self) -> None:
        """Each GET with a session id is recorded; the app's response is untouched."""
        cache = Cache()
        sent: list[dict[str, Any]] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        async def load(key: str) -> str:
            return f"page {key}"

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        prefetcher = Prefetcher(cache, load, trained_model(), threshold=0.3)
        middleware = PrefetchMiddleware(app, prefetcher)
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/invoices",
            "headers": [(b"cookie", b"theme=dark; session=ada")],
        }
        await middleware(scope, receive, send)
        await prefetcher.wait()
        assert sent[1]["body"] == b"ok"
        assert await cache.get("/invoices/42") == "page /invoices/42"
        anonymous = {"type": "http", "method": "GET", "path": "/invoices", "headers": []}
        await middleware(anonymous, receive, send)
        assert prefetcher.model.session_count == 21  # 20 training sessions and "ada"


class TestOnSyntheticTraces:
    @pytest.mark.asyncio
    async def test_prefetching_turns_misses_into_hits(self) -> None:
        """Replaying synthetic sessions, prefetched keys serve a good share of requests."""
        from djed.cache import synthetic_sessions

        sessions = synthetic_sessions(1200, seed=5)
        model = NavigationModel(order=2)
        for n, session in enumerate(sessions[:1000]):
            for key in session:
                model.record(f"train-{n}", key)
        cache = Cache(ttl=0.5)  # short: only what was prefetched just before is warm

        async def load(key: str) -> str:
            return key

        prefetcher = Prefetcher(cache, load, model, threshold=0.2, max_prefetch=2)
        requests = warm = 0
        for n, session in enumerate(sessions[1000:]):
            await cache.clear()
            for key in session:
                requests += 1
                if await cache.get(key) is not None:
                    warm += 1
                await prefetcher.after_request(f"test-{n}", key)
                await prefetcher.wait()
        assert requests > 1000
        # A deterministic quality check (seeded traces), not a timing: well over a third
        # of requests find their page already loaded, none of it from earlier sessions.
        assert warm / requests > 0.35
        assert cache.stats.prefetch_hits > 0
