"""What a cache hit costs in Djed and in the libraries it is measured against.

Every case reads one small value (``VALUE``, a dict of four fields) stored before the
clock starts, so every read is a hit. A round is a batch of reads, so a case's time
per call includes the loop and the Python call: what an application pays.

- ``cache-memory-hit``: ``SyncCache.get`` against ``cachetools.TTLCache``
  (subscript, ``.get``, and subscript under a lock, since Djed's store is
  thread-safe and a ``TTLCache`` is not).
- ``cache-async-memory-hit``: ``await Cache.get`` against cashews' memory backend.
- ``cache-redis-get``: ``await Cache.get`` over ``RedisBackend`` against raw
  ``redis.asyncio`` ``GET`` of the same value's JSON bytes, on the same server; also
  ``GET`` followed by ``orjson.loads`` (the decoding an application would do), and
  ``MGET`` of one key through a client with the socket timeouts and retry that
  ``RedisBackend`` gives its own (the command Djed sends, without Djed around it).
- ``cache-cached-hit``: a function decorated with ``SyncCache.cached`` (default key,
  and a key template) and with ``cachetools.cached``, against calling it bare.
- ``cache-model``: ``NavigationModel.record`` and ``predict`` per navigation, on a
  model trained with ``synthetic_sessions(5000)``, replaying later sessions of the
  same made-up site.

Before a case is measured the test checks that it returns the value expected and,
afterwards, that it still does and that no read missed: Djed's statistics count
exactly the hits made, the decorated functions never ran again, the model predicts
the next key well enough. Async rounds run on one event loop kept for the whole
test. The Redis cases skip when no redis-server answers at ``REDIS_URL`` (default
``redis://127.0.0.1:6379/0``), and fail instead when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, NamedTuple

import cachetools
import orjson
import pytest
import redis
import redis.asyncio
from cashews import Cache as CashewsCache
from djed.cache import Cache, NavigationModel, RedisBackend, SyncCache, synthetic_sessions
from pytest_benchmark.fixture import BenchmarkFixture
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

CALLS = 10_000  # reads per round in the memory and decorator groups
REDIS_CALLS = 250  # reads per round against Redis (one round trip each)
NAVIGATIONS = 1_000  # navigations per round in the model group
TRAINING_SESSIONS = 5_000
HELD_OUT_SESSIONS = 400  # later sessions of the same site, replayed while measuring
PLANNED = 3  # keys asked of predict() per navigation
MIN_HIT_RATE = 0.6  # of the next key being among the PLANNED predicted, when checking
TTL = 300.0
MAX_ENTRIES = 10_000  # MemoryBackend's default bound, given to the TTLCaches too
KEY = "user:7"
VALUE: dict[str, Any] = {"id": 7, "name": "Ana Silva", "plan": "pro", "active": True}
ITEM_ID = 7
PRICE = 700
DJED_SOCKET_TIMEOUT = 0.5  # RedisBackend's default socket_timeout
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


# -- sync cases ----------------------------------------------------------------------------------


class SyncCase(NamedTuple):
    """One way of making a hit: once, in a batch, and the cache's own counts of it."""

    call: Callable[[], Any]
    batch: Callable[[int], None]
    expected: Any
    hits: Callable[[], int] | None = None  # hits the cache counted
    misses: Callable[[], int] | None = None  # misses, or loads the function made


def _measure_sync(benchmark: BenchmarkFixture, name: str, case: SyncCase, calls: int) -> None:
    assert case.call() == case.expected, f"{name} returned the wrong value"
    hits_before = case.hits() if case.hits is not None else 0
    misses_before = case.misses() if case.misses is not None else 0
    batches = 0
    batch = case.batch

    def one_round() -> None:
        nonlocal batches
        batches += 1
        batch(calls)

    benchmark.extra_info.update(case=name, calls=calls)
    benchmark(one_round)
    assert case.call() == case.expected, f"{name} lost its value while measured"
    if case.hits is not None:
        assert case.hits() - hits_before == batches * calls + 1, f"{name} missed hits"
    if case.misses is not None:
        assert case.misses() == misses_before, f"{name} missed while measured"


def _djed_get() -> SyncCase:
    cache = SyncCache(ttl=TTL)
    cache.set(KEY, VALUE)

    def batch(calls: int) -> None:
        for _ in range(calls):
            cache.get(KEY)

    return SyncCase(
        lambda: cache.get(KEY),
        batch,
        VALUE,
        lambda: cache.stats.hits,
        lambda: cache.stats.misses,
    )


def _ttl_cache() -> cachetools.TTLCache[str, Any]:
    cache: cachetools.TTLCache[str, Any] = cachetools.TTLCache(maxsize=MAX_ENTRIES, ttl=TTL)
    cache[KEY] = VALUE
    return cache


def _cachetools_getitem() -> SyncCase:
    cache = _ttl_cache()

    def batch(calls: int) -> None:
        for _ in range(calls):
            cache[KEY]  # a miss would raise KeyError

    return SyncCase(lambda: cache[KEY], batch, VALUE)


def _cachetools_get() -> SyncCase:
    cache = _ttl_cache()

    def batch(calls: int) -> None:
        for _ in range(calls):
            cache.get(KEY)

    return SyncCase(lambda: cache.get(KEY), batch, VALUE)


def _cachetools_getitem_locked() -> SyncCase:
    cache = _ttl_cache()
    lock = threading.Lock()

    def read() -> Any:
        with lock:
            return cache[KEY]

    def batch(calls: int) -> None:
        for _ in range(calls):
            with lock:
                cache[KEY]

    return SyncCase(read, batch, VALUE)


MEMORY_CASES: dict[str, Callable[[], SyncCase]] = {
    "djed_get": _djed_get,
    "cachetools_getitem": _cachetools_getitem,
    "cachetools_get": _cachetools_get,
    "cachetools_getitem_locked": _cachetools_getitem_locked,
}


@pytest.mark.benchmark(group="cache-memory-hit")
@pytest.mark.parametrize("case", list(MEMORY_CASES))
def test_memory_hit(benchmark: BenchmarkFixture, case: str) -> None:
    """Each round reads one stored key ``CALLS`` times from an in-process cache."""
    _measure_sync(benchmark, case, MEMORY_CASES[case](), CALLS)


# -- decorated functions -------------------------------------------------------------------------


def price(item_id: int) -> int:
    return item_id * 100


class Counted:
    """``price`` that counts how often it really ran (only misses should reach it)."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, item_id: int) -> int:
        self.runs += 1
        return item_id * 100


def _decorated_case(function: Callable[[int], int], counted: Counted | None) -> SyncCase:
    def batch(calls: int) -> None:
        for _ in range(calls):
            function(ITEM_ID)

    runs = (lambda: counted.runs) if counted is not None else None
    return SyncCase(lambda: function(ITEM_ID), batch, PRICE, misses=runs)


def _bare() -> SyncCase:
    return _decorated_case(price, None)


def _djed_cached(key: str | None) -> Callable[[], SyncCase]:
    def make() -> SyncCase:
        cache = SyncCache(ttl=TTL)
        counted = Counted()

        @cache.cached(key=key)
        def cached_price(item_id: int) -> int:
            return counted(item_id)

        case = _decorated_case(cached_price, counted)
        return case._replace(hits=lambda: cache.stats.hits)

    return make


def _cachetools_cached() -> SyncCase:
    counted = Counted()

    @cachetools.cached(cachetools.TTLCache(maxsize=MAX_ENTRIES, ttl=TTL))
    def cached_price(item_id: int) -> int:
        return counted(item_id)

    return _decorated_case(cached_price, counted)


CACHED_CASES: dict[str, Callable[[], SyncCase]] = {
    "bare": _bare,
    "djed_cached": _djed_cached(None),
    "djed_cached_template": _djed_cached("price:{item_id}"),
    "cachetools_cached": _cachetools_cached,
}


@pytest.mark.benchmark(group="cache-cached-hit")
@pytest.mark.parametrize("case", list(CACHED_CASES))
def test_cached_hit(benchmark: BenchmarkFixture, case: str) -> None:
    """Each round calls ``price(7)`` ``CALLS`` times, bare or through a cache that holds it."""
    subject = CACHED_CASES[case]()
    if subject.misses is not None:
        assert subject.call() == PRICE  # the one load: every later call must hit
        assert subject.misses() == 1, f"{case} ran the function more than once"
    _measure_sync(benchmark, case, subject, CALLS)


# -- async cases ---------------------------------------------------------------------------------


class AsyncCase(NamedTuple):
    """One way of awaiting a hit: once, in a batch, its counts, and how to clean up."""

    call: Callable[[], Coroutine[Any, Any, Any]]
    batch: Callable[[int], Coroutine[Any, Any, None]]
    expected: Any
    hits: Callable[[], int] | None = None
    misses: Callable[[], int] | None = None
    close: Callable[[], Coroutine[Any, Any, None]] | None = None


AsyncSetup = Callable[[], Coroutine[Any, Any, AsyncCase]]


def _measure_async(benchmark: BenchmarkFixture, name: str, setup: AsyncSetup, calls: int) -> None:
    with asyncio.Runner() as runner:
        case = runner.run(setup())
        try:
            assert runner.run(case.call()) == case.expected, f"{name} returned the wrong value"
            hits_before = case.hits() if case.hits is not None else 0
            misses_before = case.misses() if case.misses is not None else 0
            batches = 0
            batch = case.batch

            def one_round() -> None:
                nonlocal batches
                batches += 1
                runner.run(batch(calls))

            benchmark.extra_info.update(case=name, calls=calls)
            benchmark(one_round)
            assert runner.run(case.call()) == case.expected, f"{name} lost its value"
            if case.hits is not None:
                assert case.hits() - hits_before == batches * calls + 1, f"{name} missed hits"
            if case.misses is not None:
                assert case.misses() == misses_before, f"{name} missed while measured"
        finally:
            if case.close is not None:
                runner.run(case.close())


async def _async_djed_get() -> AsyncCase:
    cache = Cache(ttl=TTL)
    await cache.set(KEY, VALUE)

    async def batch(calls: int) -> None:
        for _ in range(calls):
            await cache.get(KEY)

    return AsyncCase(
        lambda: cache.get(KEY),
        batch,
        VALUE,
        lambda: cache.stats.hits,
        lambda: cache.stats.misses,
    )


async def _async_cashews_get() -> AsyncCase:
    cache = CashewsCache()
    cache.setup("mem://")
    await cache.set(KEY, VALUE, expire=TTL)

    async def batch(calls: int) -> None:
        for _ in range(calls):
            await cache.get(KEY)

    return AsyncCase(lambda: cache.get(KEY), batch, VALUE, close=cache.close)


ASYNC_MEMORY_CASES: dict[str, AsyncSetup] = {
    "djed_get": _async_djed_get,
    "cashews_get": _async_cashews_get,
}


@pytest.mark.benchmark(group="cache-async-memory-hit")
@pytest.mark.parametrize("case", list(ASYNC_MEMORY_CASES))
def test_async_memory_hit(benchmark: BenchmarkFixture, case: str) -> None:
    """Each round awaits ``CALLS`` reads of one stored key from an in-process cache."""
    _measure_async(benchmark, case, ASYNC_MEMORY_CASES[case], CALLS)


# -- Redis ---------------------------------------------------------------------------------------


def _redis_problem() -> str | None:
    """Why the redis-server at ``REDIS_URL`` cannot be used, or None when it answers."""
    try:
        with redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1) as client:
            client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="module")
def redis_server() -> None:
    """Skip (fail under ``CI=true``) unless a redis-server answers at ``REDIS_URL``.

    Module-scoped, so it runs before the benchmark fixture is made: a test stopped
    here leaves no unused benchmark behind.
    """
    problem = _redis_problem()
    if problem is None:
        return
    reason = f"needs a redis-server at REDIS_URL={REDIS_URL} ({problem}); .ci/run starts one"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _prefix() -> str:
    return f"djed-bench:{uuid.uuid4().hex}"


async def _redis_djed_get() -> AsyncCase:
    backend = RedisBackend(REDIS_URL, prefix=_prefix())
    cache = Cache(backend, ttl=TTL)
    await cache.set(KEY, VALUE)

    async def batch(calls: int) -> None:
        for _ in range(calls):
            await cache.get(KEY)

    async def close() -> None:
        await backend.delete(KEY)
        await backend.aclose()

    return AsyncCase(
        lambda: cache.get(KEY),
        batch,
        VALUE,
        lambda: cache.stats.hits,
        lambda: cache.stats.misses,
        close,
    )


def _raw_redis_case(*, decode: bool = False, like_djed: bool = False) -> AsyncSetup:
    """Raw redis-py: ``GET`` (then ``orjson.loads`` if ``decode``), or with ``like_djed``
    ``MGET`` of one key through a client set up as ``RedisBackend`` sets up its own."""

    async def setup() -> AsyncCase:
        if like_djed:  # the socket timeouts and the one retry RedisBackend configures
            client = redis.asyncio.Redis.from_url(
                REDIS_URL,
                socket_timeout=DJED_SOCKET_TIMEOUT,
                socket_connect_timeout=DJED_SOCKET_TIMEOUT,
                retry=Retry(NoBackoff(), 1),
            )
        else:
            client = redis.asyncio.Redis.from_url(REDIS_URL)
        name = f"{_prefix()}:{KEY}"
        data = orjson.dumps(VALUE)
        await client.set(name, data, ex=int(TTL))
        names = [name]

        async def read() -> Any:
            found = (await client.mget(names))[0] if like_djed else await client.get(name)
            assert isinstance(found, bytes), f"GET {name} returned {found!r}"
            return orjson.loads(found) if decode else found

        async def batch(calls: int) -> None:
            if like_djed:
                for _ in range(calls):
                    await client.mget(names)
            elif decode:
                for _ in range(calls):
                    # The key is set and the client returns bytes: GET gives bytes here.
                    orjson.loads(await client.get(name))  # type: ignore[arg-type]
            else:
                for _ in range(calls):
                    await client.get(name)

        async def close() -> None:
            await client.unlink(name)
            await client.aclose()

        return AsyncCase(read, batch, VALUE if decode else data, close=close)

    return setup


REDIS_CASES: dict[str, AsyncSetup] = {
    "djed_get": _redis_djed_get,
    "redis_py_get": _raw_redis_case(decode=False),
    "redis_py_get_orjson": _raw_redis_case(decode=True),
    "redis_py_mget_timeouts": _raw_redis_case(like_djed=True),
}


@pytest.mark.benchmark(group="cache-redis-get")
@pytest.mark.parametrize("case", list(REDIS_CASES))
@pytest.mark.usefixtures("redis_server")
def test_redis_get(benchmark: BenchmarkFixture, case: str) -> None:
    """Each round awaits ``REDIS_CALLS`` reads of one stored key, one round trip each."""
    _measure_async(benchmark, case, REDIS_CASES[case], REDIS_CALLS)


# -- the navigation model ------------------------------------------------------------------------


@functools.cache
def _sessions() -> tuple[list[list[str]], list[tuple[int, str]]]:
    """The training sessions, and the first ``NAVIGATIONS`` navigations of later ones."""
    sessions = synthetic_sessions(TRAINING_SESSIONS + HELD_OUT_SESSIONS, seed=0)
    training, later = sessions[:TRAINING_SESSIONS], sessions[TRAINING_SESSIONS:]
    navigations = [(index, key) for index, session in enumerate(later) for key in session]
    assert len(navigations) >= NAVIGATIONS, "too few held-out navigations"
    return training, navigations[:NAVIGATIONS]


def _trained_model() -> NavigationModel:
    model = NavigationModel(order=2)
    training, _ = _sessions()
    for index, session in enumerate(training):
        for key in session:
            model.record(("training", index), key)
    return model


def _check_model(model: NavigationModel, navigations: list[tuple[int, str]]) -> float:
    """Replay ``navigations`` once (learning, as in use); the share of next keys foreseen."""
    keys = {key for session in _sessions()[0] for key in session}
    foreseen = 0
    for session, key in navigations:
        predicted = model.predict(session, limit=PLANNED)
        probabilities = [probability for _, probability in predicted]
        assert len(predicted) == PLANNED, "predict gave fewer keys than asked"
        assert {k for k, _ in predicted} <= keys, "predict named a key never recorded"
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0.0 < sum(probabilities) <= 1.0 + 1e-9
        foreseen += any(k == key for k, _ in predicted)
        model.record(session, key)
    hit_rate = foreseen / len(navigations)
    assert hit_rate >= MIN_HIT_RATE, f"the model foresaw only {hit_rate:.1%} of navigations"
    return hit_rate


def _session_ids(navigations: list[tuple[int, str]]) -> Callable[[], list[tuple[Hashable, str]]]:
    """Each call: the navigations again, under sessions never seen before."""
    rounds = itertools.count()

    def fresh() -> list[tuple[Hashable, str]]:
        batch = next(rounds)
        return [((batch, session), key) for session, key in navigations]

    return fresh


def _model_round(case: str, model: NavigationModel) -> Callable[[], None]:
    _, navigations = _sessions()
    record, predict = model.record, model.predict
    if case == "predict":  # the held-out sessions as the check left them
        sessions = [session for session, _ in navigations]

        def predict_only() -> None:
            for session in sessions:
                predict(session, limit=PLANNED)

        return predict_only
    fresh = _session_ids(navigations)
    if case == "record":

        def record_only() -> None:
            for session, key in fresh():
                record(session, key)

        return record_only

    def record_and_predict() -> None:
        for session, key in fresh():
            record(session, key)
            predict(session, limit=PLANNED)

    return record_and_predict


MODEL_CASES = ("record_predict", "record", "predict")


@pytest.mark.benchmark(group="cache-model")
@pytest.mark.parametrize("case", MODEL_CASES)
def test_model(benchmark: BenchmarkFixture, case: str) -> None:
    """Each round replays ``NAVIGATIONS`` navigations through a trained ``NavigationModel``."""
    model = _trained_model()
    hit_rate = _check_model(model, _sessions()[1])
    sessions_before = model.session_count
    one_round = _model_round(case, model)
    benchmark.extra_info.update(case=case, calls=NAVIGATIONS, hit_rate_at_3=round(hit_rate, 4))
    benchmark(one_round)
    if case == "predict":
        assert model.session_count == sessions_before, "predict changed the sessions"
    else:
        assert model.session_count > sessions_before, "record learned nothing"
